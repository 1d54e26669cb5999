"""The comparison's arms: listed once in experiments/experiment/comparison.yaml, each with its file, and each
arm file composes with the experiment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytest.importorskip("hydra")
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from eta.config import register  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARMS = sorted(p.stem for p in (ROOT / "experiments" / "arm").glob("*.yaml"))


@pytest.fixture
def hydra_conf(monkeypatch):
    monkeypatch.setenv("ETA_ROOT", str(ROOT))
    register()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        yield
    GlobalHydra.instance().clear()


def listed_arms() -> list[str]:
    text = yaml.safe_load((ROOT / "experiments" / "experiment" / "comparison.yaml").read_text())
    return text["hydra"]["sweeper"]["params"]["arm"].split(",")


def test_every_arm_file_is_listed_and_every_listed_arm_has_a_file():
    listed = listed_arms()
    assert set(ARMS) <= set(listed), "an arm file the comparison does not list"
    assert {"base", "sft", "dpo_binary", "eta_dpo"} <= set(ARMS)
    assert sorted(listed) == ARMS, "an arm the comparison lists has no experiments/arm/<name>.yaml"


@pytest.mark.parametrize("arm", ARMS)
def test_every_arm_composes_with_the_comparison(hydra_conf, arm):
    from eta.methods import load_method

    cfg = compose(config_name="config", overrides=["experiment=comparison", f"arm={arm}"])
    OmegaConf.resolve(cfg)
    method = load_method(cfg)
    assert cfg.label
    if method.trains_policy:  # the matched budget: every trained arm takes the same steps and examples per step
        assert cfg.method.max_steps == cfg.compare.budget.max_steps
        assert cfg.method.per_device_train_batch_size == cfg.compare.budget.batch_size
        assert cfg.method.gradient_accumulation_steps == cfg.compare.budget.grad_accum
