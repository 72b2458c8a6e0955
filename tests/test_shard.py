"""Sharded grading: `--shard I/N` slices a class into disjoint, stable, balanced parts, and
`merge` joins the shards' reports into exactly what one run writes (timings aside), refusing
shards that do not add up to one grading."""
from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import grade_fixtures as fx
import pytest

from course_lib import grade
from course_lib.grade.shard import MergeError, merge_reports, parse_shard, shard_students

SEED = 31337
# full marks, zero, some points, an unreadable notebook (the hostile ones are test_grade's)
STUDENTS = ["complete", "blank", "partly_right", "invalid_json"]


def test_parse_shard():
    assert parse_shard("3/10") == (3, 10) and parse_shard("1/1") == (1, 1)
    for bad in ("0/3", "4/3", "3", "a/b", "1/2/3"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_shard(bad)


def test_shards_are_disjoint_cover_the_class_and_are_balanced():
    students = [(f"s{i:04d}", Path(f"/x/s{i:04d}")) for i in range(1000)][::-1]
    for count in (1, 3, 7, 64, 1500):
        slices = [shard_students(students, i, count) for i in range(1, count + 1)]
        names = [name for mine, _ in slices for name, _ in mine]
        assert sorted(names) == sorted(n for n, _ in students)  # every student exactly once
        sizes = [len(mine) for mine, _ in slices]
        assert max(sizes) - min(sizes) <= 1
        records = [record for _, record in slices]
        assert all(r["class"] == sorted(n for n, _ in students) for r in records)
        assert [r["index"] for r in records] == list(range(1, count + 1))
    # the same class listed in another order gives the same slices
    assert shard_students(students, 2, 5) == shard_students(students[::-1], 2, 5)


def _report(names, shard=None, seed=1, sandbox=("landlock",)):
    report = {"submissions": "/class", "max_points": {"mse": 1}, "max_total": 1, "seed": seed,
              "limits": {"timeout": 60.0}, "sandbox": list(sandbox),
              "students": {n: {"total": 1, "exercises": {"mse": {"points": 1}}} for n in names}}
    if shard:
        report["shard"] = {"index": shard[0], "count": shard[1], "class": ["a", "b", "c"]}
    return report


def test_merge_orders_the_class_and_joins_the_sandboxes():
    merged = merge_reports([_report(["c"], (3, 3), sandbox=["audit-hook"]),
                            _report(["a"], (1, 3)), _report(["b"], (2, 3), sandbox=[])])
    assert merged == {**_report(["a", "b", "c"]), "sandbox": ["audit-hook", "landlock"]}
    assert list(merged["students"]) == ["a", "b", "c"] and "shard" not in merged


@pytest.mark.parametrize("change, words", [
    (lambda rs: rs.pop(), "missing [3]"),
    (lambda rs: rs.append(rs[0]), "given twice [1]"),
    (lambda rs: rs[1].update(seed=2), "seed"),
    (lambda rs: rs[1].update(limits={"timeout": 5.0}), "limits"),
    (lambda rs: rs[2]["shard"].update(count=4), "different numbers"),
    (lambda rs: rs[2]["shard"].update({"class": ["a", "b", "c", "d"]}), "a submission folder"),
    (lambda rs: rs[2]["students"].update(a={}), "two shards"),
    (lambda rs: rs[0].pop("shard"), "--shard I/N"),
])
def test_merge_refuses_shards_that_are_not_one_grading(change, words):
    reports = [_report(["a"], (1, 3)), _report(["b"], (2, 3)), _report(["c"], (3, 3))]
    merge_reports(copy.deepcopy(reports))  # as they are, they merge
    change(reports)
    with pytest.raises(MergeError, match=words.replace("[", r"\[").replace("]", r"\]")):
        merge_reports(reports)


def test_merge_command_line_errors(tmp_path, capsys):
    assert grade.main(["merge", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 2
    assert "cannot merge" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _without_timings(report: dict) -> dict:
    """What legitimately differs between two gradings of the same class and draw: the time
    each exercise took (Grade.seconds). Everything else must be equal."""
    report = copy.deepcopy(report)
    for student in report["students"].values():
        for g in student["exercises"].values():
            del g["seconds"]
    return report


@pytest.mark.slow  # grades a class of four twice: once whole, once in three shards
def test_three_shards_merged_equal_one_run(tmp_path):
    klass = tmp_path / "class"
    for name in STUDENTS:
        (klass / name).mkdir(parents=True)
        fx.BUILDERS[name]({"folder": klass / name, "outside": tmp_path / "outside"})
    common = ["--notebooks", *fx.NOTEBOOKS, "--seed", str(SEED), "--memory-mb", "2048",
              "--no-progress"]
    assert grade.main([str(klass), *common, "--out", str(tmp_path / "one"), "--workers",
                       "2"]) == 0
    shards = []
    for i in (1, 2, 3):
        shards.append(tmp_path / f"shard{i}")
        assert grade.main([str(klass), *common, "--shard", f"{i}/3", "--out",
                           str(shards[-1])]) == 0
        own = json.loads((shards[-1] / "grades.json").read_text(encoding="utf-8"))
        assert len(own["students"]) == (2 if i == 1 else 1)
        assert own["shard"]["class"] == sorted(STUDENTS)
    assert grade.main(["merge", *map(str, shards[::-1]), "--out", str(tmp_path / "merged")]) == 0
    one, merged = ((tmp_path / d / "grades.json").read_text(encoding="utf-8")
                   for d in ("one", "merged"))
    one, merged = json.loads(one), json.loads(merged)
    assert list(merged) == list(one) and list(merged["students"]) == list(one["students"])
    assert _without_timings(merged) == _without_timings(one)
    assert (tmp_path / "merged" / "grades.csv").read_bytes() == \
        (tmp_path / "one" / "grades.csv").read_bytes()
    points = {name: s["total"] for name, s in merged["students"].items()}
    assert points["complete"] == sum(fx.FULL.values()) and points["blank"] == 0
