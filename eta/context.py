"""What every stage of a run shares: the typed config, the run directory, the tasks, and which stages are done.

The pipeline parses the composed Hydra config once (``eta.config.parse``) and hands the typed objects down:
below ``eta.pipeline`` no module reads the DictConfig."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from eta import rundir
from eta.config import DatasetConf, ExecuteConf, RootConf, enum_text
from eta.tasks.schema import Task

if TYPE_CHECKING:
    from eta.execute import Limits
    from eta.execute.reftimes import DerivedLimits


def say(message: str) -> None:
    """One line of the run's progress on stdout, with the rank in a multi-process launch."""
    from eta.train.distributed import rank, world_size

    who = f" rank {rank()}" if world_size() > 1 else ""
    print(f"[eta {time.strftime('%H:%M:%S')}{who}] {message}", flush=True)


@dataclass
class RunContext:
    """What a stage or a method gets from the run: the config, the run directory and its files, the tasks."""

    cfg: RootConf  # the run's config as the schemas' typed objects (eta.config.parse), never the DictConfig
    run_dir: Path
    train_tasks: list[Task] = field(default_factory=list)
    eval_tasks: list[Task] = field(default_factory=list)
    logger: Any = None  # a wandb run, or None
    say: Callable[[str], None] = say
    method: Any = None  # the run's method (eta.methods.base.Method)
    round: int = 1  # the round of an iterative run (rounds > 1): this context's files are in round_<n>/
    previous: str | None = None  # a digest of what the previous round trained: this round's input

    @property
    def policy_label(self) -> str:
        """The policy that samples this round's training data."""
        return rundir.BASE if self.round == 1 else f"{rundir.ROUND_PREFIX}{self.round - 1}"

    @property
    def state_file(self) -> Path:
        return self.run_dir / rundir.STAGES

    def done(self, stage: str) -> bool:
        return bool(self.state().get(stage, {}).get("done"))

    def mark_done(self, stage: str, **info: Any) -> None:
        """Record `stage` as finished (with `info`), keeping the keys it was planned with."""
        state = self.state()
        state[stage] = {**state.get(stage, {}), "done": True, "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"),
                        "at": time.time(), **info}
        self.write_state(state)

    def write_state(self, state: dict[str, Any]) -> None:
        from eta.train.distributed import is_main_process

        if not is_main_process():  # one writer: the other ranks of a multi-process launch only read it
            return
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)  # atomic: a kill never leaves a half-written state

    def state(self) -> dict[str, Any]:
        """stages.json: each stage's record (done, when, the config keys it was made under)."""
        return json.loads(self.state_file.read_text()) if self.state_file.exists() else {}

    def path(self, *parts: str) -> Path:
        p = self.run_dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    # The run's data, read from its files (so that every rank and every stage sees the same thing).
    def samples(self) -> list[dict[str, Any]]:
        from eta.jsonl import read_rows

        return read_rows(self.run_dir / rundir.SAMPLES)

    def executions(self) -> list[dict[str, Any]]:
        from eta.jsonl import read_rows

        return read_rows(self.run_dir / rundir.EXECUTIONS)

    @property
    def pairs_file(self) -> Path:
        return self.run_dir / rundir.PAIRS

    @property
    def pairs_dir(self) -> Path:
        return self.run_dir / rundir.PAIRS_DATASET

    @property
    def train_dir(self) -> Path:
        """The method's output folder (made here): checkpoints, the adapter, what the method keeps."""
        return self.path(rundir.TRAIN, ".keep").parent

    def sampling_seed(self, stream: int) -> int:
        """The seed of one stream of samples (training samples of a round, evaluation, repair attempts): the
        run's ``seed`` plus ``sampler.seed``, so that the latter draws other samples and leaves the split, the
        pairing and training as they were."""
        return int(self.cfg.seed) + int(self.cfg.sampler.seed) + stream

    @property
    def limits(self) -> Limits:
        """The sandbox's limits of this run's programs."""
        return limits_of(self.cfg.execute, self.cfg.dataset)

    @property
    def style(self) -> str:
        """The prompt style the policy is sampled (and so trained) with."""
        cfg = self.cfg
        return "chat" if enum_text(cfg.dataset.prompt_style) == "chat" and cfg.model.chat else "completion"


def limits_of(execute: ExecuteConf, dataset: DatasetConf) -> Limits:
    """The sandbox's limits of a dataset's programs under the run's execute settings."""
    from eta.execute import Limits

    return Limits(timeout_s=dataset.timeout_s, test_timeout_s=min(dataset.test_timeout_s, dataset.timeout_s),
                  memory_mb=execute.memory_mb, allow_packages=tuple(execute.allow_packages))


def derived_limits(dataset: DatasetConf) -> DerivedLimits | None:
    """Per-test limits from the references' times (eta.execute.reftimes); None: a fixed test_timeout_s."""
    from eta.execute.reftimes import from_config

    return from_config({"test_time_floor_s": dataset.test_time_floor_s, "test_time_factor": dataset.test_time_factor})


def holdout_split(tasks: list[Task], fraction: float, seed: int) -> tuple[list[Task], list[Task]]:
    """Split one benchmark split into training and held-out problems, by a seeded hash of the task id
    (stable when problems are added or the limit changes)."""
    if not 0 < fraction < 1:
        raise ValueError(f"dataset.holdout_fraction must be between 0 and 1, got {fraction}")
    ranked = sorted(tasks, key=lambda t: hashlib.sha1(f"{seed}:{t.task_id}".encode()).hexdigest())
    n_eval = max(1, round(len(ranked) * fraction))
    held = {t.task_id for t in ranked[:n_eval]}
    return [t for t in tasks if t.task_id not in held], [t for t in tasks if t.task_id in held]


def load_splits(cfg: RootConf) -> tuple[list[Task], list[Task]]:
    """The run's training and held-out problems, from its ``dataset`` and ``seed``."""
    from eta.tasks import load_tasks
    from eta.tasks.families import stratified

    d = cfg.dataset
    common = dict(data_dir=d.data_dir, source=d.source, **dict(d.options or {}))
    eval_tasks = load_tasks(enum_text(d.name), split=d.eval_split, **common)
    if d.train_split is None or d.train_split == d.eval_split:
        train_tasks, eval_tasks = holdout_split(eval_tasks, d.holdout_fraction, cfg.seed)
    else:
        train_tasks = load_tasks(str(enum_text(d.name)), split=d.train_split, **common)
    # round-robin across families: a prefix would be the first two or three families
    eval_limit = d.limit if d.eval_limit is None else d.eval_limit
    if d.limit is not None:
        train_tasks = stratified(train_tasks, d.limit)
    if eval_limit is not None:
        eval_tasks = stratified(eval_tasks, eval_limit)
    return train_tasks, eval_tasks
