"""Coverage and power of the comparison's cluster bootstrap over designs and variance mixes, on simulated
data with known truth (the default suite checks one design in tests/test_statistics.py).

    python experiments/bench_coverage.py              # 1000 data sets per row, 1000 replicates each
    python experiments/bench_coverage.py --sims 200   # quicker

Per row: the design (families x problems per family x seeds), the true standard deviations of the
per-problem difference (family, problem, seed, residual), the coverage of the nominal 95% interval at
difference 0, its mean width over the width a 95% interval with the true standard error would have, and the
detection rate at the difference ``eta.report.power.detectable_difference`` states for 80% power. Two data
kinds: gaussian differences, and (coverage only) pass@1 of 8 samples per problem drawn from a logistic model
of two arms whose difference has family, problem and seed effects (the truth there is the population
difference, computed by a large draw).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eta.report.bootstrap import interval, replicates  # noqa: E402
from eta.report.power import Components, Design, detectable_difference, true_variance  # noqa: E402

DESIGNS = [  # (families, per family, seeds), (sd family, problem, seed, residual)
    ((8, 3, 3), (0.12, 0.05, 0.03, 0.10)),
    ((8, 3, 3), (0.10, 0.10, 0.03, 0.20)),
    ((8, 3, 2), (0.10, 0.10, 0.05, 0.20)),
    ((8, 3, 3), (0.05, 0.05, 0.10, 0.10)),  # seed-dominated: with 3 seeds the interval is short
    ((12, 2, 3), (0.10, 0.05, 0.03, 0.15)),
    ((20, 3, 3), (0.10, 0.10, 0.03, 0.20)),
    ((30, 4, 5), (0.08, 0.05, 0.02, 0.15)),
]


def gaussian(rng: np.random.Generator, x: Design, sd: tuple[float, ...], delta: float) -> np.ndarray:
    f, m, s = x.n_families, int(x.per_family), x.n_seeds
    return (delta + np.repeat(rng.normal(0, sd[0], f), m)[None, :] + rng.normal(0, sd[1], f * m)[None, :]
            + rng.normal(0, sd[2], s)[:, None] + rng.normal(0, sd[3], (s, f * m)))


def pass_at_1(rng: np.random.Generator, x: Design, sd: tuple[float, ...], lift: float, n: int = 8) -> np.ndarray:
    """Two arms' pass@1 from n samples per problem; arm B is arm A plus ``lift`` on the logit scale, with
    family, problem and seed effects on that lift."""
    f, m, s = x.n_families, int(x.per_family), x.n_seeds
    base = np.repeat(rng.normal(-0.5, 1.0, f), m) + rng.normal(0, 0.7, f * m)  # problem difficulty (logit)
    effect = (lift + 4 * np.repeat(rng.normal(0, sd[0], f), m)[None, :] + 4 * rng.normal(0, sd[1], f * m)[None, :]
              + 4 * rng.normal(0, sd[2], s)[:, None])
    p_a = 1 / (1 + np.exp(-base))[None, :].repeat(s, 0)
    p_b = 1 / (1 + np.exp(-(base[None, :] + effect)))
    return rng.binomial(n, p_b) / n - rng.binomial(n, p_a) / n


def truth_of_pass_at_1(x: Design, sd: tuple[float, ...], lift: float) -> float:
    rng = np.random.default_rng(12345)
    big = Design(4000, 1, 50)
    return float(np.mean([pass_at_1(rng, big, sd, lift).mean() for _ in range(4)]))


def run(x: Design, sd: tuple[float, ...], sims: int, n_boot: int, kind: str) -> tuple[float, float, float, float]:
    ids = [f"S/f{f}/{i}" for f in range(x.n_families) for i in range(int(x.per_family))]
    families = {i: i.rsplit("/", 1)[0] for i in ids}
    c = Components(*(v ** 2 for v in sd))
    delta = detectable_difference(c, x)
    rng = np.random.default_rng(0)
    covered, detected, widths = 0, 0, []
    truth = truth_of_pass_at_1(x, sd, 0.0) if kind == "pass@1" else 0.0
    for k in range(sims):
        for shift, counts in ((0.0, True), (delta, False))[: 2 if kind == "gaussian" else 1]:
            d = gaussian(rng, x, sd, shift) if kind == "gaussian" else pass_at_1(rng, x, sd, shift * 4)
            groups = [(row[:, None], np.ones((len(row), 1))) for row in d]
            reps = replicates(groups, n_boot, k, [ids] * x.n_seeds, families)[:, 0]
            low, high = interval(reps, 0.95, float(d.mean()), x.n_families)
            if counts:
                covered += low <= truth <= high
                widths.append(high - low)
            else:
                detected += low > 0
    width = float(np.mean(widths) / (2 * 1.96 * np.sqrt(true_variance(c, x))))
    return covered / sims, width, detected / sims, delta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args()
    start = time.time()
    print("| data | families x problems x seeds | SD family/problem/seed/rest | coverage | width / true | "
          "detectable (pp) | detected |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for kind in ("gaussian", "pass@1"):
        for (f, m, s), sd in DESIGNS:
            x = Design(f, m, s)
            cov, width, det, delta = run(x, sd, args.sims, args.n_boot, kind)
            width_text = f"{width:.2f}" if kind == "gaussian" else "n/a"
            detect_text = f"{det:.3f}" if kind == "gaussian" else "n/a"
            delta_text = f"{delta * 100:.1f}" if kind == "gaussian" else "n/a"
            print(f"| {kind} | {f} x {m} x {s} | {'/'.join(f'{v:g}' for v in sd)} | {cov:.3f} | {width_text} | "
                  f"{delta_text} | {detect_text} |", flush=True)
    print(f"{args.sims} data sets per row, {args.n_boot} replicates, {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
