"""The comparison's estimates: per metric, each method's mean and 95% interval and its paired differences
against the base and against its binary counterpart (ETA-DPO vs DPO-binary, ETA-RM vs GRPO-binary), from
the per-problem counts that ``eta.report.jobs`` read, by the bootstrap of ``eta.report.bootstrap``. Pure:
no files."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from eta.report.bootstrap import Estimate, estimate, paired_difference, seed_difference, seed_estimate
from eta.report.jobs import BASE, PASS_AT, Evaluations, TaskCounts
from eta.report.power import (Components, Design, components, detectable_difference, families_needed, holm,
                              sampling_variance)
from eta.tasks.families import family_of

COUNTERPARTS = {"ETA-DPO": "DPO-binary", "ETA-RM": "GRPO-binary"}
ORDER = ("base", "SFT", "DPO-binary", "DPO-verdict", "DPO-random", "ETA-DPO", "GRPO-binary", "GRPO-pass_rate",
         "GRPO-divergence", "GRPO-shaped", "RM-no-trace", "ETA-RM", "repair")


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


@dataclass
class Series:
    """Per seed, the (num, den) of each problem and the problems' ids (of ``label``, and of ``other`` on the
    same seeds and problems)."""

    a: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    b: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    problems: list[list[str]] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)

    @property
    def families(self) -> dict[str, str]:
        return {p: family_of(p) for seed in self.problems for p in seed}


def _groups(store: Mapping[str, Mapping[int, Mapping[str, TaskCounts]]], metric: str, label: str,
            other: str | None = None) -> Series:
    """The values of ``label`` (and ``other`` on the same seeds and problems) per seed."""
    mine = store.get(label, {})
    theirs = store.get(other, {}) if other else None
    out = Series()
    for seed in sorted(mine):
        if theirs is not None and seed not in theirs:
            continue
        tasks = sorted(set(mine[seed]) & set(theirs[seed])) if theirs is not None else sorted(mine[seed])
        need = int(m.group(1)) if (m := PASS_AT.match(metric)) else 1  # pass@k needs k usable samples
        tasks = [t for t in tasks if mine[seed][t].n >= need and (theirs is None or theirs[seed][t].n >= need)]
        if not tasks:
            continue
        out.a.append(metric_values(mine[seed], metric, tasks))
        if theirs is not None:
            out.b.append(metric_values(theirs[seed], metric, tasks))
        out.problems.append(tasks)
        out.seeds.append(seed)
    return out


def _greedy_metric(metric: str) -> tuple[str, str]:
    return ("greedy", "pass@1") if metric == "greedy_pass@1" else ("sampled", metric)


def counterparts_of(label: str, counterparts: Mapping[str, str | Sequence[str]]) -> list[str]:
    """The arms ``label`` is compared with (``compare.counterparts``: one label, or a list, first the closest)."""
    found = counterparts.get(label)
    return [] if found is None else [found] if isinstance(found, str) else [str(x) for x in found]


def comparisons(label: str, counterparts: Mapping[str, str | Sequence[str]]) -> list[str]:
    return ([BASE] if label != BASE else []) + counterparts_of(label, counterparts)


def _problem_rows(store: Mapping[str, Mapping[int, Mapping[str, TaskCounts]]], metric: str, inner: str,
                  counterparts: Mapping[str, str | Sequence[str]], n_boot: int, seed: int) -> list[Row]:
    """A per-problem metric's mean per method and its paired differences (the cluster bootstrap over families,
    problems and seeds)."""
    rows: list[Row] = []
    for label in ordered(store):
        own = _groups(store, inner, label)
        if not own.a:
            continue
        rows.append(Row(metric, label, None, estimate(own.a, n_boot, seed, problems=own.problems,
                                                      families=own.families)))
        for other in comparisons(label, counterparts):
            both = _groups(store, inner, label, other)
            if both.a:
                rows.append(Row(metric, label, other, paired_difference(both.a, both.b, n_boot, seed,
                                                                        problems=both.problems,
                                                                        families=both.families)))
    return rows


def _seed_rows(ev: Evaluations, counterparts: Mapping[str, str | Sequence[str]], n_boot: int, seed: int) -> list[Row]:
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


def estimate_all(ev: Evaluations, counterparts: Mapping[str, str | Sequence[str]] = COUNTERPARTS, n_boot: int = 2000,
                 seed: int = 0) -> list[Row]:
    rows: list[Row] = []
    for metric in policy_metrics(ev):
        kind, inner = _greedy_metric(metric)
        rows += _problem_rows(ev.greedy if kind == "greedy" else ev.sampled, metric, inner, counterparts, n_boot, seed)
    for metric in sorted(ev.repair):  # accuracy = pass@1 of the first attempt at each program
        rows += _problem_rows(ev.repair[metric], metric, "pass@1", counterparts, n_boot, seed)
        rows += _control_rows(ev, metric, n_boot, seed)
    return rows + _seed_rows(ev, counterparts, n_boot, seed)


CONTROL = re.compile(r"^repair (?P<set>.+) \((?P<kind>none|scratch)\)$")


def control_label(kind: str) -> str:
    return f"{kind} (same policy)"


def _control_rows(ev: Evaluations, metric: str, n_boot: int, seed: int) -> list[Row]:
    """A feedback's repair accuracy against each control of the same policy on the same programs and seeds
    (``eval.repair.controls``): the gain the feedback itself brings."""
    if CONTROL.match(metric) or not metric.endswith(")"):
        return []
    rows: list[Row] = []
    name = metric.rsplit(" (", 1)[0]
    for kind in ("none", "scratch"):
        control = ev.repair.get(f"{name} ({kind})")
        if control is None:
            continue
        for label in ordered(ev.repair[metric]):
            if label not in control:
                continue
            both = _groups({"feedback": ev.repair[metric][label], "control": control[label]}, "pass@1", "feedback",
                           "control")
            if both.a:
                rows.append(Row(metric, label, control_label(kind), paired_difference(
                    both.a, both.b, n_boot, seed, problems=both.problems, families=both.families)))
    return rows


# ---------------------------------------------------------------- the primary analysis

ENDPOINT = "pass@1"
ALPHA = 0.05
POWER = 0.8
TARGET = 0.10  # the difference the design should detect (issue 26: at most 10 pp); families_needed says how


@dataclass(frozen=True)
class Primary:
    """One primary contrast: its difference with the Holm-adjusted interval, and what the design detects."""

    method: str
    against: str
    est: Estimate  # interval at ``1 - ALPHA * step``, Holm's level for this contrast's rank
    p_holm: float
    step: float  # this contrast's Holm level as a fraction of ALPHA: 1/m for the smallest p, ..., 1
    components: Components | None  # None: no problem that every seed has
    design: Design | None
    detectable: float | None  # at POWER and Holm's strictest level ALPHA/m
    families_for_target: int | None  # families (of this size, at these seeds) to detect TARGET
    m: int  # Holm's m: the contrasts the experiment declares, also those this run has no data for


def crossed(series: Series) -> tuple[np.ndarray, list[str]]:
    """The per-problem differences ``a - b`` as a seeds x problems table over the problems every seed has."""
    common = sorted(set.intersection(*(set(p) for p in series.problems)))
    rows = []
    for (na, da), (nb, db), problems in zip(series.a, series.b, series.problems):
        at = {p: i for i, p in enumerate(problems)}
        idx = [at[p] for p in common]
        per_a = np.divide(na[idx], da[idx], out=np.zeros(len(idx)), where=da[idx] != 0)
        per_b = np.divide(nb[idx], db[idx], out=np.zeros(len(idx)), where=db[idx] != 0)
        rows.append(per_a - per_b)
    return np.array(rows).reshape(len(rows), len(common)), common


def _sampling(store: Mapping[str, Mapping[int, Mapping[str, TaskCounts]]], inner: str, method: str, against: str,
              seeds: Sequence[int], common: Sequence[str]) -> float:
    """The binomial part of a cell's variance for a sampled pass@1 (0 for other metrics, and greedy's one sample)."""
    if inner != "pass@1":
        return 0.0
    cells = [(store[method][s][p], store[against][s][p]) for s in seeds for p in common]
    a, b = [np.array([[c.passed, c.n] for c in side], float).T for side in zip(*cells)]
    return sampling_variance(a[0], a[1], b[0], b[1])


def primary_analysis(ev: Evaluations, contrasts: Mapping[str, str], endpoint: str = ENDPOINT, n_boot: int = 2000,
                     seed: int = 0, alpha: float = ALPHA, power: float = POWER) -> list[Primary]:
    """Holm over every declared contrast (each trace arm minus its no-trace counterpart on the endpoint); the
    power of each from its own measured variance components. A declared contrast this run has no data for
    (its arms run from another experiment file) still counts in m, as a hypothesis not rejected (p = 1):
    the levels are then at least as strict as Holm's over all of them, whatever the missing p-values are."""
    kind, inner = _greedy_metric(endpoint)
    store = ev.greedy if kind == "greedy" else ev.sampled
    found = [(m, o, s) for m, o in contrasts.items() if (s := _groups(store, inner, m, o)).a]
    if not found:
        return []
    first = [paired_difference(s.a, s.b, n_boot, seed, problems=s.problems, families=s.families) for _, _, s in found]
    m = len(contrasts)
    adjusted, steps = holm([e.p_value if e.p_value is not None else 1.0 for e in first] + [1.0] * (m - len(found)))
    out = []
    for (method, against, series), p_holm, step in zip(found, adjusted, steps):
        est = paired_difference(series.a, series.b, n_boot, seed, level=1 - alpha * step, problems=series.problems,
                                families=series.families)
        table, common = crossed(series)
        if not common:
            out.append(Primary(method, against, est, p_holm, step, None, None, None, None, m))
            continue
        fams = [family_of(p) for p in common]
        design = Design(len(set(fams)), len(common) / len(set(fams)), len(series.a))
        comp = components(table, fams, _sampling(store, inner, method, against, series.seeds, common))
        strictest = alpha / m
        out.append(Primary(method, against, est, p_holm, step, comp, design,
                           detectable_difference(comp, design, strictest, power),
                           families_needed(comp, design, TARGET, strictest, power), m))
    return out
