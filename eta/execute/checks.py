"""Verdicts decided outside the candidate's process.

Most tests compare what a call returns with a value written in the test: ``assert f(3) == 7``,
``assert not f(0)``, ``assert math.isclose(f(2), 1.41, rel_tol=1e-3)``, APPS' ``_apps_equal(f(x), [1, 2])``,
or a standard-input program's output against the expected output. The supervisor splits such a test in
two (:func:`split_test`): the child evaluates only the call and sends its value as plain data
(:mod:`eta.execute.values`); the expected value stays in the supervisor, which compares (:meth:`Check.judge`).
The candidate then can neither decide the comparison (an ``__eq__`` that always says True) nor forge a pass
through the harness in its own process without knowing the expected value, which it never sees.

Tests of any other shape (several statements, a comparison with a value computed from the candidate's
own functions) run whole in the child, as before; their results say ``checked_outside: false``.
"""

from __future__ import annotations

import ast
import math
import operator
import reprlib
from typing import Any

from eta.execute.outcome import Outcome
from eta.execute.sites import SITE_FN, Site
from eta.execute.values import decode, encode

Verdict = tuple[Outcome, "str | None", "str | None"]
PASS: Verdict = (Outcome.PASSED, None, None)

_OPS = {ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge",
        ast.Is: "is", ast.IsNot: "is_not"}
_MIRROR = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "is": "is", "is_not": "is_not"}
_COMPARE = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
            "ge": operator.ge, "is": operator.is_, "is_not": operator.is_not}
_SINGLETONS = (True, False, None)  # the only values `is` compares reliably with
_short = reprlib.Repr()
_short.maxstring = _short.maxother = 120
_short.maxlist = _short.maxtuple = _short.maxdict = _short.maxset = 12


class Check:
    """What the supervisor does with a test's value. `expr` is the only part of the test the child sees."""

    __slots__ = ("kind", "expr", "expected", "options")

    def __init__(self, kind: str, expr: str, expected: Any = None, **options: Any) -> None:
        self.kind, self.expr, self.expected, self.options = kind, expr, expected, options

    def __repr__(self) -> str:
        return f"Check({self.kind!r}, {self.expr!r}, {self.expected!r}, **{self.options!r})"

    def judge(self, frame: dict[str, Any]) -> Verdict:
        """The verdict on a test whose child ran to the end and reported `frame`."""
        if self.kind == "stdio":
            stdout = frame.get("stdout")
            if type(stdout) is not str:
                return _tampered("a standard-input test's output is missing")
            from eta.tasks.equality import outputs_match  # see _holds

            if outputs_match(stdout, self.expected):
                return PASS
            return Outcome.WRONG_ANSWER, "OutputMismatch", "the program's output differs from the expected output"
        if "value" not in frame:
            return _tampered("a test's value is missing")
        encoded = frame["value"]
        if type(encoded) is dict and ("too_big" in encoded or "unsupported" in encoded):
            return self._judge_marker(encoded)
        try:
            value = decode(encoded)
        except (ValueError, RecursionError) as e:
            return _tampered(f"a test's value does not decode: {e}")
        try:
            ok = self._holds(value)
        except (TypeError, ValueError, ArithmeticError) as e:  # what the same comparison raises in-process
            return Outcome.RUNTIME_ERROR, type(e).__name__, str(e)[:500]
        return PASS if ok else (Outcome.WRONG_ANSWER, "AssertionError", f"got {_short.repr(value)}")

    def _holds(self, value: Any) -> bool:
        if self.kind == "compare":
            return bool(_COMPARE[self.options["op"]](value, self.expected))
        if self.kind == "truth":
            return bool(value) is self.expected
        if self.kind == "isclose":
            return math.isclose(value, self.expected, **self.options)
        if self.kind == "abs_diff":
            return bool(_COMPARE[self.options["op"]](abs(value - self.expected), self.options["tolerance"]))
        if self.kind == "apps_equal":
            # Here, not at the top: importing eta.tasks.equality runs eta/tasks/__init__ (every loader, gzip,
            # inspect.getsource of apps_equal), which cost each fork server ~35 ms of CPU at start-up (50 ms
            # without bytecode files), for tests that only APPS and standard-input tasks have.
            from eta.tasks.equality import apps_equal

            return apps_equal(value, self.expected)
        raise AssertionError(f"unknown check {self.kind!r}")

    def _judge_marker(self, marker: dict[str, Any]) -> Verdict:
        op = self.options.get("op")
        if "too_big" in marker:
            # A plain value over the encoder's bound is a non-empty container or string, larger than any
            # expected value a test can hold: truthy, never equal to it, never True, False or None.
            if self.kind == "truth":
                holds = self.expected is True
            elif op in ("eq", "is", "ne", "is_not"):
                holds = op in ("ne", "is_not")
            else:
                return Outcome.WRONG_ANSWER, "UncomparableValue", "the value is too large to compare"
            return PASS if holds else (Outcome.WRONG_ANSWER, "AssertionError", "got a value larger than any expected one")
        name = str(marker.get("unsupported"))[:100]
        if self.kind == "truth":  # truthiness is all such a test asks: the child computed it, as in-process
            truth = marker.get("truth")
            if type(truth) is not bool:
                return Outcome.RUNTIME_ERROR, "TypeError", f"the truth value of a {name} object could not be taken"
            return PASS if truth is self.expected else (Outcome.WRONG_ANSWER, "AssertionError", f"got a {name} object")
        return (Outcome.WRONG_ANSWER, "UncomparableValue",
                f"got a {name} object; results are compared outside the program, as plain data (numbers, "
                "strings, bytes, lists, tuples, dicts, sets and a few standard-library value types)")


def _tampered(why: str) -> Verdict:
    return Outcome.CRASHED, "HarnessTampering", f"{why}: the program interfered with its harness"


def split_test(test: dict[str, Any]) -> Check | None:
    """The check for a test (a dict as in :meth:`TestCase.to_dict`), or None to run it whole in the child."""
    if test.get("kind") == "stdio":
        return Check("stdio", "", test.get("expected_stdout", ""))
    if test.get("kind", "assert") != "assert":
        return None
    try:
        tree = ast.parse(test.get("code", ""))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None  # the child compiles it and reports the error as the test's verdict
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    check = _split(tree.body[0].test)
    if check is None or _reads_a_verdict(check.expr) or _too_big(check.expected):
        return None
    return check


def _split(node: ast.expr) -> Check | None:
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        return _split_compare(node.left, type(node.ops[0]), node.comparators[0])
    if isinstance(node, ast.Call) and not node.keywords and len(node.args) == 2 and _name(node.func) == "_apps_equal":
        found, expected = _constant(node.args[1])
        return Check("apps_equal", ast.unparse(node.args[0]), expected) if found else None
    if isinstance(node, ast.Call) and _name(node.func) in ("isclose", "math.isclose") and len(node.args) == 2:
        return _split_isclose(node)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return Check("truth", ast.unparse(node.operand), False)
    return Check("truth", ast.unparse(node), True)


def _split_compare(left: ast.expr, op_type: type, right: ast.expr) -> Check | None:
    op = _OPS.get(op_type)
    if op is None:
        return None  # `in`, `not in`: membership runs the container's own code
    if op in ("lt", "le") and _is_abs_of_difference(left):
        found, tolerance = _constant(right)
        if found and _is_number(tolerance):
            a, b = left.args[0].left, left.args[0].right  # type: ignore[attr-defined]
            for expr, other in ((a, b), (b, a)):
                found, expected = _constant(other)
                if found and _is_number(expected):
                    return Check("abs_diff", ast.unparse(expr), expected, op=op, tolerance=tolerance)
    for expr, other, this_op in ((left, right, op), (right, left, _MIRROR[op])):
        found, expected = _constant(other)
        if not found or (this_op in ("is", "is_not") and not any(expected is s for s in _SINGLETONS)):
            continue
        return Check("compare", ast.unparse(expr), expected, op=this_op)
    return None


def _split_isclose(node: ast.Call) -> Check | None:
    options = {}
    for kw in node.keywords:
        found, value = _constant(kw.value)
        if kw.arg not in ("rel_tol", "abs_tol") or not found or not _is_number(value):
            return None
        options[kw.arg] = value
    for expr, other in ((node.args[0], node.args[1]), (node.args[1], node.args[0])):
        found, expected = _constant(other)
        if found and _is_number(expected):
            return Check("isclose", ast.unparse(expr), expected, **options)
    return None


def _is_abs_of_difference(node: ast.expr) -> bool:
    return (isinstance(node, ast.Call) and _name(node.func) == "abs" and len(node.args) == 1 and not node.keywords
            and isinstance(node.args[0], ast.BinOp) and isinstance(node.args[0].op, ast.Sub))


def _reads_a_verdict(expr: str) -> bool:
    """Whether the child's part would itself compare (then the verdict would again be computed in the
    candidate's process): keep such tests whole."""
    return any(isinstance(n, (ast.Compare, ast.BoolOp)) for n in ast.walk(ast.parse(expr, mode="eval")))


def _too_big(expected: Any) -> bool:
    encoded = encode(expected)
    return type(encoded) is dict and ("too_big" in encoded or "unsupported" in encoded)


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return ""


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


# Constant expressions, evaluated without eval: literals, containers of them, arithmetic on small numbers,
# and the builtin constructors that tests use to spell a value (set((4, 5)), float('inf')).
_CONSTRUCTORS = {"set": set, "frozenset": frozenset, "tuple": tuple, "list": list, "dict": dict,
                 "sorted": sorted, "float": float, "int": int, "str": str, "complex": complex, "bytes": bytes}
_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
               ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_, ast.Invert: operator.invert}
_MAX_LEN = 100_000


class _NotConstant(Exception):
    pass


def _constant(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, _const(node)
    except (_NotConstant, TypeError, ValueError, ArithmeticError, RecursionError, MemoryError):
        return False, None


def _const(node: ast.expr) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        if any(isinstance(e, ast.Starred) for e in node.elts):
            raise _NotConstant()
        items = [_const(e) for e in node.elts]
        return tuple(items) if isinstance(node, ast.Tuple) else items if isinstance(node, ast.List) else set(items)
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise _NotConstant()
        return {_const(k): _const(v) for k, v in zip(node.keys, node.values)}  # type: ignore[arg-type]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_number(_const(node.operand)))
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        return _arithmetic(type(node.op), _const(node.left), _const(node.right))
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CONSTRUCTORS
            and not node.keywords and len(node.args) <= 1):
        return _CONSTRUCTORS[node.func.id](*[_const(a) for a in node.args])
    raise _NotConstant()


def _number(value: Any) -> Any:
    if type(value) not in (int, float, complex, bool):
        raise _NotConstant()
    return value


def _arithmetic(op: type, a: Any, b: Any) -> Any:
    numbers = (int, float, complex)
    if type(a) in numbers and type(b) in numbers:
        if op is ast.Pow and (abs(b) > 64 or abs(a) > 2 ** 64):
            raise _NotConstant()  # no 10 ** 10 ** 10 in the supervisor
        return _ARITHMETIC[op](a, b)
    sequences = (str, bytes, tuple, list)
    if op is ast.Add and type(a) in sequences and type(a) is type(b) and len(a) + len(b) <= _MAX_LEN:
        return a + b
    if op is ast.Mult:
        seq, n = (a, b) if type(a) in sequences else (b, a)
        if type(seq) in sequences and type(n) is int and len(seq) * max(n, 0) <= _MAX_LEN:
            return seq * n
    raise _NotConstant()


# -- whole tests: each assertion a site whose operands go out (see eta.execute.sites) ------------------

_SITE_OPS = {ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge",
             ast.In: "in", ast.NotIn: "not_in"}


def transform(code: str) -> tuple[str, list[Site]] | None:
    """The test with each ``assert`` made a site call, and its sites; None when it does not parse (the
    child then compiles the original and reports the error)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    sites: list[Site] = []
    _inline_expected(tree)
    required = _required_statements(tree)
    tree = _Rewriter(sites, required).visit(tree)
    ast.fix_missing_locations(tree)
    return ast.unparse(tree), sites


class _Rewriter(ast.NodeTransformer):
    def __init__(self, sites: list[Site], required: set[int]) -> None:
        self.sites, self.required = sites, required

    def visit_Assert(self, node: ast.Assert) -> list[ast.stmt]:
        return [ast.copy_location(stmt, node) for stmt in self._sites(node.test, id(node) in self.required)]

    def _sites(self, test: ast.expr, required: bool) -> list[ast.stmt]:
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):  # assert a and b: two assertions
            return [stmt for value in test.values for stmt in self._sites(value, required)]
        negate = isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
        inner = test.operand if negate else test  # type: ignore[attr-defined]
        if isinstance(inner, ast.Compare) and all(type(op) in _SITE_OPS for op in inner.ops):
            operands, ops = [inner.left, *inner.comparators], [_SITE_OPS[type(op)] for op in inner.ops]
        else:  # is / is not, or anything else: its truth (identity is not plain data's to compare)
            operands, ops = [inner], []
        holes, constants, args = [], [], []
        for position, expr in enumerate(operands):
            found, value = _constant(expr) if ops else (False, None)
            if found:
                holes.append(position)
                constants.append(value)
            else:
                args.append(expr)
        if not args:  # a constant assertion (assert 1 == 1): nothing of the program in it, keep it whole
            holes, constants, args = [], [], operands
        self.sites.append(Site(ops, negate, holes, constants, required))
        call = ast.Call(ast.Name(SITE_FN, ast.Load()), [ast.Constant(len(self.sites) - 1), *args], [])
        return [ast.Expr(call)]


def _inline_expected(tree: ast.Module) -> None:
    """`expected = [...]` then `assert result == expected`: a name bound once, to a constant, and read only
    as an operand of assertions, is replaced there by its value and its binding dropped, so that the
    constant stays in the supervisor like a literal one (QuixBugs' graph tests spell theirs so)."""
    bound: dict[str, list[ast.Assign]] = {}
    stores: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            stores[node.id] = stores.get(node.id, 0) + 1
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            bound.setdefault(node.targets[0].id, []).append(node)
    operands: dict[str, list[tuple[ast.Compare, int]]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            for test in ast.walk(node.test):
                if isinstance(test, ast.Compare):
                    for k, expr in enumerate([test.left, *test.comparators]):
                        if isinstance(expr, ast.Name):
                            operands.setdefault(expr.id, []).append((test, k))
    loads: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            loads[node.id] = loads.get(node.id, 0) + 1
    for name, assigns in bound.items():
        uses = operands.get(name, [])
        if len(assigns) != 1 or stores.get(name) != 1 or not uses or loads.get(name) != len(uses):
            continue
        found, _ = _constant(assigns[0].value)
        if not found:
            continue
        for compare, k in uses:
            if k == 0:
                compare.left = assigns[0].value
            else:
                compare.comparators[k - 1] = assigns[0].value
        _drop(tree, assigns[0])


def _drop(tree: ast.Module, statement: ast.stmt) -> None:
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if isinstance(block, list) and statement in block:
                block.remove(statement)
                if not block:
                    block.append(ast.Pass())
                return


def _required_statements(tree: ast.Module) -> set[int]:
    """ids of the assert statements on every path: at the test's top level, or at the top level of a
    function the test defines and then calls at its own top level (QuixBugs' ``_check_case()``)."""
    called = {s.value.func.id for s in tree.body if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
              and isinstance(s.value.func, ast.Name) and not s.value.args}
    found = {id(s) for s in tree.body if isinstance(s, ast.Assert)}
    for s in tree.body:
        if isinstance(s, ast.FunctionDef) and s.name in called:
            found.update(id(x) for x in s.body if isinstance(x, ast.Assert))
    return found



# What a test's frame may carry into a result, with its type; the rest of a frame is dropped.
_FIELDS = {"error_type": str, "error_message": str, "stdout": str, "events": list, "writes": dict}
_FROM_CHILD = frozenset(o.value for o in Outcome) - {Outcome.INFRA_ERROR.value}


def final_result(frame: dict[str, Any], check: Check | None, test: dict[str, Any],
                 child_test: dict[str, Any], *, program: str = "", budget_lines: int | None = None) -> dict[str, Any]:
    """A test's result from its frame (see eta.execute.verdicts.test_frame; made by the supervisor for a
    child that died): only known fields of the right types, the verdict of `check` where the test was
    split, and the trace's text rendered here from its events, with the test's name and the verdict."""
    result: dict[str, Any] = {"index": frame["index"], "checked_outside": check is not None}
    result.update((k, frame[k]) for k, kind in _FIELDS.items() if type(frame.get(k)) is kind)
    steps, duration = frame.get("steps"), frame.get("duration_s")
    result["steps"] = steps if type(steps) is int and steps >= 0 else None
    result["duration_s"] = duration if type(duration) is float and math.isfinite(duration) else 0.0
    outcome = frame.get("outcome")
    if outcome not in _FROM_CHILD:  # infra_error is the harness's to say, never the program's: it is masked
        verdict = _tampered(f"a test reported the outcome {str(outcome)[:40]!r}")
    elif outcome == Outcome.PASSED.value and check is not None:
        try:
            verdict = check.judge(frame)
        except Exception as e:  # noqa: BLE001 - a value that breaks the comparison is the program's doing
            verdict = _tampered(f"a value that could not be judged ({type(e).__name__})")
    else:
        verdict = (Outcome(outcome), result.get("error_type"), result.get("error_message"))
    result["outcome"], result["error_type"], result["error_message"] = verdict[0].value, verdict[1], verdict[2]
    trace = frame.get("trace")
    display = test.get("display") or test.get("code", "").strip() or "stdin"
    if type(trace) is dict:
        from eta.trace.text import SentRecord, format_trace

        try:
            result["trace"] = format_trace(SentRecord(trace), program, display, verdict[0] is Outcome.PASSED,
                                           budget_lines=budget_lines)
        except Exception:  # noqa: BLE001 - not a trace the harness made: dropped, the verdict stands
            pass
    elif type(trace) is str and check is not None:  # a text trace made before the verdict was known
        from eta.trace.text import restate

        try:
            result["trace"] = restate(trace, verdict[0] is Outcome.PASSED, display if check.kind != "stdio" else None)
        except ValueError:
            pass
    return result
