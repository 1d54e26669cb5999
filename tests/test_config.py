"""Every config file composes, and bad values fail at composition with the key's name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("hydra")
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from eta.config import enum_text, register  # noqa: E402

pytestmark = pytest.mark.needs_torch
ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir())


@pytest.fixture(autouse=True)
def hydra_conf(monkeypatch):
    monkeypatch.setenv("ETA_ROOT", str(ROOT))
    register()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        yield
    GlobalHydra.instance().clear()


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes(group, option):
    cfg = compose(config_name="config", overrides=[f"{group}={option}"])
    OmegaConf.resolve(cfg)
    node = cfg[group]
    if group != "paths":
        assert enum_text(node.name) == option
    else:
        assert Path(node.output_dir).is_absolute()
    if group == "method":  # a method's own check: its keys and its TRL config's fields
        from eta.methods import load_method

        assert load_method(cfg).trains_policy in (True, False)


@pytest.mark.parametrize("override", [
    "dataset.holdout_fraction=1.5", "model.lora.r=0", "model.lora.dropout=1.0", "sampler.top_p=0", "sampler.n=0",
    "heuristic.max_pairs_per_problem=0", "execute.workers=0", "eval.repair.n=0", "eval.ks=[0,1]",
])
def test_a_value_out_of_range_fails_in_its_schema_naming_the_key(override):
    """The schemas in eta/config.py check ranges too (eta.config.parse, before any stage runs)."""
    from eta.config import parse
    from eta.errors import ConfigError

    cfg = compose(config_name="config", overrides=[override])
    with pytest.raises(ConfigError) as info:
        parse(cfg)
    key, value = override.split("=")
    assert str(info.value).startswith(f"{key}: ") and "out of range" in str(info.value)


EXPERIMENTS = sorted(p.stem for p in (ROOT / "experiments" / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", [None, *EXPERIMENTS])
def test_the_shipped_configs_parse_into_the_schemas(experiment):
    from eta.config import DType, RootConf, parse

    root = parse(compose(config_name="config", overrides=[f"experiment={experiment}"] if experiment else []))
    assert isinstance(root, RootConf) and root.model.dtype in set(DType) and root.model.lora.r >= 1


def test_default_config_is_smollm2_dpo():
    cfg = compose(config_name="config")
    assert cfg.model.name == "smollm2_135m" and cfg.method.name == "dpo" and cfg.method.module == "eta.methods.dpo"
    assert cfg.logger.mode.value == "offline"


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (ROOT / "experiments" / "experiment").glob("*.yaml")))
def test_every_experiment_composes(experiment):
    cfg = compose(config_name="config", overrides=[f"experiment={experiment}"])
    OmegaConf.resolve(cfg)
    assert cfg.model.name


@pytest.mark.parametrize("override,key", [
    ("sampler.n=many", "sampler.n"),
    ("method.beta=strong", "method.beta"),
    ("model.dtype=float17", "model.dtype"),
    ("model.dtype=float16", "model.dtype"),  # the loader takes float32 and bfloat16 only: so does the schema
    ("heuristic.criteria=[passed,luck]", "heuristic.criteria"),
    ("method.lerning_rate=1e-5", "lerning_rate"),
    ("dataset.name=imagenet", "dataset.name"),
])
def test_invalid_values_fail_at_composition_naming_the_key(override, key):
    """Hydra's schemas check most groups; a method checks its own node before any stage runs."""
    from eta.methods import load_method

    with pytest.raises(Exception) as info:
        cfg = compose(config_name="config", overrides=[override])
        OmegaConf.resolve(cfg)
        load_method(cfg)
    assert key in str(info.value)


@pytest.mark.parametrize("override,message", [
    ("+method.lerning_rate=1e-5", "method.lerning_rate: not a key of method 'dpo' nor a field of trl.DPOConfig; "
                                  "did you mean learning_rate"),
    ("method.loss_type=sigmoid", "method.loss_type: 'sigmoid' is not of type list"),
    ("+method.output_dir=/tmp/x", "method.output_dir: set by eta from the run"),
    ("method=none +method.beta=0.1", "method.beta: method=none trains nothing"),
    ("method.module=eta.methods.nosuch", "method.module: no module 'eta.methods.nosuch'"),
])
def test_a_method_names_the_bad_key_in_one_line(override, message):
    from eta.errors import ConfigError
    from eta.methods import load_method

    cfg = compose(config_name="config", overrides=override.split())
    with pytest.raises(ConfigError) as info:
        load_method(cfg)
    assert message in str(info.value) and "\n" not in str(info.value)
