"""The comparison's statistics on simulated data with known truth: the cluster bootstrap's coverage when
problems come in families and seeds are crossed with problems, the power statement's detection rate at the
difference it states, the variance components, Holm, and the t quantiles the widening uses (the primary
analysis in comparison.md: tests/test_compare.py)."""

from __future__ import annotations

import numpy as np
import pytest

from eta.report import bootstrap
from eta.report.power import Components, Design, components, detectable_difference, holm, true_variance

# a held-out design like the comparison's: 8 families of 3 problems, 3 seeds; the per-problem difference of
# two arms varies most between families (problems in a family differ only in constants and names)
DESIGN = Design(n_families=8, per_family=3, n_seeds=3)
TRUTH = Components(family=0.12 ** 2, problem=0.05 ** 2, seed=0.03 ** 2, residual=0.10 ** 2)


def simulate(rng: np.random.Generator, c: Components, x: Design, delta: float) -> np.ndarray:
    """One data set of per-problem differences, seeds x problems (problems grouped by family)."""
    f, m, s = x.n_families, int(x.per_family), x.n_seeds
    return (delta + np.repeat(rng.normal(0, c.family ** 0.5, f), m)[None, :]
            + rng.normal(0, c.problem ** 0.5, f * m)[None, :] + rng.normal(0, c.seed ** 0.5, s)[:, None]
            + rng.normal(0, c.residual ** 0.5, (s, f * m)))


def ids_of(x: Design) -> tuple[list[str], dict[str, str]]:
    ids = [f"Synthetic/f{f}/{i}" for f in range(x.n_families) for i in range(int(x.per_family))]
    return ids, {i: i.rsplit("/", 1)[0] for i in ids}


def intervals(rng: np.random.Generator, x: Design, delta: float, n_sims: int, n_boot: int, level: float = 0.95,
              clustered: bool = True) -> np.ndarray:
    """(low, high) of the bootstrap interval of the mean difference for ``n_sims`` simulated data sets."""
    ids, families = ids_of(x)
    out = []
    for k in range(n_sims):
        d = simulate(rng, TRUTH, x, delta)
        groups = [(row[:, None], np.ones((len(row), 1))) for row in d]
        if clustered:
            reps = bootstrap.replicates(groups, n_boot, k, [ids] * x.n_seeds, families)[:, 0]
            out.append(bootstrap.interval(reps, level, float(d.mean()), x.n_families))
        else:  # what eta did before: problems independent and nested in seeds
            reps = np.array([np.mean([row[rng.integers(0, len(row), len(row))].mean()
                                      for row in d[rng.integers(0, len(d), len(d))]]) for _ in range(n_boot)])
            out.append(bootstrap.interval(reps, level))
    return np.array(out)


def test_cluster_bootstrap_covers_the_truth_with_family_effects_and_the_old_one_does_not():
    rng = np.random.default_rng(0)
    cis = intervals(rng, DESIGN, 0.0, n_sims=400, n_boot=400)
    coverage = np.mean((cis[:, 0] <= 0) & (0 <= cis[:, 1]))
    assert coverage >= 0.93, coverage
    old = intervals(rng, DESIGN, 0.0, n_sims=60, n_boot=200, clustered=False)
    assert np.mean((old[:, 0] <= 0) & (0 <= old[:, 1])) < 0.85  # the test can fail: the nested bootstrap does


def test_detection_rate_at_the_stated_difference_is_about_the_stated_power():
    delta = detectable_difference(TRUTH, DESIGN, alpha=0.05, power=0.8)
    assert 0.05 < delta < 0.5
    cis = intervals(np.random.default_rng(1), DESIGN, delta, n_sims=400, n_boot=400)
    detected = np.mean(cis[:, 0] > 0)
    assert 0.72 <= detected <= 0.88, (delta, detected)
    # and half of it is detected far less often: the statement is about this difference, not any
    half = intervals(np.random.default_rng(2), DESIGN, delta / 2, n_sims=150, n_boot=300)
    assert np.mean(half[:, 0] > 0) < 0.5


def test_variance_components_recover_the_truth_on_a_large_design():
    x = Design(n_families=60, per_family=4, n_seeds=8)
    c = Components(family=0.04, problem=0.01, seed=0.02, residual=0.03)
    rng = np.random.default_rng(3)
    got = [components(simulate(rng, c, x, 0.1), [f"f{f}" for f in range(60) for _ in range(4)]) for _ in range(20)]
    for name in ("family", "problem", "seed", "residual"):
        mean = np.mean([getattr(g, name) for g in got])
        assert mean == pytest.approx(getattr(c, name), rel=0.25), name
    # more families, problems or seeds never make the mean's variance larger
    base = true_variance(c, x)
    assert true_variance(c, Design(120, 4, 8)) < base and true_variance(c, Design(60, 4, 16)) < base


def test_one_seed_puts_seed_and_residual_variance_into_the_problems():
    rng = np.random.default_rng(4)
    d = simulate(rng, TRUTH, Design(8, 3, 1), 0.0)
    c = components(d, [f"f{f}" for f in range(8) for _ in range(3)])
    assert c.seed == 0.0 and c.residual == 0.0 and c.family >= 0 and c.problem >= 0


def test_holm_adjusts_step_down():
    adjusted, steps = holm([0.01, 0.04, 0.03])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06]) and steps == pytest.approx([1 / 3, 1, 1 / 2])
    assert holm([0.2]) == ([0.2], [1.0])


@pytest.mark.parametrize("q,df,table", [(0.975, 1, 12.7062), (0.975, 2, 4.3027), (0.975, 3, 3.1824),
                                        (0.975, 7, 2.3646), (0.975, 23, 2.0687), (0.8, 7, 0.8960),
                                        (0.99, 5, 3.3649), (0.9975, 10, 3.5814)])
def test_t_quantile_matches_the_tables(q, df, table):
    assert bootstrap.t_quantile(q, df) == pytest.approx(table, rel=0.01)


def test_p_value_agrees_with_the_interval():
    rng = np.random.default_rng(5)
    diffs = rng.normal(0.05, 0.03, 4000)
    p = bootstrap.p_value(diffs, 0.05, n_clusters=8)
    assert 0 < p < 0.2
    low, _ = bootstrap.interval(diffs, 1 - p * 1.05, 0.05, 8)  # a little less confident: excludes 0
    assert low > 0
    low, _ = bootstrap.interval(diffs, 1 - p * 0.95, 0.05, 8)
    assert low <= 0
    assert bootstrap.p_value(np.zeros(10), 0.0) == 1.0


def test_crossed_seeds_share_the_problem_draws():
    """Seeds crossed with problems: a problem hard in every seed moves every drawn seed together, so a
    seed-constant shift of problems gives the same spread whatever the number of seeds."""
    values = np.linspace(0, 1, 12)
    spreads = []
    for n_seeds in (1, 4):
        groups = [(values[:, None], np.ones((12, 1)))] * n_seeds
        spreads.append(np.std(bootstrap.replicates(groups, 2000, 0)[:, 0]))
    assert spreads[1] == pytest.approx(spreads[0], rel=0.1)  # nested seeds would shrink it by half


def test_a_widened_interval_stays_within_what_the_replicates_reach():
    # one problem of six solved, each its own family: widened around 1/6, the low end would fall below 0
    passes = np.array([1.0, 0, 0, 0, 0, 0])
    est = bootstrap.estimate([(passes, np.ones(6))], n_boot=2000, seed=0)
    assert est.low == 0.0 and est.mean == pytest.approx(1 / 6) and est.high <= 1.0
    assert bootstrap.widening(6, 0.95) > 1.2  # it was widened: the clip did the work


def test_the_binomial_part_is_recovered_and_more_samples_shrink_only_it():
    """Pass rates from n samples of per-problem true rates: the sampling component matches the true mean
    binomial variance, what is left of the problem variance matches the spread of the true differences, and the
    variance predicted for a design with 4x the samples is the variance observed when drawing 4x the samples."""
    from eta.report.power import sampling_variance

    rng = np.random.default_rng(5)
    f, m = 40, 4
    fams = [f"f{i}" for i in range(f) for _ in range(m)]
    true_a = np.clip(np.repeat(rng.uniform(0.1, 0.9, f), m) + rng.normal(0, 0.05, f * m), 0.02, 0.98)
    true_b = np.clip(true_a + rng.normal(0, 0.08, f * m), 0.02, 0.98)
    true_d = true_a - true_b

    def draw(n: int) -> tuple[np.ndarray, float]:
        ka, kb = rng.binomial(n, true_a), rng.binomial(n, true_b)
        full = np.full(f * m, n)
        return (ka / n - kb / n)[None, :], sampling_variance(ka, full, kb, full)

    d, v = draw(4)
    expected_v = float(np.mean(true_a * (1 - true_a) / 4 + true_b * (1 - true_b) / 4))
    assert v == pytest.approx(expected_v, rel=0.2)
    c = components(d, fams, v)
    assert c.sampling == v and c.residual == 0.0
    spread = components(true_d[None, :], fams)  # the problems' own differences, without sampling
    assert c.family + c.problem == pytest.approx(spread.family + spread.problem, abs=0.01)
    # the variance of the mean difference at 16 samples: predicted from the 4-sample components ...
    x16 = Design(f, m, 1, sample_scale=4 / 16)
    predicted = true_variance(c, x16) - (c.family / f + c.problem / (f * m))  # the sampling part of it
    observed = np.var([draw(16)[0].mean() for _ in range(400)])  # true differences fixed: sampling alone
    assert observed == pytest.approx(predicted, rel=0.3)
    assert detectable_difference(c, x16) < detectable_difference(c, Design(f, m, 1))
