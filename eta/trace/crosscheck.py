"""Checks that the tracer cores tell the same story: against each other, and against a plain reference.

``python -m eta.trace.crosscheck [--humaneval PATH]`` runs a corpus of programs (every construct the
cores treat specially: generators, exceptions, recursion, comprehensions, closures, containers
mutated every way, hostile objects) through every core that can run here and through a reference
recorder that looks at every variable at every event with no shortcut, and prints one JSON object:
the events that differ. An empty ``mismatches`` list is the pass.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from typing import Any, Iterable

from eta.trace.capture import make_capture
from eta.trace.config import TraceConfig
from eta.trace.core import available_cores
from eta.trace.run import CANDIDATE, TEST, load, trace_call
from eta.trace.record import _hidden
from eta.trace.saferepr import Renderer

PROGRAMS: list[tuple[str, str, list[str]]] = [
    ("divide", "def divide(a, b):\n  if b == 0:\n    return float('inf')\n  result = a / b\n  return result\n",
     ["divide(10, 0)", "divide(10, 4)", "divide(1, 'x')"]),
    ("containers", '''
from collections import Counter, OrderedDict, defaultdict, deque
def mutate(n):
    xs = []
    for i in range(n):
        xs.append(i)
    xs += [99]
    xs[0] = -1
    del xs[1]
    xs.sort(reverse=True)
    grid = [[0] * 3 for _ in range(3)]
    row = grid[1]
    grid[1][2] = 7
    alias = xs
    alias.append(5)
    d = {}
    d["a"] = 1
    d.update(b=2)
    s = set()
    s.add(3)
    s |= {4}
    dd = defaultdict(list)
    dd["k"].append(1)
    seen = dd["missing"]
    c = Counter("hello")
    c["z"] += 2
    od = OrderedDict(a=1)
    od.move_to_end("a")
    q = deque([1, 2])
    q.appendleft(0)
    q.pop()
    t = (1, [2, 3])
    t[1].append(4)
    ba = bytearray(b"ab")
    ba[0] = 65
    flags = [1, 0]
    flags[0] = True
    big = list(range(100))
    big[50] = "x"
    big[3] = "y"
    del big
    return xs, grid, d, s
''', ["mutate(4)", "mutate(0)"]),
    ("generators", '''
def gen(n):
    total = 0
    for i in range(n):
        got = yield i
        if got:
            total += got
    return total
def deleg():
    r = yield from gen(3)
    yield r
def use():
    g = gen(4)
    first = next(g)
    second = g.send(10)
    try:
        g.throw(ValueError("in"))
    except ValueError:
        pass
    out = list(deleg())
    h = gen(5)
    next(h)
    h.close()
    return first, second, out, sum(x * x for x in range(4))
def closer():
    try:
        yield 1
    finally:
        cleanup = True
def use_closer():
    c = closer()
    next(c)
    c.close()
    return 1
''', ["use()", "use_closer()"]),
    ("exceptions", '''
def risky(x):
    if x > 2:
        raise ValueError(f"too big: {x}")
    return 10 // x
def handle(xs):
    total = 0
    for x in xs:
        try:
            total += risky(x)
        except ZeroDivisionError as e:
            total -= 1
        except ValueError:
            total -= 100
        finally:
            total += 1000
    return total
def nested():
    try:
        try:
            1 / 0
        finally:
            z = 1
    except ZeroDivisionError:
        z = 2
    return z
class Boom:
    def __enter__(self):
        return self
    def __exit__(self, *a):
        return True
def suppressed():
    with Boom():
        raise KeyError("k")
    return "after"
''', ["handle([1, 0, 5, 2])", "risky(7)", "nested()", "suppressed()", "handle([3, 'x'])"]),
    ("recursion", '''
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)
def is_even(n):
    return True if n == 0 else is_odd(n - 1)
def is_odd(n):
    return False if n == 0 else is_even(n - 1)
def walk(tree, depth=0):
    if not tree:
        return depth
    return max(walk(child, depth + 1) for child in tree)
''', ["fib(6)", "is_even(7)", "walk([[[]], [[[]]]])"]),
    ("closures", '''
def counter():
    count = 0
    items = []
    def bump(k):
        nonlocal count
        count += k
        items.append(k)
        return count
    bump(1)
    bump(2)
    key = lambda v: -v
    order = sorted([3, 1, 2], key=key)
    squares = [v * v for v in order if v > 1]
    table = {v: str(v) for v in order}
    uniq = {v % 2 for v in order}
    return count, items, squares, table, uniq
''', ["counter()"]),
    ("loops", '''
def loops(n):
    i = 0
    while i < n: i += 1
    j = 0
    while (j <
           n):
        j += 2
    acc = 0
    for a in range(3):
        for b in range(a):
            if a == b or (a > 1 and
                          b == 0):
                acc += a * b
            elif a:
                acc -= 1
            else:
                pass
    total = sum([k for k in range(n)])
    del i
    return acc, total
''', ["loops(5)", "loops(0)"]),
    ("objects", '''
class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y
    def __eq__(self, other):
        return (self.x, self.y) == (other.x, other.y)
    def __lt__(self, other):
        return self.x < other.x
    def __repr__(self):
        while True:
            pass
class Bad:
    def __repr__(self):
        raise RuntimeError("no repr")
    @property
    def __class__(self):
        raise RuntimeError("no class")
def shapes():
    pts = [Point(2, 1), Point(1, 2)]
    pts.sort()
    same = pts[0] == Point(1, 2)
    bad = Bad()
    holder = {"bad": bad, "pts": pts}
    stack = []
    box = type("Box", (), {})()
    box.items = stack
    box.items.append(1)
    return same, len(holder)
def huge():
    n = 10 ** 5000
    s = "x" * 100000
    b = b"y" * 1000
    lst = list(range(10 ** 5))
    nested = [[[[1]]]]
    f = float("inf")
    return n, len(s)
''', ["shapes()", "huge()"]),
]


def run_call(ns: dict[str, Any], call: str, config: TraceConfig) -> dict[str, Any]:
    random.seed(0)  # HumanEval's tests draw random inputs
    record, _, _ = trace_call(ns, call, config)
    return record.to_dict()


def reference_events(ns: dict[str, Any], call: str, config: TraceConfig) -> list[tuple]:
    """(event_type, line, variables or value) at every event, looking at every variable every time."""
    capture, render = make_capture(config), Renderer(config)
    out: list[tuple] = []
    seen = 0

    def local(frame: Any, event: str, arg: Any) -> Any:
        nonlocal seen
        seen += 1
        if seen > config.max_events:
            return local  # the cap: what the tracer keeps is compared
        if event in ("call", "line"):
            name = frame.f_code.co_name
            out.append((event, frame.f_lineno, {k: render(c) for k, v in frame.f_locals.items()
                                                 if not _hidden(k, c := capture(v), name)}))
        elif event == "return":
            out.append((event, frame.f_lineno, None))
        return local

    def trace(frame: Any, event: str, arg: Any) -> Any:
        return local(frame, event, arg) if frame.f_code.co_filename == CANDIDATE else None

    test = compile(call, TEST, "eval")
    random.seed(0)
    sys.settrace(trace)
    try:
        eval(test, ns)
    except Exception:  # noqa: BLE001
        pass
    finally:
        sys.settrace(None)
    return out


def _comparable(events: list[dict[str, Any]]) -> list[tuple]:
    out = []
    for e in events:
        if e["event_type"] in ("call", "line"):
            out.append((e["event_type"], e["line_number"], e["variable_states"]))
        elif e["event_type"] == "return":
            out.append(("return", e["line_number"], None))
    return out


def corpus(humaneval: str | None = None) -> Iterable[tuple[str, str, list[str]]]:
    yield from PROGRAMS
    if humaneval:
        with gzip.open(humaneval, "rt", encoding="utf-8") as f:
            for line in f:
                p = json.loads(line)
                test = p["test"] + f"\ncheck({p['entry_point']})\n"
                yield p["task_id"], p["prompt"] + p["canonical_solution"], [f"exec({test!r})"]


def compare(humaneval: str | None = None, config: TraceConfig | None = None) -> dict[str, Any]:
    config = config or TraceConfig(max_events=5000)
    cores = [c for c, why in available_cores().items() if why is None]
    mismatches: list[dict[str, Any]] = []
    runs = 0
    for name, source, calls in corpus(humaneval):
        for call in calls:
            runs += 1
            by_core = {}
            for core in cores:
                ns = load(source)
                by_core[core] = run_call(ns, call, TraceConfig(**{**config.__dict__, "core": core}))
            first = cores[0]
            for core in cores[1:]:
                a, b = by_core[first], by_core[core]
                if a["events"] != b["events"] or (a["steps"], a["dropped"]) != (b["steps"], b["dropped"]):
                    mismatches.append({"program": name, "call": call, "kind": f"{first} vs {core}",
                                       "first_difference": _first_difference(a["events"], b["events"])})
            ns = load(source)
            reference = reference_events(ns, call, config)
            mine = _comparable(by_core[first]["events"])
            if mine != reference:
                mismatches.append({"program": name, "call": call, "kind": f"{first} vs reference",
                                   "first_difference": _first_difference(mine, reference)})
    return {"python": sys.version.split()[0], "cores": cores, "runs": runs, "mismatches": mismatches}


def _first_difference(a: list, b: list) -> Any:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return {"index": i, "a": x, "b": y}
    return {"index": min(len(a), len(b)), "lengths": [len(a), len(b)]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--humaneval", default=None, help="also run HumanEval's references (a .jsonl.gz)")
    args = ap.parse_args(argv)
    result = compare(args.humaneval)
    print(json.dumps(result, default=str))
    return 0 if not result["mismatches"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
