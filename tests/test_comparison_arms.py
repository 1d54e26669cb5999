"""The comparison's arms: listed once in experiments/experiment/comparison.yaml, each with its file, and each
arm file composes with the experiment."""

from __future__ import annotations

import pytest
import yaml

pytest.importorskip("hydra")
from helpers import ROOT  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402


ARMS = sorted(p.stem for p in (ROOT / "experiments" / "arm").glob("*.yaml"))


def listed_arms() -> list[str]:
    text = yaml.safe_load((ROOT / "experiments" / "experiment" / "comparison.yaml").read_text())
    return text["hydra"]["sweeper"]["params"]["arm"].split(",")


def test_every_arm_file_is_listed_and_every_listed_arm_has_a_file():
    listed = listed_arms()
    assert set(ARMS) <= set(listed), "an arm file the comparison does not list"
    assert {"base", "sft", "dpo_binary", "dpo_verdict", "dpo_random", "eta_dpo", "grpo_binary", "grpo_pass_rate",
            "grpo_divergence", "rm_no_trace", "eta_rm"} <= set(ARMS)
    assert sorted(listed) == ARMS, "an arm the comparison lists has no experiments/arm/<name>.yaml"


@pytest.mark.parametrize("arm", ARMS)
def test_every_arm_composes_with_the_comparison(compose, arm):
    from eta.methods import load_method

    cfg = compose("experiment=comparison", f"arm={arm}")
    OmegaConf.resolve(cfg)
    method = load_method(cfg)
    assert cfg.label
    if method.trains_policy:  # the matched budget: every trained arm takes the same steps and examples per step
        assert cfg.method.max_steps == cfg.compare.budget.max_steps
        assert cfg.method.per_device_train_batch_size == cfg.compare.budget.batch_size
        assert cfg.method.gradient_accumulation_steps == cfg.compare.budget.grad_accum


def composed(compose, arm: str):
    cfg = compose("experiment=comparison", f"arm={arm}")
    OmegaConf.resolve(cfg)
    return cfg


def test_the_contrasts_name_arms_that_exist_and_each_primary_one_differs_in_the_trace_alone(compose):
    cfgs = {arm: composed(compose, arm) for arm in ARMS}
    by_label = {str(c.label): c for c in cfgs.values()}
    assert len(by_label) == len(ARMS), "two arms share a label"
    compare = OmegaConf.to_container(cfgs["base"].compare)
    primary = compare["primary"]["contrasts"]
    assert primary == {"ETA-DPO": "DPO-verdict", "GRPO-divergence": "GRPO-pass_rate", "ETA-RM": "RM-no-trace"}
    for arm, others in compare["counterparts"].items():
        assert {arm, *([others] if isinstance(others, str) else others)} <= set(by_label), arm
    trace = {"divergence", "steps"}
    eta, verdict = (list(map(str, by_label[x].heuristic.criteria)) for x in ("ETA-DPO", "DPO-verdict"))
    assert [c for c in eta if c not in trace] == verdict  # ETA's hierarchy is the verdict's plus the trace
    assert OmegaConf.to_container(by_label["ETA-RM"].method, resolve=True) == {
        **OmegaConf.to_container(by_label["RM-no-trace"].method, resolve=True),
        "rm": {**OmegaConf.to_container(by_label["RM-no-trace"].method.rm), "with_trace": True}}
    rule = {label: str(by_label[label].method.reward) for label in ("GRPO-divergence", "GRPO-pass_rate")}
    assert rule == {"GRPO-divergence": "divergence", "GRPO-pass_rate": "pass_rate"}


def test_every_dpo_arm_shares_the_pair_composition_and_the_held_out_pairs(compose):
    dpo = [c for c in (composed(compose, arm) for arm in ARMS) if c.method.name == "dpo"]
    assert len(dpo) == 5  # binary, verdict, random, ETA, ETA with token credit
    for c in dpo:
        assert str(c.prefer.composition) == "matched"
    assert len({str(OmegaConf.to_container(c.prefer)) for c in dpo}) == 1  # composition, seed, held-out heuristic
    assert {"divergence", "steps"} <= set(map(str, dpo[0].prefer.heldout.criteria))  # a trace orders some held-out pairs
