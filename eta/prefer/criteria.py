"""The preference criteria: each maps an execution record to a comparable key (higher is better).

A criterion returns ``None`` when it has nothing to say about a record (steps of a program that passed,
steps that were not traced); ``compare`` then moves on to the next criterion. Criteria are tried in the
order the heuristic config lists them, so the same functions serve the full hierarchy and its ablations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import hashlib
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from eta.execute.outcome import Outcome
from eta.prefer.records import Record, outcome_of

# Where a failing program's error class sits: a wrong answer ran every test to the end, a runtime error
# ran up to a bug, a timeout/memory/crash got lost, a syntax error never ran at all.
ERROR_CLASS_RANK: dict[Outcome, int] = {
    Outcome.PASSED: 4,
    Outcome.WRONG_ANSWER: 3,
    Outcome.RUNTIME_ERROR: 2,
    Outcome.TIMEOUT: 1,
    Outcome.MEMORY_EXCEEDED: 1,
    Outcome.CRASHED: 1,
    Outcome.SYNTAX_ERROR: 0,
}

# Outcomes whose step count measures how long a budget lasted, not how far the program got.
RUNAWAY_OUTCOMES = frozenset({Outcome.TIMEOUT, Outcome.MEMORY_EXCEEDED, Outcome.CRASHED})
# Runtime errors that end an endless recursion or allocation: their many steps are a runaway too.
RUNAWAY_ERROR_TYPES = frozenset({"RecursionError", "MemoryError"})


@dataclass(frozen=True)
class Criterion:
    name: str
    key: Callable[[Record], Any]  # record -> comparable key (higher is better) or None: not applicable


def passed_key(record: Record) -> int:
    return int(outcome_of(record) is Outcome.PASSED)


def error_class_key(record: Record) -> int:
    return ERROR_CLASS_RANK[outcome_of(record)]


def tests_key(record: Record) -> Fraction | None:
    total = record.get("tests_total")
    if not total:
        return None
    return Fraction(record.get("tests_passed") or 0, total)


def runaway(record: Record) -> bool:
    """Whether a failing program's run says how long a budget lasted rather than how far it got."""
    outcome = outcome_of(record)
    return outcome is Outcome.SYNTAX_ERROR or outcome in RUNAWAY_OUTCOMES or (
        outcome is Outcome.RUNTIME_ERROR and record.get("error_type") in RUNAWAY_ERROR_TYPES)


def _divergence(record: Record) -> Mapping[str, Any] | None:
    found = record.get("divergence")
    return found if isinstance(found, Mapping) and "score" in found else None


def steps_key(record: Record, max_steps: int) -> Fraction | None:
    """Steps on the first failing test, relative to the reference's on that test (capped at 1): the line
    events of lines that can matter to the result (`eta.trace.liveness`, so padding counts nothing),
    counted up to ``max_steps``.

    Runaways (timeout, memory, crash, RecursionError, MemoryError) and syntax errors count 0, so that a
    program never wins by looping the longest. A record without a divergence from a reference (no
    reference, or not traced with value writes) has no relative steps: the raw count of every line
    executed is what padding buys, so the next criterion decides instead.
    """
    if outcome_of(record) is Outcome.PASSED:
        return None  # how long a correct program runs says nothing about how close it is to correct
    if runaway(record):
        return Fraction(0)
    found = _divergence(record)
    if found is None:
        return None
    if not found["tests"]:
        return Fraction(0)  # it failed before any test ran
    first = found["tests"][0]
    reference = min(int(first.get("reference_steps") or 0), max_steps)
    if reference <= 0:
        return None
    return Fraction(min(int(first.get("steps") or 0), reference), reference)


def divergence_key(record: Record) -> tuple[Fraction, Fraction] | None:
    """How close the program's execution is to the reference's, averaged over the tests (a passed test
    counts whole; eta.trace.divergence): first the F1 of the values both wrote (``divergence.f1``: the
    reference's values it reproduced against the values it wrote that the reference never did), then how
    much of the reference's execution it followed before it diverged (``divergence.score``). None for a
    passing program or one without a reference to compare with. The measurement that chose it:
    experiments/bench_signals.py (docs/traces.md)."""
    if outcome_of(record) is Outcome.PASSED:
        return None
    found = _divergence(record)
    if found is None:
        return None
    return Fraction(str(found.get("f1", 0))), Fraction(str(found["score"]))


def random_key(record: Record, seed: int) -> int | None:
    """A failing program's place in a random ranking of its problem's samples, drawn by ``seed`` (the same
    seed, the same ranking, in any process): the control that orders failing programs by no information at
    all. None for a passing program (``passed`` orders those)."""
    if outcome_of(record) is Outcome.PASSED:
        return None
    digest = hashlib.sha256(f"{seed}:{record.get('task_id')}:{record.get('sample_id')}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


CRITERION_NAMES: tuple[str, ...] = ("passed", "steps", "error_class", "tests", "divergence", "random")
# Criteria that read the execution trace (the rest read the harness's verdict, which a binary pipeline also
# has, or nothing): the held-out pairs "only a trace orders" are those these decide.
TRACE_CRITERIA = frozenset({"steps", "divergence"})


def make_criteria(names: Sequence[str], max_steps: int, seed: int = 0) -> list[Criterion]:
    """The criteria named, in the order given (that order is the hierarchy); ``seed`` draws ``random``'s
    ranking."""
    if isinstance(names, str) or not names:
        raise ValueError(f"heuristic 'criteria' must be a non-empty list of names from {list(CRITERION_NAMES)}")
    unknown = [n for n in names if n not in CRITERION_NAMES]
    if unknown:
        raise ValueError(f"heuristic 'criteria': unknown {unknown}; known criteria: {list(CRITERION_NAMES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"heuristic 'criteria' lists a criterion twice: {list(names)}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"heuristic 'max_steps' must be a positive integer, got {max_steps!r}")
    keys: dict[str, Callable[[Record], Any]] = {
        "passed": passed_key,
        "steps": lambda r: steps_key(r, max_steps),
        "error_class": error_class_key,
        "tests": tests_key,
        "divergence": divergence_key,
        "random": lambda r: random_key(r, seed),
    }
    return [Criterion(n, keys[n]) for n in names]


def compare(a: Record, b: Record, criteria: Sequence[Criterion]) -> tuple[Record, str] | None:
    """The preferred record and the criterion that decided, or ``None`` when every criterion ties."""
    for criterion in criteria:
        ka, kb = criterion.key(a), criterion.key(b)
        if ka is None or kb is None or ka == kb:
            continue
        return (a if ka > kb else b), criterion.name
    return None
