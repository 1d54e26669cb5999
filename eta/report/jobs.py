"""Finding a sweep's jobs and reading what their policies did, per problem: the first of the comparison's
three steps (``jobs`` -> ``estimates`` -> ``writing``, run by ``eta.report.compare``).

A job is a folder with ``.hydra/config.yaml`` and ``metrics.json``, labelled by its ``label`` key (set by
``experiments/arm/*.yaml``; else from the method and heuristic) and its ``seed``. Per-problem values come
from each policy's evaluation files (``eval/<policy>/*_executions.jsonl``), so the problems can be
resampled; what a method reports about itself (``metrics.json`` "method", and the trained policy's KL to its
reference) is known once per seed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eta import rundir

BASE = rundir.BASE  # the base arm's label is the name of its policy
SEED_METRICS = ("kl_to_reference", "kl_to_reference_per_token")  # of the trained policy, once per seed
PASS_AT = re.compile(r"^pass@(\d+)$")


@dataclass
class TaskCounts:
    """What one policy's samples of one problem did."""

    n: int = 0
    passed: int = 0
    executed: int = 0
    tests_fraction: float = 0.0  # summed over the samples that report tests
    with_tests: int = 0
    outcomes: Counter = field(default_factory=Counter)


def task_counts(records: Iterable[Mapping[str, Any]]) -> dict[str, TaskCounts]:
    """Per-problem counts of execution records, with summarize's masking and outcome rules."""
    from eta.execute.outcome import Outcome
    from eta.prefer.records import outcome_of, usable

    kept, _ = usable(list(records))
    out: dict[str, TaskCounts] = {}
    for record in kept:
        outcome = outcome_of(record)
        t = out.setdefault(str(record["task_id"]), TaskCounts())
        t.n += 1
        t.passed += outcome is Outcome.PASSED
        t.executed += outcome.executed
        t.outcomes[outcome.value] += 1
        if record.get("tests_total"):
            t.tests_fraction += (record.get("tests_passed") or 0) / record["tests_total"]
            t.with_tests += 1
    return out


def read_counts(path: Path, first_only: bool = False) -> dict[str, TaskCounts] | None:
    """The per-problem counts of an executions file (only each problem's sample 0 with ``first_only``);
    None when the file is missing."""
    if not path.is_file():
        return None
    from eta.prefer.records import read_records

    records = read_records(path)
    return task_counts([r for r in records if r.get("sample_id", 0) == 0] if first_only else records)


@dataclass
class Job:
    path: Path
    label: str
    seed: int
    metrics: dict[str, Any]
    cfg: dict[str, Any]

    def eval_dir(self, policy: str) -> Path:
        if policy == rundir.TRAINED and len(self.metrics.get("rounds", {})) > 1:
            last = max(self.metrics["rounds"], key=int)
            return rundir.eval_dir(rundir.round_dir(self.path, int(last)), policy)
        return rundir.eval_dir(self.path, policy)

    @property
    def policy(self) -> str | None:
        """Whose evaluation stands for this job's method: the trained policy, or the base for the base arm."""
        return rundir.TRAINED if rundir.TRAINED in self.metrics else BASE if self.label == BASE else None


def label_of(cfg: Mapping[str, Any]) -> str:
    """The job's name in the tables: its ``label`` key, else the method (with the DPO heuristic)."""
    if cfg.get("label"):
        return str(cfg["label"])
    method = cfg.get("method", {}) or {}
    name = str(method.get("name", "?"))
    if name == "none":
        return BASE
    if name == "dpo":
        heuristic = str((cfg.get("heuristic") or {}).get("name", "?"))
        return {"eta": "ETA-DPO", "binary": "DPO-binary"}.get(heuristic, f"DPO-{heuristic}")
    reward = method.get("reward")
    return f"{name}-{reward}" if isinstance(reward, str) else name


def find_jobs(sweep_dir: Path) -> tuple[list[Job], list[Path]]:
    """The finished jobs of a sweep, and the folders of jobs without metrics.json (unfinished or failed)."""
    jobs, unfinished = [], []
    for config in sorted(sweep_dir.rglob(rundir.HYDRA_CONFIG)):
        job_dir = config.parent.parent
        if rundir.SHARED in job_dir.relative_to(sweep_dir).parts:
            continue
        cfg = load_config(config)
        if not (job_dir / rundir.METRICS).is_file():
            unfinished.append(job_dir)
            continue
        jobs.append(Job(job_dir, label_of(cfg), int(cfg.get("seed", 0)), json.loads((job_dir / rundir.METRICS).read_text()),
                        cfg))
    return jobs, unfinished


def load_config(path: Path) -> dict[str, Any]:
    """A job's saved config with its interpolations resolved node by node (``logger.group`` is
    ``comparison-${model.name}-...``); a node that needs the running job (``${hydra:...}``) stays as written."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    conf = OmegaConf.load(path)
    raw = OmegaConf.to_container(conf, resolve=False)
    out: dict[str, Any] = {}
    for key in raw:
        try:
            value = conf[key]
            out[key] = OmegaConf.to_container(value, resolve=True) if isinstance(value, (DictConfig, ListConfig)) else value
        except Exception:  # omegaconf raises several kinds for an unresolvable interpolation
            out[key] = raw[key]
    return out


def trained_tokens(job: Job) -> int | None:
    """The tokens the job's trainer took in (TRL's ``num_tokens``, last logged, in ``train/trainer_state.json``):
    the measured side of the budget table (eta/report/budget.py); None where nothing was trained."""
    from eta import rundir
    from eta.train.runner import STATE_FILE

    path = job.path / rundir.TRAIN / STATE_FILE
    if not path.is_file():
        return None
    logged = [e["num_tokens"] for e in json.loads(path.read_text()).get("log_history", []) if "num_tokens" in e]
    return int(logged[-1]) if logged else None


def repair_metric(name: str, feedback: str) -> str:
    return f"repair {name} ({feedback})"


def repair_counts(root: Path) -> dict[str, dict[str, TaskCounts]]:
    """Per repair metric, the per-program counts of the first attempt at each program (repair accuracy: fixed
    in one attempt) under ``root/<set>/<feedback>/executions.jsonl`` (eta/repair/evaluate.py's layout)."""
    out: dict[str, dict[str, TaskCounts]] = {}
    for path in sorted(root.glob("*/*/executions.jsonl")) if root.is_dir() else []:
        counts = read_counts(path, first_only=True)
        if counts:
            out[repair_metric(path.parent.parent.name, path.parent.name)] = counts
    return out


@dataclass
class Evaluations:
    """Per label and seed, the per-problem counts of its policy's sampled and greedy evaluations."""

    sampled: dict[str, dict[int, dict[str, TaskCounts]]] = field(default_factory=dict)
    greedy: dict[str, dict[int, dict[str, TaskCounts]]] = field(default_factory=dict)
    seed_values: dict[str, dict[int, dict[str, float]]] = field(default_factory=dict)
    rounds: dict[str, dict[int, dict[str, dict[str, Any]]]] = field(default_factory=dict)
    # repair metric -> label -> seed -> program -> counts of the first attempt: every policy of a seed repairs
    # the same programs (QuixBugs; the shared base evaluation's failing samples), so they pair by program
    repair: dict[str, dict[str, dict[int, dict[str, TaskCounts]]]] = field(default_factory=dict)
    ks: set[int] = field(default_factory=set)  # the pass@k that the jobs' metrics.json report


def collect(jobs: Sequence[Job]) -> Evaluations:
    from eta.report.wandb_log import flatten_metrics

    ev = Evaluations()
    for job in jobs:
        policy = job.policy
        for name in (BASE, rundir.TRAINED):
            ev.ks.update(int(m.group(1)) for key in job.metrics.get(name, {}) if (m := PASS_AT.match(key)))
        if policy is not None:
            for kind, store in ((rundir.SAMPLED, ev.sampled), (rundir.GREEDY, ev.greedy)):
                counts = read_counts(job.eval_dir(policy) / rundir.eval_file(kind, "executions"))
                if counts:
                    store.setdefault(job.label, {})[job.seed] = counts
        # the repair arm (inference only) keeps its attempts under train/repair/, every policy under eval/
        repair_root = job.eval_dir(policy) / rundir.REPAIR if policy is not None else job.path / rundir.TRAIN / rundir.REPAIR
        for metric, counts in repair_counts(repair_root).items():
            ev.repair.setdefault(metric, {}).setdefault(job.label, {})[job.seed] = counts
        own = {k: v for k, v in job.metrics.get("method", {}).items() if k != "repair"}  # per program above
        values = {f"method/{k}": v for k, v in flatten_metrics(own).items()}
        values.update({k: job.metrics[rundir.TRAINED][k] for k in SEED_METRICS
                       if isinstance(job.metrics.get(rundir.TRAINED, {}).get(k), (int, float))})
        if (tokens := trained_tokens(job)) is not None:
            values["train/num_tokens"] = tokens
        if values:
            ev.seed_values.setdefault(job.label, {})[job.seed] = values
        if len(job.metrics.get("rounds", {})) > 1:
            ev.rounds.setdefault(job.label, {})[job.seed] = {"0": job.metrics.get(BASE, {}), **job.metrics["rounds"]}
    for job in jobs:  # no base job for a seed: the base evaluation every trained job made (shared per seed)
        if job.seed not in ev.sampled.get(BASE, {}):
            counts = read_counts(job.eval_dir(BASE) / rundir.SAMPLED_EXECUTIONS)
            if counts:
                ev.sampled.setdefault(BASE, {})[job.seed] = counts
                greedy = read_counts(job.eval_dir(BASE) / rundir.eval_file(rundir.GREEDY, "executions"))
                if greedy:
                    ev.greedy.setdefault(BASE, {})[job.seed] = greedy
        for metric, counts in repair_counts(job.eval_dir(BASE) / rundir.REPAIR).items():
            ev.repair.setdefault(metric, {}).setdefault(BASE, {}).setdefault(job.seed, counts)
    return ev
