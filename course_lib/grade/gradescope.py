"""`python -m course_lib.grade gradescope OUT.zip`: the class grader as a Gradescope autograder.

The zip holds, at its root, setup.sh (run once when Gradescope builds the image), run_autograder
(run once per submission), the course (course_lib/, solutions/, data/, pyproject.toml,
requirements.txt) and autograder.json (what to grade and the limits, from the options given
here). run_autograder grades the submission with the course's own grader, sandbox and limits
(course_lib.grade.autograder) and writes results/results.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

from course_lib.grade.options import add_grading_options, course_or_refuse
from course_lib.runtime import REPO_ROOT

COURSE_FILES = ("course_lib", "solutions", "data", "pyproject.toml", "requirements.txt")
SKIP = ("__pycache__", ".ipynb_checkpoints", ".pytest_cache")
VISIBILITY = ("visible", "after_due_date", "after_published", "hidden")

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image from this zip
# (unpacked in /autograder/source). The course's pins need Python 3.11 or newer: pick the
# Ubuntu 24.04 base image (on 22.04 this installs python3.11 from Ubuntu's own packages).
set -euo pipefail
cd /autograder/source
apt-get install -y --no-install-recommends python3 python3-venv python3-pip
PY=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  apt-get install -y --no-install-recommends python3.11 python3.11-venv
  PY=python3.11
fi
"$PY" -m venv /autograder/venv
/autograder/venv/bin/pip install --upgrade pip
# torch's CPU build first, at the version requirements.txt pins (PyPI's Linux torch would add
# gigabytes of CUDA libraries that grading never uses); then the pins and the course itself.
/autograder/venv/bin/pip install "$(grep -E '^torch==' requirements.txt)" \
    --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/pip install -r requirements.txt
# Submissions are graded as this unprivileged user (run_autograder runs as root).
id grader >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin grader
chmod -R a+rX /autograder/source /autograder/venv
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this once per submission, as root, in a fresh container: it grades the
# notebooks under $ROOT/submission with the course's own grader (its sandbox and limits) and
# writes $ROOT/results/results.json. AUTOGRADER_ROOT (default /autograder) and COURSE_PYTHON
# (default $ROOT/venv/bin/python) move it elsewhere, for a rehearsal on your own machine.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PY="${COURSE_PYTHON:-$ROOT/venv/bin/python}"
SRC="$ROOT/source"
export PYTHONPATH="$SRC" OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p "$ROOT/results"
cd "$SRC"
if [ "$(id -u)" = 0 ] && id grader >/dev/null 2>&1; then
  # As root, grade as the unprivileged user: an answer that got past the sandbox still
  # cannot write results/ or the course; whatever it left running is killed before the copy.
  work="$(mktemp -d)"
  chown grader "$work"
  chmod -R a+rX "$ROOT/submission"
  status=0
  runuser -u grader -- env HOME="$work" TMPDIR="$work" "$PY" -m course_lib.grade.autograder \
    --submission "$ROOT/submission" --results "$work/results.json" || status=$?
  runuser -u grader -- kill -KILL -1 2>/dev/null || true
  [ "$status" = 0 ] || exit "$status"
  exec "$PY" -m course_lib.grade.autograder --copy "$work/results.json" \
    --results "$ROOT/results/results.json"
fi
exec "$PY" -m course_lib.grade.autograder --submission "$ROOT/submission" \
  --results "$ROOT/results/results.json"
"""


def _files(root: Path):
    """(path on disk, name in the zip) for every course file the bundle needs."""
    for name in COURSE_FILES:
        path = root / name
        if path.is_file():
            yield path, name
            continue
        for sub in sorted(path.rglob("*")):
            rel = sub.relative_to(root)
            if sub.is_file() and not any(part in SKIP for part in rel.parts) \
                    and sub.suffix != ".pyc":
                yield sub, rel.as_posix()


def _add_text(zf: zipfile.ZipFile, name: str, text: str, mode: int) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = (0o100000 | mode) << 16  # a regular file with these permissions
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, text)


def write_bundle(out: Path, config: dict, root: Path = REPO_ROOT) -> list[str]:
    """Write the autograder zip; returns the names it holds."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        _add_text(zf, "setup.sh", SETUP_SH, 0o755)
        _add_text(zf, "run_autograder", RUN_AUTOGRADER, 0o755)
        _add_text(zf, "autograder.json", json.dumps(config, indent=1) + "\n", 0o644)
        for path, name in _files(root):
            zf.write(path, name)
        return zf.namelist()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grade gradescope",
        description="write the Gradescope autograder zip (upload it as the assignment's "
                    "autograder; see the README's instructor section)")
    parser.add_argument("out", type=Path, metavar="OUT.zip", help="the zip to write")
    add_grading_options(parser)
    parser.add_argument("--visibility", choices=VISIBILITY, default="visible",
                        help="when students see the results (Gradescope's setting; default "
                             "visible: at once)")
    args = parser.parse_args(argv)
    if args.out.suffix != ".zip":
        print(f"error: {args.out} should end in .zip", file=sys.stderr)
        return 2
    course = course_or_refuse(args.notebooks)
    if course is None:
        return 2
    config = {"notebooks": [nb.stem for nb in course],
              "limits": {"timeout": args.timeout, "memory_mb": args.memory_mb,
                         "output_mb": args.max_output_mb,
                         "allow_library_calls": args.allow_library_calls},
              "seed": args.seed,  # None: a fresh draw for every submission
              "visibility": args.visibility}
    names = write_bundle(args.out, config)
    n_ex = sum(len(nb.exercises) for nb in course)
    points = sum(ex.points for nb in course for ex in nb.exercises)
    print(f"wrote {args.out} ({len(names)} files, {args.out.stat().st_size / 2**20:.1f} MiB): "
          f"{len(course)} notebooks, {n_ex} exercises, {points} points; set the assignment's "
          f"total to {points}")
    return 0
