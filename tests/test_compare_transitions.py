"""Which errors each arm fixes (eta.report.transitions, in comparison.md): hand-made jobs whose base classes and
arm outcomes are known by construction; shares and intervals against an independent computation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from eta.report.compare import compare
from eta.report.transitions import SOLVED, collect_transitions, problem_classes, transition_table
from eta.report.jobs import find_jobs
from test_compare import find, naive_interval, naive_replicates, read_csv

PROBLEMS = [f"Synthetic/{f}/{i}" for f in ("a", "b", "c") for i in range(3)]
CMP, IDX = "wrong value: comparison operator", "index or key"
# the base's class of each problem, per seed
BASE = {0: [CMP, CMP, IDX, SOLVED, CMP, IDX, SOLVED, CMP, IDX],
        1: [CMP, IDX, IDX, SOLVED, CMP, SOLVED, SOLVED, CMP, CMP]}
# whether each arm's policy solves each problem, per seed
SOLVES = {"ETA-DPO": {0: [1, 1, 0, 1, 1, 0, 0, 1, 0], 1: [1, 0, 0, 1, 0, 1, 1, 1, 1]},
          "DPO-binary": {0: [0, 1, 1, 1, 0, 1, 1, 0, 0], 1: [0, 1, 1, 1, 0, 1, 0, 0, 1]}}


def write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def samples(task: str, cls: str | bool) -> list[dict]:
    """Two samples of one problem: both pass (True, or the base's solved class) or both fail as ``cls``."""
    if cls is True or cls == SOLVED:
        outcome, error = "passed", None
    elif cls == IDX:
        outcome, error = "runtime_error", "IndexError"
    else:
        outcome, error = "wrong_answer", "AssertionError"
    return [{"task_id": task, "sample_id": i, "completion": "x", "passed": outcome == "passed", "outcome": outcome,
             "error_type": error, "tests": [{"index": 0, "outcome": outcome, "error_type": error}]} for i in (0, 1)]


def write_job(sweep: Path, label: str, seed: int) -> None:
    job = sweep / f"{label}-seed{seed}"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(
        {"label": label, "seed": seed, "method": {"name": "dpo"}, "logger": {"name": "none"}}))
    base = [r for p, c in zip(PROBLEMS, BASE[seed]) for r in samples(p, c)]
    write(job / "eval" / "base" / "sampled_executions.jsonl", base)
    write(job / "eval" / "base" / "wrong_answers.jsonl",
          [{"task_id": r["task_id"], "sample_id": r["sample_id"], "diff": "comparison operator", "value": "off by one"}
           for r in base if r["outcome"] == "wrong_answer"])
    write(job / "eval" / "trained" / "sampled_executions.jsonl",
          [r for p, ok in zip(PROBLEMS, SOLVES[label][seed]) for r in samples(p, True if ok else IDX)])
    (job / "metrics.json").write_text(json.dumps({"base": {"pass@1": 0.3}, "trained": {"pass@1": 0.4}}))


@pytest.fixture
def sweep(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in (0, 1):
        for label in SOLVES:
            write_job(sweep, label, seed)
    return sweep


def expected(arm: str, cls: str, n_boot: int):
    """The share, and its interval from the documented draws: each problem one cluster of its seeds' rows."""
    moved = {p: [] for p in PROBLEMS}
    for seed in (0, 1):
        for p, c, ok in zip(PROBLEMS, BASE[seed], SOLVES[arm][seed]):
            if c == cls:
                moved[p].append(float(bool(ok) != (c == SOLVED)))
    ids = [p for p in PROBLEMS if moved[p]]
    groups = [([[sum(moved[p])] for p in ids], [[len(moved[p])] for p in ids])]
    families = {p: p.rsplit("/", 1)[0] for p in ids}
    share = sum(map(sum, moved.values())) / sum(map(len, moved.values()))
    reps = [r[0] for r in naive_replicates(groups, n_boot, 0, [ids], families)]
    return share, naive_interval(reps, share, len(set(families.values())))


def test_base_classes_take_the_most_common_failure_and_the_reference_diff():
    rows = samples("T/1", CMP) + [dict(samples("T/1", IDX)[0], sample_id=2)] + samples("T/2", SOLVED)
    wrong = {("T/1", 0): {"diff": "comparison operator"}, ("T/1", 1): {"diff": "comparison operator"}}
    assert problem_classes(rows, wrong) == {"T/1": CMP, "T/2": SOLVED}  # 2 comparison operators, 1 index error
    assert problem_classes(rows, {}) == {"T/1": "wrong value", "T/2": SOLVED}  # no reference classes recorded
    # a tie goes to the table's order: the index error before a wrong value
    assert problem_classes(rows, {("T/1", 0): {"diff": "comparison operator"}}) == {"T/1": IDX, "T/2": SOLVED}


def test_each_arms_shares_and_intervals_match_an_independent_computation(sweep):
    data = collect_transitions(find_jobs(sweep)[0])
    rows = transition_table(data, {"ETA-DPO": "DPO-binary"}, n_boot=300)
    for arm in SOLVES:
        for cls in (CMP, IDX, SOLVED):
            got = next(r for r in rows if r.arm == arm and r.base_class == cls and r.against is None)
            share, (low, high) = expected(arm, cls, 300)
            assert got.share.mean == pytest.approx(share) and (got.share.low, got.share.high) == pytest.approx((low, high))
            assert got.moved == ("broken" if cls == SOLVED else "fixed")
    # ETA-DPO fixes 7 of 8 comparison-operator rows, DPO-binary 2 of 8; index errors 0 of 5 against 4 of 5
    diff = {r.base_class: r.share.mean for r in rows if r.against == "DPO-binary"}
    assert diff[CMP] == pytest.approx(7 / 8 - 2 / 8) and diff[IDX] == pytest.approx(0 / 5 - 4 / 5)
    assert not any(r.against for r in rows if r.arm == "DPO-binary")


def test_comparison_md_carries_the_transition_table(sweep):
    compare(sweep, wandb=False, n_boot=200)
    text = (sweep / "comparison.md").read_text()
    assert "## Which errors each arm fixes (paired transitions, pooled over seeds)" in text
    assert "### ETA-DPO" in text and "vs DPO-binary |" in text
    row = next(line for line in text.splitlines() if line.startswith(f"| {CMP} | 8 | 3 | fixed 87.5%"))
    assert "+62.5 pp" in row
    assert f"| {SOLVED} | 5 | 2 | broken " in text
    rows = read_csv(sweep / "comparison.csv")
    d = find(rows, f"transition fixed: {CMP}", "ETA-DPO", "DPO-binary")
    assert d["mean"] == pytest.approx(7 / 8 - 2 / 8) and d["problems"] == "8" and d["families"] == "3"
    assert find(rows, f"transition broken: {SOLVED}", "DPO-binary")["mean"] == pytest.approx(1 / 5)
