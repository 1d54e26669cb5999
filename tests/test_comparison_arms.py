"""The comparison's arms: listed once in experiments/experiment/comparison.yaml, the ones with a file run, each
arm file composes with the experiment."""

from __future__ import annotations

import pytest
import yaml

pytest.importorskip("hydra")
from helpers import ROOT  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from eta.choices import existing_options  # noqa: E402
from eta.errors import ConfigError  # noqa: E402

ARMS = sorted(p.stem for p in (ROOT / "experiments" / "arm").glob("*.yaml"))


def listed_arms() -> list[str]:
    text = yaml.safe_load((ROOT / "experiments" / "experiment" / "comparison.yaml").read_text())
    value = text["hydra"]["sweeper"]["params"]["arm"]
    assert value.startswith("${eta_existing:arm,") and value.endswith("}")
    return value[len("${eta_existing:arm,"):-1].split(",")


def test_existing_options_keeps_the_listed_arms_with_a_file_in_order(monkeypatch, capsys, tmp_path):
    (tmp_path / "experiments" / "arm").mkdir(parents=True)
    for name in ("b", "a", "d"):
        (tmp_path / "experiments" / "arm" / f"{name}.yaml").write_text("label: x\n")
    monkeypatch.setenv("ETA_ROOT", str(tmp_path))
    assert existing_options("arm", "d,c,a,zz") == "d,a"
    assert "c, zz" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="none of c has a config file; the arms there are: a, b, d"):
        existing_options("arm", "c")


def test_every_arm_file_is_listed_and_the_sweep_value_resolves_to_those_with_a_file(monkeypatch):
    monkeypatch.setenv("ETA_ROOT", str(ROOT))
    listed = listed_arms()
    assert set(ARMS) <= set(listed), "an arm file the comparison does not list"
    assert {"base", "sft", "dpo_binary", "eta_dpo"} <= set(ARMS)
    assert existing_options("arm", ",".join(listed)).split(",") == [a for a in listed if a in ARMS]


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
