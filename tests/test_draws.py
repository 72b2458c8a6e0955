"""Grading draws: the class grader probes on fresh inputs (--seed), so an answer that recalls
the notebook's probes fails there, while every right answer passes on any draw and every
planted bug still fails."""
import copy

import pytest
import torch

from course_lib.checking import evaluate
from course_lib.checking.registry import EXERCISES
from course_lib.exercises.common import draw, gen, pick, probes_drawn

DRAWS = (1, 7, 123456789)  # grading draws the quick lane tries; the notebook's draw is 0


def test_draws_change_the_probes_and_restore_the_notebooks():
    a = torch.randn(3, generator=gen(5))
    with probes_drawn(7):
        assert draw() == 7
        b = torch.randn(3, generator=gen(5))
        assert torch.equal(b, torch.randn(3, generator=gen(5)))  # one draw: one set of probes
        assert {pick(n, "nb", "x", "y") for n in range(40)} == {"nb", "x", "y"}
    assert draw() == 0 and pick(3, "nb", "x") == "nb"
    assert not torch.equal(a, b) and torch.equal(a, torch.randn(3, generator=gen(5)))


@pytest.mark.parametrize("exercise_id", list(EXERCISES))
def test_references_and_alternatives_pass_on_every_draw(exercise_id):
    from course_lib.bench.draws import misses

    found = misses(EXERCISES[exercise_id], DRAWS, bugs=False)
    assert not found, "\n".join(found)


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.nn.Module) and isinstance(b, torch.nn.Module):
        sa, sb = a.state_dict(), b.state_dict()
        return sa.keys() == sb.keys() and all(_same(sa[k], sb[k]) for k in sa)
    if isinstance(a, torch.Generator) and isinstance(b, torch.Generator):
        return torch.equal(a.get_state(), b.get_state())
    try:
        return bool(a == b)
    except Exception:
        return a is b


def lookup_table(ex):
    """The answer that imitates the check: the reference's outputs on the notebook's probes,
    looked up by input (and, for inputs it has never seen, the first one it knows)."""
    table = []
    for case in ex.cases().values():
        args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
        table.append(((case.args, case.kwargs), ex.reference(*args, **kwargs)))

    def answer(*args, **kwargs):
        for (a, k), out in table:
            if _same(list(a), list(args)) and k.keys() == kwargs.keys() and all(
                    _same(k[n], kwargs[n]) for n in k):
                return copy.deepcopy(out)
        return copy.deepcopy(table[0][1])
    return answer


@pytest.mark.parametrize("exercise_id", list(EXERCISES))
def test_a_table_of_the_notebooks_probes_fails_under_a_grading_draw(exercise_id):
    ex = EXERCISES[exercise_id]
    answer = lookup_table(ex)  # built from the notebook's draw, as a learner would copy it
    for seed in DRAWS:
        with probes_drawn(seed):
            report = evaluate(ex, answer)
            assert not report.passed, (seed, report.render())


@pytest.mark.slow
@pytest.mark.parametrize("exercise_id,bug", [(e, b) for e, ex in EXERCISES.items()
                                             for b in ex.bugs])
def test_planted_bugs_fail_on_a_grading_draw(exercise_id, bug):
    ex = EXERCISES[exercise_id]
    with probes_drawn(DRAWS[-1]):
        assert not evaluate(ex, ex.bugs[bug]).passed


def test_the_draws_command_finds_a_planted_bug_that_passes(capsys):
    """`python -m course_lib.bench.draws` reports a miss: a 'bug' that is the reference."""
    from course_lib.bench import draws

    ex = copy.copy(EXERCISES["add_noise"])
    ex.bugs = {"not a bug at all": ex.reference}
    found = draws.misses(ex, range(1, 3))
    assert found == [f"draw {d}: planted bug 'not a bug at all' passed" for d in (1, 2)]
    ex.alternatives = {"x0 + eps": lambda x0, sigma, eps: x0 + eps}  # a 'right' answer, wrong
    found = draws.misses(ex, range(1, 2), bugs=False)
    assert len(found) == 1 and found[0].startswith("draw 1: right answer 'x0 + eps' failed\n")
    assert draws.main(["add_noise", "--from", "5", "--to", "6"]) == 0
    assert "draws 5 to 5: 0 misses" in capsys.readouterr().out
