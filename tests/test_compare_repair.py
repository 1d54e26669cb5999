"""Repair accuracy in the comparison and in the rounds plots: every policy's repair attempts (eval.repair) and
the repair arm's (method=repair) become per-program rows, bootstrapped over seeds and programs and paired by
program against the base; expected values are computed here independently of eta's estimator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import find, naive_interval, naive_replicates, read_csv

from eta.report.compare import compare
from eta.report.plots import plot_rounds, round_values

PROGRAMS = [f"Synthetic/f/{i}#0@0" for i in range(5)]
METRIC = "repair failing (trace)"
# first attempt fixed (1) or not, per seed and program; a second attempt that passes must not count
FIXED = {"base": {0: [0, 0, 1, 0, 0], 1: [0, 1, 0, 0, 0]},
         "ETA-DPO": {0: [1, 0, 1, 1, 0], 1: [1, 1, 0, 1, 1]},
         "repair-trace": {0: [0, 0, 1, 1, 0], 1: [0, 0, 0, 0, 0]}}


def attempts(fixed: list[int]) -> list[dict]:
    out = []
    for task, ok in zip(PROGRAMS, fixed):
        for sample_id, passed in ((0, bool(ok)), (1, True)):
            out.append({"task_id": task, "sample_id": sample_id, "completion": "x", "passed": passed,
                        "outcome": "passed" if passed else "wrong_answer", "tests_passed": 1, "tests_total": 1})
    return out


def write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_job(sweep: Path, label: str, seed: int, method: str, rounds: dict | None = None) -> None:
    job = sweep / f"{label}-seed{seed}"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(
        {"label": label, "seed": seed, "method": {"name": method}, "logger": {"name": "none"}}))
    base = job / "eval" / "base" / "repair" / "failing" / "trace" / "executions.jsonl"
    write(base, attempts(FIXED["base"][seed]))  # every job of a seed holds the shared base evaluation
    metrics: dict = {"base": {}}
    if method == "dpo":
        write(job / "eval" / "trained" / "repair" / "failing" / "trace" / "executions.jsonl",
              attempts(FIXED[label][seed]))
        metrics["trained"] = {}
    if method == "repair":
        write(job / "train" / "repair" / "failing" / "trace" / "executions.jsonl", attempts(FIXED[label][seed]))
        acc = float(np.mean(FIXED[label][seed]))
        metrics["method"] = {"repair_failing_accuracy": acc, "repair": {"failing": {"trace": {"accuracy": acc}}}}
    if rounds:
        metrics["rounds"] = rounds
    (job / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture
def sweep(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in (0, 1):
        write_job(sweep, "base", seed, "none")
        write_job(sweep, "ETA-DPO", seed, "dpo")
        write_job(sweep, "repair-trace", seed, "repair")
    return sweep


def test_repair_accuracy_rows_match_an_independent_bootstrap(sweep):
    compare(sweep, wandb=False, n_boot=400)
    rows = read_csv(sweep / "comparison.csv")
    for label, by_seed in FIXED.items():
        got = find(rows, METRIC, label)
        assert got["mean"] == pytest.approx(np.mean([np.mean(v) for v in by_seed.values()]))  # first attempts only
        assert got["seeds"] == "2" and got["problems"] == str(2 * len(PROGRAMS))
    # every program is a sample of a problem of the one family Synthetic/f: one cluster, nothing widened
    groups = [([[x] for x in FIXED["ETA-DPO"][s]], [[1.0]] * len(PROGRAMS)) for s in (0, 1)]
    one_family = ([PROGRAMS, PROGRAMS], {p: "Synthetic/f" for p in PROGRAMS})
    slow = [r[0] for r in naive_replicates(groups, 400, 0, *one_family)]
    own = find(rows, METRIC, "ETA-DPO")
    assert (own["ci_low"], own["ci_high"]) == pytest.approx(naive_interval(slow, 0.7, 1))
    assert own["families"] == "1"
    # paired by program against the base, the same draws for both series
    pairs = [([[a, b] for a, b in zip(FIXED["ETA-DPO"][s], FIXED["base"][s])], [[1.0, 1.0]] * len(PROGRAMS))
             for s in (0, 1)]
    diffs = [a - b for a, b in naive_replicates(pairs, 400, 0, *one_family)]
    d = find(rows, METRIC, "ETA-DPO", "base")
    assert d["mean"] == pytest.approx(0.7 - 0.2)
    assert (d["ci_low"], d["ci_high"]) == pytest.approx(naive_interval(diffs, 0.5, 1))
    assert find(rows, METRIC, "repair-trace", "base")["mean"] == pytest.approx(0.2 - 0.2)
    text = (sweep / "comparison.md").read_text()
    assert f"## {METRIC} (seeds x problems)" in text
    assert not any(r["metric"].startswith("method/repair/") for r in rows)  # the nested block: per program only
    assert (sweep / "plots" / "repair_failing_trace_.png").stat().st_size > 1000


def test_repair_rows_pair_only_the_programs_both_repaired(sweep):
    # a trained job that repaired only the first three programs: the difference is over those alone
    job = sweep / "ETA-DPO-seed0" / "eval" / "trained" / "repair" / "failing" / "trace" / "executions.jsonl"
    write(job, attempts(FIXED["ETA-DPO"][0][:3]))
    compare(sweep, wandb=False, n_boot=100)
    d = find(read_csv(sweep / "comparison.csv"), METRIC, "ETA-DPO", "base")
    seed0 = np.mean(FIXED["ETA-DPO"][0][:3]) - np.mean(FIXED["base"][0][:3])
    seed1 = np.mean(FIXED["ETA-DPO"][1]) - np.mean(FIXED["base"][1])
    assert d["mean"] == pytest.approx((seed0 + seed1) / 2) and d["problems"] == str(3 + len(PROGRAMS))


def test_the_feedback_is_set_against_its_controls_on_the_same_policy_and_programs(sweep):
    # ETA-DPO's policy also ran the controls: the failing program alone (none), the problem alone (scratch)
    controls = {"none": {0: [1, 0, 0, 1, 0], 1: [1, 0, 0, 0, 1]}, "scratch": {0: [1, 0, 1, 1, 0], 1: [1, 1, 0, 1, 1]}}
    for kind, by_seed in controls.items():
        for seed, fixed in by_seed.items():
            write(sweep / f"ETA-DPO-seed{seed}" / "eval" / "trained" / "repair" / "failing" / kind / "executions.jsonl",
                  attempts(fixed))
    compare(sweep, wandb=False, n_boot=300)
    rows = read_csv(sweep / "comparison.csv")
    trace = FIXED["ETA-DPO"]
    for kind, by_seed in controls.items():
        d = find(rows, METRIC, "ETA-DPO", f"{kind} (same policy)")
        assert d["mean"] == pytest.approx(np.mean([np.mean(trace[s]) - np.mean(by_seed[s]) for s in (0, 1)]))
        pairs = [([[a, b] for a, b in zip(trace[s], by_seed[s])], [[1.0, 1.0]] * len(PROGRAMS)) for s in (0, 1)]
        diffs = [a - b for a, b in naive_replicates(pairs, 300, 0, [PROGRAMS, PROGRAMS],
                                                    {p: "Synthetic/f" for p in PROGRAMS})]
        assert (d["ci_low"], d["ci_high"]) == pytest.approx(naive_interval(diffs, d["mean"], 1))
    assert find(rows, "repair failing (scratch)", "ETA-DPO")["mean"] == pytest.approx(0.7)  # its own row too
    assert not [r for r in rows if r["method"] == "base" and r["against"].endswith("(same policy)")]  # no controls run
    assert not [r for r in rows if r["metric"] == "repair failing (none)" and r["against"].endswith("(same policy)")]
    text = (sweep / "comparison.md").read_text()
    assert "vs none (same policy)" in text and "vs scratch (same policy)" in text


def per_round(p1: float, acc: float) -> dict:
    return {"pass@1": p1, "execution_rate": 0.5, "repair": {"failing": {"trace": {"accuracy": acc}},
                                                            "quixbugs": {"skipped": "no data"}}}


def test_round_values_and_the_rounds_plot_carry_repair_accuracy(tmp_path):
    assert round_values(per_round(0.3, 0.25)) == {"pass@1": 0.3, "execution_rate": 0.5, METRIC: 0.25}
    path = plot_rounds(per_round(0.2, 0.0), {"1": per_round(0.3, 0.1), "2": per_round(0.4, 0.2)}, tmp_path / "r.png")
    assert path.stat().st_size > 1000
    with pytest.raises(ValueError, match="repair accuracy"):
        plot_rounds(None, {"1": {"outcomes": {}}}, tmp_path / "none.png")


def test_rounds_by_method_plot_with_repair_only_rounds(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in (0, 1):
        write_job(sweep, "base", seed, "none")
        # repair accuracy is the only round metric: the plot is still drawn, from it
        rounds = {"1": {"repair": {"failing": {"trace": {"accuracy": 0.2}}}},
                  "2": {"repair": {"failing": {"trace": {"accuracy": 0.4}}}}}
        write_job(sweep, "ETA-DPO", seed, "dpo", rounds=rounds)
        for r in ("1", "2"):
            write(sweep / f"ETA-DPO-seed{seed}" / f"round_{r}" / "eval" / "trained" / "repair" / "failing" / "trace"
                  / "executions.jsonl", attempts(FIXED["ETA-DPO"][seed]))
    compare(sweep, wandb=False, n_boot=50)
    assert (sweep / "plots" / "rounds_by_method.png").stat().st_size > 1000
    # the last round's attempts stand for the trained policy
    got = find(read_csv(sweep / "comparison.csv"), METRIC, "ETA-DPO")
    assert got["mean"] == pytest.approx(0.7)
