"""Fixture submissions for the class grader's tests, built from solutions/ and notebooks/:
a complete, a blank and a partly right student, and one student per kind of broken or hostile
submission, with the exact points the grader must give each (notebooks 00 and 01 only); and a
class of students who try to read what they may not (build_readers).
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
from pathlib import Path

from course_lib.runtime import REPO_ROOT

NOTEBOOKS = ["00_welcome", "01_spiral"]
EXERCISE_IDS = ["mse", "sigma_schedule", "add_noise", "sigma_embedding", "denoising_loss",
                "train_loop", "predict_x0"]
FULL = {"mse": 1, "sigma_schedule": 2, "add_noise": 2, "sigma_embedding": 2,
        "denoising_loss": 2, "train_loop": 4, "predict_x0": 2}


def read(folder: str, stem: str) -> dict:
    return json.loads((REPO_ROOT / folder / f"{stem}.ipynb").read_text(encoding="utf-8"))


def write(nb: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")


def answer_cell(nb: dict, ex_id: str) -> dict:
    return next(c for c in nb["cells"]
                if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == ex_id)


def source(nb: dict, ex_id: str) -> str:
    src = answer_cell(nb, ex_id)["source"]
    return "".join(src) if isinstance(src, list) else src


def set_source(nb: dict, ex_id: str, text: str) -> None:
    answer_cell(nb, ex_id)["source"] = text


def solved(stem: str) -> dict:
    """A solutions notebook as a student would hand it in: markers and all."""
    return copy.deepcopy(read("solutions", stem))


# Each builder writes one student's folder; `ctx` has `outside` (a folder the grader must
# never write to) and `folder` (the student's own folder).

def complete(ctx):
    for stem in NOTEBOOKS:
        shutil.copy(REPO_ROOT / "solutions" / f"{stem}.ipynb", ctx["folder"])


def blank(ctx):
    for stem in NOTEBOOKS:
        shutil.copy(REPO_ROOT / "notebooks" / f"{stem}.ipynb", ctx["folder"])


def partly_right(ctx):
    nb = solved("01_spiral")
    set_source(nb, "add_noise", source(nb, "add_noise").replace("* eps", "** 2 * eps"))
    set_source(nb, "sigma_embedding", source(read("notebooks", "01_spiral"), "sigma_embedding"))
    write(nb, ctx["folder"] / "01_spiral.ipynb")


def reuses_earlier(ctx):
    """As the notebooks suggest: later answers call earlier ones and a helper defined in an
    earlier answer cell. add_noise is wrong; predict_x0 (built on it) and denoising_loss
    still score, since a failed answer is replaced by the reference for later ones."""
    shutil.copy(REPO_ROOT / "solutions" / "00_welcome.ipynb", ctx["folder"])
    nb = solved("01_spiral")
    set_source(nb, "sigma_schedule", "def log_levels(lo, hi, n):\n"
               "    return torch.linspace(math.log(hi), math.log(lo), n)\n\n"
               "def sigma_schedule(sigma_min, sigma_max, n):\n"
               "    return log_levels(sigma_min, sigma_max, n).exp()\n")
    set_source(nb, "add_noise", source(nb, "add_noise").replace("* eps", "** 2 * eps"))
    set_source(nb, "predict_x0", "def predict_x0(x, sigma, eps_hat):\n"
               "    return add_noise(x, -sigma, eps_hat)\n")
    write(nb, ctx["folder"] / "01_spiral.ipynb")


def hands_off(ctx):
    """Hands two answers to the course's own functions, one by name and one the hard way."""
    nb = solved("01_spiral")
    set_source(nb, "add_noise", "def add_noise(x0, sigma, eps):\n"
               "    return diffusion.add_noise(x0, sigma, eps)\n")
    set_source(nb, "predict_x0", "import importlib\n\ndef predict_x0(x, sigma, eps_hat):\n"
               "    lib = importlib.import_module('course_lib.' + 'diffusion')\n"
               "    return getattr(lib, 'predict_' + 'x0')(x, sigma, eps_hat)\n")
    write(nb, ctx["folder"] / "01_spiral.ipynb")


def invalid_json(ctx):
    text = (REPO_ROOT / "solutions" / "01_spiral.ipynb").read_text(encoding="utf-8")
    (ctx["folder"] / "01_spiral.ipynb").write_text(text[: len(text) // 2], encoding="utf-8")
    (ctx["folder"] / "00_welcome.ipynb").write_text("[1, 2, 3]\n", encoding="utf-8")


def renamed_function(ctx):
    nb = solved("01_spiral")
    set_source(nb, "sigma_schedule",
               source(nb, "sigma_schedule").replace("def sigma_schedule(", "def sigma_sched("))
    write(nb, ctx["folder"] / "01_spiral.ipynb")
    # A link to a perfect notebook elsewhere: the grader does not follow links.
    shutil.copy(REPO_ROOT / "solutions" / "00_welcome.ipynb", ctx["outside"].parent)
    os.symlink(ctx["outside"].parent / "00_welcome.ipynb", ctx["folder"] / "00_welcome.ipynb")


def broken_metadata(ctx):
    """No nbgrader metadata left, magics in two answers, a stray line after a def, and
    nbgrader's nested layout."""
    nb = solved("01_spiral")
    set_source(nb, "sigma_schedule", "%%time\n" + source(nb, "sigma_schedule"))
    set_source(nb, "add_noise", "%matplotlib inline\n" + source(nb, "add_noise"))
    # `data` comes from a cell the grader does not run: the error after the def costs nothing
    set_source(nb, "predict_x0", source(nb, "predict_x0") + "\n\nprint(data.shape)\n")
    for cell in nb["cells"]:
        cell["metadata"].pop("nbgrader", None)
    write(nb, ctx["folder"] / "01_spiral" / "01_spiral.ipynb")


def syntax_error(ctx):
    nb = solved("01_spiral")
    set_source(nb, "add_noise", source(nb, "add_noise").replace("* eps", "* eps)"))
    write(nb, ctx["folder"] / "01_spiral.ipynb")
    os.mkfifo(ctx["folder"] / "00_welcome.ipynb")  # reading it carelessly blocks forever


def infinite_loop(ctx):
    shutil.copy(REPO_ROOT / "solutions" / "00_welcome.ipynb", ctx["folder"])
    nb = solved("01_spiral")
    set_source(nb, "sigma_schedule", "def sigma_schedule(sigma_min, sigma_max, n):\n"
               "    while True:\n        pass\n")
    write(nb, ctx["folder"] / "01_spiral.ipynb")


def memory_hog(ctx):
    nb = solved("01_spiral")
    set_source(nb, "add_noise", "def add_noise(x0, sigma, eps):\n    hog = []\n"
               "    while True:\n        hog.append(torch.empty(2**26))  # 256 MiB a time\n")
    write(nb, ctx["folder"] / "01_spiral.ipynb")


def kills_itself(ctx):
    nb = solved("01_spiral")
    # A FIFO in place of its stderr file would block a grader that reads it carelessly.
    set_source(nb, "sigma_embedding", "import os, signal\n\n"
               "def sigma_embedding(sigma, dim):\n"
               "    os.remove('stderr.txt')\n    os.mkfifo('stderr.txt')\n"
               "    os.kill(os.getpid(), signal.SIGKILL)\n")
    set_source(nb, "denoising_loss", "import os\n\n"
               "def denoising_loss(denoiser, x0, sigma, eps):\n    os._exit(3)\n")
    set_source(nb, "predict_x0", "import sys\n\n"
               "def predict_x0(x, sigma, eps_hat):\n    sys.exit(0)\n")
    write(nb, ctx["folder"] / "01_spiral.ipynb")


def floods_output(ctx):
    nb = solved("00_welcome")
    set_source(nb, "mse", "def mse(a, b):\n    print('x' * 3 * 2**20)\n"
               "    return ((a - b) ** 2).mean()\n")
    write(nb, ctx["folder"] / "00_welcome.ipynb")
    nb = solved("01_spiral")
    set_source(nb, "sigma_schedule", "import os\n\ndef sigma_schedule(sigma_min, sigma_max, n):\n"
               "    for _ in range(200):\n        os.write(1, b'y' * 2**20)\n")
    write(nb, ctx["folder"] / "01_spiral.ipynb")


def writes_outside(ctx):
    out, own = ctx["outside"], ctx["folder"] / "01_spiral.ipynb"
    nb = solved("00_welcome")
    set_source(nb, "mse", f"def mse(a, b):\n    try:\n"
               f"        open({str(out / 'pwned.txt')!r}, 'w').write('pwned')\n"
               "    except PermissionError:\n        pass\n    return ((a - b) ** 2).mean()\n")
    write(nb, ctx["folder"] / "00_welcome.ipynb")
    nb = solved("01_spiral")
    set_source(nb, "sigma_schedule", f"import os\nos.remove({str(own)!r})\n\n"
               + source(nb, "sigma_schedule"))
    set_source(nb, "add_noise", source(nb, "add_noise").replace(
        "    return", f"    torch.save(x0, {str(out / 'saved.pt')!r})\n    return", 1))
    set_source(nb, "sigma_embedding", "import subprocess\n\n"
               + source(nb, "sigma_embedding").replace(
                   "    omega", f"    subprocess.run(['touch', {str(out / 'touched')!r}])\n"
                   "    omega", 1))
    write(nb, own)


def monkeypatcher(ctx):
    nb = solved("00_welcome")
    set_source(nb, "mse", "import torch\nimport course_lib.checking as checking\n"
               "checking.judge = lambda ex, outs, refs: checking.Report(ex, [])\n"
               "checking.Report.passed = property(lambda self: True)\n"
               "torch.allclose = lambda *args, **kwargs: True\n\n"
               "def mse(a, b):\n    return ((a - b) ** 2).sum()\n")
    write(nb, ctx["folder"] / "00_welcome.ipynb")
    nb = solved("01_spiral")
    set_source(nb, "sigma_schedule", "import course_lib.checking as checking\n"
               "from course_lib import spiral as _lib\n_real = checking.run_case\n"
               "checking.run_case = lambda fn, case: _real(_lib.sigma_schedule, case)\n\n"
               "def sigma_schedule(sigma_min, sigma_max, n):\n"
               "    return torch.linspace(sigma_max, sigma_min, n)\n")
    write(nb, ctx["folder"] / "01_spiral.ipynb")


def expected(landlock: bool) -> dict[str, tuple[dict[str, int], dict[str, str]]]:
    """{student: (points per exercise, {exercise: a phrase one of its reasons must contain})}."""
    missing_00 = {"mse": "notebook not submitted"}

    def pts(**lost):
        return {k: 0 if k in lost else v for k, v in FULL.items()}, lost

    return {
        "complete": pts(),
        "blank": ({k: 0 for k in FULL}, {k: "not attempted yet" for k in FULL}),
        "partly_right": pts(**missing_00, add_noise="matches the reference on an (8, 2) batch",
                            sigma_embedding="not attempted yet"),
        "reuses_earlier": pts(add_noise="matches the reference on an (8, 2) batch"),
        "hands_off": pts(**missing_00, add_noise="calls course_lib's add_noise",
                         predict_x0="calls course_lib's predict_x0"),
        "invalid_json": ({k: 0 for k in FULL},
                         {"mse": "not a notebook in nbformat 4",
                          **{k: "is not valid JSON" for k in EXERCISE_IDS[1:]}}),
        "renamed_function": pts(mse="symbolic link", sigma_schedule=(
            "defines no function named `sigma_schedule` (it defines: sigma_sched)")),
        "broken_metadata": pts(**missing_00),
        "syntax_error": pts(mse="is not a regular file",
                            add_noise="SyntaxError in the answer cell, line 5"),
        "infinite_loop": pts(sigma_schedule="timed out after 12 s"),
        "memory_hog": pts(**missing_00, add_noise="ran out of memory"),
        "kills_itself": pts(**missing_00, sigma_embedding="killed (SIGKILL)",
                            denoising_loss="exit code 3", predict_x0="raised SystemExit"),
        "floods_output": pts(mse="printed more than 1 MiB",
                             sigma_schedule="wrote a file or printed more than 64 MiB"),
        "writes_outside": pts(mse="refused by the grader: writing",
                              sigma_schedule="the answer cell raised PermissionError",
                              sigma_embedding="refused by the grader: starting a process",
                              **({"add_noise": "Permission denied"} if landlock else {})),
        "monkeypatcher": pts(mse="matches", sigma_schedule="matches the reference"),
    }


BUILDERS = {f.__name__: f for f in (
    complete, blank, partly_right, reuses_earlier, hands_off, invalid_json, renamed_function,
    broken_metadata, syntax_error, infinite_loop, memory_hog, kills_itself, floods_output,
    writes_outside, monkeypatcher)}


def build_class(root: Path) -> tuple[Path, Path]:
    """Write every student's folder under root/class; returns (class folder, outside folder)."""
    klass, outside = root / "class", root / "outside" / "target"
    outside.mkdir(parents=True)
    for name, build in BUILDERS.items():
        folder = klass / name
        folder.mkdir(parents=True)
        build({"folder": folder, "outside": outside})
    return klass, outside


def fingerprint(root: Path) -> dict[str, tuple]:
    """(sha256 or link target, mtime_ns, mode) of everything under root, links not followed."""
    prints = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            if path.is_symlink():
                content = "link:" + os.readlink(path)
            elif path.is_file():
                content = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                content = "dir" if path.is_dir() else "other"  # a FIFO: never read it
            prints[str(path.relative_to(root))] = (content, st.st_mtime_ns, st.st_mode)
    return prints


# ----------------------------------------------------------------------------- readers
# A class whose students try to read what the grader's sandbox must keep from them: another
# student's notebook and files, solutions/, the grader's output folder, the instructor's home
# and the sibling grading processes' scratch folders, by plain open, os.walk + open,
# numpy.load / torch.load of a path and the parent's /proc entry. Whatever an answer reads
# would come back as its exception's message, so it would reach the report.

MARKERS = {"victim": "victim-secret-7f3a", "home": "home-secret-51c2",
           "out": "output-secret-9e0d", "solutions": "BEGIN SOLUTION"}


def victim(ctx):
    """A complete student whose notebooks and files carry a marker the others must not see."""
    mark = MARKERS["victim"]
    for stem in NOTEBOOKS:
        nb = solved(stem)
        for ex_id in EXERCISE_IDS:
            if any(c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == ex_id
                   for c in nb["cells"]):
                set_source(nb, ex_id, source(nb, ex_id) + f"\n# {mark}\n")
        write(nb, ctx["folder"] / f"{stem}.ipynb")
    import numpy as np
    import torch

    np.save(ctx["folder"] / "scores.npy", np.array([mark]))
    torch.save({"note": mark}, ctx["folder"] / "model.pt")


def _steal(nb: dict, ex_id: str, attack: str) -> None:
    """Make the answer to ex_id run `attack` (statements that set `found`) at every call: a
    refusal it catches (OSError) and carries on; whatever it read, it raises as a ValueError."""
    import re
    import textwrap

    src = source(nb, ex_id)
    match = re.search(rf"^def {ex_id}\(.*:\n", src, re.MULTILINE)
    helper = (f"import glob\nimport os\n\nimport numpy as np\n\n\ndef _steal_{ex_id}():\n"
              f"    try:\n{textwrap.indent(attack.strip(), ' ' * 8)}\n"
              "    except OSError:\n        return\n"
              "    if found is not None and len(found):\n"
              "        raise ValueError(f'what I read: {found}')\n\n\n")
    set_source(nb, ex_id, src[:match.start()] + helper + match.group(0)
               + f"    _steal_{ex_id}()\n" + src[match.end():])


def _reader(ctx, attacks: dict[str, str]) -> None:
    """Solved notebooks 00 and 01 whose answers named in `attacks` try to read first; `{name}`
    in an attack is the repr of ctx['targets'][name]."""
    names = {k: repr(str(v)) for k, v in ctx["targets"].items()}
    for stem in NOTEBOOKS:
        nb = solved(stem)
        for ex_id, attack in attacks.items():
            if any(c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == ex_id
                   for c in nb["cells"]):
                _steal(nb, ex_id, attack.format(**names))
        write(nb, ctx["folder"] / f"{stem}.ipynb")


_WALK = """found = ""
for top, dirs, files in os.walk({root}):
    for name in files:
        with open(os.path.join(top, name), "rb") as f:
            found += f.read(4000).decode("utf-8", "replace")"""


def reads_by_open(ctx):
    _reader(ctx, {"mse": "found = open({victim00}).read()",
                  "sigma_schedule": "found = open({solutions01}).read()",
                  "add_noise": "found = open({out_json}).read()",
                  "sigma_embedding": "found = open({home_notes}).read()"})


def reads_by_walk(ctx):
    _reader(ctx, {"mse": _WALK.replace("{root}", "{klass}"),
                  "sigma_schedule": _WALK.replace("{root}", "{solutions}"),
                  "add_noise": _WALK.replace("{root}", "{out}"),
                  "sigma_embedding": _WALK.replace("{root}", "{home}"),
                  # the other students' grading processes: their job files hold their answers
                  "denoising_loss": _WALK.replace("{root}", "os.path.dirname(os.getcwd())"),
                  "predict_x0": _WALK.replace("{root}", "{real_home}")})


def reads_by_library(ctx):
    _reader(ctx, {"mse": "found = np.load({victim_npy})",
                  "sigma_schedule": "found = torch.load({out_pt})",
                  "add_noise": "found = np.load({home_npy})",
                  "sigma_embedding": "found = torch.load({victim_pt})",
                  "denoising_loss": "found = np.fromfile({solutions01}, np.uint8).tobytes()"})


def reads_by_proc(ctx):
    parent = "f'/proc/{{os.getppid()}}"
    _reader(ctx, {"mse": f"found = open({parent}/cmdline').read()",
                  "sigma_schedule": f"found = open({parent}/environ').read()",
                  "add_noise": f"found = open({parent}/root' + {{victim01}}).read()",
                  "sigma_embedding": f"found = open({parent}/cwd/solutions/01_spiral.ipynb')"
                                     ".read()",
                  "denoising_loss": f"found = [open({parent}/fd/' + n).read(4000)\n"
                                    f"         for n in os.listdir({parent}/fd')]",
                  "predict_x0": f"found = torch.load({parent}/root' + {{out_pt}})"})


def reads_in_c(ctx):
    """C code that opens the path itself: only the kernel's fence (Landlock) sees it. Its
    refusal costs the exercise unless the code catches the error (sigma_schedule does)."""
    from_file = ("torch.from_file({path}, size=os.path.getsize({path}), dtype=torch.uint8)"
                 ".numpy().tobytes()")
    _reader(ctx, {"mse": "found = " + from_file.replace("{path}", "{victim00}"),
                  "sigma_schedule": "try:\n    found = "
                  + from_file.replace("{path}", "{home_notes}")
                  + "\nexcept RuntimeError:\n    found = None"})


READERS = {f.__name__: f for f in (victim, reads_by_open, reads_by_walk, reads_by_library,
                                   reads_by_proc)}


def build_readers(root: Path, landlock: bool) -> tuple[Path, dict[str, Path]]:
    """The readers' class under root/class (reads_in_c only where Landlock fences), and the
    instructor's home and an earlier grading's output folder they aim at, each file marked.
    Returns (class folder, targets)."""
    import numpy as np
    import torch

    klass, home, out = root / "class", root / "instructor", root / "out"
    for folder in (home, out):
        folder.mkdir(parents=True)
    (home / "notes.txt").write_text(MARKERS["home"], encoding="utf-8")
    np.save(home / "key.npy", np.array([MARKERS["home"]]))
    (out / "grades.json").write_text(json.dumps({"note": MARKERS["out"]}), encoding="utf-8")
    torch.save({"note": MARKERS["out"]}, out / "last.pt")
    mine = klass / "victim"
    targets = {"klass": klass, "home": home, "out": out, "real_home": Path.home(),
               "solutions": REPO_ROOT / "solutions",
               "solutions01": REPO_ROOT / "solutions" / "01_spiral.ipynb",
               "victim00": mine / "00_welcome.ipynb", "victim01": mine / "01_spiral.ipynb",
               "victim_npy": mine / "scores.npy", "victim_pt": mine / "model.pt",
               "out_json": out / "grades.json", "out_pt": out / "last.pt",
               "home_notes": home / "notes.txt", "home_npy": home / "key.npy"}
    builders = {**READERS, **({"reads_in_c": reads_in_c} if landlock else {})}
    for name, build in builders.items():
        (klass / name).mkdir(parents=True)
        build({"folder": klass / name, "targets": targets})
    return klass, targets


def expected_readers(landlock: bool) -> dict[str, tuple[dict[str, int], dict[str, str]]]:
    """{student: (points per exercise, {exercise: a phrase one of its reasons must contain})}
    for build_readers' class: each attempt costs its exercise, and only that one."""
    def lost(**reasons):
        return {k: 0 if k in reasons else v for k, v in FULL.items()}, reasons

    read, listing = "refused by the grader: reading", "refused by the grader: listing"
    out = {
        "victim": lost(),
        "reads_by_open": lost(mse=read, sigma_schedule=read, add_noise=read,
                              sigma_embedding=read),
        "reads_by_walk": lost(mse=listing, sigma_schedule=listing, add_noise=listing,
                              sigma_embedding=listing, denoising_loss=listing,
                              predict_x0=listing),
        "reads_by_library": lost(mse=read, sigma_schedule=read, add_noise=read,
                                 sigma_embedding=read, denoising_loss=read),
        "reads_by_proc": lost(mse=read, sigma_schedule=read, add_noise=read,
                              sigma_embedding=read, denoising_loss=listing, predict_x0=read),
    }
    if landlock:  # the kernel refuses it; the audit hook never sees it, so nothing is noted
        out["reads_in_c"] = lost(mse="Permission denied")
    return out
