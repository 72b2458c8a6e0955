"""Check latency in the notebook: `python -m course_lib.bench.checks [ids...]`.

For each exercise, one check of the reference answer warms up (imports, probe models, the
reference's own outcomes, which a kernel computes once), then the median of three more checks
is what a learner waits each time they run the check cell again. Prints the slowest first.
Run it on an idle machine: two torch processes on two cores slow each other several-fold.
"""
from __future__ import annotations

import statistics
import sys
import time

import torch


def main(ids: list[str]) -> None:
    from course_lib.checking import evaluate
    from course_lib.checking.registry import EXERCISES

    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = []
    for ex_id in ids or list(EXERCISES):
        ex = EXERCISES[ex_id]
        start = time.perf_counter()
        assert evaluate(ex, ex.reference).passed, ex_id
        first = time.perf_counter() - start
        again = []
        for _ in range(3):
            start = time.perf_counter()
            evaluate(ex, ex.reference)
            again.append(time.perf_counter() - start)
        rows.append((statistics.median(again), first, ex_id, ex.notebook))
        print(f"  {ex_id:26s} {rows[-1][0]:6.2f} s", file=sys.stderr, flush=True)
    rows.sort(reverse=True)
    print(f"{'exercise':26s} {'notebook':22s} {'again (s)':>9s} {'first (s)':>9s}")
    for again, first, ex_id, nb in rows:
        print(f"{ex_id:26s} {nb:22s} {again:9.2f} {first:9.2f}")
    print(f"median again: {statistics.median(r[0] for r in rows):.3f} s over {len(rows)} "
          f"exercises; over 1 s: {sum(r[0] > 1 for r in rows)}")


if __name__ == "__main__":
    main(sys.argv[1:])
