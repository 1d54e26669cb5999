"""`python run.py -m experiment=comparison model=tiny dataset.limit=4` end to end: every arm that exists, a
comparison.md with both kinds of interval, and a sweep killed part-way that continues, redoing nothing done."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# the sweep took 4-5 min on 2 cores with 7 arms; with 12, at a load of 17-19 on 2 cores, seed 0's 12 jobs took
# ~17 min and 1200 s ran out in seed 1 (2026-12-07): its own limit, well past pytest.ini's 300 s
pytestmark = [pytest.mark.needs_torch, pytest.mark.slow, pytest.mark.timeout(2400)]
ROOT = Path(__file__).resolve().parents[1]

def arm_labels() -> dict[str, str]:
    """The arms the comparison lists (the sweep runs those), with their labels, in order."""
    import yaml

    value = yaml.safe_load((ROOT / "experiments" / "experiment" / "comparison.yaml").read_text())
    arms = value["hydra"]["sweeper"]["params"]["arm"].split(",")
    return {a: yaml.safe_load((ROOT / "experiments" / "arm" / f"{a}.yaml").read_text())["label"] for a in arms}


def arm_method(arm: str) -> str | None:
    """The method an arm's file overrides (None: the comparison's default)."""
    import yaml

    defaults = yaml.safe_load((ROOT / "experiments" / "arm" / f"{arm}.yaml").read_text()).get("defaults", [])
    return next((d["override /method"] for d in defaults if isinstance(d, dict) and "override /method" in d), None)


LABELS = arm_labels()
# small enough for a few minutes on 2 shared cores: 2 samples, 2 optimizer steps of 4 examples (GRPO: one
# prompt's 4 rollouts), 2 seeds
SMALL = ("logger=none", "sampler.n=2", "sampler.max_new_tokens=16", "eval.n=2", "eval.ks=[1,2]",
         "prefer.include_reference=true", "compare.budget.max_steps=2", "compare.budget.batch_size=4",
         "compare.budget.grad_accum=1", "compare.budget.logging_steps=1", "compare.n_boot=200",
         "hydra.sweeper.params.seed='0,1'")


def command(sweep: Path) -> list[str]:
    return [sys.executable, "run.py", "-m", "experiment=comparison", "model=tiny", "dataset.limit=4", *SMALL,
            f"compare.dir={sweep}"]


def env() -> dict[str, str]:
    return dict(os.environ, WANDB_MODE="offline", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")


def stage_done(job: Path, stage: str) -> bool:
    try:
        return bool(json.loads((job / "stages.json").read_text()).get(stage, {}).get("done"))
    except (FileNotFoundError, json.JSONDecodeError):
        return False


def run_until(sweep: Path, job: str, stage: str, timeout: float = 600) -> None:
    """Start the sweep and kill it (the whole process group, SIGKILL) once ``job`` has finished ``stage``."""
    proc = subprocess.Popen(command(sweep), cwd=ROOT, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not stage_done(sweep / job, stage):
            assert proc.poll() is None, f"the sweep ended (rc {proc.returncode}) before {job} did {stage}"
            assert time.monotonic() < deadline, f"{job} did not reach {stage} in {timeout} s"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def mtimes(paths: list[Path]) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in paths}


def test_a_killed_comparison_sweep_continues_and_the_table_has_every_arm_and_both_intervals(tmp_path):
    sweep = tmp_path / "sweep"
    # seed 0's arms run base, sft, dpo_binary, eta_dpo in that order: kill it while DPO-binary trains
    run_until(sweep, "dpo_binary-seed0", "prefer")
    assert stage_done(sweep / "sft-seed0", "evaluate_trained") and not (sweep / "dpo_binary-seed0" / "metrics.json").exists()
    finished = [sweep / "sft-seed0" / "train" / "adapter_model.safetensors",
                sweep / "sft-seed0" / "eval" / "trained" / "sampled_samples.jsonl",
                sweep / "dpo_binary-seed0" / "pairs.jsonl",
                (sweep / "base-seed0" / "eval" / "base" / "sampled_samples.jsonl").resolve(),
                (sweep / "dpo_binary-seed0" / "samples.jsonl").resolve()]
    # results files are rewritten with the results they reuse (eta.execute.batch.reusable): same bytes
    results = [sweep / "sft-seed0" / "eval" / "trained" / "sampled_executions.jsonl",
               (sweep / "base-seed0" / "eval" / "base" / "sampled_executions.jsonl").resolve(),
               (sweep / "dpo_binary-seed0" / "executions.jsonl").resolve()]
    before, contents = mtimes(finished), {p: p.read_bytes() for p in results}

    again = subprocess.run(command(sweep), cwd=ROOT, env=env(), capture_output=True, text=True, timeout=2100)
    assert again.returncode == 0, again.stderr[-3000:]
    assert mtimes(finished) == before  # nothing finished was sampled or trained again
    assert {p: p.read_bytes() for p in results} == contents
    out = again.stdout
    sft0 = out[out.index("run directory " + str(sweep / "sft-seed0")):out.index("run directory " + str(sweep / "dpo_binary-seed0"))]
    assert "nothing to redo" in sft0 and "to execute" not in sft0  # finished: recognised before any stage runs
    dpo0 = out[out.index("run directory " + str(sweep / "dpo_binary-seed0")):]
    assert "trained 2 steps (done)" in dpo0.split("metrics:")[0]  # the killed job trains now, from its own pairs
    for arm in LABELS:
        for seed in (0, 1):
            assert (sweep / f"{arm}-seed{seed}" / "metrics.json").is_file(), (arm, seed)
    # every arm of a seed trained on, and was compared against, the same shared base samples and evaluation
    for seed in (0, 1):
        homes = {(sweep / f"{arm}-seed{seed}" / "eval" / "base").resolve() for arm in LABELS}
        assert len(homes) == 1 and str(next(iter(homes))).startswith(str((sweep / "shared").resolve()))

    text = (sweep / "comparison.md").read_text()
    from eta.report.compare import ordered

    assert f"{2 * len(LABELS)} finished jobs, seeds [0, 1], methods {', '.join(ordered(LABELS.values()))}" in text
    assert {"base", "SFT", "DPO-binary", "ETA-DPO"} <= set(LABELS.values())
    section = text[text.index("## pass@1 (seeds x problems)"):].split("\n## ")[0]
    header = next(line for line in section.splitlines() if line.startswith("| method"))
    assert "mean [95% CI]" in header and "vs base" in header
    assert "vs DPO-binary" in header and "vs DPO-verdict" in header
    # an inference-only arm (repair) has no policy of its own to sample: it has rows in the repair tables only
    repair_labels = {label for arm, label in LABELS.items() if arm_method(arm) == "repair"}
    repair = text[text.index("## repair failing (trace) (seeds x problems)"):].split("\n## ")[0]
    for label in LABELS.values():
        tables = [repair] if label in repair_labels else [section, repair]
        if label in repair_labels:
            assert not any(line.startswith(f"| {label} |") for line in section.splitlines()), label
        for table in tables:
            row = next((line for line in table.splitlines() if line.startswith(f"| {label} |")), None)
            assert row is not None, (label, table.splitlines()[0])
            # 2 seeds; pass@1 over 4 held-out problems each, repair over the base's failing ones among them
            assert row.startswith(f"| {label} | 2 | 8 |" if table is section else f"| {label} | 2 |")
            cells = [c.strip() for c in row.strip("|").split("|")]  # method, seeds, problems, families, mean, ...
            assert cells[3].isdigit() and "[" in cells[4]  # its families, its mean's interval
            if label != "base":
                assert "pp [" in cells[5]  # the paired difference against the base, with its interval
    counterparts, primary = comparison_settings()
    for label, others in counterparts.items():  # against the base and each counterpart the experiment names
        row = next(line for line in section.splitlines() if line.startswith(f"| {label} |"))
        assert row.count("pp [") == 1 + len([others] if isinstance(others, str) else others), label
    assert f"## Primary analysis: pass@1, {len(primary)} contrast(s), Holm-adjusted" in text
    for method, against in primary.items():
        assert f"| {method} vs {against} | 2 |" in text
    # every DPO arm, DPO-binary too, scored on the same held-out pairs, split by the deciding criterion
    heldout = text[text.index("## method/heldout_pairs/accuracy (seeds only)"):].split("\n## ")[0]
    for label in ("DPO-binary", "DPO-verdict", "DPO-random", "ETA-DPO"):
        assert any(line.startswith(f"| {label} | 2 |") for line in heldout.splitlines()), label
    assert "## method/heldout_pairs/by_criterion/passed/accuracy (seeds only)" in text
    rows = (sweep / "comparison.csv").read_text().splitlines()
    assert any(r.startswith("method/heldout_pairs/accuracy,ETA-DPO,DPO-verdict,difference") for r in rows)
    # matched composition: every DPO arm of a seed has the same pass/fail pairs
    for seed in (0, 1):
        shared = {arm: pass_fail(sweep / f"{arm}-seed{seed}" / "pairs.jsonl")
                  for arm in ("dpo_binary", "dpo_verdict", "dpo_random", "eta_dpo")}
        assert len(set(shared.values())) == 1 and shared["eta_dpo"], seed


def pass_fail(path: Path) -> frozenset:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return frozenset((r["task_id"], r["chosen_sample_id"], r["rejected_sample_id"]) for r in rows
                     if r["criterion"] == "passed")


def comparison_settings() -> tuple[dict, dict]:
    import yaml

    compare = yaml.safe_load((ROOT / "experiments" / "experiment" / "comparison.yaml").read_text())["compare"]
    return compare["counterparts"], compare["primary"]["contrasts"]
