"""Which lines of a code object can change what a trace shows: what lets the cores skip re-reading.

Between two line events of a frame, only the previous line's instructions run (CPython reports a line
event whenever the line changes or a jump goes backwards), plus any other frame they call into. So
when the previous line holds only *safe* instructions (loads, stores to locals, arithmetic,
comparisons, jumps, iteration, building new objects: nothing that calls out or stores into a
container) and no other traced frame ran meanwhile, the only variables that can have changed are the
ones that line stores to, and no container changed except those stored names' own (``xs += [1]``
stores `xs` back). A line with a call or a subscript store may mutate any container, but still
rebinds only the names it stores to.

Not covered (documented limits): a builtin method handed to ``map``/``filter`` and run by a ``for``
header (``for _ in map(xs.append, ys)``) mutates from a "safe" line, and untraced Python code run by
an operator (a stdlib class's ``__add__``) could too; the next line that calls anything shows it.
Reading a missing key of a ``defaultdict`` inserts it: the cores re-check containers after every line
once they have seen one.
"""

from __future__ import annotations

import opcode
from typing import Any

# offset -> (names that the code run from there to the next line event stores to or unbinds, whether
# that code can mutate no container, the one name it stores to when it is that simple)
Effects = dict[int, tuple[tuple[str, ...], bool, "str | None"]]

_SAFE_NAMES = """
    PRECALL CACHE NOP RESUME POP_TOP PUSH_NULL COPY SWAP EXTENDED_ARG KW_NAMES TO_BOOL END_FOR END_SEND POP_ITER
    LOAD_FAST LOAD_FAST_CHECK LOAD_FAST_AND_CLEAR LOAD_FAST_LOAD_FAST LOAD_FAST_BORROW
    LOAD_FAST_BORROW_LOAD_FAST_BORROW LOAD_CONST LOAD_SMALL_INT LOAD_GLOBAL LOAD_NAME LOAD_DEREF
    LOAD_CLOSURE LOAD_ATTR LOAD_METHOD LOAD_FROM_DICT_OR_GLOBALS LOAD_FROM_DICT_OR_DEREF
    STORE_FAST STORE_FAST_STORE_FAST STORE_FAST_LOAD_FAST DELETE_FAST STORE_DEREF DELETE_DEREF
    STORE_NAME DELETE_NAME STORE_GLOBAL DELETE_GLOBAL MAKE_CELL COPY_FREE_VARS
    BINARY_OP UNARY_NEGATIVE UNARY_NOT UNARY_INVERT UNARY_POSITIVE COMPARE_OP IS_OP CONTAINS_OP
    BINARY_SUBSCR BINARY_SLICE BUILD_LIST BUILD_TUPLE BUILD_SET BUILD_MAP BUILD_CONST_KEY_MAP BUILD_SLICE
    BUILD_STRING LIST_APPEND SET_ADD MAP_ADD LIST_EXTEND SET_UPDATE LIST_TO_TUPLE GET_ITER GET_LEN
    FOR_ITER UNPACK_SEQUENCE UNPACK_EX FORMAT_VALUE CONVERT_VALUE FORMAT_SIMPLE FORMAT_WITH_SPEC
    MAKE_FUNCTION SET_FUNCTION_ATTRIBUTE PUSH_EXC_INFO POP_EXCEPT CHECK_EXC_MATCH RETURN_VALUE RETURN_CONST
    JUMP JUMP_FORWARD JUMP_BACKWARD JUMP_BACKWARD_NO_INTERRUPT JUMP_NO_INTERRUPT NOT_TAKEN
    POP_JUMP_IF_FALSE POP_JUMP_IF_TRUE POP_JUMP_IF_NONE POP_JUMP_IF_NOT_NONE JUMP_IF_FALSE_OR_POP
    JUMP_IF_TRUE_OR_POP POP_JUMP_FORWARD_IF_FALSE POP_JUMP_FORWARD_IF_TRUE POP_JUMP_BACKWARD_IF_FALSE
    POP_JUMP_BACKWARD_IF_TRUE POP_JUMP_FORWARD_IF_NONE POP_JUMP_FORWARD_IF_NOT_NONE
    POP_JUMP_BACKWARD_IF_NONE POP_JUMP_BACKWARD_IF_NOT_NONE
""".split()
SAFE_OPS = frozenset(opcode.opmap[n] for n in _SAFE_NAMES if n in opcode.opmap)
_op = opcode.opmap.get
_FAST_STORES = frozenset(filter(None, (_op("STORE_FAST"), _op("DELETE_FAST"), _op("STORE_DEREF"),
                                       _op("DELETE_DEREF"), _op("LOAD_FAST_AND_CLEAR"))))
_NAME_STORES = frozenset(filter(None, (_op("STORE_NAME"), _op("DELETE_NAME"), _op("STORE_GLOBAL"),
                                       _op("DELETE_GLOBAL"))))
_STORE_STORE, _STORE_LOAD = _op("STORE_FAST_STORE_FAST"), _op("STORE_FAST_LOAD_FAST")
_FOR_ITER, _EXTENDED_ARG = _op("FOR_ITER"), opcode.EXTENDED_ARG
_CALL, _LOAD_GLOBAL = _op("CALL"), _op("LOAD_GLOBAL")
# Instructions that load a callee a call could be a mutating method of (`xs.append`), or a computed one.
_CALLEE_OPS = frozenset(filter(None, (_op("LOAD_ATTR"), _op("LOAD_METHOD"), _op("PUSH_NULL"),
                                      _op("LOAD_SUPER_ATTR"))))
_PRECALL = _op("PRECALL")
# Builtins that never mutate their arguments. Whatever they call back (a key function, __len__) runs
# in traced frames if the candidate defined it; a candidate that rebinds one of these names to a
# function of its own is traced too.
PURE_BUILTINS = frozenset("""
    abs all any ascii bin bool bytes callable chr complex dict divmod enumerate filter float format frozenset
    hash hex id int isinstance issubclass iter len list map max min next oct ord pow print range repr
    reversed round set slice sorted str sum tuple type zip
""".split())

# Keys the cores look up for "what ran since the last look": a frame's start (nothing that changes a
# variable runs before its first line) and "unknown" (after an exception: a full look).
START, UNKNOWN = -2, -3

# id(code) -> (code, effects, whether another frame can rebind its names, whether it is a generator);
# the code object is kept so that its id stays its own.
_CACHE: dict[int, tuple[Any, Effects, bool, bool]] = {}
_CACHE_SIZE = 1024
_GENERATOR_FLAGS = 0x20 | 0x80 | 0x200  # CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR


def code_info(code: Any) -> tuple[Any, Effects, bool, bool]:
    """(code, effects, has cell variables, is a generator) of a code object, cached (the cores look the
    cache up inline; a few microseconds the first time)."""
    hit = _CACHE.get(id(code))
    if hit is not None and hit[0] is code:
        return hit
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()
    hit = _CACHE[id(code)] = (code, analyze(code), bool(code.co_cellvars or code.co_freevars),
                              bool(code.co_flags & _GENERATOR_FLAGS))
    return hit


def effects_cache() -> dict[int, tuple[Any, Effects, bool, bool]]:
    """The cache behind `code_info`, for the cores to look up inline (check ``entry[0] is code``)."""
    return _CACHE


def _stored(code: Any, op: int, arg: int) -> tuple[str, ...]:
    if op in _FAST_STORES:
        return (code._varname_from_oparg(arg),)
    if op in _NAME_STORES:
        return (code.co_names[arg],)
    if op == _STORE_STORE:
        return (code._varname_from_oparg(arg >> 4), code._varname_from_oparg(arg & 15))
    if op == _STORE_LOAD:
        return (code._varname_from_oparg(arg >> 4),)
    return ()


class _Segment:
    """What a stretch of one line's instructions may do."""

    __slots__ = ("stores", "unsafe", "calls", "builtin_calls", "other_callee")

    def __init__(self) -> None:
        self.stores: set[str] = set()
        self.unsafe = False  # an instruction that may mutate a container or call out (other than below)
        self.calls = 0
        self.builtin_calls = 0  # calls whose callee is loaded as a global named in PURE_BUILTINS
        self.other_callee = False  # an attribute, method or computed callee could be a mutating method

    def add(self, code: Any, op: int, arg: int) -> None:
        self.stores.update(_stored(code, op, arg))
        if op == _CALL:
            self.calls += 1
        elif op == _LOAD_GLOBAL:
            if arg & 1 and code.co_names[arg >> 1] in PURE_BUILTINS:
                self.builtin_calls += 1
        elif op in _CALLEE_OPS:
            self.other_callee = True
        elif op not in SAFE_OPS:
            self.unsafe = True

    def effect(self, anywhere: set[str]) -> tuple[tuple[str, ...], bool, str | None]:
        only_builtins = self.calls == self.builtin_calls and not self.other_callee
        pure = not self.unsafe and (self.calls == 0 or only_builtins)
        names = tuple(sorted(self.stores | anywhere))
        return names, pure, names[0] if pure and len(names) == 1 else None


def analyze(code: Any) -> Effects:
    """Effects keyed by the offset a line event stops at (``frame.f_lasti``): normally those of the
    whole line; at a ``for`` header's FOR_ITER (where each new iteration's line event stops), those of
    the rest of the line only, so that the call building the iterable does not count every iteration."""
    offsets_line: list[int | None] = []
    for start, end, line in code.co_lines():
        offsets_line.extend([line] * ((end - start) // 2))
    raw = code.co_code
    ops: list[tuple[int, int, int, int]] = []  # (offset, line, opcode, oparg)
    anywhere: set[str] = set()  # stores of instructions without a line (exception cleanup: `del e`)
    ext = 0
    for unit in range(len(raw) // 2):
        op, arg = raw[2 * unit], raw[2 * unit + 1] | ext
        if op == _EXTENDED_ARG:
            ext = arg << 8
            continue
        ext = 0
        line = offsets_line[unit] if unit < len(offsets_line) else None
        if line is None:
            anywhere.update(_stored(code, op, arg))
        else:
            ops.append((2 * unit, line, op, arg))
    whole: dict[int, _Segment] = {}
    for _, line, op, arg in ops:
        whole.setdefault(line, _Segment()).add(code, op, arg)
    frozen = {line: segment.effect(anywhere) for line, segment in whole.items()}
    effects: Effects = {offset: frozen[line] for offset, line, _, _ in ops}
    suffix: dict[int, _Segment] = {}
    for offset, line, op, arg in reversed(ops):
        segment = suffix.setdefault(line, _Segment())
        segment.add(code, op, arg)
        if op == _FOR_ITER:
            effects[offset] = segment.effect(anywhere)
    effects[START] = ((), True, None)
    return effects
