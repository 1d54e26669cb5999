"""``sampler.seed`` draws other samples: the key is read where samples are drawn, and the stage fingerprint
that redoes sampling when it changes is not a redo that draws the same samples again."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("hydra")
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402

from eta.config import register  # noqa: E402

pytestmark = pytest.mark.needs_torch
ROOT = Path(__file__).resolve().parents[1]
OVERRIDES = ["model=tiny", "dataset=humaneval", "dataset.limit=2", "logger=none", "method=none", "sampler.n=2",
             "sampler.max_new_tokens=8", "sampler.temperature=1.0"]


@pytest.fixture
def compose_with(monkeypatch):
    monkeypatch.setenv("ETA_ROOT", str(ROOT))
    register()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        yield lambda *extra: compose(config_name="config", overrides=[*OVERRIDES, *extra])
    GlobalHydra.instance().clear()


def test_sampler_seed_changes_the_samples_and_the_sample_stage_keys(compose_with, tmp_path):
    from eta.context import RunContext, load_splits
    from eta.methods import load_method
    from eta.models.tiny import build_tiny_model
    from eta.pipeline.fingerprint import plan
    from eta.pipeline.stages import sample_stage

    model, tokenizer = build_tiny_model()
    drawn, keys = {}, {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        cfg = compose_with(f"sampler.seed={seed}")
        train_tasks, eval_tasks = load_splits(cfg)
        ctx = RunContext(cfg, tmp_path / name, train_tasks=train_tasks, eval_tasks=eval_tasks)
        drawn[name] = [(r["task_id"], r["sample_id"], r["response"]) for r in sample_stage(ctx, model, tokenizer)]
        keys[name] = {spec.name: spec.keys for spec in plan(ctx, load_method(cfg))}
    assert len(drawn["a"]) == 2 * 2
    assert drawn["a"] == drawn["b"]  # the same seed draws the same samples: the difference below is the key's
    assert drawn["c"] != drawn["a"]
    assert keys["a"] == keys["b"]
    changed = {k for k in keys["a"]["sample"] if keys["a"]["sample"][k] != keys["c"]["sample"].get(k)}
    assert changed == {"sampler.seed"}
    assert keys["c"]["evaluate_base"]["sampler.seed"] == 1  # the evaluation samples are drawn with it too


@pytest.mark.parametrize("native, chosen", [("avx512_bf16", "bfloat16"), (None, None)])
def test_sampler_dtype_auto_samples_and_is_recorded_as_what_it_chose(compose_with, tmp_path, monkeypatch, native,
                                                                      chosen):
    import eta.sample.precision as precision
    from eta.context import RunContext, load_splits
    from eta.methods import load_method
    from eta.models.tiny import build_tiny_model
    from eta.pipeline.fingerprint import plan, sampler_dtype
    from eta.pipeline.stages import sample_stage

    monkeypatch.setattr(precision, "native_bf16", lambda: native)
    model, tokenizer = build_tiny_model()
    drawn, keys = {}, {}
    for name, dtype in (("auto", "auto"), ("explicit", chosen or "null")):
        cfg = compose_with(f"sampler.dtype={dtype}")
        train_tasks, eval_tasks = load_splits(cfg)
        ctx = RunContext(cfg, tmp_path / name, train_tasks=train_tasks, eval_tasks=eval_tasks)
        drawn[name] = [r["response"] for r in sample_stage(ctx, model, tokenizer)]
        keys[name] = {spec.name: spec.keys for spec in plan(ctx, load_method(cfg))}
        if name == "auto":
            line = sampler_dtype(cfg)[1]
            assert "sampler.dtype=auto" in line and (native or "no native bfloat16") in line
    assert drawn["auto"] == drawn["explicit"]  # auto sampled in what it chose
    assert keys["auto"] == keys["explicit"]  # and a run records that, so a machine that chooses otherwise redoes it
    assert keys["auto"]["sample"].get("sampler.dtype") == chosen
