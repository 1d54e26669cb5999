"""Bounded value representations, captures, and the per-line effects the cores rely on."""

from __future__ import annotations

import dis
import sys
from collections import Counter, OrderedDict, defaultdict, deque

import pytest

from eta.trace import TraceConfig
from eta.trace.capture import make_capture, make_unchanged
from eta.trace.crosscheck import PROGRAMS
from eta.trace.effects import PURE_BUILTINS, START, analyze
from eta.trace.saferepr import Renderer

R = Renderer(TraceConfig())


@pytest.mark.parametrize("value, text", [
    (0, "0"), (-12345678901234, "-12345678901234"), (True, "True"), (None, "None"), (2.5, "2.5"),
    (float("inf"), "inf"), (float("-inf"), "-inf"), (float("nan"), "nan"), (1 + 2j, "(1+2j)"),
    ("it's", '"it\'s"'), ("a\nb", "'a\\nb'"), (b"\x00a", "b'\\x00a'"), (..., "Ellipsis"),
    ([], "[]"), ((), "()"), ((1,), "(1,)"), ({}, "{}"), (set(), "set()"), ({3}, "{3}"),
    (frozenset(), "frozenset()"), (frozenset({1}), "frozenset({1})"), ({"k": (2,)}, "{'k': (2,)}"),
    ({"k": [1, (2, 3)]}, "{'k': [1, (...)]}"),  # a third level of containers is elided
    (range(3), "range(0, 3)"), (range(1, 9, 2), "range(1, 9, 2)"), (bytearray(b"hi"), "bytearray(b'hi')"),
    (Counter("aab"), "Counter({'a': 2, 'b': 1})"), (defaultdict(list, a=[1]), "defaultdict({'a': [1]})"),
    (OrderedDict(x=1), "OrderedDict({'x': 1})"), (deque([1, 2]), "deque([1, 2])"), (deque(), "deque()"),
    (len, "<function len>"), (int, "<class int>"), (sys, "<module sys>"),
    (ValueError("bad"), "ValueError('bad')"),
    (KeyError(5), "KeyError(5)"), (object(), "<object object>"),
])
def test_builtin_values(value: object, text: str) -> None:
    assert R.value(value) == text


def test_bounds_on_items_depth_and_characters() -> None:
    assert R.value(list(range(20))) == "[0, 1, 2, 3, 4, 5, 6, 7, ...(+12)]"
    assert R.value({i: i for i in range(9)}).endswith("7: 7, ...(+1)}")
    assert R.value([[[1]]]) == "[[[...]]]" and R.value(([], {"a": {}})) == "([], {'a': {...}})"
    long = R.value("x" * 500)
    assert len(long) == 80 and long.startswith("'xxx") and long.endswith("...")
    assert len(R.value([["y" * 70] * 8] * 8)) == 80
    assert R.value(10 ** 100) == "<int of ~101 digits>" and R.value(-(10 ** 5000)) == "<int of ~5001 digits>"
    assert R.value(10 ** 20) == "100000000000000000000"
    tight = Renderer(TraceConfig(max_items=2, max_depth=1, max_value_chars=20))
    assert tight.value([1, [2], 3]) == "[1, [...], ...(+1)]"
    assert tight.value("abcdefghijklmnopqrstuvwxyz") == "'abcdefghijklmnop..."


def test_subclasses_and_lookalikes_are_not_opened() -> None:
    class MyList(list):
        def __iter__(self):  # never called
            raise AssertionError("iterated")

    class Fake:
        @property
        def __class__(self):  # never read
            raise AssertionError("__class__ read")

    assert R.value(MyList([1])) == "<MyList object>"
    assert R.value([Fake()]) == "[<Fake object>]"
    assert R.value(RuntimeError(Fake())) == "RuntimeError(<Fake object>)"


def test_messages_like_str_of_builtin_exceptions() -> None:
    for exc in (ValueError("bad value"), KeyError("k"), IndexError(), ValueError(3), TypeError("a", 1)):
        assert R.describe(exc) == (type(exc).__name__, str(exc))


def test_captures_freeze_containers_and_keep_immutables() -> None:
    capture = make_capture(TraceConfig())
    xs, inner = [1, 2], [3]
    nested = [inner, (4, inner), [[inner]]]
    frozen_xs, frozen_nested = capture(xs), capture(nested)
    xs.append(9)
    inner.append(5)
    assert R(frozen_xs) == "[1, 2]" and R(frozen_nested) == "[[3], (4, [...]), [[...]]]"
    assert R.value(nested) == "[[3, 5], (4, [...]), [[...]]]"
    t = (1, "a", None)
    assert capture(t) is t and capture(5) == 5


def test_unchanged_compares_by_identity_only() -> None:
    config = TraceConfig()
    capture, unchanged = make_capture(config), make_unchanged(config)

    class Eq:
        def __eq__(self, other):  # never called
            raise AssertionError("compared with ==")

    grid = [[0, 1], [Eq()]]
    old = capture(grid)
    assert unchanged(grid, old)
    grid[0][1] = 1.0  # equal, not identical: counts as a change (rendered differently anyway)
    assert not unchanged(grid, old)
    old = capture(grid)
    grid[1][0] = Eq()
    assert not unchanged(grid, old)
    flags = [1, 0]
    old = capture(flags)
    flags[0] = True
    assert not unchanged(flags, old)
    counts = {"a": 1}
    old = capture(counts)
    counts["a"] += 1
    assert not unchanged(counts, old)
    big = list(range(100))
    old = capture(big)
    big[50] = "hidden"  # past the items shown: nothing visible changed
    assert unchanged(big, old)


def _reference_stores(code: object) -> dict[int, set[str]]:
    """Names each line stores to or unbinds, from `dis`."""
    out: dict[int, set[str]] = {}
    kinds = ("STORE_FAST", "DELETE_FAST", "STORE_DEREF", "DELETE_DEREF", "STORE_NAME", "DELETE_NAME",
             "STORE_GLOBAL", "DELETE_GLOBAL", "LOAD_FAST_AND_CLEAR", "STORE_FAST_STORE_FAST",
             "STORE_FAST_LOAD_FAST")
    for ins in dis.get_instructions(code):
        if ins.opname in kinds and ins.positions and ins.positions.lineno is not None:
            names = ins.argval if isinstance(ins.argval, tuple) else (ins.argval,)
            if ins.opname == "STORE_FAST_LOAD_FAST":
                names = names[:1]
            out.setdefault(ins.positions.lineno, set()).update(names)
    return out


def _codes(code: object) -> list:
    found = [code]
    for const in code.co_consts:  # type: ignore[attr-defined]
        if hasattr(const, "co_code"):
            found += _codes(const)
    return found


def test_effects_name_every_store_of_every_line() -> None:
    for _, source, _ in PROGRAMS:
        for code in _codes(compile(source, "<candidate>", "exec")):
            effects = analyze(code)
            lines = {line for _, _, line in code.co_lines() if line is not None}
            by_line = {line: set() for line in lines}
            for offset, (names, _, _) in effects.items():
                if offset != START:
                    for _, (start, end, line) in enumerate(code.co_lines()):
                        if start <= offset < end and line is not None:
                            by_line[line].update(names)
            for line, names in _reference_stores(code).items():
                assert names <= by_line[line], (code.co_name, line)


def test_effects_purity() -> None:
    source = '''def f(xs, d):
    n = len(xs) + abs(-1)
    xs.append(n)
    d["k"] = n
    m = helper(n)
    for i, x in zip(xs, helper(xs)):
        pass
    xs += [1]
    return sorted(xs, key=len)
'''
    code = compile(source, "<candidate>", "exec").co_consts[0]
    effects = analyze(code)
    by_line: dict[int, set[bool]] = {}
    for offset, (_, pure, _) in effects.items():
        for start, end, line in code.co_lines():
            if start <= offset < end:
                by_line.setdefault(line, set()).add(pure)
    assert by_line[2] == {True}  # builtins only
    assert by_line[3] == {False} and by_line[4] == {False} and by_line[5] == {False}
    assert by_line[6] == {False, True}  # entering calls helper(); each new iteration does not
    assert by_line[8] == {True}  # in place on a stored name: the cores re-check that name
    assert "sorted" in PURE_BUILTINS and "setattr" not in PURE_BUILTINS
