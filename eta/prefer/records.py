"""Reading and checking execution records (the lines of ``executions.jsonl`` written by ``eta.execute``).

Records stay plain dicts: every stage after execution reads only a few of their fields, and the checks
here turn a malformed record into an error that names the file, the line and the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eta.execute.outcome import Outcome
from eta.jsonl import read_lines

if TYPE_CHECKING:
    from eta.tasks.schema import Task

Record = Mapping[str, Any]
REFERENCE_BASE = 10_000  # sample ids from here on are reference solutions, not samples (prefer.include_reference)


def describe(record: Record, where: str = "") -> str:
    """How an error message names a record: where it came from, its task and sample."""
    ident = f"task {record.get('task_id')!r} sample {record.get('sample_id')!r}"
    return f"{where}: {ident}" if where else ident


def outcome_of(record: Record, where: str = "") -> Outcome:
    """The record's outcome as an ``Outcome``; a missing or unknown value is an error naming the record."""
    if not isinstance(record, Mapping):
        raise ValueError(f"{where or 'execution record'}: expected a JSON object, got {type(record).__name__}")
    raw = record.get("outcome")
    try:
        outcome = Outcome(raw)
    except ValueError:
        known = ", ".join(o.value for o in Outcome)
        raise ValueError(f"{describe(record, where)}: field 'outcome' is {raw!r}, expected one of: {known}") from None
    passed = record.get("passed")
    # A disagreement means the executor and this reader see different programs: better to stop than to guess.
    if passed is not None and bool(passed) != (outcome is Outcome.PASSED):
        raise ValueError(f"{describe(record, where)}: field 'passed' is {passed!r} but 'outcome' is {outcome.value!r}")
    return outcome


def int_field(record: Record, name: str, where: str = "", optional: bool = False) -> int | None:
    """A non-negative integer field, checked; ``None`` allowed only when ``optional``."""
    value = record.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{describe(record, where)}: field {name!r} is {value!r}, expected a non-negative integer")
    return value


def check_record(record: Record, where: str = "") -> Outcome:
    """Check the fields the preference builder and the metrics read; return the outcome."""
    outcome = outcome_of(record, where)
    for name in ("task_id", "completion"):
        if not isinstance(record.get(name), str):
            raise ValueError(f"{describe(record, where)}: field {name!r} is missing or not a string")
    if record.get("sample_id") is None:
        raise ValueError(f"{describe(record, where)}: field 'sample_id' is missing")
    int_field(record, "steps", where, optional=True)
    passed = int_field(record, "tests_passed", where, optional=True)
    total = int_field(record, "tests_total", where, optional=True)
    if passed is not None and total is not None and passed > total:
        raise ValueError(f"{describe(record, where)}: tests_passed={passed} exceeds tests_total={total}")
    return outcome


def usable(records: Iterable[Record]) -> tuple[list[Record], int]:
    """Check every record; return those that may be scored and how many infra errors were masked."""
    kept: list[Record] = []
    masked = 0
    for i, record in enumerate(records):
        if check_record(record, f"record {i}") is Outcome.INFRA_ERROR:
            masked += 1  # the harness failed, not the program: it says nothing about the model
        else:
            kept.append(record)
    return kept, masked


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Read and check an ``executions.jsonl`` file; errors name the file and the line."""
    path = Path(path)
    records: list[dict[str, Any]] = []
    for where, record in read_lines(path):
        check_record(record, where)
        records.append(record)
    return records


def reference_records(tasks: Sequence[Task]) -> list[dict[str, Any]]:
    """The reference solution as one more, passing, candidate per problem (prefer.include_reference):
    gives chosen programs on problems where the base model never passes."""
    return [{"task_id": t.task_id, "sample_id": REFERENCE_BASE + i, "completion": f"```python\n{t.reference.strip()}\n```",
             "passed": True, "outcome": "passed", "tests_passed": len(t.tests), "tests_total": len(t.tests),
             "error_type": None, "steps": None, "tests": []} for i, t in enumerate(tasks)]
