"""How the grader's child (course_lib.grade.child) runs a learner's answer cell: the output it
may print, IPython magics, and the one line that says what went wrong."""
from __future__ import annotations

import io
import linecache

MAX_ERROR = 600  # characters of an error message kept for the report


class Capped(io.TextIOBase):
    """sys.stdout / sys.stderr for graded code: passes output on until the exercise's budget
    is spent, then drops it and remembers that it overflowed."""

    def __init__(self, raw, shared: dict):
        self._raw, self._shared = raw, shared

    def write(self, text: str) -> int:
        text = str(text)
        self._shared["used"] += len(text)
        if self._shared["used"] <= self._shared["budget"]:
            self._raw.write(text)
        else:
            self._shared["exceeded"] = True
        return len(text)

    def flush(self) -> None:
        self._raw.flush()

    def fileno(self) -> int:
        return self._raw.fileno()

    def writable(self) -> bool:
        return True


class _QuietShell:
    """Stands in for get_ipython() when an answer cell has magics: cell magics such as
    %%time run their body once; line magics and shell escapes do nothing."""

    def __init__(self, ns: dict):
        self.user_ns = ns

    def run_cell_magic(self, name, line, cell):
        exec(compile(cell, "<cell magic body>", "exec"), self.user_ns)

    def run_line_magic(self, *args, **kwargs):
        return None

    def system(self, *args, **kwargs):
        return None

    getoutput = system


def compile_answer(source: str, filename: str, ns: dict):
    """Compile as plain Python; if that fails, try IPython's translation of magics."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        return compile(source, filename, "exec")
    except SyntaxError as plain_error:
        try:
            from IPython.core.inputtransformer2 import TransformerManager

            code = compile(TransformerManager().transform_cell(source), filename, "exec")
        except Exception:
            raise plain_error from None
        ns["get_ipython"] = lambda: _QuietShell(ns)
        return code


def cell_error(exc: BaseException, filename: str) -> str:
    """One line for the report: the exception and the line of the answer cell it came from."""
    if isinstance(exc, SyntaxError):
        return f"SyntaxError in the answer cell, line {exc.lineno}: {exc.msg}"[:MAX_ERROR]
    import traceback

    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    where = f" (line {lines[-1]} of the cell)" if lines else ""
    return f"the answer cell raised {type(exc).__name__}: {exc}{where}"[:MAX_ERROR]
