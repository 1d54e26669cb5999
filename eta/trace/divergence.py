"""Where a failing program's execution leaves the reference's, test by test (see docs/traces.md).

Both programs run the same test under the same tracer (`eta.trace.writes`). Each execution becomes its
*value sequence*: the distinct values it writes, in the order first written, keeping only writes that
can matter to the result (`eta.trace.liveness`: padding writes only dead variables). Values, not names:
``total = 0`` in one program and ``acc = 0`` in the other write the same ``0``.

The candidate's sequence is read against the reference's: a value the reference never writes is skipped
(a helper variable of another, correct structure); a value the reference writes must be the next one it
wrote, or the candidate has diverged. ``matched`` counts the reference's values met in order before that;
the *divergent line* is the line of the candidate's first write after its last matched value (the first
value that was not the reference's next), or the line where its test ended (a raise, a return) when it
wrote nothing more. Beyond the first difference, ``common`` counts the reference's values the candidate
wrote in order at all (a longest common subsequence) and ``extra`` the values it wrote that the reference
never does; their F1 is what the ``divergence`` criterion and reward read first.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from eta.trace.liveness import Liveness
from eta.trace.writes import RAISE

SHARED_SHOWN = 3  # values of the shared state a divergence reports


@dataclass(frozen=True)
class Sequence:
    values: list[str]
    lines: list[int]  # the line that first wrote each value
    end_line: int | None  # where the test ended in the candidate: its last live write or raise
    live_steps: int  # line events on live lines
    complete: bool  # the tracer kept every event


def canonical(value: str) -> str:
    """A rendering in which sets list their items sorted: the order a set of strings iterates in changes
    with each process's hash seed, and the same value must read the same in the reference's process and
    the candidate's."""
    if "{" not in value or "..." in value:  # no set, or one cut short: its shown items depend on the order
        return value
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return value  # a rendering cut short, or of an object: left as it is
    return _render(parsed) if _has_set(parsed) else value


def _has_set(v: Any) -> bool:
    if isinstance(v, (set, frozenset)):
        return True
    if isinstance(v, dict):
        return any(map(_has_set, v.values()))
    return isinstance(v, (list, tuple)) and any(map(_has_set, v))


def _render(v: Any) -> str:
    if isinstance(v, (set, frozenset)):
        items = sorted(map(_render, v))
        inner = "{" + ", ".join(items) + "}" if items else "set()"
        return f"frozenset({inner})" if isinstance(v, frozenset) else inner
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_render(k)}: {_render(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(map(_render, v)) + "]"
    if isinstance(v, tuple):
        return "(" + ", ".join(map(_render, v)) + ("," if len(v) == 1 else "") + ")"
    return repr(v)


def sequence(writes: Mapping[str, Any], live: Liveness | None) -> Sequence:
    """The value sequence of one test's writes (``eta.trace.writes.value_writes``)."""
    values: list[str] = []
    lines: list[int] = []
    seen: set[str] = set()
    end_line = None
    for line, function, name, value in writes.get("writes", []):
        dead = name != RAISE and live is not None and not live.keeps(function, name, line)
        if not dead:  # padding's writes never say where a test ended (nor, so, where it diverged)
            end_line = line
        if name == RAISE or value is None or dead:
            continue
        value = canonical(value)
        if value not in seen:
            seen.add(value)
            values.append(value)
            lines.append(line)
    counts = writes.get("lines", [])
    steps = sum(n for line, n in counts if live is None or line in live.lines)
    return Sequence(values, lines, end_line, steps, bool(writes.get("complete", True)))


def align(reference: list[str], candidate: Sequence) -> dict[str, Any]:
    """How far the candidate's sequence follows the reference's (see the module's doc)."""
    known = set(reference)
    k, last = 0, -1
    for pos, value in enumerate(candidate.values):
        if k == len(reference):
            break
        if value == reference[k]:
            k, last = k + 1, pos
        elif value in known:
            break  # a value of the reference's, but not the next one: the two executions differ here
    after = last + 1
    if after < len(candidate.values):
        line = candidate.lines[after]
    else:  # it wrote nothing more: where its test ended, unknown when the event cap cut the trace first
        line = candidate.end_line if candidate.complete else None
    return {"matched": k, "common": common(reference, candidate.values), "of": len(reference),
            "extra": sum(v not in known for v in candidate.values), "line": line,
            "expected": reference[k] if k < len(reference) else None,
            "got": candidate.values[after] if after < len(candidate.values) else None,
            "shared": reference[max(0, k - SHARED_SHOWN):k]}


def common(reference: list[str], candidate: list[str]) -> int:
    """The longest common subsequence of two value sequences (each value at most once in each: the
    longest increasing run of the reference positions of the candidate's values, O(n log n))."""
    from bisect import bisect_left

    where = {v: i for i, v in enumerate(reference)}
    tails: list[int] = []
    for v in candidate:
        i = where.get(v)
        if i is not None:
            j = bisect_left(tails, i)
            tails[j:j + 1] = [i]
    return len(tails)


RUNAWAY_OUTCOMES = frozenset({"timeout", "memory_exceeded", "crashed"})
RUNAWAY_ERRORS = frozenset({"RecursionError", "MemoryError"})


def _runaway(test: Mapping[str, Any]) -> bool:
    return test.get("outcome") in RUNAWAY_OUTCOMES or test.get("error_type") in RUNAWAY_ERRORS


PASSED_RATES = (1.0, 1.0, 1.0, 0.0)


def _rates(entry: Mapping[str, Any], seq: Sequence, test: Mapping[str, Any]) -> tuple[float, float, float, float]:
    """(prefix matched, LCS, F1, wrong share) of one failing test, each a share."""
    of, common_, produced = entry["of"], entry["common"], entry["common"] + entry["extra"]
    prefix, overlap = (entry["matched"] / of, common_ / of) if of else (0.0, 0.0)
    if not seq.complete or _runaway(test):
        # Cut by the event cap, or ended by a budget (time, memory, the recursion limit): how much it wrote
        # depends on where the cut fell, which padding moves, so none of it counts as precise.
        return prefix, overlap, 0.0, 1.0
    f1 = 2 * common_ / (of + produced) if of + produced else 0.0
    return prefix, overlap, f1, (1.0 - common_ / produced if produced else 0.0)


def divergence(tests: Iterable[Mapping[str, Any]], reference: Mapping[str, Any], live: Liveness | None) -> dict[str, Any]:
    """A failing program's divergence from its reference: one entry per traced test, and the scores the
    criteria read, each averaged over all the reference's tests (a passed test counts whole, one never
    reached nothing). `tests` are its results' dicts (with ``writes``); `reference` the cached reference
    execution (`eta.execute.reftraces`): ``{"values": [[...] per test], "steps": [...]}``."""
    per_test: list[dict[str, Any]] = []
    rates: list[tuple[float, float, float, float]] = []
    for t in sorted(tests, key=lambda t: t["index"]):
        i = t["index"]
        if t.get("outcome") == "passed":
            rates.append(PASSED_RATES)
            continue
        writes = t.get("writes")
        if writes is None or i >= len(reference["values"]):
            continue  # not traced (the program never reached its tests): no divergence to tell
        seq = sequence(writes, live)
        entry = {"index": i, **align(reference["values"][i], seq), "steps": seq.live_steps,
                 "reference_steps": reference["steps"][i]}
        per_test.append(entry)
        rates.append(_rates(entry, seq, t))
    n = max(1, len(reference["values"]))
    score, overlap, f1, wrong = (round(sum(r[k] for r in rates) / n, 6) for k in range(4))
    out = {"score": score, "common": overlap, "f1": f1, "wrong": wrong, "first": 0.0, "line": None, "tests": per_test}
    if per_test:  # else no failing test was traced: the program failed before its tests (at import)
        first = per_test[0]
        out.update(first=round(first["matched"] / first["of"], 6) if first["of"] else 0.0, line=first["line"])
    return out
