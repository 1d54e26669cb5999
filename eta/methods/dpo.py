"""ETA-DPO (and DPO with any heuristic): preference training on the run's execution-trace pairs, TRL's
``DPOTrainer`` with LoRA.

Thin on purpose, like TRL's ``trl/scripts/dpo.py``: one typed settings object, ``DPOArgs`` (``trl.DPOConfig``
with eta's keys added), built once by ``make`` from ``conf/method/dpo.yaml`` with the run's ``train/``
folder; the model's ``lora`` node becomes the peft config beside it. Everything else is TRL's default.

Notes on TRL 1.13 that the choices below rest on (read in ``trl/trainer/dpo_trainer.py``):

* With a LoRA ``peft_config`` and no ``ref_model``, the reference policy is the base model with the
  adapter disabled; no second copy of the model is kept.
* ``precompute_ref_log_probs`` runs that reference forward once per pair before training instead of once
  per pair per epoch inside every step. TRL runs it in ``__init__``, outside the autocast that the
  trainer's own forwards get, so under ``bf16`` the reference would be fp32 and the policy bf16;
  ``_PrecomputeInAutocast`` gives it training's forward. Even so, a bf16 log-prob depends by up to
  ~1 nat on the padding of the batch it was computed in (measured on SmolLM2, experiments/
  bench_dpo_step.py), so only in-step references cancel the policy exactly; hence the default off.
* Full fine-tuning (``use_lora: false``) without precomputing would make TRL reload the reference from
  ``config._name_or_path``, which an in-memory or GGUF-converted model does not have; we pass a frozen
  copy instead.
* ``DPOTrainer`` wraps ``model`` in place (``get_peft_model`` injects the LoRA layers into it).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

# At module level, not in a function: the Trainer pickles its args (training_args.bin) by class name.
from trl import DPOConfig

from eta import rundir
from eta.errors import ConfigError
from eta.train.distributed import is_main_process, reload_policy, sharded_after_training
from eta.train.runner import TrainResult, fit, load_weights
from eta.train.settings import in_folder, lora_config, run_args

if TYPE_CHECKING:
    from eta.context import RunContext

REQUIRED_COLUMNS = ("prompt", "chosen", "rejected")


@dataclass
class DPOArgs(DPOConfig):
    """``trl.DPOConfig`` with eta's keys of ``method=dpo``."""

    use_lora: bool = field(default=True, metadata={
        "help": "false: full fine-tuning with a frozen copy of the model as reference"})
    heldout_max_pairs: int = field(default=256, metadata={
        "help": "held-out pairs scored after training (eta.train.heldout); 0: none"})


class DPO:
    needs = "prefer"
    keys: tuple[str, ...] = ("dist",)
    trains_policy = True

    def __init__(self, cfg: Any, run_dir: Path) -> None:
        # built once, here: a bad value fails before any stage runs
        self.args = run_args(DPOArgs, cfg, run_dir / rundir.TRAIN)
        self.peft = lora_config(cfg.model.lora) if self.args.use_lora else None
        # the trained policy whole on rank 0 (reloaded where training sharded or wrapped it for all ranks)
        self.whole_policy = partial(_whole_policy, cfg)

    def train(self, run: RunContext, model: Any, tokenizer: Any) -> TrainResult | None:
        from datasets import load_from_disk

        if not run.pairs_dir.is_dir():
            run.say("no preference pairs: every sample of a problem tied under the heuristic; nothing to train on "
                    "(try more samples, a higher temperature, or prefer.include_reference=true)")
            return None
        dataset = load_from_disk(str(run.pairs_dir))
        args = in_folder(self.args, run.train_dir)
        result = train_dpo(model, tokenizer, dataset, args, self.peft)
        if args.heldout_max_pairs > 0 and is_main_process():  # how far it moved on unseen problems
            stats = self._heldout(run, result, tokenizer, args)
            if stats is not None:
                result.metrics["heldout_pairs"] = stats
        return result

    def _heldout(self, run: RunContext, result: TrainResult, tokenizer: Any, args: DPOArgs) -> dict[str, Any] | None:
        from eta.train.heldout import heldout_report

        policy = result.model if result.reused else self.whole_policy(result)
        return heldout_report(run, policy, tokenizer, beta=args.beta, max_pairs=args.heldout_max_pairs,
                              cache_dir=Path(args.output_dir))


def _whole_policy(cfg: Any, result: TrainResult) -> Any:
    return reload_policy(cfg, result) if sharded_after_training(cfg) else result.model


def make(cfg: Any, run_dir: Path) -> DPO:
    return DPO(cfg, run_dir)


def train_dpo(model: Any, tokenizer: Any, dataset: Any, args: DPOArgs, peft: Any = None, *,
              resume: bool = True) -> TrainResult:
    """Train ``model`` with DPO on ``dataset`` (columns prompt/chosen/rejected) with ``args`` into
    ``args.output_dir``, LoRA when ``peft`` (a peft ``LoraConfig``) is given, else every weight; a finished
    run there is loaded, an interrupted one continued.

    ``prompt`` is already chat-formatted text and ``chosen``/``rejected`` are completions; TRL appends
    the tokenizer's EOS token to completions that do not end with it.
    """
    _check_dataset(dataset, tokenizer, args.max_length)

    def build() -> Any:
        from transformers import set_seed

        set_seed(args.seed)  # the LoRA A matrices are drawn inside DPOTrainer.__init__, before Trainer seeds
        ref_model = None
        if peft is None and not args.precompute_ref_log_probs:
            ref_model = copy.deepcopy(model).eval().requires_grad_(False)
        return _trainer_class()(model=model, ref_model=ref_model, args=args, train_dataset=dataset,
                                processing_class=tokenizer, peft_config=peft)

    return fit(build, args, load=lambda path: load_weights(model, path), resume=resume)


def _check_dataset(dataset: Any, tokenizer: Any, max_length: int | None) -> None:
    names = getattr(dataset, "column_names", None)
    if names is None:
        raise TypeError(f"train_dataset must be a datasets.Dataset, got {type(dataset).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise ConfigError(f"train_dataset: missing column(s) {missing}; it has {names}")
    if len(dataset) == 0:
        raise ConfigError("train_dataset: no preference pairs")
    if max_length is not None:
        # TRL silently drops pairs whose prompt alone fills max_length; with none left it fails obscurely
        lengths = [len(ids) for ids in tokenizer(list(dataset["prompt"]), add_special_tokens=False)["input_ids"]]
        if min(lengths) >= max_length:
            raise ConfigError(f"method.max_length: every prompt is at least max_length={max_length} tokens "
                              f"(shortest {min(lengths)}); raise method.max_length")


@lru_cache(maxsize=1)
def _trainer_class() -> type:
    from trl import DPOTrainer

    class _PrecomputeInAutocast(DPOTrainer):
        """``DPOTrainer`` whose precomputed reference log-probs see the forward that training sees.

        Training forwards run through accelerate's wrapper: autocast, then logits cast back to fp32 before
        the log-softmax. TRL precomputes before that wrapper exists, i.e. in fp32 under bf16 training
        (a mismatch of ~0.8 nats per completion on SmolLM2), and plain autocast alone would leave the
        logits, and so the summed log-probs, in bf16 (~1 nat of rounding at -150).
        """

        def compute_ref_log_probs(self, model: Any, inputs: Any) -> Any:
            return super().compute_ref_log_probs(_AutocastFp32Logits(model, self.accelerator), inputs)

    return _PrecomputeInAutocast


class _AutocastFp32Logits:
    """Calls ``model`` under the accelerator's autocast and returns its logits in fp32."""

    def __init__(self, model: Any, accelerator: Any) -> None:
        self.model, self.accelerator = model, accelerator

    def __call__(self, **kwargs: Any) -> Any:
        with self.accelerator.autocast():
            outputs = self.model(**kwargs)
        outputs.logits = outputs.logits.float()
        return outputs
