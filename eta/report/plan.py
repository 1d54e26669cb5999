"""The design a comparison needs, from a pilot's measured variances:
``python -m eta.report.plan PILOT_DIR --families 16 --per-family 3 6 9 --seeds 1 2 3 --samples 4 8``.

For each primary contrast of the pilot sweep (its ``compare.primary``), the variance components of the
per-problem differences (eta/report/power.py: families, problems, seeds, the rest, and the binomial part of a
pass rate from the samples drawn) and the smallest difference each candidate design detects at 80% power at
Holm's strictest level, the test ``comparison.md`` makes. Read it on a pilot of the validation families:
the variances, not the differences, carry over to the test families (a planning assumption: say it).

A pilot with one seed cannot measure the seed variance, and counts it as 0: a design with one seed then
looks as if more families alone could shrink its interval without end. ``--seed-sd PP`` puts in the seed SD
of the same contrast measured elsewhere (a pilot with seeds), for pilots with one seed.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from eta.errors import ConfigError
from eta.report.estimates import ALPHA, ENDPOINT, POWER, TARGET, Primary, primary_analysis
from eta.report.jobs import Evaluations
from eta.report.power import Design, detectable_difference


@dataclass(frozen=True)
class Candidate:
    families: int
    per_family: int
    seeds: int
    samples: int

    @property
    def evaluated(self) -> int:
        """Samples each arm draws on the held-out problems: what an evaluation costs."""
        return self.families * self.per_family * self.seeds * self.samples


def measured_samples(ev: Evaluations, p: Primary) -> float:
    """The mean samples per (seed, problem) of the contrast's two arms in the pilot."""
    ns = [c.n for arm in (p.method, p.against) for seed in ev.sampled.get(arm, {}).values() for c in seed.values()]
    return float(np.mean(ns)) if ns else 1.0


def detectable(p: Primary, samples_measured: float, c: Candidate) -> float:
    """At Holm's strictest level over the declared contrasts (``p.m``), also those the pilot has no data for."""
    assert p.components is not None
    design = Design(c.families, c.per_family, c.seeds, sample_scale=samples_measured / c.samples)
    return detectable_difference(p.components, design, ALPHA / p.m, POWER)


def with_seed_sd(primary: Sequence[Primary], seed_sd: float | None) -> list[Primary]:
    """The contrasts, with the seed variance ``seed_sd`` (pp) put in where the pilot had one seed."""
    if seed_sd is None:
        return list(primary)
    if seed_sd < 0:
        raise ConfigError(f"plan: --seed-sd is a standard deviation in pp, got {seed_sd}")
    return [replace(p, components=replace(p.components, seed=(seed_sd / 100) ** 2))
            if p.components is not None and p.design is not None and p.design.n_seeds == 1 else p for p in primary]


def table(ev: Evaluations, primary: Sequence[Primary], grid: Sequence[Candidate]) -> list[str]:
    out = []
    usable = [p for p in primary if p.components is not None]
    if not usable:
        raise ConfigError("plan: no primary contrast with data in the pilot")
    samples = {p.method: measured_samples(ev, p) for p in usable}
    out += ["| contrast | pilot: seeds x problems (families), samples | SD family / problem / seed / rest / "
            "sampling (pp) | detectable in the pilot |", "| --- | --- | --- | --- |"]
    for p in usable:
        c, x = p.components, p.design
        sds = " / ".join(f"{v ** 0.5 * 100:.1f}" for v in (c.family, c.problem, c.seed, c.residual, c.sampling))
        out.append(f"| {p.method} vs {p.against} | {x.n_seeds} x {x.n_problems:.0f} ({x.n_families}), "
                   f"{samples[p.method]:.1f} | {sds} | {p.detectable * 100:.1f} pp |")
    out += ["", "| families x problems each, seeds, samples | samples per arm | "
            + " | ".join(f"{p.method} vs {p.against}" for p in usable) + " |",
            "| --- | --- |" + " --- |" * len(usable)]
    for c in grid:
        cells = [detectable(p, samples[p.method], c) for p in usable]
        mark = lambda d: f"**{d * 100:.1f}**" if d <= TARGET else f"{d * 100:.1f}"  # noqa: E731
        out.append(f"| {c.families} x {c.per_family}, {c.seeds}, {c.samples} | {c.evaluated} | "
                   + " | ".join(mark(d) for d in cells) + " |")
    out += ["", f"Detectable difference in pp at {POWER:.0%} power, Holm's strictest level "
            f"({ALPHA}/{usable[0].m}, the design's {usable[0].m} contrasts); "
            f"bold: at most {TARGET * 100:.0f} pp."]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eta.report.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("pilot", type=Path, help="a finished comparison sweep (the pilot)")
    parser.add_argument("--families", type=int, nargs="+", default=[16])
    parser.add_argument("--per-family", type=int, nargs="+", default=[3, 6, 9])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--samples", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--seed-sd", type=float, default=None, metavar="PP",
                        help="the contrast's seed SD in pp, measured elsewhere, for a pilot with one seed")
    args = parser.parse_args(argv)
    from eta.report.compare import primary_settings

    try:
        ev, contrasts, endpoint = primary_settings(args.pilot)
        primary = with_seed_sd(primary_analysis(ev, contrasts, endpoint, n_boot=400), args.seed_sd)
        grid = [Candidate(*c) for c in itertools.product(args.families, args.per_family, args.seeds, args.samples)]
        print("\n".join(table(ev, primary, grid)))
        if args.seed_sd is not None:
            print(f"Seed SD {args.seed_sd:g} pp (--seed-sd) for the contrasts whose pilot has one seed.")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
