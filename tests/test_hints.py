"""Hints teach before they hand over code: a failed property first says what it means (tier 1);
code-level hints (tier 2) wait for the third failed run of the same exercise in a kernel, and
every exercise says which section of its notebook to reread."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from course_lib import checking
from course_lib.checking import CheckFailed, check
from course_lib.checking.registry import EXERCISES

ROOT = Path(__file__).resolve().parents[1]
OPERATOR = r"(?:\*\*|[+*/@]| - )"
OPERAND = r"(?:[A-Za-z_][\w.]*|\d[\d.]*|\([^()]*\))"
CODE = [
    (re.compile(r"`[^`]+`"), "code in backticks"),
    (re.compile(r"[A-Za-z_]\w*\.?\w*\([^)]*\)"), "a call"),
    (re.compile(r"[A-Za-z_]\w*\[[^\]]*\]"), "indexing"),
    (re.compile(rf"{OPERAND}\s*{OPERATOR}\s*{OPERAND}\s*{OPERATOR}\s*{OPERAND}"),
     "an expression"),
]
TOKEN = re.compile(r"[A-Za-z_]\w*|\d+(?:\.\d+)?|\*\*|[-+*/@]")


def solution_lines(ex) -> list[str]:
    text = Path(ex.file).read_text()
    body = text.split("### BEGIN SOLUTION", 1)[1].split("### END SOLUTION", 1)[0]
    return [line.split("#", 1)[0] for line in body.splitlines() if line.strip()]


def answer_grams(ex, n: int = 4) -> set[tuple[str, ...]]:
    """Runs of n tokens of the reference's code that hold an operator: its expressions."""
    grams = set()
    for line in solution_lines(ex):
        tokens = TOKEN.findall(line)
        for i in range(len(tokens) - n + 1):
            gram = tuple(tokens[i:i + n])
            if any(t in "+-*/@**" for t in gram):
                grams.add(gram)
    return grams


def giveaways(ex, text: str) -> list[str]:
    found = [f"{what}: {m.group(0)!r}" for pattern, what in CODE
             for m in [pattern.search(text)] if m]
    tokens = TOKEN.findall(text)
    grams = answer_grams(ex)
    found += [f"the reference's expression {' '.join(tokens[i:i + 4])!r}"
              for i in range(len(tokens) - 3) if tuple(tokens[i:i + 4]) in grams]
    return found


@pytest.mark.parametrize("ex_id", list(EXERCISES))
def test_first_tier_hints_hold_no_code(ex_id):
    ex = EXERCISES[ex_id]
    bad = {prop.name: found for prop in ex.props if (found := giveaways(ex, prop.hint))}
    assert not bad, f"{ex_id}: first-tier hints with code (move it to 'code: ...'): {bad}"


def _headings(notebook: str) -> list[str]:
    nb = json.loads((ROOT / "solutions" / f"{notebook}.ipynb").read_text())
    return [line.lstrip("#").strip() for cell in nb["cells"] if cell["cell_type"] == "markdown"
            for line in "".join(cell["source"]).splitlines() if line.startswith("#")]


@pytest.mark.parametrize("ex_id", list(EXERCISES))
def test_stuck_line_names_a_section_of_the_notebook(ex_id):
    ex = EXERCISES[ex_id]
    assert ex.reread, f"{ex_id}: exercise(..., reread=...) names no section"
    headings = _headings(ex.notebook)
    assert ex.reread in headings, f"{ex_id}: no heading {ex.reread!r} in {ex.notebook}"


def test_detector_catches_answers_and_passes_prose():
    ex = EXERCISES["add_noise"]
    assert giveaways(ex, "the noise is scaled by sigma: x0 + sigma * eps")
    assert giveaways(ex, "use sigma.reshape(-1, 1) first")
    assert giveaways(ex, "`x0 + s * e`")
    assert not giveaways(ex, "each sample has its own noise level; the result keeps the "
                             "out-of-place shape of x0, whatever its rank")


def test_code_hints_wait_for_the_third_failed_run(capsys, monkeypatch):
    monkeypatch.setattr(checking, "FAILED_RUNS", {})
    wrong = lambda x0, s, e: x0 + s * e  # noqa: E731  (one sigma per row of 2-d data only)
    printed = []
    for _ in range(3):
        with pytest.raises(CheckFailed):
            check("add_noise", wrong)
        printed.append(capsys.readouterr().out)
    assert all("hint: " in out for out in printed)
    assert "code hint:" not in printed[0] and "code hint:" not in printed[1]
    assert "code-level hints appear if this check fails twice more" in printed[0]
    assert "code-level hints appear if this check fails once more" in printed[1]
    assert "code hint:" in printed[2]
    assert f'stuck? reread the section "{EXERCISES["add_noise"].reread}" above' in printed[0]
    check("add_noise", EXERCISES["add_noise"].reference)
    assert "stuck?" not in capsys.readouterr().out


@pytest.mark.parametrize("ex_id", list(EXERCISES))
def test_docstrings_state_the_contract_not_the_answer(ex_id):
    """The docstring is what the learner reads while writing the answer: shapes, meaning and
    which equation of the markdown; no run of the reference's own expressions."""
    ex = EXERCISES[ex_id]
    doc = ex.reference.__doc__ or ""
    tokens, grams = TOKEN.findall(doc), answer_grams(ex)
    found = [" ".join(tokens[i:i + 4]) for i in range(len(tokens) - 3)
             if tuple(tokens[i:i + 4]) in grams]
    assert doc.strip(), f"{ex_id}: the reference has no docstring"
    assert not found, f"{ex_id}: the docstring holds the reference's expressions {found}"


def test_a_property_text_is_its_name_its_hint_and_its_code_hint():
    props = checking.Props()

    @props
    def _under(outs, refs):
        """the name
        on two lines

        the hint, the idea
        in words

        code: the code
        hint"""
        return True, ""
    props("""second\n\n    only a hint""", lambda outs, refs: (True, ""))
    assert [(p.name, p.hint, p.code) for p in props] == [
        ("the name on two lines", "the hint, the idea in words", "the code hint"),
        ("second", "only a hint", "")]
    assert props[0].test is _under

    with pytest.raises(ValueError, match="_no_hint: its text needs a name, a blank line"):
        @props
        def _no_hint(outs, refs):
            """a name and nothing else"""
    with pytest.raises(ValueError, match="needs a name"):
        props("name\n\nhint\n\nanother hint", lambda outs, refs: (True, ""))
