"""What every TRL trainer of eta shares: resuming from checkpoints, finished-run detection, saving and
reloading the trained weights (a LoRA adapter or the full model), the unwrapped policy after training.

A method module builds its TRL trainer and hands it to :func:`fit`; it never writes this logic again.
A run that finished in ``output_dir`` is loaded instead of trained again, an interrupted one continues
from its last checkpoint. Whether ``output_dir`` was made under the same config is the pipeline's
business (``eta.pipeline.fingerprint`` moves a stale one aside before the method runs).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "trainer_state.json"  # written last by a finished run; checkpoints hold their own copy
ADAPTER_FILE = "adapter_model.safetensors"
FULL_MODEL_FILE = "model.safetensors"


@dataclass
class TrainResult:
    model: Any  # the trained model (a ``PeftModel`` with LoRA), in eval mode
    log_history: list[dict[str, Any]]  # ``trainer.state.log_history``
    output_dir: Path
    steps: int  # optimizer steps done in total, across resumes
    resumed_from: Path | None = None  # the checkpoint this call continued from
    reused: bool = False  # True when a finished run was loaded and nothing was trained
    metrics: dict[str, Any] = field(default_factory=dict)  # what the method measured itself


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The ``checkpoint-N`` folder with the largest N whose trainer state was written, or None."""
    root = Path(output_dir)
    if not root.is_dir():
        return None
    steps = []
    for child in root.glob("checkpoint-*"):
        suffix = child.name.removeprefix("checkpoint-")
        # a checkpoint cut short while saving has no state file and cannot be resumed from
        if suffix.isdigit() and (child / STATE_FILE).is_file():
            steps.append((int(suffix), child))
    return max(steps)[1] if steps else None


def is_finished(output_dir: str | Path) -> bool:
    """Whether a run in ``output_dir`` saved its final model and then its trainer state."""
    root = Path(output_dir)
    saved = (root / ADAPTER_FILE).is_file() or (root / FULL_MODEL_FILE).is_file()
    return saved and (root / STATE_FILE).is_file()


def fit(build: Callable[[], Any], args: Any, *, load: Callable[[Path], Any], resume: bool = True) -> TrainResult:
    """Train the trainer ``build()`` makes with ``args`` (its TRL config) into ``args.output_dir``, or load a
    run finished there (``load(dir)`` gives its model). Without ``resume`` a previous run's checkpoints and
    finished-marker are removed first."""
    output_dir = Path(args.output_dir)
    if resume and is_finished(output_dir):
        return finished_result(output_dir, load(output_dir))
    checkpoint = latest_checkpoint(output_dir) if resume else None
    if not resume:
        forget_previous_run(output_dir)
    set_up_devices(args)
    trainer = build()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    trainer.save_model(str(output_dir))
    trainer.save_state()  # last: its presence in output_dir marks the run finished
    model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
    model.eval()
    return TrainResult(model=model, log_history=list(trainer.state.log_history), output_dir=output_dir,
                       steps=trainer.state.global_step, resumed_from=checkpoint)


def set_up_devices(args: Any) -> None:
    """Set the process's accelerator up for ``args`` again, as making it did. Transformers resets the
    accelerator state when a ``TrainingArguments`` sets up its devices, and a Trainer then keeps that state:
    settings made before another trainer ran (a method's are made once, at the start) would otherwise meet
    that trainer's state, e.g. the reward model's fp32 under GRPO's bf16 ("AcceleratorState has already
    been initialized and cannot be changed")."""
    args.__dict__.pop("_setup_devices", None)  # the cached_property that did it
    args.device  # noqa: B018 (runs it again)


def finished_result(output_dir: Path, model: Any) -> TrainResult:
    state = json.loads((output_dir / STATE_FILE).read_text())
    model.eval()
    return TrainResult(model=model, log_history=list(state.get("log_history", [])), output_dir=output_dir,
                       steps=int(state.get("global_step", 0)), reused=True)


def load_weights(model: Any, output_dir: str | Path) -> Any:
    """``model`` with the weights a finished run saved in ``output_dir``: its LoRA adapter, or full weights."""
    output_dir = Path(output_dir)
    if (output_dir / ADAPTER_FILE).is_file():
        from peft import PeftModel

        return PeftModel.from_pretrained(model, str(output_dir))
    return _load_full_weights(model, output_dir / FULL_MODEL_FILE)


def forget_previous_run(output_dir: Path) -> None:
    import shutil

    from eta.train.distributed import is_main_process

    if not is_main_process():
        return
    # a stale marker would make a later resume load the old run's weights if this one is cut short
    (output_dir / STATE_FILE).unlink(missing_ok=True)
    for child in output_dir.glob("checkpoint-*"):
        if child.is_dir():
            shutil.rmtree(child)


def _load_full_weights(model: Any, path: Path) -> Any:
    from safetensors.torch import load_file

    result = model.load_state_dict(load_file(str(path)), strict=False)
    # save_pretrained drops weights tied to others (lm_head tied to the embeddings in SmolLM2)
    tied = {"lm_head.weight"} if getattr(model.config, "tie_word_embeddings", False) else set()
    if result.unexpected_keys or set(result.missing_keys) - tied:
        raise ValueError(f"{path}: does not match the model (missing {sorted(set(result.missing_keys) - tied)[:5]}, "
                         f"unexpected {sorted(result.unexpected_keys)[:5]})")
    return model
