"""The benchmarks as tasks: one schema for the sampler, the sandbox, the preference builder and the evaluator.

``load_tasks(name, split=..., limit=..., data_dir=..., source=...)`` loads one benchmark:

=========== ======================================== =============================================
name        splits (default first)                   task ids
=========== ======================================== =============================================
humaneval   test                                     HumanEval/0 ... HumanEval/163
mbpp        test, train, validation, prompt, all     Mbpp/11 ... (sanitized; by task_id ranges)
apps        test (``difficulty=`` one of three)      APPS/<id>
quixbugs    test                                     QuixBugs/<program>, e.g. QuixBugs/bitcount
synthetic   test, validation, train, all (by family) Synthetic/<family>/<n>
=========== ======================================== =============================================

The data folder is ``../shared/data`` beside the project, or ``$ETA_DATA_DIR``, or ``data_dir``;
``source='hf'`` loads the Hugging Face hub's version instead. Stdlib-only at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Callable

from eta.tasks import apps, humaneval, mbpp, quixbugs, synthetic
from eta.tasks.errors import TaskLoadError
from eta.tasks.families import stratified
from eta.tasks.schema import CompletionMode, Task, TestCase, TestKind

LOADERS: dict[str, Callable[..., list[Task]]] = {
    "humaneval": humaneval.load,
    "mbpp": mbpp.load,
    "apps": apps.load,
    "quixbugs": quixbugs.load,
    "synthetic": synthetic.load,
}
DATASETS: tuple[str, ...] = tuple(LOADERS)


def load_tasks(name: str, *, split: str | None = None, limit: int | None = None,
               data_dir: str | os.PathLike | None = None, source: str = "local", **options: Any) -> list[Task]:
    """The tasks of one benchmark, in the benchmark's own order, at most ``limit`` of them, taken round-robin
    across the benchmark's families (``eta.tasks.families``; without families, the first ``limit``).

    ``options`` go to the benchmark's loader (e.g. ``difficulty`` for apps, ``seed`` for synthetic);
    an option a loader does not know is an error, not silently ignored.
    """
    key = name.lower().strip()
    if key not in LOADERS:
        raise TaskLoadError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise TaskLoadError(f"limit should be a non-negative integer or None, got {limit!r}")
    try:
        tasks = LOADERS[key](split=split, data_dir=data_dir, source=source, **options)
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        raise TaskLoadError(f"{key}: {exc.args[0].split('() ', 1)[-1]}") from None
    return stratified(tasks, limit)


def load_from_config(cfg: Mapping[str, Any], *, split: str | None = None) -> list[Task]:
    """The tasks a ``dataset`` config names (``conf/dataset/<name>.yaml``): its ``eval_split`` unless
    ``split`` is given, at most ``limit``, from ``data_dir``/``source``, with its ``options``."""
    name = cfg.get("name")
    if not name:
        raise TaskLoadError("the dataset config has no `name`")
    options = dict(cfg.get("options") or {})
    return load_tasks(str(getattr(name, "value", name)), split=split if split is not None else cfg.get("eval_split"),
                      limit=cfg.get("limit"), data_dir=cfg.get("data_dir"), source=cfg.get("source") or "local",
                      **options)


def get_task(tasks: list[Task], task_id: str) -> Task:
    """The task with ``task_id`` (a clear error naming the id when it is not there)."""
    for task in tasks:
        if task.task_id == task_id:
            return task
    raise TaskLoadError(f"no task {task_id!r} among {len(tasks)} loaded tasks")


__all__ = ["DATASETS", "LOADERS", "CompletionMode", "Task", "TaskLoadError", "TestCase", "TestKind",
           "get_task", "load_from_config", "load_tasks"]
