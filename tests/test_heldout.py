"""DPO's implicit reward on held-out pairs (eta.train.heldout): the statistics against an independent
computation on the tiny model, the pairs made from hand-made evaluation files, and the run's metrics.json."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.needs_torch

from eta.train.heldout import heldout_pairs, implicit_reward_stats  # noqa: E402

PAIRS = [SimpleNamespace(prompt="Write f.", chosen="def f():\n    return 1", rejected="def f(:\n", criterion="passed"),
         SimpleNamespace(prompt="def g(x):\n", chosen="    return x", rejected="    return x / 0", criterion="steps"),
         SimpleNamespace(prompt="Write h.", chosen="def h(): pass", rejected="h = 3", criterion="passed")]


def lora_policy():
    from peft import get_peft_model

    from eta.models.tiny import build_tiny_model
    from eta.train.settings import lora_config

    model, tok = build_tiny_model()
    cfg = lora_config({"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]})
    return get_peft_model(model, cfg).eval(), tok


def direct_logp(model, tok, prompt: str, completion: str) -> float:
    """One unpadded sequence, log-probs summed over the completion's positions by hand."""
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    ids = p + tok(completion, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits.double()[0]
    return sum(torch.log_softmax(logits[i - 1], -1)[ids[i]].item() for i in range(len(p), len(ids)))


def test_an_untrained_adapter_has_zero_margins_no_accuracy_and_loss_ln2():
    policy, tok = lora_policy()  # LoRA's B starts at zero: the policy is its reference
    stats = implicit_reward_stats(policy, tok, PAIRS, beta=0.1)
    assert stats["pairs"] == 3 and stats["accuracy"] == 0.0  # a tie counts as wrong
    assert stats["margin"] == pytest.approx(0.0, abs=1e-9) and stats["loss"] == pytest.approx(math.log(2))


def test_stats_match_an_independent_computation_once_the_adapter_moved():
    policy, tok = lora_policy()
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in policy.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    beta = 0.3
    margins = []
    for p in PAIRS:
        ours = direct_logp(policy, tok, p.prompt, p.chosen), direct_logp(policy, tok, p.prompt, p.rejected)
        with policy.disable_adapter():
            ref = direct_logp(policy, tok, p.prompt, p.chosen), direct_logp(policy, tok, p.prompt, p.rejected)
        margins.append(beta * ((ours[0] - ref[0]) - (ours[1] - ref[1])))
    assert any(abs(m) > 1e-3 for m in margins)
    stats = implicit_reward_stats(policy, tok, PAIRS, beta=beta)
    assert stats["accuracy"] == pytest.approx(sum(m > 0 for m in margins) / 3)
    assert stats["margin"] == pytest.approx(sum(margins) / 3, abs=1e-4)
    assert stats["loss"] == pytest.approx(sum(math.log1p(math.exp(-m)) for m in margins) / 3, abs=1e-4)
    by = stats["by_criterion"]
    assert by["passed"]["pairs"] == 2 and by["steps"]["pairs"] == 1
    assert by["steps"]["margin"] == pytest.approx(margins[1], abs=1e-4)
    # the pairs only a trace orders (steps, divergence) apart: a binary arm's score where it never trained
    trace = stats["trace_ordered"]
    assert trace["pairs"] == 1 and trace["margin"] == pytest.approx(margins[1], abs=1e-4)


def test_no_adapter_or_no_pairs_measures_nothing():
    from eta.models.tiny import build_tiny_model

    model, tok = build_tiny_model()
    assert implicit_reward_stats(model, tok, PAIRS, beta=0.1) is None
    policy, tok = lora_policy()
    assert implicit_reward_stats(policy, tok, [], beta=0.1) is None


def write_eval(eval_dir: Path, outcomes: dict[str, list[bool]]) -> None:
    eval_dir.mkdir(parents=True)
    samples, records = [], []
    for task, passes in outcomes.items():
        for i, ok in enumerate(passes):
            samples.append({"task_id": task, "sample_id": i, "prompt": f"P{task}", "response": f"R{task}{i}",
                            "completion": f"C{task}{i}"})
            records.append({"task_id": task, "sample_id": i, "completion": f"C{task}{i}", "response": f"R{task}{i}",
                            "passed": ok, "outcome": "passed" if ok else "wrong_answer", "tests_passed": int(ok),
                            "tests_total": 1, "error_type": None, "steps": None, "tests": []})
    (eval_dir / "sampled_samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    (eval_dir / "sampled_executions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


BINARY = {"name": "binary", "criteria": ["passed"], "pairing": "all", "max_pairs_per_problem": 8, "seed": 0}


def test_heldout_pairs_pair_the_evaluation_samples_by_the_heuristic(tmp_path):
    write_eval(tmp_path / "eval", {"a": [True, False, False], "b": [False, False], "c": [True, True]})
    pairs = heldout_pairs(tmp_path / "eval", BINARY)
    # binary: every passing x failing sample of a problem; b and c have no such pair
    assert sorted((p.task_id, p.chosen, p.rejected) for p in pairs) == [("a", "Ra0", "Ra1"), ("a", "Ra0", "Ra2")]
    assert all(p.prompt == "Pa" for p in pairs)  # trained on what the policy said, under its prompt
    assert len(heldout_pairs(tmp_path / "eval", BINARY, max_pairs=1)) == 1
    from eta.tasks.schema import Task

    refs = [Task(task_id=t, prompt="", reference="def f(): pass", tests=(), entry_point="f") for t in "abz"]
    with_refs = heldout_pairs(tmp_path / "eval", BINARY, references=refs)
    # the reference beats each failing sample of a and b (z has no evaluation samples: no pairs)
    assert len(with_refs) == 2 + 2 + 2 and {p.task_id for p in with_refs} == {"a", "b"}
    assert heldout_pairs(tmp_path / "missing", BINARY) == []


def test_every_arm_is_scored_on_the_held_out_pairs_of_prefer_heldout_not_its_own_heuristic(tmp_path):
    from omegaconf import OmegaConf

    from eta.train.heldout import heldout_report

    write_eval(tmp_path / "run" / "eval" / "base", {"a": [True, False, False], "b": [False, False]})
    # the failing samples differ in tests passed: the verdict orders them, the binary heuristic cannot
    path = tmp_path / "run" / "eval" / "base" / "sampled_executions.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for r in rows:
        r["tests_total"], r["tests_passed"] = 4, (4 if r["passed"] else r["sample_id"])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    verdict = {"name": "verdict", "criteria": ["passed", "error_class", "tests"], "pairing": "all",
               "max_pairs_per_problem": 8, "seed": 0, "max_steps": 10000}
    said: list[str] = []

    def run(heldout):
        cfg = OmegaConf.create({"heuristic": BINARY, "prefer": {"include_reference": False, "heldout": heldout},
                                "seed": 0})
        return SimpleNamespace(cfg=cfg, run_dir=tmp_path / "run", round=1, eval_tasks=[], say=said.append)

    policy, tok = lora_policy()
    own = heldout_report(run(None), policy, tok, beta=0.1, max_pairs=None, cache_dir=tmp_path / "own")
    shared = heldout_report(run(verdict), policy, tok, beta=0.1, max_pairs=None, cache_dir=tmp_path / "shared")
    assert own["pairs"] == 2 and set(own["by_criterion"]) == {"passed"} and own["heuristic"] == "binary"
    # a's 2 pass/fail pairs, a's and b's failing pairs ordered by tests passed
    assert shared["pairs"] == 4 and shared["by_criterion"]["tests"]["pairs"] == 2 and shared["heuristic"] == "verdict"
    cached = json.loads((tmp_path / "shared" / "heldout_pairs.json").read_text())
    assert cached["heuristic"]["name"] == "verdict"
    # the cache answers the same heuristic only: another one is computed afresh in the same folder
    again = heldout_report(run(None), policy, tok, beta=0.1, max_pairs=None, cache_dir=tmp_path / "shared")
    assert again["pairs"] == 2
