"""Smoke test: a few ETA-DPO steps on the tiny model through DeepSpeed ZeRO, in one CPU process.

    DS_ACCELERATOR=cpu .venv/bin/python experiments/smoke_deepspeed.py [--stage 2] [--steps 3] [--out DIR]

Needs deepspeed (CPU build, no compiled ops):
    DS_BUILD_OPS=0 .venv/bin/pip install --no-build-isolation deepspeed==0.19.8
(without --no-build-isolation pip would build it against a freshly downloaded torch).

It runs ``eta.methods.dpo.train_dpo`` with ``conf/dist/zero<stage>.yaml`` as a one-process "world"
(gloo backend, DeepSpeed's CPU accelerator), the way ``accelerate launch`` would start rank 0, and
checks that the loss is finite, the LoRA weights moved and the adapter was saved. It prints
SMOKE-DEEPSPEED-OK on success and exits non-zero otherwise.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def single_process_world() -> None:
    """The environment a launcher gives rank 0 of a world of one."""
    for key, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1",
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()),
                       "DS_ACCELERATOR": "cpu", "TQDM_DISABLE": "1"}.items():
        os.environ.setdefault(key, value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", type=int, choices=(2, 3), default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    single_process_world()

    import deepspeed
    from datasets import Dataset
    from omegaconf import OmegaConf

    from eta.models.tiny import build_tiny_model
    from eta.methods.dpo import DPOArgs, train_dpo
    from eta.train.runner import ADAPTER_FILE
    from eta.train.settings import build_args, lora_config

    model, tok = build_tiny_model()
    rows = []
    for i in range(8):
        prompt = tok.apply_chat_template([{"role": "user", "content": f"Write f{i}."}], tokenize=False,
                                         add_generation_prompt=True)
        rows.append({"prompt": prompt, "chosen": f"def f{i}():\n    return {i}",
                     "rejected": f"def f{i}():\n    return {i} / 0"})
    method = {"name": "dpo", "learning_rate": 1e-2, "per_device_train_batch_size": 2, "max_steps": args.steps,
              "save_steps": args.steps, "logging_steps": 1, "bf16": args.bf16, "disable_tqdm": True}
    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}
    loaded = OmegaConf.load(ROOT / "conf" / "dist" / f"zero{args.stage}.yaml")
    dist = {k: v for k, v in loaded.items() if k != "defaults"}  # Hydra's defaults list, not a dist key
    out = args.out or Path(tempfile.mkdtemp(prefix="smoke_deepspeed_"))

    dpo_args = build_args(DPOArgs, method, out / f"zero{args.stage}", dist_cfg=dist)
    result = train_dpo(model, tok, Dataset.from_list(rows), dpo_args, lora_config(lora), resume=False)
    losses = [h["loss"] for h in result.log_history if "loss" in h]
    lora_b = [p for n, p in result.model.named_parameters() if "lora_B" in n]
    checks = {
        f"{args.steps} steps": result.steps == args.steps,
        "finite losses": len(losses) == args.steps and all(math.isfinite(x) for x in losses),
        "LoRA B moved off zero": any(float(p.detach().abs().sum()) > 0 for p in lora_b),
        "adapter saved": (result.output_dir / ADAPTER_FILE).is_file(),
    }
    print(f"deepspeed {deepspeed.__version__}, ZeRO stage {args.stage}, bf16={args.bf16}, losses {losses}")
    for name, ok in checks.items():
        print(f"  {'ok ' if ok else 'FAIL'} {name}")
    if all(checks.values()):
        print("SMOKE-DEEPSPEED-OK")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
