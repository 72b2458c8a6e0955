"""Earlier answers in later ones: a learner's function may call their own earlier answers (as
a notebook suggests); one that does not pass its check is swapped for the reference while the
later one is probed, so one mistake costs one exercise. The class grader does the same."""
from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def global_names(code: types.CodeType) -> set[str]:
    """The global names a function's code (and the functions nested in it) reads."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= global_names(const)
    return names


def failing_earlier_answers(ex, fn: Callable, exercises: dict, _seen: frozenset = frozenset()
                            ) -> dict[str, Callable]:
    """{name: reference} for each other exercise of ex's notebook that fn calls by name, or
    that an earlier answer it calls calls in turn, and whose version in fn's globals does not
    pass its own check (as in the class grader, where a failed answer is the reference for
    every later one)."""
    from course_lib.checking import evaluate

    space = getattr(fn, "__globals__", None)
    if getattr(fn, "__code__", None) is None or space is None:
        return {}
    swaps, visited, todo = {}, set(), [fn]
    while todo:
        for name in sorted(global_names(todo.pop().__code__) - {ex.id} - _seen - visited):
            visited.add(name)
            other, own = exercises.get(name), space.get(name)
            if other is None or other.notebook != ex.notebook or not callable(own):
                continue
            if own is other.reference:
                continue
            if not evaluate(other, own, _seen=_seen | {ex.id}).passed:
                swaps[name] = other.reference
            elif getattr(own, "__code__", None) is not None:
                todo.append(own)  # it passes: the earlier answers it calls run too
    return swaps


@contextmanager
def swapped(fn: Callable, swaps: dict[str, Callable]) -> Iterator[None]:
    """Bind each name in swaps to its reference in fn's globals for the block, then restore."""
    space = fn.__globals__ if swaps else {}
    saved = {name: space[name] for name in swaps}
    space.update(swaps)
    try:
        yield
    finally:
        space.update(saved)
