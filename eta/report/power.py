"""What a comparison's design can detect, and the correction for its several primary contrasts. Pure.

A paired difference ``d[s, p]`` (seed ``s``, problem ``p``; problems in families) is modelled as
``delta + family + problem + seed + residual``, four independent variance components, estimated from the
data by the method of moments of the crossed ANOVA (seeds crossed with problems nested in families), each
truncated at 0. From them, for a design of ``F`` families of ``m`` problems and ``S`` seeds:

* the true standard error of the mean difference, ``sqrt(f/F + q/(F m) + s/S + r/(S F m))``;
* the spread of ``eta.report.bootstrap``'s replicates, which counts the within-family and residual variance
  more than once and the seed and family variance (S-1)/S and (F-1)/F times (derived in
  :func:`bootstrap_variance`), widened as ``bootstrap.widening`` does;
* the smallest difference detected with probability ``power`` by the test the comparison makes (the
  interval excludes 0): the interval's half-width plus ``z(power)`` true standard errors.

Part of the residual is known without a model: a per-problem pass rate from ``n`` samples has the binomial
variance ``p(1-p)/n``, estimated without bias by ``p^(1-p^)/(n-1)``. Given it (``sampling``), the rest of the
residual is what training and seeds add, and a design with other samples per problem scales the sampling
part alone (``Design.sample_scale``: the measured samples over the design's): how many samples to draw is a
choice like how many problems.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from eta.report.bootstrap import t_quantile, widening


@dataclass(frozen=True)
class Components:
    """Variances of the paired difference: between families, problems within a family, seeds, and the rest
    (seed-by-problem: training noise and sampling noise of the per-problem value)."""

    family: float
    problem: float
    seed: float
    residual: float  # beyond the sampling variance below
    sampling: float = 0.0  # the binomial variance of a cell's difference at the measured samples per problem


@dataclass(frozen=True)
class Design:
    n_families: int
    per_family: float  # problems per family
    n_seeds: int
    sample_scale: float = 1.0  # the measured samples per problem over this design's (2.0: twice the samples)

    @property
    def n_problems(self) -> float:
        return self.n_families * self.per_family


def components(d: np.ndarray, families: Sequence[str], sampling: float = 0.0) -> Components:
    """The variance components of ``d`` (seeds x problems, every seed on every problem); ``families``: the
    family of each column; ``sampling``: the mean binomial variance of a cell (:func:`sampling_variance`),
    taken out of the residual (with one seed, out of the problem variance, which then holds the rest of
    the residual: the seed and residual variances cannot be told from the problem's)."""
    d = np.asarray(d, dtype=float)
    c = _anova(d, families)
    if d.shape[0] > 1:
        return Components(c.family, c.problem, c.seed, max(0.0, c.residual - sampling), sampling)
    return Components(c.family, max(0.0, c.problem - sampling), c.seed, 0.0, sampling)


def sampling_variance(passed_a: np.ndarray, n_a: np.ndarray, passed_b: np.ndarray, n_b: np.ndarray) -> float:
    """The mean over cells of the unbiased binomial variance of ``passed_a/n_a - passed_b/n_b`` (two
    independent sets of samples); cells with a single sample give no estimate and are left out."""
    def one(k: np.ndarray, n: np.ndarray) -> np.ndarray:
        k, n = np.asarray(k, float), np.asarray(n, float)
        p = np.divide(k, n, out=np.zeros_like(k), where=n > 0)
        return np.divide(p * (1 - p), n - 1, out=np.full_like(k, np.nan), where=n > 1)

    v = one(passed_a, n_a) + one(passed_b, n_b)
    return float(np.nanmean(v)) if np.isfinite(v).any() else 0.0


def _anova(d: np.ndarray, families: Sequence[str]) -> Components:
    n_seeds, n_prob = d.shape
    if len(families) != n_prob:
        raise ValueError(f"components: {len(families)} families for {n_prob} problems")
    names = sorted(set(families))
    member = np.array([names.index(f) for f in families])
    sizes = np.bincount(member, minlength=len(names)).astype(float)
    n_fam = len(names)
    grand, by_seed, by_prob = d.mean(), d.mean(axis=1), d.mean(axis=0)
    by_fam = np.bincount(member, weights=by_prob, minlength=n_fam) / sizes
    ms_r = 0.0
    if n_seeds > 1 and n_prob > 1:
        ms_r = float(((d - by_seed[:, None] - by_prob[None, :] + grand) ** 2).sum() / ((n_seeds - 1) * (n_prob - 1)))
    seed = 0.0
    if n_seeds > 1:
        seed = max(0.0, (n_prob * float(((by_seed - grand) ** 2).sum()) / (n_seeds - 1) - ms_r) / n_prob)
    ms_q = n_seeds * float(((by_prob - by_fam[member]) ** 2).sum()) / (n_prob - n_fam) if n_prob > n_fam else ms_r
    problem = max(0.0, (ms_q - ms_r) / n_seeds) if n_prob > n_fam else 0.0
    family = 0.0
    if n_fam > 1:
        ms_f = n_seeds * float((sizes * (by_fam - grand) ** 2).sum()) / (n_fam - 1)
        n0 = (n_prob - float((sizes ** 2).sum()) / n_prob) / (n_fam - 1)
        family = max(0.0, (ms_f - ms_q) / (n_seeds * n0))
    return Components(family, problem, seed, ms_r)


def _cell(c: Components, x: Design) -> float:
    """The variance of one (seed, problem) cell beyond its problem's and seed's, at the design's samples."""
    return c.residual + c.sampling * x.sample_scale


def true_variance(c: Components, x: Design) -> float:
    """The variance of the mean difference over the design's seeds and problems (equal weights)."""
    return (c.family / x.n_families + c.problem / x.n_problems + c.seed / x.n_seeds
            + _cell(c, x) / (x.n_seeds * x.n_problems))


def bootstrap_variance(c: Components, x: Design) -> float:
    """The expected variance of the bootstrap's replicates (before widening): the observed table split into
    seed, family, within-family and doubly centred residual parts, each resampled on its own."""
    f, m, s, p = x.n_families, x.per_family, x.n_seeds, x.n_problems
    r = _cell(c, x)
    seed_part = (s - 1) / s ** 2 * (c.seed + r / p)
    family_part = (f - 1) / f ** 2 * (c.family + c.problem / m + r / (s * m))
    within_part = (m - 1) / (f * m ** 2) * (c.problem + r / s) if m > 1 else 0.0
    residual_part = (s - 1) * (p - 1) / (s * p) ** 2 * r
    # two problems of one drawn family share a drawn seed's family-mean residual (a seed-by-family term)
    seed_family_part = (s - 1) / s * (m - 1) / (s * f * m ** 2) * r
    return seed_part + family_part + within_part + residual_part + seed_family_part


def detectable_difference(c: Components, x: Design, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true difference that the bootstrap interval at level ``1 - alpha`` excludes 0 for with
    probability ``power``: its half-width plus ``t(power, F-1)`` true standard errors."""
    z = NormalDist().inv_cdf(1 - alpha / 2)
    half_width = z * widening(x.n_families, 1 - alpha) * math.sqrt(bootstrap_variance(c, x))
    # the half-width is itself estimated from F families, as a t-test's is: t(F-1), not z, for the power
    z_power = t_quantile(power, x.n_families - 1) if x.n_families > 1 else NormalDist().inv_cdf(power)
    return half_width + z_power * math.sqrt(true_variance(c, x))


def families_needed(c: Components, x: Design, target: float, alpha: float = 0.05, power: float = 0.8,
                    most: int = 10_000) -> int | None:
    """The fewest families (of the design's size, at its seeds) at which ``target`` is detectable; None past
    ``most``."""
    n = 2
    while n <= most:
        if detectable_difference(c, Design(n, x.per_family, x.n_seeds, x.sample_scale), alpha, power) <= target:
            return n
        n = n + 1 if n < 64 else int(n * 1.25)
    return None


def holm(p_values: Sequence[float]) -> tuple[list[float], list[float]]:
    """Holm's step-down correction: the adjusted p-value of each hypothesis and the level of its step
    (``alpha / (m - rank)`` as a fraction of alpha, rank 0 the smallest p)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, steps = [0.0] * m, [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
        steps[i] = 1.0 / (m - rank)
    return adjusted, steps

