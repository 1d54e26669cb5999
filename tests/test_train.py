"""ETA-DPO training (eta.train): the loss, train_dpo on the tiny model, resuming, configs, launch helpers."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.needs_torch

from eta.models.tiny import build_tiny_model  # noqa: E402
from eta.methods import dpo  # noqa: E402
from eta.train import runner  # noqa: E402
from eta.train.distributed import (  # noqa: E402
    deepspeed_config,
    is_main_process,
    prepare_argv,
    strip_launcher_args,
)
from eta.train.losses import dpo_loss  # noqa: E402
from eta.errors import ConfigError  # noqa: E402
import eta.train.settings as settings_mod  # noqa: E402
from eta.train.settings import build_args, cpu_has_native_bf16, lora_config, lora_settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}


def method(**overrides):
    cfg = {"name": "dpo", "learning_rate": 1e-2, "per_device_train_batch_size": 2, "max_steps": 3,
           "save_steps": 2, "logging_steps": 1, "bf16": False, "precompute_ref_log_probs": False,
           "disable_tqdm": True}
    cfg.update(overrides)
    return cfg


def dpo_args(cfg, out):
    """The method node's DPOArgs (trl.DPOConfig with eta's keys), as eta.methods.dpo builds it."""
    return build_args(dpo.DPOArgs, cfg, out)


def train(model, tok, data, cfg, out, lora_cfg=None, resume=True):
    args = dpo_args(cfg, out)
    return dpo.train_dpo(model, tok, data, args, lora_config(lora_cfg) if args.use_lora else None, resume=resume)


def pairs(tokenizer, n: int = 6):
    from datasets import Dataset

    rows = []
    for i in range(n):
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": f"Write f{i}."}], tokenize=False,
                                               add_generation_prompt=True)
        rows.append({"prompt": prompt, "chosen": f"def f{i}():\n    return {i}",
                     "rejected": f"def f{i}():\n    return {i} / 0"})
    return Dataset.from_list(rows)


# ---------------------------------------------------------------- the loss

def test_dpo_loss_is_log2_when_policy_equals_reference():
    logps = torch.tensor([-12.0, -3.5, -40.0])
    out = dpo_loss(logps, logps - 2.0, logps, logps - 2.0, beta=0.1)
    assert torch.allclose(out.losses, torch.full((3,), math.log(2.0)))
    assert torch.all(out.chosen_rewards == 0) and torch.all(out.rejected_rewards == 0)


def test_dpo_loss_matches_hand_computation_and_pushes_chosen_up():
    pc = torch.tensor([-10.0], requires_grad=True)
    out = dpo_loss(pc, torch.tensor([-20.0]), torch.tensor([-11.0]), torch.tensor([-18.0]), beta=0.5)
    margin = 0.5 * ((-10.0 + 11.0) - (-20.0 + 18.0))  # 0.5 * (1 - (-2)) = 1.5
    assert out.losses.item() == pytest.approx(math.log1p(math.exp(-margin)))
    assert out.chosen_rewards.item() == pytest.approx(0.5) and out.rejected_rewards.item() == pytest.approx(-1.0)
    out.losses.sum().backward()
    assert pc.grad.item() < 0  # raising the chosen log-prob lowers the loss


def test_dpo_loss_matches_trl_preference_loss_fn():
    from trl.losses.dpo_loss import FusedLinearDPOFunction

    g = torch.Generator().manual_seed(0)
    pc, pr, rc, rr = (-50 * torch.rand(8, generator=g) for _ in range(4))
    ours = dpo_loss(pc, pr, rc, rr, beta=0.2)
    full_target = torch.zeros(16, 5)  # TRL divides by n_pairs = len(full_target) // 2
    trl_out = FusedLinearDPOFunction.preference_loss_fn(pc, pr, full_target, rc, rr, beta=0.2, loss_type="sigmoid")
    assert ours.losses.mean().item() == pytest.approx(trl_out[0].item(), rel=1e-6)
    assert torch.allclose(ours.chosen_rewards, trl_out[1]) and torch.allclose(ours.rejected_rewards, trl_out[2])


def test_dpo_loss_matches_dpo_trainer_on_a_real_batch(tmp_path):
    """The loss DPOTrainer computes on a tiny-model batch equals dpo_loss on the log-probs it logs."""
    from trl import DPOTrainer

    model, tok = build_tiny_model()
    args = dpo_args(method(precompute_ref_log_probs=True, per_device_train_batch_size=1), tmp_path)
    trainer = DPOTrainer(model=model, args=args, train_dataset=pairs(tok, 2),
                         processing_class=tok, peft_config=lora_config(LORA))
    batch = trainer.data_collator([trainer.train_dataset[0]])
    batch["ref_chosen_logps"] = torch.tensor([-300.0])  # arbitrary references, so the margin is not zero
    batch["ref_rejected_logps"] = torch.tensor([-290.0])
    with torch.no_grad():
        trl_loss = trainer.compute_loss(trainer.model, batch)
    metrics = trainer._metrics["train"]
    ours = dpo_loss(torch.tensor(metrics["logps/chosen"][-1:]), torch.tensor(metrics["logps/rejected"][-1:]),
                    batch["ref_chosen_logps"], batch["ref_rejected_logps"], beta=args.beta)
    assert trl_loss.item() == pytest.approx(ours.losses.item(), rel=1e-5)


def test_dpo_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="1-D and of one shape"):
        dpo_loss(torch.zeros(2), torch.zeros(3), torch.zeros(2), torch.zeros(2), beta=0.1)


# ---------------------------------------------------------------- train_dpo on the tiny model

def lora_and_base_params(model):
    lora = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}
    base = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    return lora, base


def test_train_dpo_updates_lora_only_logs_and_saves(tmp_path):
    model, tok = build_tiny_model()
    base_before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = train(model, tok, pairs(tok), method(), tmp_path / "run", lora_cfg=LORA)

    assert result.steps == 3 and not result.reused and result.resumed_from is None
    losses = [h["loss"] for h in result.log_history if "loss" in h]
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses)
    assert losses[0] == pytest.approx(math.log(2.0), abs=1e-4)  # policy == reference at step 1
    lora_after, base_after = lora_and_base_params(result.model)
    assert lora_after, "no LoRA parameters in the trained model"
    # lora_B starts at zero, so any non-zero B means the adapter trained
    assert any(p.abs().sum() > 0 for n, p in lora_after.items() if "lora_B" in n)
    base_after = {n.removeprefix("base_model.model.").replace(".base_layer", ""): p for n, p in base_after.items()}
    assert base_after.keys() == base_before.keys()
    for name, before in base_before.items():
        assert torch.equal(before, base_after[name]), f"base weight {name} changed"
    out = result.output_dir
    assert (out / runner.ADAPTER_FILE).is_file() and (out / runner.STATE_FILE).is_file()
    assert runner.latest_checkpoint(out).name == "checkpoint-3"
    generated = result.model.generate(**tok(pairs(tok)[0]["prompt"], return_tensors="pt"), max_new_tokens=4,
                                      do_sample=False)
    assert generated.shape[1] > 0


def test_saved_adapter_reloads_to_the_same_outputs(tmp_path):
    from peft import PeftModel

    model, tok = build_tiny_model()
    result = train(model, tok, pairs(tok), method(), tmp_path / "run", lora_cfg=LORA)
    fresh, _ = build_tiny_model()
    reloaded = PeftModel.from_pretrained(fresh, str(result.output_dir)).eval()
    ids = tok("def f(x):", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(result.model(ids).logits, reloaded(ids).logits, atol=1e-5)
        with reloaded.disable_adapter():  # and the adapter is not a no-op
            assert not torch.allclose(result.model(ids).logits, reloaded(ids).logits, atol=1e-5)


def test_finished_run_is_loaded_not_retrained(tmp_path):
    model, tok = build_tiny_model()
    first = train(model, tok, pairs(tok), method(), tmp_path / "run", lora_cfg=LORA)
    stamp = (first.output_dir / runner.ADAPTER_FILE).stat().st_mtime_ns
    fresh, _ = build_tiny_model()
    again = train(fresh, tok, pairs(tok), method(), tmp_path / "run", lora_cfg=LORA)
    assert again.reused and again.steps == 3 and again.log_history == first.log_history
    assert (first.output_dir / runner.ADAPTER_FILE).stat().st_mtime_ns == stamp
    ids = tok("x = ", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(first.model(ids).logits, again.model(ids).logits, atol=1e-5)
    fresh2, _ = build_tiny_model()
    (first.output_dir / "checkpoint-9").mkdir()  # a later step of the old run must not survive a restart
    retrained = train(fresh2, tok, pairs(tok), method(), tmp_path / "run", lora_cfg=LORA, resume=False)
    assert not retrained.reused and retrained.steps == 3
    assert runner.latest_checkpoint(first.output_dir).name == "checkpoint-3"
    assert not (first.output_dir / "checkpoint-9").exists()


def test_interrupted_run_resumes_from_last_checkpoint_and_ends_where_a_straight_run_does(tmp_path):
    cfg = method(max_steps=4, save_steps=2)
    model, tok = build_tiny_model()
    straight = train(model, tok, pairs(tok), cfg, tmp_path / "straight", lora_cfg=LORA)

    model, _ = build_tiny_model()
    run = tmp_path / "interrupted"
    train(model, tok, pairs(tok), cfg, run, lora_cfg=LORA)
    # make it look killed after step 2's checkpoint: no final adapter, state or later checkpoint
    for name in (runner.ADAPTER_FILE, runner.STATE_FILE):
        (run / name).unlink()
    shutil.rmtree(run / "checkpoint-4")
    assert not runner.is_finished(run)

    model, _ = build_tiny_model()
    resumed = train(model, tok, pairs(tok), cfg, run, lora_cfg=LORA)
    assert resumed.resumed_from == run / "checkpoint-2" and resumed.steps == 4
    assert [h["step"] for h in resumed.log_history if "loss" in h] == [1, 2, 3, 4]
    ours, _ = lora_and_base_params(resumed.model)
    ref, _ = lora_and_base_params(straight.model)
    for name, value in ref.items():
        assert torch.allclose(value, ours[name], atol=1e-6), f"{name} differs after resuming"


def test_full_fine_tuning_without_lora_changes_the_base_weights(tmp_path):
    model, tok = build_tiny_model()
    before = model.model.layers[0].self_attn.q_proj.weight.detach().clone()
    result = train(model, tok, pairs(tok), method(use_lora=False, max_steps=2), tmp_path / "full")
    assert not torch.equal(before, result.model.model.layers[0].self_attn.q_proj.weight)
    assert (result.output_dir / runner.FULL_MODEL_FILE).is_file()
    fresh, _ = build_tiny_model()
    again = train(fresh, tok, pairs(tok), method(use_lora=False, max_steps=2), tmp_path / "full")
    assert again.reused
    assert torch.equal(again.model.model.layers[0].self_attn.q_proj.weight,
                       result.model.model.layers[0].self_attn.q_proj.weight)


def test_precompute_in_bf16_matches_the_reference_at_step_one(tmp_path, monkeypatch):
    """With precomputed reference log-probs the first step still sees policy == reference (loss log 2)."""
    monkeypatch.setattr(settings_mod, "cpu_has_native_bf16", lambda *a: True)  # bf16 even where emulated
    model, tok = build_tiny_model()
    cfg = method(precompute_ref_log_probs=True, bf16=True, max_steps=1, per_device_train_batch_size=6)
    result = train(model, tok, pairs(tok), cfg, tmp_path / "pre", lora_cfg=LORA)
    first = next(h for h in result.log_history if "loss" in h)
    assert first["loss"] == pytest.approx(math.log(2.0), abs=1e-3)


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path):
    x86 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 {}\n\n"
    for extra, native in (("avx512f avx512_bf16", True), ("amx_tile amx_bf16", True), ("avx512f avx512bw", False),
                          ("", False)):
        (tmp_path / "cpuinfo").write_text(x86.format(extra))
        assert cpu_has_native_bf16(tmp_path / "cpuinfo") is native, extra


def test_bf16_is_turned_off_with_a_note_on_a_cpu_without_native_bf16(tmp_path, monkeypatch, capsys):
    if torch.cuda.is_available():
        pytest.skip("the fallback is for CPUs")
    for native in (False, True):
        monkeypatch.setattr(settings_mod, "cpu_has_native_bf16", lambda *a, n=native: n)
        args = dpo_args(method(bf16=True), tmp_path)
        assert args.bf16 is native
        note = capsys.readouterr().out
        assert ("method.bf16 off: this CPU has no native bf16" in note) is not native
    args = dpo_args(method(bf16=False), tmp_path)  # asked off: off, silently
    assert args.bf16 is False and "bf16" not in capsys.readouterr().out


# ---------------------------------------------------------------- bad input

def test_bad_configs_and_datasets_are_named(tmp_path):
    model, tok = build_tiny_model()
    with pytest.raises(ConfigError, match="method.lerning_rate: not a key of method 'dpo' nor a field of "
                                          "trl.DPOConfig; did you mean learning_rate"):
        dpo_args({**method(), "lerning_rate": 1.0}, tmp_path)
    with pytest.raises(ConfigError, match="method.output_dir: set by eta"):
        dpo_args(method(output_dir="/tmp/elsewhere"), tmp_path)
    with pytest.raises(ConfigError, match="trl.DPOConfig rejects"):
        dpo_args(method(lr_scheduler_type="no-such-schedule"), tmp_path)
    with pytest.raises(ConfigError, match="model.lora.rank: not a key of model.lora"):  # the schema's message
        lora_settings({"rank": 4})
    with pytest.raises(ConfigError, match=r"missing column\(s\) \['rejected'\]"):
        train(model, tok, pairs(tok).remove_columns("rejected"), method(), tmp_path, lora_cfg=LORA)
    with pytest.raises(ConfigError, match="max_length=8"):
        train(model, tok, pairs(tok), method(max_length=8), tmp_path, lora_cfg=LORA)


def shipped(group: str, name: str):
    """conf/<group>/<name>.yaml as Hydra composes it: merged over the schema of eta/config.py, if any."""
    from omegaconf import OmegaConf

    from eta.config import GROUPS

    node = OmegaConf.load(ROOT / "conf" / group / f"{name}.yaml")
    node.pop("defaults", None)  # Hydra consumes the defaults list while composing
    return OmegaConf.merge(OmegaConf.structured(GROUPS[group]), node) if group in GROUPS else node


def test_shipped_method_configs_load():
    args = dpo_args(shipped("method", "dpo"), "/tmp/unused")
    assert args.use_lora and args.loss_type == ["sigmoid", "sft"] and args.loss_weights == [1.0, 1.0]
    assert args.report_to == []
    assert args.beta == shipped("method", "dpo").beta and args.logging_steps == shipped("method", "dpo").logging_steps
    assert shipped("method", "none").name == "none"
    assert lora_settings(shipped("model", "smollm2_135m").lora)["r"] == 16


# ---------------------------------------------------------------- distributed helpers

def test_strip_launcher_args_both_spellings():
    env: dict[str, str] = {}
    assert strip_launcher_args(["run.py", "--local_rank=3", "dist=zero2"], env) == ["run.py", "dist=zero2"]
    assert env["LOCAL_RANK"] == "3"
    env = {"LOCAL_RANK": "1"}  # the launcher's env wins over the flag
    assert strip_launcher_args(["run.py", "--local-rank", "2", "a=b"], env) == ["run.py", "a=b"]
    assert env["LOCAL_RANK"] == "1"
    with pytest.raises(ValueError, match="rank number"):
        strip_launcher_args(["run.py", "--local_rank"], {})


def test_rank_and_run_dir_pinning():
    assert is_main_process({}) and is_main_process({"RANK": "0"}) and not is_main_process({"RANK": "2"})
    single = prepare_argv(["run.py", "method=dpo"], {})
    assert single == ["run.py", "method=dpo"]
    with pytest.raises(SystemExit, match="hydra.run.dir"):
        prepare_argv(["run.py"], {"WORLD_SIZE": "2", "RANK": "0"})
    pinned = prepare_argv(["run.py", "--local_rank=1"], {"WORLD_SIZE": "2", "RANK": "1", "ETA_RUN_DIR": "out/x"})
    assert "hydra.run.dir=out/x" in pinned and "hydra.output_subdir=null" in pinned
    assert not any(a.startswith("--local") for a in pinned)


def test_prepare_argv_makes_a_launched_rank_acceptable_to_hydra(tmp_path):
    """A real @hydra.main app, started as rank 1 of 2 with the deepspeed launcher's --local_rank flag."""
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        import hydra
        from eta.train.distributed import prepare_argv
        @hydra.main(version_base=None, config_path=None)
        def main(cfg):
            from hydra.core.hydra_config import HydraConfig
            print("RUN_DIR", HydraConfig.get().runtime.output_dir, "LOCAL_RANK", os.environ["LOCAL_RANK"])
        if __name__ == "__main__":
            sys.argv = prepare_argv(sys.argv)
            main()
    """))
    env = {"WORLD_SIZE": "2", "RANK": "1", "ETA_RUN_DIR": str(tmp_path / "shared"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, str(app), "--local_rank=1"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"RUN_DIR {tmp_path / 'shared'} LOCAL_RANK 1" in done.stdout
    assert not (tmp_path / "shared" / ".hydra").exists()  # only rank 0 writes the config copy


def test_deepspeed_configs():
    assert deepspeed_config(None) is None
    assert deepspeed_config(shipped("dist", "none")) is None
    z2 = deepspeed_config(shipped("dist", "zero2"))
    z3 = deepspeed_config(shipped("dist", "zero3"))
    assert z2["zero_optimization"]["stage"] == 2 and z3["zero_optimization"]["stage"] == 3
    assert z2["train_micro_batch_size_per_gpu"] == "auto" and z2["bf16"]["enabled"] == "auto"
    z2["zero_optimization"]["stage"] = 0  # callers get a copy they may mutate
    assert deepspeed_config(shipped("dist", "zero2"))["zero_optimization"]["stage"] == 2
    with pytest.raises(ValueError, match="stage must be one of"):
        deepspeed_config({"name": "zero2", "deepspeed": {"zero_optimization": {"stage": 9}}})
    with pytest.raises(ValueError, match="dist.name: Invalid value 'zero9'"):  # the schema's enum
        deepspeed_config({"name": "zero9", "deepspeed": {"zero_optimization": {"stage": 2}}})
    with pytest.raises(ValueError, match="needs a 'deepspeed' mapping"):
        deepspeed_config({"name": "zero2"})


# ---------------------------------------------------------------- DeepSpeed (slow, optional)

@pytest.mark.slow
def test_deepspeed_smoke_on_cpu(tmp_path):
    pytest.importorskip("deepspeed", reason="deepspeed is not installed (see experiments/smoke_deepspeed.py)")
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "smoke_deepspeed.py"), "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "SMOKE-DEEPSPEED-OK" in done.stdout
