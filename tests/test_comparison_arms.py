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
    assert {"base", "sft", "dpo_binary", "eta_dpo"} <= set(ARMS)
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
