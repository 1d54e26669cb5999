"""The reference solution's execution under the tracer, once per task: what `eta.trace.divergence`
compares every failing candidate with.

The reference runs in the sandbox exactly as candidates do (same executor, limits and trace options, with
value writes), once; each test's value sequence and live step count are cached as JSON under
``$ETA_CACHE_DIR/ref_traces`` (default ``~/.cache/eta/ref_traces``), one file per task named by a hash of
the task's content, the trace options and the Python version (a changed task, other options or another
interpreter run it again), as `eta.execute.reftimes` caches reference times. A task without a reference
(the local APPS subset), or whose reference fails a test, has none: its candidates get no divergence and
the preference criteria that read it fall back to the others.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from eta.execute.limits import Limits
from eta.execute.pool import Executor, TraceOptions
from eta.execute.reftimes import CACHE_ENV, reference_job
from eta.tasks.schema import Task
from eta.trace.divergence import divergence, sequence
from eta.trace.liveness import analyze

VERSION = 2  # of the alignment's inputs: bump to run every reference again


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or str(Path.home() / ".cache" / "eta")) / "ref_traces"


def with_writes(trace: TraceOptions) -> TraceOptions:
    return replace(trace, writes=True, events=False)


def task_key(task: Task, trace: TraceOptions) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([VERSION, task.to_dict(), with_writes(trace).to_dict(), sys.version],
                        sort_keys=True, default=str).encode())
    return h.hexdigest()[:24]


def reference_traces(tasks: Iterable[Task], trace: TraceOptions, limits: Limits | None = None, *, workers: int = 2,
                     say: Callable[[str], None] | None = None) -> dict[str, dict[str, Any] | None]:
    """task_id -> ``{"values": [per test: the reference's value sequence], "steps": [per test: live steps]}``,
    from the cache or run now; None for a task without a usable reference."""
    folder = cache_dir()
    out: dict[str, dict[str, Any] | None] = {}
    todo: dict[str, tuple[Task, Path]] = {}
    for task in tasks:
        path = folder / f"{task_key(task, trace)}.json"
        try:
            out[task.task_id] = json.loads(path.read_text())["reference"]
        except (OSError, ValueError, KeyError, TypeError):
            todo[task.task_id] = (task, path)
    if not todo:
        return out
    if say:
        say(f"tracing the reference solutions of {len(todo)} tasks ({len(out)} cached in {folder})")
    jobs = [j for j in (reference_job(t, tid) for tid, (t, _) in todo.items()) if j is not None]
    measured: dict[str, dict[str, Any] | None] = {}
    with Executor(workers=workers, limits=limits, trace=with_writes(trace)) as ex:
        for result in ex.map(jobs):
            task = todo[result.key][0]
            measured[result.key] = summarize(task, [t.to_dict() for t in result.tests]) if result.passed else None
    folder.mkdir(parents=True, exist_ok=True)
    for task_id, (task, path) in todo.items():
        out[task_id] = measured.get(task_id)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"task_id": task_id, "reference": out[task_id]}))
        os.replace(tmp, path)  # a kill mid-write leaves no torn cache entry
    return out


def summarize(task: Task, tests: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The reference's value sequence and live steps per test, from its traced results."""
    from eta.execute.batch import canonical_samples

    samples = canonical_samples([task])
    live = analyze(task.program(samples[0].completion), task.entry_point) if samples else None
    by_index = {t["index"]: t for t in tests}
    if sorted(by_index) != list(range(len(task.tests))) or any(by_index[i].get("writes") is None for i in by_index):
        return None
    seqs = [sequence(by_index[i]["writes"], live) for i in range(len(task.tests))]
    return {"values": [s.values for s in seqs], "steps": [s.live_steps for s in seqs]}


# What a program whose writes cannot be read gets: the child sends them, so a malformed one is the
# program's doing (the trust boundary, docs/sandbox.md), charged as the furthest divergence, never as none.
UNREADABLE = {"score": 0.0, "common": 0.0, "f1": 0.0, "wrong": 1.0, "first": 0.0, "line": None, "tests": [],
              "unreadable": True}


def _measured(tests: list[dict[str, Any]], reference: Mapping[str, Any], task: Task, completion: str) -> dict[str, Any]:
    try:
        return divergence(tests, reference, analyze(task.program(completion), task.entry_point))
    except Exception:  # noqa: BLE001 - see UNREADABLE
        return dict(UNREADABLE)


def attach(result: Any, task: Task, completion: str, reference: Mapping[str, Any] | None) -> None:
    """`annotate` for an ExecutionResult (of ``task.program(completion)``)."""
    if not result.passed and reference is not None and result.outcome.value != "infra_error":
        tests = [t.to_dict() for t in result.tests]
        result.divergence = _measured(tests, reference, task, completion)
    for t in result.tests:
        t.writes = None


def annotate(record: dict[str, Any], task: Task, reference: Mapping[str, Any] | None) -> None:
    """Add the divergence of a failing record from its task's reference (nothing for a passing one or one
    whose task has no reference), then drop the raw writes from its tests."""
    if not record.get("passed") and reference is not None and record.get("outcome") != "infra_error":
        record["divergence"] = _measured(record.get("tests", []), reference, task, record["completion"])
    for t in record.get("tests", []):
        t.pop("writes", None)
