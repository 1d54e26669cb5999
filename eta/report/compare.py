"""The comparison of a sweep's methods: ``python -m eta.report.compare SWEEP_DIR``, also run at the end of
``python run.py -m experiment=comparison`` (``CompareCallback``, a Hydra callback).

Reads every job of the sweep (a folder with ``.hydra/config.yaml`` and ``metrics.json``), labels it by its
``label`` key (set by ``experiments/arm/*.yaml``; else from the method and heuristic) and its ``seed``, and
writes into the sweep folder, for every metric, the mean and 95% interval per method from a bootstrap over
seeds and problems (``eta.report.bootstrap``), and the paired difference of each method against the base and
against its binary counterpart (ETA-DPO vs DPO-binary, ETA-RM vs GRPO-binary):

* ``comparison.md``: the tables; ``comparison.csv``: the same, one row per estimate;
* ``plots/*.png``: each metric by method with its interval, outcome frequencies stacked by method, the
  metrics by round when the jobs ran rounds > 1;
* a W&B run (``comparison``) in the jobs' group with the same tables and plots, when the jobs log to W&B.

Per-problem values come from each policy's evaluation files (``eval/<policy>/*_executions.jsonl``), so the
problems can be resampled; what a method reports about itself (``metrics.json`` "method", and the trained
policy's KL to its reference) is known once per seed and is resampled over seeds alone.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eta.errors import ConfigError
from eta.report.bootstrap import Estimate, estimate, paired_difference, seed_difference, seed_estimate

BASE = "base"
COUNTERPARTS = {"ETA-DPO": "DPO-binary", "ETA-RM": "GRPO-binary"}
ORDER = ("base", "SFT", "DPO-binary", "ETA-DPO", "GRPO-binary", "GRPO-shaped", "ETA-RM", "repair")
SEED_METRICS = ("kl_to_reference", "kl_to_reference_per_token")  # of the trained policy, once per seed
_PASS_AT = re.compile(r"^pass@(\d+)$")


# ---------------------------------------------------------------- per-problem values (pure)

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


def metric_values(counts: Mapping[str, TaskCounts], metric: str, tasks: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(numerator, denominator) per problem of ``tasks`` for a metric of ``sampled`` evaluations:
    ``pass@k``, ``execution_rate``, ``mean_tests_passed_fraction``, ``reward/shaped`` or ``outcome/<name>``."""
    from eta.metrics import pass_at_k

    rows = [counts[t] for t in tasks]
    if m := _PASS_AT.match(metric):
        k = int(m.group(1))
        return np.array([pass_at_k(t.n, t.passed, k) for t in rows]), np.ones(len(rows))
    if metric == "execution_rate":
        return np.array([t.executed for t in rows], float), np.array([t.n for t in rows], float)
    if metric == "mean_tests_passed_fraction":
        return np.array([t.tests_fraction for t in rows]), np.array([t.with_tests for t in rows], float)
    if metric == "reward/shaped":  # the mean shaped reward a policy's held-out samples earn (eta.rewards.SHAPED)
        from eta.execute.outcome import Outcome
        from eta.rewards import SHAPED

        return (np.array([sum(SHAPED[Outcome(o)] * c for o, c in t.outcomes.items()) for t in rows], float),
                np.array([t.n for t in rows], float))
    if metric.startswith("outcome/"):
        name = metric.split("/", 1)[1]
        return np.array([t.outcomes[name] for t in rows], float), np.array([t.n for t in rows], float)
    raise ValueError(f"metric_values: unknown metric {metric!r}")


# ---------------------------------------------------------------- the sweep's jobs

@dataclass
class Job:
    path: Path
    label: str
    seed: int
    metrics: dict[str, Any]
    cfg: dict[str, Any]

    def eval_dir(self, policy: str) -> Path:
        if policy == "trained" and len(self.metrics.get("rounds", {})) > 1:
            last = max(self.metrics["rounds"], key=int)
            return self.path / f"round_{last}" / "eval" / policy
        return self.path / "eval" / policy

    @property
    def policy(self) -> str | None:
        """Whose evaluation stands for this job's method: the trained policy, or the base for the base arm."""
        return "trained" if "trained" in self.metrics else BASE if self.label == BASE else None


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
    for config in sorted(sweep_dir.rglob(".hydra/config.yaml")):
        job_dir = config.parent.parent
        if "shared" in job_dir.relative_to(sweep_dir).parts:
            continue
        cfg = _load_config(config)
        if not (job_dir / "metrics.json").is_file():
            unfinished.append(job_dir)
            continue
        jobs.append(Job(job_dir, label_of(cfg), int(cfg.get("seed", 0)), json.loads((job_dir / "metrics.json").read_text()),
                        cfg))
    return jobs, unfinished


def _load_config(path: Path) -> dict[str, Any]:
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


def _read_counts(path: Path, first_only: bool = False) -> dict[str, TaskCounts] | None:
    if not path.is_file():
        return None
    from eta.prefer.records import read_records

    records = read_records(path)
    return task_counts([r for r in records if r.get("sample_id", 0) == 0] if first_only else records)


def repair_metric(name: str, feedback: str) -> str:
    return f"repair {name} ({feedback})"


def _repair_counts(root: Path) -> dict[str, dict[str, TaskCounts]]:
    """Per repair metric, the per-program counts of the first attempt at each program (repair accuracy: fixed
    in one attempt) under ``root/<set>/<feedback>/executions.jsonl`` (eta/repair/evaluate.py's layout)."""
    out: dict[str, dict[str, TaskCounts]] = {}
    for path in sorted(root.glob("*/*/executions.jsonl")) if root.is_dir() else []:
        counts = _read_counts(path, first_only=True)
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
        for name in (BASE, "trained"):
            ev.ks.update(int(m.group(1)) for key in job.metrics.get(name, {}) if (m := _PASS_AT.match(key)))
        if policy is not None:
            for kind, store in (("sampled", ev.sampled), ("greedy", ev.greedy)):
                counts = _read_counts(job.eval_dir(policy) / f"{kind}_executions.jsonl")
                if counts:
                    store.setdefault(job.label, {})[job.seed] = counts
        # the repair arm (inference only) keeps its attempts under train/repair/, every policy under eval/
        repair_root = job.eval_dir(policy) / "repair" if policy is not None else job.path / "train" / "repair"
        for metric, counts in _repair_counts(repair_root).items():
            ev.repair.setdefault(metric, {}).setdefault(job.label, {})[job.seed] = counts
        own = {k: v for k, v in job.metrics.get("method", {}).items() if k != "repair"}  # per program above
        values = {f"method/{k}": v for k, v in flatten_metrics(own).items()}
        values.update({k: job.metrics["trained"][k] for k in SEED_METRICS
                       if isinstance(job.metrics.get("trained", {}).get(k), (int, float))})
        if values:
            ev.seed_values.setdefault(job.label, {})[job.seed] = values
        if len(job.metrics.get("rounds", {})) > 1:
            ev.rounds.setdefault(job.label, {})[job.seed] = {"0": job.metrics.get(BASE, {}), **job.metrics["rounds"]}
    for job in jobs:  # no base job for a seed: the base evaluation every trained job made (shared per seed)
        if job.seed not in ev.sampled.get(BASE, {}):
            counts = _read_counts(job.eval_dir(BASE) / "sampled_executions.jsonl")
            if counts:
                ev.sampled.setdefault(BASE, {})[job.seed] = counts
                greedy = _read_counts(job.eval_dir(BASE) / "greedy_executions.jsonl")
                if greedy:
                    ev.greedy.setdefault(BASE, {})[job.seed] = greedy
        for metric, counts in _repair_counts(job.eval_dir(BASE) / "repair").items():
            ev.repair.setdefault(metric, {}).setdefault(BASE, {}).setdefault(job.seed, counts)
    return ev


# ---------------------------------------------------------------- the estimates

@dataclass(frozen=True)
class Row:
    metric: str
    method: str
    against: str | None  # None: the method's own mean; else the method it is compared with
    est: Estimate


def ordered(labels: Iterable[str]) -> list[str]:
    return sorted(set(labels), key=lambda x: (ORDER.index(x) if x in ORDER else len(ORDER), x))


def policy_metrics(ev: Evaluations) -> list[str]:
    names = [f"pass@{k}" for k in sorted(ev.ks)]
    if ev.greedy:
        names.append("greedy_pass@1")
    names += ["execution_rate", "mean_tests_passed_fraction", "reward/shaped"]
    outcomes = Counter()
    for by_seed in ev.sampled.values():
        for counts in by_seed.values():
            for t in counts.values():
                outcomes.update(t.outcomes)
    names += [f"outcome/{o}" for o, _ in outcomes.most_common()]
    return names


def _groups(store: Mapping[str, Mapping[int, Mapping[str, TaskCounts]]], metric: str, label: str,
            other: str | None = None) -> tuple[list, list]:
    """(num, den) per seed for ``label`` (and ``other`` on the same seeds and problems)."""
    mine = store.get(label, {})
    theirs = store.get(other, {}) if other else None
    a, b = [], []
    for seed in sorted(mine):
        if theirs is not None and seed not in theirs:
            continue
        tasks = sorted(set(mine[seed]) & set(theirs[seed])) if theirs is not None else sorted(mine[seed])
        need = int(m.group(1)) if (m := _PASS_AT.match(metric)) else 1  # pass@k needs k usable samples
        tasks = [t for t in tasks if mine[seed][t].n >= need and (theirs is None or theirs[seed][t].n >= need)]
        if not tasks:
            continue
        a.append(metric_values(mine[seed], metric, tasks))
        if theirs is not None:
            b.append(metric_values(theirs[seed], metric, tasks))
    return a, b


def _greedy_metric(metric: str) -> tuple[str, str]:
    return ("greedy", "pass@1") if metric == "greedy_pass@1" else ("sampled", metric)


def comparisons(label: str, counterparts: Mapping[str, str]) -> list[str]:
    out = [BASE] if label != BASE else []
    if label in counterparts:
        out.append(counterparts[label])
    return out


def _problem_rows(store: Mapping[str, Mapping[int, Mapping[str, TaskCounts]]], metric: str, inner: str,
                  counterparts: Mapping[str, str], n_boot: int, seed: int) -> list[Row]:
    """A per-problem metric's mean per method and its paired differences (bootstrap over seeds x problems)."""
    rows: list[Row] = []
    for label in ordered(store):
        groups, _ = _groups(store, inner, label)
        if not groups:
            continue
        rows.append(Row(metric, label, None, estimate(groups, n_boot, seed)))
        for other in comparisons(label, counterparts):
            a, b = _groups(store, inner, label, other)
            if a:
                rows.append(Row(metric, label, other, paired_difference(a, b, n_boot, seed)))
    return rows


def estimate_all(ev: Evaluations, counterparts: Mapping[str, str] = COUNTERPARTS, n_boot: int = 2000,
                 seed: int = 0) -> list[Row]:
    rows: list[Row] = []
    for metric in policy_metrics(ev):
        kind, inner = _greedy_metric(metric)
        rows += _problem_rows(ev.greedy if kind == "greedy" else ev.sampled, metric, inner, counterparts, n_boot, seed)
    for metric in sorted(ev.repair):  # accuracy = pass@1 of the first attempt at each program
        rows += _problem_rows(ev.repair[metric], metric, "pass@1", counterparts, n_boot, seed)
    names = sorted({k for by_seed in ev.seed_values.values() for v in by_seed.values() for k in v})
    for metric in names:
        for label in ordered(ev.seed_values):
            by_seed = {s: v[metric] for s, v in ev.seed_values[label].items() if metric in v}
            if not by_seed:
                continue
            rows.append(Row(metric, label, None, seed_estimate([by_seed[s] for s in sorted(by_seed)], n_boot, seed)))
            for other in comparisons(label, counterparts):
                theirs = {s: v[metric] for s, v in ev.seed_values.get(other, {}).items() if metric in v}
                common = sorted(set(by_seed) & set(theirs))
                if common:
                    rows.append(Row(metric, label, other, seed_difference([by_seed[s] for s in common],
                                                                          [theirs[s] for s in common], n_boot, seed)))
    return rows


# ---------------------------------------------------------------- writing

def _is_fraction(metric: str) -> bool:
    return metric.startswith(("pass@", "greedy_pass@", "outcome/", "repair ")) or metric in ("execution_rate",
                                                                                    "mean_tests_passed_fraction")


def _fmt(metric: str, e: Estimate, diff: bool) -> str:
    if _is_fraction(metric):
        unit, scale, sign = (" pp", 100, "+") if diff else ("%", 100, "")
        text = f"{e.mean * scale:{sign}.1f}{unit} [{e.low * scale:{sign}.1f}, {e.high * scale:{sign}.1f}]"
    else:
        sign = "+" if diff else ""
        text = f"{e.mean:{sign}.4g} [{e.low:{sign}.4g}, {e.high:{sign}.4g}]"
    if diff and e.spans_zero:
        text += " (spans 0)"
    return text


def markdown(rows: Sequence[Row], title: str, notes: Sequence[str] = ()) -> str:
    out = [f"# {title}", "", "Mean and 95% interval per method (bootstrap over seeds, and over held-out problems "
           "within each seed, where per-problem values exist), and the paired difference against the base and "
           "against the method's binary counterpart (same seeds, same problems); \"spans 0\": the interval "
           "includes no change.", ""]
    out += [f"- {n}" for n in notes]
    for metric in dict.fromkeys(r.metric for r in rows):
        mine = [r for r in rows if r.metric == metric]
        against = list(dict.fromkeys(r.against for r in mine if r.against))
        source = "seeds only" if not any(r.est.n_problems > r.est.n_seeds for r in mine) else "seeds x problems"
        out += ["", f"## {metric} ({source})", "",
                "| method | seeds | problems | mean [95% CI] | " + " | ".join(f"vs {a}" for a in against) + " |",
                "| --- | --- | --- | --- | " + " | ".join("---" for _ in against) + " |"]
        for label in dict.fromkeys(r.method for r in mine):
            own = next((r for r in mine if r.method == label and r.against is None), None)
            if own is None:
                continue
            cells = [label, str(own.est.n_seeds), str(own.est.n_problems), _fmt(metric, own.est, False)]
            for a in against:
                d = next((r for r in mine if r.method == label and r.against == a), None)
                cells.append(_fmt(metric, d.est, True) if d else "")
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


CSV_COLUMNS = ("metric", "method", "against", "estimate", "mean", "ci_low", "ci_high", "spans_zero", "seeds", "problems")


def csv_rows(rows: Sequence[Row]) -> list[dict[str, Any]]:
    return [{"metric": r.metric, "method": r.method, "against": r.against or "",
             "estimate": "difference" if r.against else "mean", "mean": r.est.mean, "ci_low": r.est.low,
             "ci_high": r.est.high, "spans_zero": r.est.spans_zero if r.against else "",
             "seeds": r.est.n_seeds, "problems": r.est.n_problems} for r in rows]


def write_csv(rows: Sequence[Row], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(csv_rows(rows))


def _slug(metric: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", metric.replace("@", "_at_"))


def plot_metric(rows: Sequence[Row], metric: str, path: Path) -> Path:
    """One metric by method, the bar at the mean, the error bar the interval."""
    from eta.report.plots import _new_figure, _save

    own = [r for r in rows if r.metric == metric and r.against is None]
    fig = _new_figure(max(4.0, 1.1 * len(own) + 2), 3.6)
    ax = fig.add_subplot()
    means = [r.est.mean for r in own]
    err = [[max(m - r.est.low, 0) for m, r in zip(means, own)], [max(r.est.high - m, 0) for m, r in zip(means, own)]]
    ax.bar(range(len(own)), means, yerr=err, capsize=4, color="#4c72b0")
    ax.set_xticks(range(len(own)), [r.method for r in own], rotation=20)
    ax.set_title(f"{metric} (95% CI)")
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, path)


def plot_outcome_stack(rows: Sequence[Row], path: Path) -> Path | None:
    from eta.report.plots import _new_figure, _save

    own = [r for r in rows if r.metric.startswith("outcome/") and r.against is None]
    if not own:
        return None
    methods = list(dict.fromkeys(r.method for r in own))
    outcomes = list(dict.fromkeys(r.metric.split("/", 1)[1] for r in own))
    fig = _new_figure(max(5.0, 1.1 * len(methods) + 3), 4.0)
    ax = fig.add_subplot()
    bottom = np.zeros(len(methods))
    for outcome in outcomes:
        heights = np.array([next((r.est.mean for r in own if r.method == m and r.metric == f"outcome/{outcome}"), 0.0)
                            for m in methods])
        ax.bar(range(len(methods)), heights, bottom=bottom, label=outcome)
        bottom += heights
    ax.set_xticks(range(len(methods)), methods, rotation=20)
    ax.set_ylabel("fraction of samples (mean over seeds)")
    ax.set_title("outcomes of the held-out samples")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    return _save(fig, path)


def plot_rounds_by_method(rounds: Mapping[str, Mapping[int, Mapping[str, Mapping[str, Any]]]], path: Path) -> Path | None:
    """Each round metric (and repair accuracy) against the round, one line per method (the mean over its seeds
    of metrics.json)."""
    from eta.report.plots import _new_figure, _save, round_values

    if not rounds:
        return None
    values = {label: [{int(r): round_values(m) for r, m in per_round.items()} for per_round in by_seed.values()]
              for label, by_seed in rounds.items()}
    names = list(dict.fromkeys(k for runs in values.values() for run in runs for m in run.values() for k in m))
    if not names:
        return None
    fig = _new_figure(3.4 * len(names), 3.4)
    for ax, name in zip(fig.subplots(1, len(names), squeeze=False)[0], names):
        for label in ordered(values):
            by_round: dict[int, list[float]] = {}
            for run in values[label]:
                for r, m in run.items():
                    if name in m:
                        by_round.setdefault(r, []).append(m[name])
            xs = sorted(by_round)
            ax.plot(xs, [np.mean(by_round[x]) for x in xs], marker="o", label=label)
        ax.set_xlabel("round (0 = base)")
        ax.set_title(name)
    fig.axes[0].legend(frameon=False, fontsize=8)
    return _save(fig, path)


def write_plots(rows: Sequence[Row], ev: Evaluations, out_dir: Path) -> dict[str, Path]:
    plots: dict[str, Path] = {}
    for metric in dict.fromkeys(r.metric for r in rows if not r.metric.startswith("outcome/")):
        plots[f"comparison/{metric}"] = plot_metric(rows, metric, out_dir / f"{_slug(metric)}.png")
    if (stacked := plot_outcome_stack(rows, out_dir / "outcomes_by_method.png")) is not None:
        plots["comparison/outcomes"] = stacked
    if (by_round := plot_rounds_by_method(ev.rounds, out_dir / "rounds_by_method.png")) is not None:
        plots["comparison/rounds"] = by_round
    return plots


def log_wandb(sweep_dir: Path, logger: Mapping[str, Any], rows: Sequence[Row], plots: Mapping[str, Path],
              markdown_text: str) -> str | None:
    """A W&B run named ``comparison`` in the jobs' group, holding the table, the plots and the means."""
    import os

    import wandb

    from eta.report.wandb_log import log_to_wandb

    os.environ.setdefault("WANDB_SILENT", "true")
    run_id = "cmp-" + hashlib.sha1(str(sweep_dir.resolve()).encode()).hexdigest()[:12]
    run = wandb.init(project=logger.get("project") or "eta", entity=logger.get("entity"), group=logger.get("group"),
                     mode=str(logger.get("mode") or "offline"), dir=str(sweep_dir), id=run_id, resume="allow",
                     name="comparison", job_type="comparison", tags=list(logger.get("tags") or []) + ["comparison"])
    scalars = {f"comparison/{r.metric}/{r.method}" + (f"/vs_{r.against}" if r.against else ""):
               {"mean": r.est.mean, "ci_low": r.est.low, "ci_high": r.est.high} for r in rows}
    log_to_wandb(run, scalars, images={k: str(v) for k, v in plots.items()},
                 tables={"comparison/table": csv_rows(rows)})
    run.log({"comparison/markdown": wandb.Html(f"<pre>{markdown_text}</pre>")})
    run.finish()
    return run_id


def _settings(jobs: Sequence[Job]) -> dict[str, Any]:
    """``compare:`` of the jobs' config (counterparts, n_boot, seed), else the defaults."""
    for job in jobs:
        if isinstance(job.cfg.get("compare"), Mapping):
            return dict(job.cfg["compare"])
    return {}


def compare(sweep_dir: str | Path, wandb: bool | None = None, n_boot: int | None = None,
            say: Any = print) -> Path:
    """Write the comparison of the sweep in ``sweep_dir``; returns the path of comparison.md."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ConfigError(f"compare: no sweep folder {sweep_dir}")
    jobs, unfinished = find_jobs(sweep_dir)
    if not jobs:
        raise ConfigError(f"compare: no finished job (a folder with .hydra/config.yaml and metrics.json) under {sweep_dir}")
    settings = _settings(jobs)
    counterparts = {**COUNTERPARTS, **dict(settings.get("counterparts") or {})}
    n_boot = int(n_boot or settings.get("n_boot", 2000))
    ev = collect(jobs)
    rows = estimate_all(ev, counterparts, n_boot=n_boot, seed=int(settings.get("seed", 0)))
    seeds = sorted({j.seed for j in jobs})
    notes = [f"{len(jobs)} finished jobs, seeds {seeds}, methods {', '.join(ordered(j.label for j in jobs))}; "
             f"{n_boot} bootstrap replicates"]
    if unfinished:
        notes.append(f"{len(unfinished)} job(s) without metrics.json left out: "
                     + ", ".join(str(p.relative_to(sweep_dir)) for p in unfinished))
    text = markdown(rows, f"Comparison: {sweep_dir.name}", notes)
    (sweep_dir / "comparison.md").write_text(text)
    write_csv(rows, sweep_dir / "comparison.csv")
    plots = write_plots(rows, ev, sweep_dir / "plots")
    logger = next((j.cfg.get("logger") for j in jobs if isinstance(j.cfg.get("logger"), Mapping)), {}) or {}
    if wandb if wandb is not None else str(logger.get("name", "none")) == "wandb":
        run_id = log_wandb(sweep_dir, logger, rows, plots, text)
        say(f"comparison logged to W&B run {run_id} (group {logger.get('group')})")
    say(f"comparison of {len(jobs)} jobs: {sweep_dir / 'comparison.md'}")
    return sweep_dir / "comparison.md"


try:  # the callback is importable wherever Hydra is
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover
    Callback = object  # type: ignore[misc,assignment]


class CompareCallback(Callback):  # type: ignore[misc]
    """Runs :func:`compare` on the sweep folder once every job of a multirun has finished."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            compare(sweep_dir)
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eta.report.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--no-wandb", action="store_true", help="write the files only, no W&B run")
    parser.add_argument("--n-boot", type=int, default=None, help="bootstrap replicates (default 2000)")
    args = parser.parse_args(argv)
    try:
        compare(args.sweep_dir, wandb=False if args.no_wandb else None, n_boot=args.n_boot)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
