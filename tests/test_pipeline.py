"""The pipeline end to end on the tiny model, its resumption, and a multirun sweep."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers import SMOKE, run_py

pytestmark = pytest.mark.needs_torch


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow  # run.py in a new process
def test_smoke_run_writes_every_stage_and_resumes_without_redoing(tmp_path):
    run_dir = tmp_path / "run"
    first = run_py(*SMOKE, f"hydra.run.dir={run_dir}")
    assert first.returncode == 0, first.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) == {"base", "trained", "method", "sandbox"} and metrics["method"]["heldout_pairs"]["pairs"] > 0
    if os.geteuid() == 0 and not os.environ.get("ETA_SANDBOX_DISABLE"):  # the layers its programs ran under
        assert metrics["sandbox"]["layers"] == {"mountns": "on", "netns": "on", "uid": "on", "rlimits": "on"}
    for m in (metrics["base"], metrics["trained"]):
        assert m["n_tasks"] == 4 and 0.0 <= m["pass@1"] <= 1.0 and "greedy_pass@1" in m
    samples = lines(run_dir / "samples.jsonl")
    assert len(samples) == 4 * 2 and {s["policy"] for s in samples} == {"base"}
    executions = lines(run_dir / "executions.jsonl")
    assert len(executions) == len(samples) and all("outcome" in r for r in executions)
    pairs = lines(run_dir / "pairs.jsonl")
    assert pairs and all(p["chosen"] != p["rejected"] and p["criterion"] for p in pairs)
    assert (run_dir / "pairs_dataset").is_dir()
    assert (run_dir / "plots" / "pass_at_k.png").stat().st_size > 1000
    assert "pass@1" in first.stdout and "trained" in first.stdout  # the before/after table

    mtime = (run_dir / "samples.jsonl").stat().st_mtime_ns
    again = run_py(*SMOKE, f"hydra.run.dir={run_dir}")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "nothing to redo" in again.stdout  # recognised as finished before the model loads
    assert lines(run_dir / "samples.jsonl") == samples  # nothing sampled twice
    assert json.loads((run_dir / "metrics.json").read_text()) == metrics
    assert (run_dir / "samples.jsonl").stat().st_mtime_ns == mtime  # not even rewritten
    assert "redoing" not in again.stdout and "sampling (" not in again.stderr and "executing:" not in again.stderr


def test_sampling_resumes_after_a_kill(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from omegaconf import OmegaConf

    import eta.sample
    from eta.models.tiny import build_tiny_model
    from eta.sample.generate import sample_tasks
    from eta.tasks import load_tasks

    model, tok = build_tiny_model()
    tasks = load_tasks("humaneval", limit=4)
    cfg = OmegaConf.create({"top_p": 1.0, "max_new_tokens": 4, "stop": [], "batch_size": None})
    seen: list[int] = []
    real = eta.sample.sample

    def counting(model, tokenizer, prompts, **kw):
        seen.append(len(prompts))
        return real(model, tokenizer, prompts, **kw)

    monkeypatch.setattr(eta.sample, "sample", counting)
    out = tmp_path / "samples.jsonl"
    sample_tasks(model, tok, tasks[:2], out, n=2, temperature=1.0, sampler_cfg=cfg, style="chat", policy="p", seed=0)
    with out.open("a") as f:  # a kill in the middle of the next write: a torn line and a partial task
        f.write(json.dumps({"task_id": tasks[2].task_id, "sample_id": 0, "completion": "x"}) + "\n" + '{"task_id": "Hu')
    seen.clear()
    rows = sample_tasks(model, tok, tasks, out, n=2, temperature=1.0, sampler_cfg=cfg, style="chat", policy="p", seed=0)
    assert sum(seen) == 2  # only the two unfinished problems
    assert [(r["task_id"], r["sample_id"]) for r in rows] == [(t.task_id, i) for t in tasks for i in range(2)]


def test_sampled_tasks_in_one_call_answer_as_each_problem_alone(tmp_path, monkeypatch):
    """Every problem goes to the engine in one call (its batch refilling across problems): greedy answers are
    those of each problem sampled alone, and a seed fixes the sampled ones."""
    from omegaconf import OmegaConf

    from eta.models import build_tiny_model
    from eta.sample.generate import sample_tasks
    from eta.sample import sample
    from eta.tasks import load_tasks
    from eta.tasks.prompts import build_prompt, stop_strings

    monkeypatch.setenv("ETA_THREADS", "1")  # a tiny model gains nothing from threads that wait on a busy box
    model, tok = build_tiny_model(seed=0)
    tasks = load_tasks("humaneval")[:4]
    cfg = OmegaConf.create({"top_p": 0.95, "max_new_tokens": 12, "stop": [], "batch_size": 2})
    rows = sample_tasks(model, tok, tasks, tmp_path / "greedy.jsonl", n=1, temperature=0.0, sampler_cfg=cfg,
                        style="chat", policy="p", seed=0, progress=False)
    alone = [sample(model, tok, [build_prompt(t, "chat", tok)], n=1, temperature=0.0, top_p=1.0, max_new_tokens=12,
                    stop=stop_strings(t, "chat"))[0][0] for t in tasks]
    assert [r["num_tokens"] for r in rows] == [g.num_tokens for g in alone]
    assert [r["response"].removesuffix("\n```") for r in rows] == [g.text for g in alone]
    seeded = [sample_tasks(model, tok, tasks, tmp_path / f"t{i}.jsonl", n=2, temperature=1.0, sampler_cfg=cfg,
                           style="chat", policy="p", seed=seed, progress=False) for i, seed in enumerate((4, 4, 5))]
    assert seeded[0] == seeded[1] != seeded[2]


def test_sampler_dtype_reaches_the_engine(tmp_path, monkeypatch):
    from omegaconf import OmegaConf

    import eta.sample
    from eta.sample.generate import sample_tasks
    from eta.tasks import load_tasks

    seen: list = []
    monkeypatch.setattr(eta.sample, "sample", lambda m, t, prompts, **kw: seen.append(kw["dtype"]) or [[]] * len(prompts))
    for dtype in (None, "bfloat16"):
        cfg = OmegaConf.create({"top_p": 1.0, "max_new_tokens": 4, "stop": [], "batch_size": None, "dtype": dtype})
        sample_tasks(object(), None, load_tasks("humaneval", limit=1), tmp_path / f"{dtype}.jsonl", n=1,
                     temperature=0.0, sampler_cfg=cfg, style="completion", policy="p", seed=0, progress=False)
    assert seen == [None, "bfloat16"]


def check_two_rank_run(result: subprocess.CompletedProcess, run_dir: Path) -> None:
    """Rank 0 alone sampled, executed and evaluated; both ranks trained; the trained adapter moved."""
    assert result.returncode == 0, result.stderr[-3000:]
    samples = lines(run_dir / "samples.jsonl")
    tasks = {s["task_id"] for s in samples}
    # each training problem's 2 samples exactly once: one rank drew them, not both
    assert len(tasks) == 4 and sorted((s["task_id"], s["sample_id"]) for s in samples) == sorted((t, i) for t in tasks for i in range(2))
    assert sorted((r["task_id"], r["sample_id"]) for r in lines(run_dir / "executions.jsonl")) == sorted((t, i) for t in tasks for i in range(2))
    assert "rank 1] waiting for rank 0" in result.stdout
    assert "rank 0] trained 2 steps" in result.stdout and "rank 1] trained 2 steps" in result.stdout
    assert "rank 1] metrics" not in result.stdout and "rank 0] reloading the trained policy" in result.stdout
    assert set(json.loads((run_dir / "metrics.json").read_text())) == {"base", "trained", "method", "sandbox"}
    from safetensors.torch import load_file

    lora_b = [w for name, w in load_file(str(run_dir / "train" / "adapter_model.safetensors")).items() if "lora_B" in name]
    assert lora_b and all(w.abs().sum() > 0 for w in lora_b)  # LoRA's B starts at zero: training moved it


@pytest.mark.slow  # run.py in a new process
def test_two_process_launch_samples_once_and_trains_on_both_ranks(tmp_path):
    run_dir = tmp_path / "run"
    check_two_rank_run(run_py(*SMOKE, f"hydra.run.dir={run_dir}", processes=2, OMP_NUM_THREADS="1"), run_dir)


@pytest.mark.slow
def test_two_process_deepspeed_zero3_launch_evaluates_a_reloaded_policy(tmp_path):
    pytest.importorskip("deepspeed")
    run_dir = tmp_path / "run"
    launch = [*SMOKE, "dist=zero3", f"hydra.run.dir={run_dir}"]
    check_two_rank_run(run_py(*launch, processes=2, OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu"), run_dir)
    again = run_py(*launch, processes=2, OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu")  # stages.json marks are stale now
    assert again.returncode == 0, again.stderr[-3000:]
    assert "rank 0] trained 2 steps (reused a finished run)" in again.stdout and "rank 1] trained 2 steps" in again.stdout


@pytest.mark.slow
def test_multirun_sweep_runs_four_jobs_each_in_its_own_directory(tmp_path):
    result = run_py("-m", "method.beta=0.05,0.1", "heuristic=eta,binary", *SMOKE,
                    f"hydra.sweep.dir={tmp_path}", timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    from omegaconf import OmegaConf

    jobs = sorted(p for p in tmp_path.iterdir() if (p / "metrics.json").exists())
    composed = [OmegaConf.load(p / ".hydra" / "config.yaml") for p in jobs]
    assert sorted((c.method.beta, c.heuristic.name) for c in composed) == [
        (0.05, "binary"), (0.05, "eta"), (0.1, "binary"), (0.1, "eta")]
    for job in jobs:  # each job trained its own policy, with its own heuristic's pairs
        assert (job / "train" / "adapter_model.safetensors").is_file()
        assert set(json.loads((job / "metrics.json").read_text())) == {"base", "trained", "method", "sandbox"}
    binary = [p for p, c in zip(jobs, composed) if c.heuristic.name == "binary"]
    assert all({r["criterion"] for r in lines(p / "pairs.jsonl")} == {"passed"} for p in binary)


def test_other_ranks_wait_for_rank_0s_stage_and_never_write_the_state(tmp_path, monkeypatch):
    import threading
    import time

    from omegaconf import OmegaConf

    from eta.context import RunContext
    from eta.pipeline.ranks import launch_started_at, wait_for_stage
    from eta.train.distributed import sharded_after_training

    ctx = RunContext(cfg=None, run_dir=tmp_path)
    monkeypatch.setenv("RANK", "1")
    ctx.mark_done("prefer", pairs=3)
    assert not ctx.state_file.exists()  # rank 1 only reads stages.json
    monkeypatch.setenv("RANK", "0")
    ctx.mark_done("prefer", pairs=1)  # left by an earlier launch: not what the other ranks wait for
    launched = time.time()
    said: list[str] = []
    threading.Timer(0.3, lambda: ctx.mark_done("prefer", pairs=3)).start()
    mark = wait_for_stage(ctx, "prefer", said.append, poll_s=0.02, report_every_s=0.1, since=launched)
    assert mark["pairs"] == 3
    assert said and "waiting for rank 0 to finish 'prefer'" in said[0]
    assert 0 < launch_started_at() <= time.time()  # pytest's parent started before this test did

    zero3 = OmegaConf.create({"dist": {"name": "zero3", "deepspeed": {"zero_optimization": {"stage": 3}}}})
    zero2 = OmegaConf.create({"dist": {"name": "zero2", "deepspeed": {"zero_optimization": {"stage": 2}}}})
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert sharded_after_training(zero3) and not sharded_after_training(zero2)
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert sharded_after_training(zero2)


@pytest.mark.slow
def test_the_sandbox_layers_are_checked_before_the_model_loads_and_recorded(tmp_path):
    """Fail closed from run.py: a layer it cannot use (here a misspelt one to turn off) stops the run in one
    line with exit 2 before anything loads; a layer turned off on purpose runs, and metrics.json and the
    W&B summary record it off."""
    evaluate_only = ("model=tiny", "dataset=synthetic", "dataset.limit=2", "stages=[evaluate]", "eval.n=1",
                     "eval.ks=[1]", "eval.greedy=false", "eval.repair.enabled=false", "sampler.max_new_tokens=8")
    refused = run_py(*evaluate_only, "logger=none", f"hydra.run.dir={tmp_path / 'refused'}", ETA_SANDBOX_DISABLE="net")
    assert refused.returncode == 2 and refused.stderr.strip().splitlines()[-1].startswith("error: ETA_SANDBOX_DISABLE")
    assert "Traceback" not in refused.stderr and not (tmp_path / "refused" / "metrics.json").exists()
    run_dir = tmp_path / "run"
    ran = run_py(*evaluate_only, "logger=wandb", "logger.mode=offline", f"hydra.run.dir={run_dir}",
                 ETA_SANDBOX_DISABLE="netns")
    assert ran.returncode == 0, ran.stderr[-3000:]
    layers = json.loads((run_dir / "metrics.json").read_text())["sandbox"]["layers"]
    assert layers["netns"] == "off" and layers["rlimits"] == "on"
    if os.geteuid() == 0:
        assert layers["mountns"] == layers["uid"] == "on"
    logged = b"".join(p.read_bytes() for p in run_dir.glob("wandb/offline-run-*/run-*.wandb"))
    assert b"sandbox/layers/netns" in logged and b'"off"' in logged
