"""What a wrong answer got wrong, from the program and its run: an AST diff of the failing program against the
task's reference, and the relation of the value it returned to the expected one.

Stdlib only and deterministic (tracing and execution records are read on stdlib-only Python too). The diff
renames every local name by order of first use (so ``total``/``acc`` or ``x``/``v`` do not count as
changes), aligns statement lists with ``difflib`` and walks matched nodes field by field; each difference
gets a kind by where it sits, and the program's class is the kind every difference shares
(:data:`DIFF_RULES`); differences of several kinds, or a rewrite the alignment cannot pair, are ``other``.
"""

from __future__ import annotations

import ast
import builtins
import copy
import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

DIFF_CATEGORIES = ("comparison operator", "arithmetic operator", "loop bound", "constant",
                   "accumulator or initial value", "return missing or misplaced", "same as reference", "other")
DIFF_RULES = {
    "comparison operator": "every change is a comparison's operator (`>` for `>=`, `==` for `!=`) outside a "
                           "loop's header",
    "arithmetic operator": "every change is an arithmetic operator (`*` for `+`, `//` for `%`) outside a loop's "
                           "header and an accumulator's update",
    "loop bound": "every change is inside a loop's header: the iterable of a `for` (a `range` bound, a slice) "
                  "or a `while` condition",
    "constant": "every change is a literal's value (outside a loop's header and an accumulator's start)",
    "accumulator or initial value": "every change is the start value of a name that a loop then updates "
                                    "(`total = 0` for `total = 1`) or the update's operator or operand "
                                    "(`total += x` for `total *= x`)",
    "return missing or misplaced": "a `return` of the reference is missing, or sits at another place "
                                   "(inside the loop instead of after it)",
    "same as reference": "no change after renaming (the program fails for another reason, e.g. a helper it "
                         "defines differently)",
    "other": "anything else: changes of several kinds, an added or dropped statement, another algorithm, or a "
             "program or reference that does not parse",
}
VALUE_RELATIONS = ("returned None", "off by one", "fails only the empty/zero test", "other value")
VALUE_RULES = {
    "returned None": "the first failing test's call returned `None` where the test expects a value",
    "off by one": "a number one away from the expected one, or a list/string/tuple that is the expected one "
                  "with one element more or less at an end",
    "fails only the empty/zero test": "every failing test calls the function with only empty or zero "
                                      "arguments (`[]`, `''`, `0`, ...) and some other test passes",
    "other value": "a wrong value of any other relation",
}
_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_KNOWN = set(dir(builtins))
_MISSING = object()  # no literal value could be read


@dataclass(frozen=True)
class Change:
    kind: str  # op (comparison) | binop | augop | const | node | added | removed
    where: str  # header | accumulator | return | body


def diff_category(program: str, reference: str, entry_point: str | None = None) -> str:
    """The :data:`DIFF_CATEGORIES` class of ``program`` against ``reference`` (the entry function's, when
    both define it)."""
    try:
        ours, theirs = _unit(ast.parse(program), entry_point), _unit(ast.parse(reference), entry_point)
        reference_tree = _renamed(theirs)
        return _category(list(_diff(reference_tree, _renamed(ours), _accumulators(reference_tree))))
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # unparsable, or nested past the stack
        return "other"


def _unit(tree: ast.Module, entry_point: str | None) -> ast.AST:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point:
            return node
    return tree


def _renamed(node: ast.AST) -> ast.AST:
    """A copy with local names (arguments, assigned or read names that are no builtins) as v0, v1, ..."""
    node = copy.deepcopy(node)
    names: dict[str, str] = {}
    for sub in ast.walk(node):
        ident = sub.id if isinstance(sub, ast.Name) else sub.arg if isinstance(sub, ast.arg) else None
        if ident is None or (ident in _KNOWN and isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load)
                             and ident not in names):
            continue
        new = names.setdefault(ident, f"v{len(names)}")
        if isinstance(sub, ast.Name):
            sub.id = new
        else:
            sub.arg = new
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        node.name = "f"
    return node


def _accumulators(reference: ast.AST) -> set[str]:
    """The names a loop of the reference updates."""
    updated = set()
    for loop in (n for n in ast.walk(reference) if isinstance(n, _LOOPS)):
        for sub in ast.walk(loop):
            if isinstance(sub, ast.AugAssign) and isinstance(sub.target, ast.Name):
                updated.add(sub.target.id)
            elif isinstance(sub, ast.Assign) and isinstance(sub.value, ast.BinOp):
                reads = {n.id for n in ast.walk(sub.value) if isinstance(n, ast.Name)}
                updated.update(t.id for t in sub.targets if isinstance(t, ast.Name) and t.id in reads)
    return updated


def _diff(a: ast.AST, b: ast.AST, accumulators: set[str], where: str = "body") -> Iterator[Change]:
    """The changes from reference ``a`` to program ``b`` (both renamed)."""
    literal_a, literal_b = _number(a), _number(b)
    if literal_a is not _MISSING and literal_b is not _MISSING:  # -1 is a unary minus of 1 in the tree
        if literal_a != literal_b or type(literal_a) is not type(literal_b):
            yield Change("const", where)
        return
    if type(a) is not type(b):
        yield Change("node", where)
        return
    if isinstance(a, ast.Constant):
        if a.value != b.value or type(a.value) is not type(b.value):
            yield Change("const", where)
        return
    if isinstance(a, ast.cmpop) or isinstance(a, ast.operator):
        return  # compared by type above
    for name, va in ast.iter_fields(a):
        vb = getattr(b, name, None)
        inner = _where(a, name, where, accumulators)
        if isinstance(va, list):
            yield from _diff_list(va, vb if isinstance(vb, list) else [], accumulators, inner, name)
        elif isinstance(va, ast.AST) and isinstance(vb, ast.AST):
            if name == "op" and type(va) is not type(vb):
                kind = "augop" if isinstance(a, ast.AugAssign) else "binop" if isinstance(a, ast.BinOp) else "node"
                yield Change(kind, inner)
            else:
                yield from _diff(va, vb, accumulators, inner)
        elif va != vb and name not in ("ctx", "type_comment", "kind"):
            yield Change("node", inner)


def _number(node: ast.AST) -> Any:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
            and isinstance(node.operand.value, (int, float)) and not isinstance(node.operand.value, bool):
        return -node.operand.value
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    return _MISSING


def _diff_list(xs: list[Any], ys: list[Any], accumulators: set[str], where: str, field: str) -> Iterator[Change]:
    if field == "ops":  # a comparison's operators
        if len(xs) != len(ys):
            yield Change("node", where)
        for x, y in zip(xs, ys):
            if type(x) is not type(y):
                yield Change("op", where)
        return
    keys = [[ast.dump(n) if isinstance(n, ast.AST) else repr(n) for n in seq] for seq in (xs, ys)]
    matcher = difflib.SequenceMatcher(a=keys[0], b=keys[1], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        yield from _diff_block(xs[i1:i2], ys[j1:j2], accumulators, where)


def _diff_block(xs: list[Any], ys: list[Any], accumulators: set[str], where: str) -> Iterator[Change]:
    """Differing runs of two lists: statements of the same node type are compared in place (a `return`
    moved into a loop is then a change inside the loop, not a new loop), the rest added or removed."""
    if len(xs) == len(ys):
        for x, y in zip(xs, ys):
            yield from _diff(x, y, accumulators, where)
        return
    types = difflib.SequenceMatcher(a=[type(x).__name__ for x in xs], b=[type(y).__name__ for y in ys],
                                    autojunk=False)
    for tag, i1, i2, j1, j2 in types.get_opcodes():
        if tag == "equal":
            for x, y in zip(xs[i1:i2], ys[j1:j2]):
                yield from _diff(x, y, accumulators, where)
            continue
        for node in xs[i1:i2]:
            yield Change("removed", "return" if _returns(node) else where)
        for node in ys[j1:j2]:
            yield Change("added", "return" if _returns(node) else where)


def _returns(node: Any) -> bool:
    return isinstance(node, ast.AST) and any(isinstance(n, ast.Return) for n in ast.walk(node))


def _where(node: ast.AST, field: str, where: str, accumulators: set[str]) -> str:
    """Where the ``field`` of ``node`` sits, given where ``node`` does."""
    if where != "body":
        return where
    if isinstance(node, (ast.For, ast.AsyncFor)) and field == "iter" or isinstance(node, ast.While) and field == "test":
        return "header"
    if isinstance(node, ast.AugAssign) and field in ("op", "value"):
        return "accumulator"
    if isinstance(node, ast.Assign) and field == "value" and \
            any(isinstance(t, ast.Name) and t.id in accumulators for t in node.targets):
        return "accumulator"
    return where


def _kind(change: Change) -> str:
    if change.where == "return" and change.kind in ("added", "removed"):
        return "return missing or misplaced"
    if change.where == "header":
        return "loop bound"
    if change.where == "accumulator":
        return "accumulator or initial value"
    if change.kind == "op":
        return "comparison operator"
    if change.kind == "const":
        return "constant"
    if change.kind == "binop":
        return "arithmetic operator"
    return "other"


def _category(changes: list[Change]) -> str:
    if not changes:
        return "same as reference"
    kinds = {_kind(c) for c in changes}
    return kinds.pop() if len(kinds) == 1 else "other"


# ---------------------------------------------------------------- the value returned


def value_relation(record: dict[str, Any], tests: list[str]) -> str | None:
    """The :data:`VALUE_RELATIONS` class of a wrong answer, from its first failing test (``tests``: the task's
    test code, by index); None when the record is no wrong answer or its value was not recorded."""
    if record.get("outcome") != "wrong_answer":
        return None
    results = sorted(record.get("tests") or [], key=lambda t: t.get("index", 0))
    failing = [t for t in results if t.get("outcome") != "passed"]
    if not failing:
        return None
    if len(failing) < len(results) and all(_empty_call(_code(tests, t)) for t in failing):
        return "fails only the empty/zero test"
    first = failing[0]
    message = first.get("error_message") or ""
    expected = _expected(_code(tests, first))
    if not message.startswith("got "):
        return None if expected is _MISSING else "other value"
    got = _literal(message.removeprefix("got "))
    if got is None and message == "got None" and expected is not None:
        return "returned None"
    if got is _MISSING or expected is _MISSING:
        return "other value"
    return "off by one" if _one_apart(got, expected) else "other value"



def _code(tests: list[str], result: dict[str, Any]) -> str:
    index = result.get("index", -1)
    return tests[index] if isinstance(index, int) and 0 <= index < len(tests) else ""


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _MISSING


def _assertion(code: str) -> ast.Compare | None:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    test = tree.body[0].test
    ok = isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
    return test if ok else None


def _expected(code: str) -> Any:
    test = _assertion(code)
    if test is None:
        return _MISSING
    try:
        return ast.literal_eval(test.comparators[0])
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _MISSING


def _empty_call(code: str) -> bool:
    """``assert f([]) == ...``, ``assert f(0, '') == ...``: every argument empty or zero."""
    test = _assertion(code)
    if test is None or not isinstance(test.left, ast.Call) or not (test.left.args or test.left.keywords):
        return False
    args = list(test.left.args) + [k.value for k in test.left.keywords]
    try:
        values = [ast.literal_eval(a) for a in args]
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return all(not v and not isinstance(v, bool) for v in values)


def _one_apart(got: Any, expected: Any) -> bool:
    numbers = (int, float)
    if isinstance(got, numbers) and isinstance(expected, numbers) and not isinstance(got, bool) \
            and not isinstance(expected, bool):
        return abs(got - expected) == 1
    if type(got) is type(expected) and isinstance(got, (list, tuple, str)) and abs(len(got) - len(expected)) == 1:
        short, long_ = sorted((got, expected), key=len)
        return long_[1:] == short or long_[:-1] == short
    return False


# ---------------------------------------------------------------- one record


def classify(record: dict[str, Any], reference: str | None, tests: list[str], entry_point: str | None,
             program: str | None = None) -> dict[str, Any] | None:
    """The diff class and value relation of a wrong answer (``program``: the whole program, default the
    record's completion); None for any other outcome."""
    if record.get("outcome") != "wrong_answer":
        return None
    program = record.get("completion", "") if program is None else program
    return {"diff": diff_category(program, reference, entry_point) if reference else None,
            "value": value_relation(record, tests)}
