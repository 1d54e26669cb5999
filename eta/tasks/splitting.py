"""Splitting a benchmark's test function into individually judged test cases.

HumanEval checks a solution with one ``check(candidate)`` function; a verdict that says how many tests
passed needs each assertion as its own test. Statements between the assertions (imports, inputs built
once, a seeded random generator) are setup lines: each test carries the ones it uses, so that it runs on
its own and in any order. A test that binds names (a loop over random cases, an assignment) is wrapped
in a function, because the tests run in the program's namespace and a loop variable named ``str``
(HumanEval/38) would otherwise shadow a builtin for the candidate.
"""

from __future__ import annotations

import ast
import io
import textwrap
import tokenize

from eta.errors import UserError
from eta.tasks.pysource import parse
from eta.tasks.schema import TestCase, TestKind

WRAPPER = "_check_case"
MAX_DISPLAY = 200


class SplitError(UserError, ValueError):
    """The test source has no check function or does not parse (the loader adds file and record)."""


def rename(code: str, old: str, new: str) -> str:
    """``code`` with every use of the name ``old`` (not attributes, not strings) replaced by ``new``."""
    spots: list[tuple[int, int]] = []
    previous = None
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.NAME and token.string == old and previous != ".":
            spots.append(token.start)
        if token.type not in (tokenize.NL, tokenize.COMMENT):
            previous = token.string
    lines = code.splitlines(keepends=True)
    for row, col in reversed(spots):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + new + line[col + len(old):]
    return "".join(lines)


def bound_names(node: ast.AST) -> set[str]:
    """Names a statement binds (assignment and loop targets, imports, definitions)."""
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            names.add(sub.id)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in sub.names if a.name != "*")
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(sub.name)
    return names


def loaded_names(node: ast.AST) -> set[str]:
    return {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load)}


def needed_setup(stmt: ast.stmt, setup: list[ast.stmt]) -> list[ast.stmt]:
    """The setup statements (in order) that define the names ``stmt`` uses, followed transitively."""
    wanted = loaded_names(stmt)
    chosen: list[int] = []
    for index in range(len(setup) - 1, -1, -1):
        if bound_names(setup[index]) & wanted:
            chosen.append(index)
            wanted |= loaded_names(setup[index])
    return [setup[i] for i in sorted(chosen)]


def call_display(node: ast.AST, source: str, function: str, *, alias: str | None = None) -> str:
    """How a test reads to a human: the first call of ``function`` (or ``alias``) inside ``node``."""
    header = ""
    if isinstance(node, (ast.For, ast.While)):
        header = (ast.get_source_segment(source, node) or "").splitlines()[0].strip() + " "
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in (function, alias):
            text = ast.get_source_segment(source, sub) or ast.unparse(sub)
            if alias and sub.func.id == alias:
                text = function + text[len(alias):]
            return shorten(header + " ".join(text.split()))
    return shorten(" ".join((ast.get_source_segment(source, node) or ast.unparse(node)).split()))


def shorten(text: str, limit: int = MAX_DISPLAY) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_noise(stmt: ast.stmt) -> bool:
    # A docstring, a bare name (HumanEval/129 has a stray `print`) or `assert True` checks nothing.
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, (ast.Constant, ast.Name)):
        return True
    return isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Constant) and bool(stmt.test.value)


def _contains_assert(stmt: ast.stmt) -> bool:
    return any(isinstance(sub, ast.Assert) for sub in ast.walk(stmt))


def _render(stmts: list[ast.stmt], source: str) -> str:
    return "\n".join(textwrap.dedent(_segment(s, source)) for s in stmts)


def _segment(stmt: ast.stmt, source: str) -> str:
    # Keep the benchmark's own text (ast.unparse would rewrite 1e-4 as 0.0001 and requote strings).
    return ast.get_source_segment(source, stmt, padded=True) or ast.unparse(stmt)


def isolate(code: str) -> str:
    """``code`` wrapped in a function when it binds names, so that they stay out of the program's namespace."""
    module = parse(code)
    star_import = any(isinstance(s, ast.ImportFrom) and any(a.name == "*" for a in s.names) for s in module.body)
    if star_import or not any(bound_names(s) for s in module.body):
        return code
    return f"def {WRAPPER}():\n{textwrap.indent(code, '    ')}\n{WRAPPER}()"


def split_statements(stmts: list[ast.stmt], source: str, entry_point: str, *,
                     alias: str | None = None) -> list[TestCase]:
    """One test per statement that asserts, each with the earlier non-asserting statements it needs."""
    earlier: list[ast.stmt] = []
    tests: list[TestCase] = []
    for stmt in stmts:
        if _is_noise(stmt):
            continue
        if not _contains_assert(stmt):
            earlier.append(stmt)
            continue
        code = isolate(_render(needed_setup(stmt, earlier) + [stmt], source))
        if alias:
            code = rename(code, alias, entry_point)
        tests.append(TestCase(kind=TestKind.ASSERT, code=code,
                              display=call_display(stmt, source, entry_point, alias=alias)))
    return tests


def split_check(test_source: str, entry_point: str, *, check_name: str = "check") -> tuple[str, list[TestCase]]:
    """Split a HumanEval-style test module into (setup, tests).

    ``setup`` holds the module's own top-level lines other than ``METADATA`` and the check function.
    Each assertion of the check function (a loop or block that asserts counts as one) becomes one
    ASSERT test that calls ``entry_point`` by name instead of the ``candidate`` argument.
    """
    try:
        module = parse(test_source)
    except SyntaxError as exc:
        raise SplitError(f"the test code does not parse: {exc.msg} (line {exc.lineno})") from None
    checks = [n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == check_name]
    if not checks:
        raise SplitError(f"the test code defines no {check_name}() function")
    check = checks[0]
    if not check.args.args:
        raise SplitError(f"{check_name}() takes no argument (expected the candidate function)")
    prelude = [n for n in module.body if n is not check and "METADATA" not in bound_names(n)]
    setup_code = _render(prelude, test_source) if prelude else ""
    tests = split_statements(check.body, test_source, entry_point, alias=check.args.args[0].arg)
    if not tests:
        raise SplitError(f"{check_name}() holds no assertion")
    return setup_code, tests


def split_script(source: str, entry_point: str) -> tuple[str, list[TestCase]]:
    """Split test code that is either a ``check(candidate)`` module or a plain script of assertions."""
    try:
        module = parse(source)
    except SyntaxError as exc:
        raise SplitError(f"the test code does not parse: {exc.msg} (line {exc.lineno})") from None
    if any(isinstance(n, ast.FunctionDef) and n.name == "check" for n in module.body):
        return split_check(source, entry_point)
    tests = split_statements(module.body, source, entry_point)
    if not tests:
        raise SplitError("the test code holds no assertion")
    return "", tests
