"""make run's before/after table: each change with its paired 95% interval (bootstrap over the held-out
problems, base and trained on the same problems), checked against an independent computation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from eta.metrics import summarize
from eta.report import format_table
from eta.report.paired import paired_intervals, table_intervals

N = 4  # samples per problem
BASE = {"p0": 0, "p1": 1, "p2": 0, "p3": 2, "p4": 0, "p5": 1, "p6": 0}  # passing samples of N
TRAINED = {"p0": 1, "p1": 1, "p2": 0, "p3": 3, "p4": 1, "p5": 1, "p6": 0}
MIXED = {"p0": 1, "p1": 0, "p2": 0, "p3": 3, "p4": 0, "p5": 1, "p6": 0}  # one better, one worse, one better
SOLVED = {t: N for t in BASE}


def records(passes: dict[str, int], n: int = N) -> list[dict]:
    out = []
    for t, c in passes.items():
        for i in range(n):
            ok = i < c
            out.append({"task_id": t, "sample_id": i, "completion": "x", "passed": ok,
                        "outcome": "passed" if ok else "runtime_error", "tests_passed": int(ok), "tests_total": 1,
                        "error_type": None if ok else "ValueError", "steps": 1})
    return out


def write(eval_dir: Path, passes: dict[str, int]) -> list[dict]:
    eval_dir.mkdir(parents=True)
    sampled = records(passes)
    greedy = records({t: int(c >= 2) for t, c in passes.items()}, n=1)
    for kind, rows in (("sampled", sampled), ("greedy", greedy)):
        (eval_dir / f"{kind}_executions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return sampled


def naive_interval(diffs: list[float], n_boot: int, seed: int) -> tuple[float, float]:
    """The documented draws written out for one seed of problems that are each their own family: per replicate
    the families (here: the problems), one problem within each, then the (single) seed; the mean over the
    drawn problems; numpy's linear percentile by hand, widened around the mean for few families."""
    from eta.report.bootstrap import widening

    rng = np.random.default_rng(seed)
    fams = rng.integers(0, len(diffs), (n_boot, len(diffs)))
    rng.random((n_boot, len(diffs), 1))  # the draw within each family: a family of one problem has one choice
    rng.integers(0, 1, (n_boot, 1))
    reps = [sum(diffs[i] for i in row) / len(row) for row in fams]
    xs = sorted(reps)

    def pct(q):
        pos = q / 100 * (len(xs) - 1)
        lo, hi = math.floor(pos), math.ceil(pos)
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

    center, scale = sum(diffs) / len(diffs), widening(len(diffs), 0.95)
    return max(center - scale * (center - pct(2.5)), xs[0]), min(center + scale * (pct(97.5) - center), xs[-1])


def test_pass_at_1_change_and_interval_match_an_independent_bootstrap(tmp_path):
    write(tmp_path / "base", BASE)
    write(tmp_path / "trained", TRAINED)
    est = paired_intervals(tmp_path / "base", tmp_path / "trained", ks=[1], n_boot=1000, seed=3)
    diffs = [(TRAINED[t] - BASE[t]) / N for t in sorted(BASE)]
    assert est["pass@1"].mean == pytest.approx(sum(diffs) / len(diffs))
    assert (est["pass@1"].low, est["pass@1"].high) == pytest.approx(naive_interval(diffs, 1000, 3))
    assert est["pass@1"].n_problems == 7
    # the point estimate is the difference of the numbers metrics.json holds
    s_base, s_trained = summarize(records(BASE), ks=[1]), summarize(records(TRAINED), ks=[1])
    assert est["pass@1"].mean == pytest.approx(s_trained["pass@1"] - s_base["pass@1"])
    assert est["outcome/runtime_error"].mean == pytest.approx(-est["pass@1"].mean)
    # greedy pass@1 from the greedy files: p0, p4 never reach 2 passes, p3 stays solved: no change at all
    assert est["greedy_pass@1"].mean == 0.0 and est["greedy_pass@1"].low == est["greedy_pass@1"].high == 0.0


def test_the_table_gives_each_interval_and_says_when_it_spans_zero(tmp_path):
    base = write(tmp_path / "base", BASE)
    write(tmp_path / "small", MIXED)
    solved = write(tmp_path / "solved", SOLVED)
    small = table_intervals(paired_intervals(tmp_path / "base", tmp_path / "small", ks=[1], n_boot=500))
    big = table_intervals(paired_intervals(tmp_path / "base", tmp_path / "solved", ks=[1], n_boot=500))
    # +1, -1, +1 sample in 4 on three of 7 problems: +1/28, and problem draws that give either sign
    assert small["pass@1"].mean == pytest.approx(1 / 28) and small["pass@1"].low < 0 < small["pass@1"].high
    assert small["pass@1"].spans_zero
    assert big["pass@1"].low > 0 and not big["pass@1"].spans_zero
    m = {"base": summarize(base, ks=[1]), "trained": summarize(solved, ks=[1])}
    table = format_table(m, intervals=big).splitlines()
    assert "95% CI (pp)" in table[0]
    row = next(line for line in table if line.startswith("pass@1"))
    lo, hi = big["pass@1"].low * 100, big["pass@1"].high * 100
    assert f"[{lo:+.1f}, {hi:+.1f}]" in row and "spans 0" not in row
    table = format_table(m, intervals=small)
    assert "spans 0" in next(line for line in table.splitlines() if line.startswith("pass@1"))
    assert "95% CI" not in format_table(m)  # no intervals, no column
