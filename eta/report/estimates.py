"""The comparison's estimates: per metric, each method's mean and 95% interval and its paired differences
against the base and against its binary counterpart (ETA-DPO vs DPO-binary, ETA-RM vs GRPO-binary), from
the per-problem counts that ``eta.report.jobs`` read, by the bootstrap of ``eta.report.bootstrap``. Pure:
no files."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from eta.report.bootstrap import Estimate, estimate, paired_difference, seed_difference, seed_estimate
from eta.report.jobs import BASE, PASS_AT, Evaluations, TaskCounts

COUNTERPARTS = {"ETA-DPO": "DPO-binary", "ETA-RM": "GRPO-binary"}
ORDER = ("base", "SFT", "DPO-binary", "ETA-DPO", "GRPO-binary", "GRPO-shaped", "ETA-RM", "repair")


def metric_values(counts: Mapping[str, TaskCounts], metric: str, tasks: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(numerator, denominator) per problem of ``tasks`` for a metric of ``sampled`` evaluations:
    ``pass@k``, ``execution_rate``, ``mean_tests_passed_fraction``, ``reward/shaped`` or ``outcome/<name>``."""
    from eta.metrics import pass_at_k

    rows = [counts[t] for t in tasks]
    if m := PASS_AT.match(metric):
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
        need = int(m.group(1)) if (m := PASS_AT.match(metric)) else 1  # pass@k needs k usable samples
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


def _seed_rows(ev: Evaluations, counterparts: Mapping[str, str], n_boot: int, seed: int) -> list[Row]:
    """What the methods report about themselves, once per seed: the bootstrap over seeds alone."""
    rows: list[Row] = []
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


def estimate_all(ev: Evaluations, counterparts: Mapping[str, str] = COUNTERPARTS, n_boot: int = 2000,
                 seed: int = 0) -> list[Row]:
    rows: list[Row] = []
    for metric in policy_metrics(ev):
        kind, inner = _greedy_metric(metric)
        rows += _problem_rows(ev.greedy if kind == "greedy" else ev.sampled, metric, inner, counterparts, n_boot, seed)
    for metric in sorted(ev.repair):  # accuracy = pass@1 of the first attempt at each program
        rows += _problem_rows(ev.repair[metric], metric, "pass@1", counterparts, n_boot, seed)
    return rows + _seed_rows(ev, counterparts, n_boot, seed)
