"""Per-test time limits derived from the reference solution's own time on each test, as evalplus does:
``limit_i = max(floor, factor * reference_time_i)``, bounded by the program's ``timeout_s``.

A looping candidate then costs about ``floor`` seconds per test instead of the fixed ``test_timeout_s``,
while a test on which the reference itself is slow keeps a limit it passes under. The reference is run in
the sandbox exactly as candidates are (same executor, same limits, per-test time as the child measures
it), ``REPEATS`` times, and the slowest of the runs is kept: a limit set from a lucky fast run would cut a
correct program on a busier minute, while one set from the slowest run only gives a loop a little longer.

Times are measured once per task and cached as JSON under ``cache_dir()`` (``$ETA_CACHE_DIR/ref_times``,
default ``~/.cache/eta/ref_times``), one file per task named by a hash of the task's content (its program,
tests, setup, files), the limits and the Python version: a changed task, or another interpreter, is
measured again. Tasks without a reference, or whose reference fails a test, keep the fixed limits.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

from eta.execute.limits import Limits
from eta.execute.pool import Executor, Job
from eta.tasks.schema import Task

REPEATS = 3
CACHE_ENV = "ETA_CACHE_DIR"
VERSION = 1  # of the measuring method: bump to remeasure everything


@dataclass(frozen=True)
class DerivedLimits:
    """The two dataset keys (conf/dataset/*.yaml: test_time_floor_s, test_time_factor)."""

    floor_s: float = 1.0
    factor: float = 4.0

    def __post_init__(self) -> None:
        if not (self.floor_s > 0 and self.factor > 0):
            raise ValueError(f"test_time_floor_s and test_time_factor must be positive, got {self.floor_s}, {self.factor}")

    def derive(self, times: list[float], limits: Limits) -> list[float]:
        return [min(limits.timeout_s, max(self.floor_s, self.factor * t)) for t in times]


def cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV) or str(Path.home() / ".cache" / "eta")
    return Path(root) / "ref_times"


def task_key(task: Task, limits: Limits) -> str:
    """What a reference time depends on: the task's content, the limits it ran under, the interpreter."""
    h = hashlib.sha256()
    h.update(json.dumps([VERSION, task.to_dict(), limits.to_dict(), sys.version, REPEATS],
                        sort_keys=True, default=str).encode())
    return h.hexdigest()[:24]


def reference_job(task: Task, key: str) -> Job | None:
    from eta.execute.batch import canonical_samples

    samples = canonical_samples([task])
    return Job.for_task(task, samples[0].completion, key=key) if samples else None


def reference_times(tasks: Iterable[Task], limits: Limits, *, workers: int = 2,
                    say: Callable[[str], None] | None = None) -> dict[str, list[float] | None]:
    """Each task's reference time per test (the slowest of REPEATS runs), from the cache or measured now;
    None for a task without a reference or whose reference does not pass every test."""
    tasks = list(tasks)
    folder = cache_dir()
    out: dict[str, list[float] | None] = {}
    todo: dict[str, tuple[Task, Path]] = {}
    for task in tasks:
        path = folder / f"{task_key(task, limits)}.json"
        cached = _read(path, len(task.tests))
        if cached is not False:
            out[task.task_id] = cached
        else:
            todo[task.task_id] = (task, path)
    if todo:
        if say:
            say(f"measuring reference times of {len(todo)} tasks ({len(tasks) - len(todo)} cached in {folder})")
        measured = _measure([t for t, _ in todo.values()], limits, workers)
        folder.mkdir(parents=True, exist_ok=True)
        for task_id, (task, path) in todo.items():
            times = measured.get(task_id)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps({"task_id": task_id, "times": times}))
            os.replace(tmp, path)  # a kill mid-write leaves no torn cache entry
            out[task_id] = times
    return out


def _read(path: Path, n_tests: int) -> list[float] | None | bool:
    """The cached times, None (cached: no usable reference), or False (not cached or unreadable)."""
    try:
        times = json.loads(path.read_text())["times"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if times is None:
        return None
    if isinstance(times, list) and len(times) == n_tests and all(isinstance(t, (int, float)) for t in times):
        return [float(t) for t in times]
    return False


def _measure(tasks: list[Task], limits: Limits, workers: int) -> dict[str, list[float] | None]:
    jobs = [j for j in (reference_job(t, t.task_id) for t in tasks) if j is not None]
    slowest: dict[str, list[float] | None] = {}
    with Executor(workers=workers, limits=limits) as ex:
        for _ in range(REPEATS):
            for result in ex.map(jobs):
                if not result.passed or len(result.tests) != result.tests_total:
                    slowest[result.key] = None  # a reference that fails says nothing about a fair limit
                elif result.key not in slowest:
                    slowest[result.key] = [t.duration_s for t in sorted(result.tests, key=lambda t: t.index)]
                elif slowest[result.key] is not None:
                    now = [t.duration_s for t in sorted(result.tests, key=lambda t: t.index)]
                    slowest[result.key] = [max(a, b) for a, b in zip(slowest[result.key], now)]
    return slowest


def per_test_limits(tasks: Iterable[Task], limits: Limits, derived: DerivedLimits | None, *, workers: int = 2,
                    say: Callable[[str], None] | None = None) -> dict[str, list[float]]:
    """task_id -> one limit per test, for the tasks whose reference passed; the rest are left out (and
    keep the fixed limits). With `derived` None (the dataset turns it off), nothing."""
    if derived is None:
        return {}
    times = reference_times(tasks, limits, workers=workers, say=say)
    return {tid: derived.derive(t, limits) for tid, t in times.items() if t is not None}


def from_config(d: Mapping[str, object]) -> DerivedLimits | None:
    """The dataset config's keys; either one null turns derived limits off (fixed test_timeout_s)."""
    floor, factor = d.get("test_time_floor_s"), d.get("test_time_factor")
    if floor is None or factor is None:
        return None
    return DerivedLimits(float(floor), float(factor))
