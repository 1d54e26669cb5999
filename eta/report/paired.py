"""The paired interval of each before/after difference of one run: base and trained policy on the same
held-out problems, a bootstrap over their families and the problems within them (``eta.report.bootstrap``,
one seed), from the per-problem evaluation files (``eval/<policy>/{sampled,greedy}_executions.jsonl``). The point estimate is
the difference of the numbers in ``metrics.json``; the interval says whether the run's problems could
give that difference by chance of which problems were drawn (not by chance of the samples alone)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eta.report.bootstrap import Estimate, paired_difference
from eta.report.table import row_label

def trained_eval_dir(run_dir: Path, metrics: Mapping[str, Any]) -> Path:
    rounds = metrics.get("rounds") or {}
    if len(rounds) > 1:
        return run_dir / f"round_{max(rounds, key=int)}" / "eval" / "trained"
    return run_dir / "eval" / "trained"


def paired_intervals(base_dir: Path, trained_dir: Path, ks: list[int], n_boot: int = 2000,
                     seed: int = 0) -> dict[str, Estimate]:
    """trained - base per metric (pass@k, greedy_pass@1, rates, outcome/<name>) with its 95% interval."""
    from eta.report.estimates import metric_values
    from eta.report.jobs import read_counts
    from eta.tasks.families import family_of

    out: dict[str, Estimate] = {}
    for kind in ("sampled", "greedy"):
        base = read_counts(base_dir / f"{kind}_executions.jsonl")
        trained = read_counts(trained_dir / f"{kind}_executions.jsonl")
        if not base or not trained:
            continue
        if kind == "greedy":
            metrics = {"greedy_pass@1": "pass@1"}
        else:
            outcomes = sorted({o for c in (*base.values(), *trained.values()) for o in c.outcomes})
            names = [f"pass@{k}" for k in ks] + ["execution_rate", "mean_tests_passed_fraction"]
            metrics = {m: m for m in names + [f"outcome/{o}" for o in outcomes]}
        for name, inner in metrics.items():
            need = int(inner.split("@")[1]) if inner.startswith("pass@") else 1
            tasks = sorted(t for t in set(base) & set(trained) if base[t].n >= need and trained[t].n >= need)
            if not tasks:
                continue
            est = paired_difference([metric_values(trained, inner, tasks)], [metric_values(base, inner, tasks)],
                                    n_boot, seed, problems=[tasks], families={t: family_of(t) for t in tasks})
            out[name] = est
    return out


def table_intervals(estimates: Mapping[str, Estimate]) -> dict[str, Estimate]:
    """The estimates keyed by the table's row labels."""
    return {row_label(k): v for k, v in estimates.items()}
