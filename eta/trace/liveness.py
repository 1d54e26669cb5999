"""Which variables and lines of a program can matter to its result: a static, conservative slice.

A variable is *live* in a function when a live statement reads it; a statement is live when it returns,
yields, raises or asserts, when it assigns, deletes or mutates (a method call, a subscript or attribute
store, a call that passes it) a live variable, when it prints, or when it is a compound statement (``if``,
``for``, ``while``, ``with``, ``try``) whose body holds a live statement (its condition or iterable is then
read). Parameters of a live function are live. A function is live when it is the entry point (or, with no
entry point known, defined at the top level) or a live statement names it; a call of a program-defined
function as a bare statement is live only when that function has effects beyond its return value.

What this is for: work that changes nothing the result depends on (a loop that only counts, a variable
never read, a helper whose result is dropped) writes only dead variables, in dead functions, on dead
lines, so `eta.trace.divergence` never sees it and padding cannot move a program's score. The slice is
conservative (a call may mutate what it is passed), so a live value is never dropped for being padding;
the price is that some padding that passes live values to a call survives (see docs/traces.md).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

# Calls whose bare statement is output or can reach anything: always live.
_EFFECT_CALLS = frozenset({"print", "input", "exec", "eval", "setattr", "delattr", "exit", "quit", "open"})
# Builtins that never mutate what they are passed: as a bare statement, dead.
_PURE_CALLS = frozenset("""abs all any ascii bin bool bytes chr complex dict divmod enumerate filter float format
    frozenset hash hex int isinstance issubclass iter len list map max min oct ord pow range repr reversed round
    set sorted str sum tuple type zip""".split())
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


@dataclass
class Liveness:
    """The live part of one program."""

    functions: dict[str, set[str]] = field(default_factory=dict)  # live function name -> its live variables
    lines: set[int] = field(default_factory=set)  # lines of live statements (for lambda/comprehension frames)
    known: set[str] = field(default_factory=set)  # every function the program defines

    def keeps(self, function: str, name: str, line: int) -> bool:
        """Whether a write of `name` in a frame of `function` at `line` can matter to the result."""
        if function.startswith("<") and function != "<module>":  # lambdas, comprehensions, generator exprs
            return line in self.lines
        if function not in self.known:
            return True  # not a function of this program's source: nothing to judge it by
        live = self.functions.get(function)
        return live is not None and (name.startswith("<") or name in live)


def root(node: ast.AST) -> str | None:
    """The variable an expression like ``a.b[c].d`` stores into or reads from (``a``)."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _reads(node: ast.AST | None) -> set[str]:
    if node is None:
        return set()
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _targets(stmt: ast.stmt) -> list[ast.expr]:
    if isinstance(stmt, ast.Assign):
        return stmt.targets
    if isinstance(stmt, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor)):
        return [stmt.target]
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return [i.optional_vars for i in stmt.items if i.optional_vars is not None]
    if isinstance(stmt, ast.Delete):
        return stmt.targets
    return []


def _stored_roots(targets: list[ast.expr]) -> set[str]:
    out: set[str] = set()
    for t in targets:
        for n in ast.walk(t):
            if isinstance(n, (ast.Name, ast.Attribute, ast.Subscript)) and not isinstance(n.ctx, ast.Load):
                r = root(n)
                if r:
                    out.add(r)
    return out


def _body(stmt: ast.stmt) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for name in ("body", "orelse", "finalbody"):
        out += getattr(stmt, name, []) or []
    for handler in getattr(stmt, "handlers", []) or []:
        out += handler.body
    for case in getattr(stmt, "cases", []) or []:
        out += case.body
    return out


class _Function:
    def __init__(self, node: ast.FunctionDef | ast.AsyncFunctionDef, defined: dict[str, "_Function"]) -> None:
        self.node, self.defined = node, defined
        args = node.args
        self.params = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
        self.params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        self.escaping = {n for s in ast.walk(node) if isinstance(s, (ast.Global, ast.Nonlocal)) for n in s.names}
        self.stmts = list(_statements(node.body))
        self.loop_of: dict[int, ast.stmt] = {}  # id(break/continue) -> its loop
        for s in self.stmts:
            if isinstance(s, (ast.For, ast.AsyncFor, ast.While)):
                for inner in _statements(_body(s)):
                    if isinstance(inner, (ast.Break, ast.Continue)):
                        self.loop_of[id(inner)] = s  # outer loops come first: the innermost wins
        self._effects: bool | None = None

    def has_effects(self) -> bool:
        """Whether calling it can change something its caller sees other than through its return value."""
        if self._effects is None:
            self._effects = False  # a recursive call asks again meanwhile: no effect of its own
            self._effects = bool(self.escaping) or any(self._mutates(s, self.params) for s in self.stmts)
        return self._effects

    def _mutates(self, s: ast.stmt, names: set[str]) -> bool:
        """Whether `s` may change an object one of `names` holds (not a rebinding of the name)."""
        for t in _targets(s):
            for n in ast.walk(t):
                if isinstance(n, (ast.Subscript, ast.Attribute)) and not isinstance(n.ctx, ast.Load) \
                        and root(n) in names:
                    return True
        return any(isinstance(c, ast.Call) and self._call_effect(c, names) for c in _expressions(s))

    def _call_effect(self, call: ast.Call, live: set[str]) -> bool:
        func = call.func
        if isinstance(func, ast.Name):
            if func.id in _EFFECT_CALLS:
                return True
            if func.id in self.defined:
                callee = self.defined[func.id]
                if not callee.has_effects():
                    return False
            elif func.id in _PURE_CALLS:
                return False
        elif isinstance(func, ast.Attribute) and root(func) in live:
            return True  # a method of a live object (xs.append) may mutate it
        return bool(live & {r for a in call.args + [k.value for k in call.keywords] if (r := root(a))})

    def live(self) -> tuple[set[str], set[int], set[str]]:
        """(live variables, lines of live statements, names its live statements read)."""
        live: set[str] = set(self.params) | self.escaping
        marked: set[int] = set()
        changed = True
        while changed:
            changed = False
            for s in self.stmts:
                if id(s) in marked or not self._is_live(s, live, marked):
                    continue
                marked.add(id(s))
                live |= self._live_reads(s)
                changed = True
        chosen = [s for s in self.stmts if id(s) in marked]
        lines = {n for s in chosen for n in range(s.lineno, _header_end(s) + 1)}
        reads = set().union(*(self._live_reads(s) for s in chosen)) if chosen else set()
        return live, lines, reads

    def _is_live(self, s: ast.stmt, live: set[str], marked: set[int]) -> bool:
        if isinstance(s, (ast.Return, ast.Raise, ast.Assert)):
            return True
        if isinstance(s, (ast.Break, ast.Continue)):
            return id(self.loop_of.get(id(s))) in marked
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return s.name in live
        if isinstance(s, ast.Expr) and isinstance(s.value, (ast.Yield, ast.YieldFrom, ast.Await)):
            return True
        if any(id(b) in marked for b in _body(s)):
            return True
        return bool(_stored_roots(_targets(s)) & live) or self._mutates(s, live)

    @staticmethod
    def _live_reads(s: ast.stmt) -> set[str]:
        """What a live statement reads: its expressions outside nested bodies, and a store's indexes."""
        out: set[str] = set()
        for e in _expressions(s):
            out |= _reads(e)
        for t in _targets(s):
            out |= _reads(t)  # `xs[i] = v` reads i
            if isinstance(s, ast.AugAssign) and (r := root(t)):
                out.add(r)
        return out


def _expressions(s: ast.stmt) -> list[ast.expr]:
    """A statement's own expressions (not those of the statements nested in it)."""
    out = [getattr(s, name, None) for name in ("value", "test", "iter", "exc", "msg", "subject")]
    out += [item.context_expr for item in getattr(s, "items", []) or []]
    return [e for e in out if isinstance(e, ast.expr)]


def _statements(body: list[ast.stmt]):  # type: ignore[no-untyped-def]
    """Every statement of a function body, nested blocks included, nested functions' bodies excluded."""
    for s in body:
        yield s
        if not isinstance(s, _SCOPES):
            yield from _statements(_body(s))


def _header_end(s: ast.stmt) -> int:
    body = _body(s)
    if body and not isinstance(s, _SCOPES):
        return max(s.lineno, body[0].lineno - 1)
    return getattr(s, "end_lineno", None) or s.lineno


def analyze(source: str, entry_point: str | None = None) -> Liveness | None:
    """The live part of `source`, or None when it does not parse (then nothing can be filtered)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    defined: dict[str, _Function] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defined.setdefault(node.name, _Function(node, defined))  # the first of a name: the traced one mostly
    methods = {n.name for c in ast.walk(tree) if isinstance(c, ast.ClassDef)
               for n in c.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    top = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    live_functions = ({entry_point} & set(defined)) or top
    live_functions |= methods & set(defined)
    out = Liveness(known=set(defined))
    while True:
        out.functions, out.lines, named = {}, set(), set()
        for name in live_functions:
            variables, lines, reads = defined[name].live()
            out.functions[name], out.lines = variables, out.lines | lines
            named |= reads & set(defined)
        for node in ast.walk(tree):  # a live statement's nested function is live (closures, sort keys)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno in out.lines:
                named.add(node.name)
        if named <= live_functions:
            return out
        live_functions |= named
