"""Every config file composes, and bad values fail at composition with the key's name."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("hydra")
from helpers import ROOT  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from eta.config import enum_text  # noqa: E402

pytestmark = pytest.mark.needs_torch
CONF = ROOT / "conf"
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir())


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes(compose, group, option):
    cfg = compose(f"{group}={option}")
    OmegaConf.resolve(cfg)
    node = cfg[group]
    if group == "paths":
        assert Path(node.output_dir).is_absolute()
    elif group != "sampler":  # the sampler group's one option carries no name: nothing read it
        assert enum_text(node.name) == option
    if group == "method":  # a method's own check: its keys and its TRL config's fields
        from eta.config import parse
        from eta.methods import load_method

        assert load_method(parse(cfg)).trains_policy in (True, False)


@pytest.mark.parametrize("override", [
    "dataset.holdout_fraction=1.5", "model.lora.r=0", "model.lora.dropout=1.0", "sampler.top_p=0", "sampler.n=0",
    "heuristic.max_pairs_per_problem=0", "execute.workers=0", "eval.repair.n=0", "eval.ks=[0,1]",
])
def test_a_value_out_of_range_fails_in_its_schema_naming_the_key(compose, override):
    """The schemas in eta/config.py check ranges too (eta.config.parse, before any stage runs)."""
    from eta.config import parse
    from eta.errors import ConfigError

    cfg = compose(override)
    with pytest.raises(ConfigError) as info:
        parse(cfg)
    key, value = override.split("=")
    assert str(info.value).startswith(f"{key}: ") and "out of range" in str(info.value)


EXPERIMENTS = sorted(p.stem for p in (ROOT / "experiments" / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", [None, *EXPERIMENTS])
def test_the_shipped_configs_parse_into_the_schemas(compose, experiment):
    from eta.config import DType, RootConf, parse

    root = parse(compose(*([f"experiment={experiment}"] if experiment else [])))
    assert isinstance(root, RootConf) and root.model.dtype in set(DType) and root.model.lora.r >= 1


@pytest.mark.parametrize("overrides", [(), ("experiment=smoke",), ("method=grpo", "dist=zero2"), ("model=openai",),
                                       ("experiment=comparison", "model=tiny", "arm=eta_rm"), ("method=repair",)])
def test_the_typed_config_reads_as_the_composed_one(compose, overrides):
    """What the stages record (their keys in stages.json, the finished run's digest) comes from the typed
    config the pipeline passes down: it must read as the composed config did, or every earlier run would
    look stale and be redone."""
    from eta.config import parse, plain_dict

    cfg = compose(*overrides)
    assert plain_dict(parse(cfg), "config") == OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)


def test_a_node_from_outside_hydra_is_checked_by_its_schema():
    """eta.config.checked: a node Hydra did not merge (a method's sub-node, a test's dict) gets the schema's
    checks, with one line naming the key, and the nearest keys for a misspelt one."""
    from eta.config import DistConf, HostedConf, LoraConf, checked
    from eta.errors import ConfigError

    assert checked(LoraConf, {"r": 4}, "model.lora").r == 4 and checked(LoraConf, None, "model.lora").alpha == 32
    for schema, node, message in [
        (LoraConf, {"alfa": 4}, "model.lora.alfa: not a key of model.lora; did you mean alpha?"),
        (LoraConf, {"r": "four"}, "model.lora.r: Value 'four' of type 'str' could not be converted to Integer"),
        (LoraConf, {"r": 0}, "model.lora.r: 0 is out of range"),
        (DistConf, {"name": "zero2"}, "dist.deepspeed: dist=zero2 needs a 'deepspeed' mapping"),
        (HostedConf, {"model_id": "m", "concurency": 2}, "model.hosted.concurency: not a key of model.hosted; "
                                                         "did you mean concurrency?"),
        (HostedConf, {"model_id": "m", "send": ["temperature", "logprobs"]}, "model.hosted.send: 'logprobs' is not one of"),
        (HostedConf, {"model_id": "m", "concurrency": 0}, "model.hosted.concurrency: 0 is out of range"),
        (HostedConf, {}, "model.hosted.model_id: a hosted model needs the service's model name"),
        (HostedConf, {"model_id": "m", "prices": {"m": {"input": 1.0}}}, "model.hosted.prices.m: expected"),
    ]:
        with pytest.raises(ConfigError) as info:
            checked(schema, node, "dist" if schema is DistConf else "model.hosted" if schema is HostedConf else "model.lora")
        assert str(info.value).startswith(message) and "\n" not in str(info.value), str(info.value)


def test_default_config_is_smollm2_dpo(cfg):
    assert cfg.model.name == "smollm2_135m" and cfg.method.name == "dpo" and cfg.method.module == "eta.methods.dpo"
    assert cfg.logger.mode.value == "offline"


def test_the_smoke_experiment_is_what_the_run_py_tests_count_on(smoke_cfg):
    """tests/helpers.SMOKE: the tiny in-process model, no logger, 4 problems x 2 samples, 2 training steps."""
    assert enum_text(smoke_cfg.model.name) == "tiny" and enum_text(smoke_cfg.logger.name) == "none"
    assert (enum_text(smoke_cfg.dataset.name), smoke_cfg.dataset.limit, smoke_cfg.sampler.n) == ("humaneval", 4, 2)
    assert smoke_cfg.method.max_steps == 2 and smoke_cfg.prefer.include_reference


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (ROOT / "experiments" / "experiment").glob("*.yaml")))
def test_every_experiment_composes(compose, experiment):
    cfg = compose(f"experiment={experiment}")
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
def test_invalid_values_fail_at_composition_naming_the_key(compose, override, key):
    """Hydra's schemas check most groups; a method checks its own node before any stage runs."""
    from eta.methods import load_method

    with pytest.raises(Exception) as info:
        cfg = compose(override)
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
def test_a_method_names_the_bad_key_in_one_line(compose, override, message):
    from eta.errors import ConfigError
    from eta.methods import load_method

    cfg = compose(*override.split())
    with pytest.raises(ConfigError) as info:
        load_method(cfg)
    assert message in str(info.value) and "\n" not in str(info.value)
