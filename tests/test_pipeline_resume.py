"""Resume on the tiny model, in-process: a killed run continues, a changed key redoes its stage and the
stages after it (and names the key), an unchanged re-run redoes nothing; and a toy method plugs in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
from helpers import ROOT, SMOKE, Counts, compose  # noqa: E402

pytestmark = pytest.mark.needs_torch
SMALL = [*SMOKE, "dataset.limit=3", "sampler.max_new_tokens=8", "eval.n=1", "eval.ks=[1]", "eval.greedy=false",
         "method.max_steps=1", "method.bf16=false",
         "eval.repair.enabled=false", "eval.cheat.enabled=false"]  # exact counts of prompts below; repair eval:
# tests/test_repair.py; cheating rate: tests/test_execute_cheat.py


def config(*overrides: str):
    return compose(*SMALL, *overrides)


def run(run_dir: Path, *overrides: str, capsys=None) -> tuple[dict, str]:
    from eta.pipeline import run as run_pipeline

    metrics = run_pipeline(config(*overrides), run_dir)
    return metrics, capsys.readouterr().out if capsys else ""


def test_an_unchanged_rerun_redoes_nothing(tmp_path, monkeypatch, capsys):
    first, _ = run(tmp_path, capsys=capsys)
    state = json.loads((tmp_path / "stages.json").read_text())
    del state["finished"]  # as if killed while reporting: every stage is done, the run is not marked finished
    (tmp_path / "stages.json").write_text(json.dumps(state))
    counts = Counts(monkeypatch)
    again, out = run(tmp_path, capsys=capsys)
    assert (counts.prompts, counts.programs) == (0, 0), out
    assert "redoing" not in out and "trained 1 steps (reused a finished run)" in out
    assert again == first


def test_a_finished_run_is_recognised_without_loading_the_model_or_the_method(tmp_path, monkeypatch, capsys):
    import eta.models
    import eta.pipeline

    import eta.pipeline.finished

    # a link into shared/ whose target went away before the run ended (as a sampling journal does)
    (tmp_path / "samples.requests.jsonl").symlink_to(tmp_path / "gone" / "samples.requests.jsonl")
    first, _ = run(tmp_path, capsys=capsys)
    report = (tmp_path / "report.txt").read_text()
    assert "samples.requests.jsonl" not in json.loads((tmp_path / "stages.json").read_text())[
        eta.pipeline.finished.KEY]["files"]

    def refuse(*args, **kwargs):
        raise AssertionError("a finished run loaded the model or the method")

    monkeypatch.setattr(eta.models, "load_model", refuse)
    monkeypatch.setattr(eta.pipeline, "load_method", refuse)
    again, out = run(tmp_path, capsys=capsys)
    assert again == first and "nothing to redo" in out and report.strip() in out
    for changed in (["eval.n=2"], ["dataset.limit=2"]):  # another config, other problems: not this finished run
        with pytest.raises(AssertionError, match="loaded the model or the method"):
            run(tmp_path, *changed)
    (tmp_path / "report.txt").unlink()  # a file the run left is gone: the ordinary path makes it again
    with pytest.raises(AssertionError, match="loaded the model or the method"):
        run(tmp_path)


def test_a_changed_key_redoes_its_stage_and_those_after_it_naming_the_key(tmp_path, monkeypatch, capsys):
    run(tmp_path, capsys=capsys)
    samples = (tmp_path / "samples.jsonl").read_text()
    counts = Counts(monkeypatch)
    _, out = run(tmp_path, "heuristic=binary", capsys=capsys)
    prefer = next(line for line in out.splitlines() if "redoing 'prefer'" in line)
    assert "heuristic.name ('eta' -> 'binary')" in prefer and "changed" in prefer
    assert "redoing 'train': its input 'prefer' is redone" in out
    assert "redoing 'evaluate_trained': its input 'train' is redone" in out
    assert "redoing 'sample'" not in out and "redoing 'execute'" not in out and "redoing 'evaluate_base'" not in out
    assert (tmp_path / "samples.jsonl").read_text() == samples
    assert counts.prompts == 3 and counts.programs == 3  # the trained policy's evaluation only
    assert {p["criterion"] for p in map(json.loads, (tmp_path / "pairs.jsonl").read_text().splitlines())} == {"passed"}
    superseded = sorted(p.name.split("-", 2)[2] for p in (tmp_path / "superseded").iterdir())
    assert superseded == ["evaluate_trained", "prefer", "train"]

    counts.prompts = counts.programs = 0
    _, out = run(tmp_path, "heuristic=binary", "sampler.max_new_tokens=9", capsys=capsys)
    assert "redoing 'sample': sampler.max_new_tokens (8 -> 9) changed" in out, out
    assert "redoing 'evaluate_base': sampler.max_new_tokens (8 -> 9) changed" in out
    assert counts.prompts == 3 + 3 + 3  # base evaluation, training samples, trained evaluation


def test_a_killed_run_continues_where_it_stopped(tmp_path, monkeypatch, capsys):
    from eta.methods.dpo import DPO

    real_train = DPO.train

    def killed(self, run_ctx, model, tokenizer):
        raise KeyboardInterrupt  # the kill: after the base evaluation, sampling, executing and pairing

    monkeypatch.setattr(DPO, "train", killed)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path)
    monkeypatch.setattr(DPO, "train", real_train)
    counts = Counts(monkeypatch)
    metrics, out = run(tmp_path, capsys=capsys)
    assert "redoing" not in out and "trained 1 steps (done)" in out
    assert counts.prompts == 3 and counts.programs == 3  # only the trained policy's evaluation is new
    assert set(metrics) == {"base", "trained", "method", "sandbox"} and metrics["method"]["heldout_pairs"]["pairs"] > 0


def test_files_without_a_record_are_not_trusted(tmp_path, capsys):
    (tmp_path / "samples.jsonl").write_text(json.dumps({"task_id": "HumanEval/0", "sample_id": 0}) + "\n")
    _, out = run(tmp_path, "stages=[sample]", capsys=capsys)
    assert "redoing 'sample': its files have no record of the config that made them" in out
    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * 2 and all("completion" in r for r in rows)


TOY = '''
"""A toy method: it "trains" by returning the base model and counts what it was given."""
from eta.train.runner import TrainResult


class Toy:
    needs = "execute"
    keys = ()
    trains_policy = True

    def __init__(self, cfg):
        self.bonus = cfg.method["bonus"]  # the run's method node: a plain mapping the method checks itself

    def train(self, run, model, tokenizer):
        seen = len(run.executions())
        return TrainResult(model=model, log_history=[], output_dir=run.run_dir, steps=0,
                           metrics={"executions_seen": seen, "bonus": self.bonus})


def make(cfg):
    return Toy(cfg)
'''


@pytest.mark.slow  # run.py in a new process
def test_a_toy_method_plugs_in_without_touching_the_pipeline(tmp_path):
    (tmp_path / "conf" / "method").mkdir(parents=True)
    (tmp_path / "toy_method.py").write_text(TOY)
    (tmp_path / "conf" / "method" / "toy.yaml").write_text("module: toy_method\nname: toy\nbonus: 3\n")
    run_dir = tmp_path / "run"
    overrides = [o for o in SMALL if not o.startswith("method.")]
    env = dict(os.environ, PYTHONPATH=str(tmp_path), HF_HUB_OFFLINE="1", WANDB_MODE="offline")
    searchpath = f"hydra.searchpath=[file://{tmp_path / 'conf'},file://{ROOT / 'experiments'}]"  # + experiment=smoke
    done = subprocess.run([sys.executable, str(ROOT / "run.py"), *overrides, "method=toy", "method.bonus=5",
                           searchpath, f"hydra.run.dir={run_dir}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["method"] == {"executions_seen": 3 * 2, "bonus": 5}
    assert set(metrics) == {"base", "trained", "method", "sandbox"} and not (run_dir / "pairs.jsonl").exists()
    assert (run_dir / "executions.jsonl").exists()


def test_rounds_train_from_the_latest_policy_and_a_kill_resumes_inside_the_round(tmp_path, monkeypatch, capsys):
    from eta.methods.dpo import DPO

    real_train, calls = DPO.train, []

    def killed_in_round_2(self, run_ctx, model, tokenizer):
        calls.append(run_ctx.round)
        if run_ctx.round == 2:
            raise KeyboardInterrupt
        return real_train(self, run_ctx, model, tokenizer)

    monkeypatch.setattr(DPO, "train", killed_in_round_2)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "rounds=2")
    monkeypatch.setattr(DPO, "train", real_train)
    counts = Counts(monkeypatch)
    metrics, out = run(tmp_path, "rounds=2", capsys=capsys)
    assert calls == [1, 2] and "redoing" not in out
    assert "trained 1 steps (reused a finished run)" in out and "trained 1 steps (done)" in out  # round 1, round 2
    assert counts.prompts == 3  # round 2's trained policy's evaluation: its training samples were already drawn
    assert set(metrics["rounds"]) == {"1", "2"} and metrics["trained"] == metrics["rounds"]["2"]
    round_2 = [json.loads(line) for line in (tmp_path / "round_2" / "samples.jsonl").read_text().splitlines()]
    assert {s["policy"] for s in round_2} == {"round_1"}  # sampled from the policy round 1 trained
    assert (tmp_path / "round_2" / "train" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "plots" / "rounds.png").stat().st_size > 1000

    _, out = run(tmp_path, "rounds=2", "method.max_steps=2", capsys=capsys)
    assert "round 1: redoing 'train': method.max_steps (1 -> 2) changed" in out
    assert "round 2: redoing 'sample': previous_round_policy" in out, out  # round 1's new policy is new input
