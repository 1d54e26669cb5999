"""What every stage of a run shares: the config, the run directory, the tasks, and which stages are done."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eta.tasks.schema import Task


@dataclass
class RunContext:
    cfg: Any  # the composed Hydra config
    run_dir: Path
    train_tasks: list[Task] = field(default_factory=list)
    eval_tasks: list[Task] = field(default_factory=list)
    logger: Any = None  # a wandb run, or None

    @property
    def state_file(self) -> Path:
        return self.run_dir / "stages.json"

    def done(self, stage: str) -> bool:
        return stage in self._state()

    def mark_done(self, stage: str, **info: Any) -> None:
        from eta.train.distributed import is_main_process

        if not is_main_process():  # one writer: the other ranks of a multi-process launch only read it
            return
        state = self._state()
        state[stage] = {"finished_at": time.strftime("%Y-%m-%d %H:%M:%S"), "at": time.time(), **info}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)  # atomic: a kill never leaves a half-written state

    def _state(self) -> dict[str, Any]:
        return json.loads(self.state_file.read_text()) if self.state_file.exists() else {}

    def path(self, *parts: str) -> Path:
        p = self.run_dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p


def holdout_split(tasks: list[Task], fraction: float, seed: int) -> tuple[list[Task], list[Task]]:
    """Split one benchmark split into training and held-out problems, by a seeded hash of the task id
    (stable when problems are added or the limit changes)."""
    if not 0 < fraction < 1:
        raise ValueError(f"dataset.holdout_fraction must be between 0 and 1, got {fraction}")
    ranked = sorted(tasks, key=lambda t: hashlib.sha1(f"{seed}:{t.task_id}".encode()).hexdigest())
    n_eval = max(1, round(len(ranked) * fraction))
    held = {t.task_id for t in ranked[:n_eval]}
    return [t for t in tasks if t.task_id not in held], [t for t in tasks if t.task_id in held]


def load_splits(cfg: Any) -> tuple[list[Task], list[Task]]:
    from eta.tasks import load_tasks

    d = cfg.dataset
    common = dict(data_dir=d.data_dir, source=d.source, **dict(d.options or {}))
    eval_tasks = load_tasks(d.name.value if hasattr(d.name, "value") else d.name, split=d.eval_split, **common)
    if d.train_split is None or d.train_split == d.eval_split:
        train_tasks, eval_tasks = holdout_split(eval_tasks, d.holdout_fraction, cfg.seed)
    else:
        train_tasks = load_tasks(str(d.name.value if hasattr(d.name, "value") else d.name), split=d.train_split, **common)
    if d.limit is not None:
        train_tasks, eval_tasks = train_tasks[: d.limit], eval_tasks[: d.limit]
    return train_tasks, eval_tasks
