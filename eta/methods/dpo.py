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
  ``_EtaDPOTrainer`` gives it training's forward. Even so, a bf16 log-prob depends by up to
  ~1 nat on the padding of the batch it was computed in (measured on SmolLM2, experiments/
  bench_dpo_step.py), so only in-step references cancel the policy exactly; hence the default off.
* Full fine-tuning (``use_lora: false``) without precomputing would make TRL reload the reference from
  ``config._name_or_path``, which an in-memory or GGUF-converted model does not have; we pass a frozen
  copy instead.
* ``DPOTrainer`` wraps ``model`` in place (``get_peft_model`` injects the LoRA layers into it).
* ``method.credit=divergence`` (issue 27 §3, the Focused-DPO / FAIT idea driven by the trace): each pair's
  log-ratio sums its tokens' log-ratios with weight ``credit_weight`` on the rejected program's divergent
  line and the chosen program's counterpart (``eta.train.credit``), 1 elsewhere. TRL sums per-token
  log-probs in ``_compute_loss`` (and ``compute_ref_log_probs``) right after ``selective_log_softmax``;
  the subclass below carries a weight column from the dataset through the collator and, for the length of
  those two calls, multiplies what ``selective_log_softmax`` returns by the weights: policy and reference
  alike, so the log-ratio, TRL's masks and every loss type see weighted sums and nothing else changes.
* ``method.share_prompt``: TRL's batch runs each pair's prompt twice (a chosen row and a rejected row).
  For the length of the same two calls the subclass has the causal LM under the policy (and the reference:
  the adapter-disabled base, or the frozen copy) run one packed sequence per pair instead, prompt once, and
  hand TRL logits in its own layout (``eta.train.shared_prompt``); TRL's loss code is untouched.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
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
    credit: str = field(default="none", metadata={
        "help": "none | divergence: weight the tokens of the rejected program's divergent line (and the chosen's "
                "counterpart) by credit_weight in each pair's log-ratio (eta.train.credit)"})
    credit_weight: float = field(default=2.0, metadata={"help": "the weight of those tokens; 1 elsewhere"})
    share_prompt: bool = field(default=True, metadata={
        "help": "compute each pair's prompt once, for its chosen and rejected completions together "
                "(eta.train.shared_prompt); the same log-probs, fewer tokens; false: TRL's own step"})

    def __post_init__(self) -> None:
        from eta.config import Credit

        if self.credit not in {c.value for c in Credit}:
            raise ConfigError(f"method.credit: {self.credit!r}; use one of {', '.join(c.value for c in Credit)}")
        if not self.credit_weight > 0:
            raise ConfigError(f"method.credit_weight: {self.credit_weight!r}; must be > 0")
        if self.credit != "none" and self.use_liger_kernel:
            raise ConfigError("method.credit: the Liger fused DPO loss never sees per-token log-probs; "
                              "set method.use_liger_kernel=false")
        if self.share_prompt and self.use_liger_kernel:
            raise ConfigError("method.share_prompt: the Liger fused DPO loss runs the model's body itself and "
                              "never shares a prompt; set method.use_liger_kernel=false")
        super().__post_init__()


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
        credit = None
        if args.credit == "divergence":
            dataset, credit = with_spans(dataset, run)
            run.say(f"credit: the divergent line located in {credit['rejected_spans']} of {credit['pairs']} pairs' "
                    f"rejected programs ({credit['chosen_spans']} with a counterpart in the chosen), weight "
                    f"{args.credit_weight:g}; the others keep uniform weights")
        result = train_dpo(model, tokenizer, dataset, args, self.peft)
        if credit is not None:
            result.metrics["credit"] = credit
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


def with_spans(dataset: Any, run: RunContext) -> tuple[Any, dict[str, int]]:
    """The pairs dataset with the character spans credit weights (``chosen_span``/``rejected_span``: [start,
    end] or [] for none), from the rejected programs' divergence records in the run's executions, and how
    many pairs got one."""
    from eta.prefer import read_pairs
    from eta.train.credit import pair_spans

    pairs = read_pairs(run.pairs_file)
    if len(pairs) != len(dataset) or any(p.chosen != c for p, c in zip(pairs, dataset["chosen"])):
        raise ConfigError(f"{run.pairs_file} and {run.pairs_dir} disagree: run the prefer stage again")
    records = {(r["task_id"], str(r["sample_id"])): r for r in run.executions()}
    tasks = {t.task_id: t for t in run.train_tasks}
    spans = [pair_spans(p, records, tasks) for p in pairs]
    dataset = dataset.add_column("chosen_span", [list(c or ()) for c, _ in spans])
    dataset = dataset.add_column("rejected_span", [list(r or ()) for _, r in spans])
    return dataset, {"pairs": len(pairs), "rejected_spans": sum(r is not None for _, r in spans),
                     "chosen_spans": sum(c is not None for c, _ in spans)}


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


# With share_prompt, TRL reads rows cut to their completions (eta.train.shared_prompt.narrow); False only for
# bench_dpo_step.py --narrow's baseline
NARROW_ROWS = True
WEIGHTS = ("chosen_weights", "rejected_weights")  # per completion token, from the spans (method.credit)
COMPLETION_WEIGHTS = "completion_weights"  # the batch's, beside TRL's completion_mask


@lru_cache(maxsize=1)
def _trainer_class() -> type:
    from trl import DPOTrainer

    class _EtaDPOTrainer(DPOTrainer):
        """``DPOTrainer`` whose precomputed reference log-probs see the forward that training sees, whose
        per-token log-probs are weighted where the dataset carries credit weights, and which, with
        ``share_prompt``, computes each pair's prompt once.

        Training forwards run through accelerate's wrapper: autocast, then logits cast back to fp32 before
        the log-softmax. TRL precomputes before that wrapper exists, i.e. in fp32 under bf16 training
        (a mismatch of ~0.8 nats per completion on SmolLM2), and plain autocast alone would leave the
        logits, and so the summed log-probs, in bf16 (~1 nat of rounding at -150).
        """

        def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, dataset_name: str) -> Any:
            dataset = super()._prepare_dataset(dataset, processing_class, args, dataset_name)
            if getattr(args, "credit", "none") == "none" or "rejected_span" not in dataset.column_names:
                return dataset
            dataset = dataset.map(partial(_token_weights, tokenizer=self._tokenizer, weight=args.credit_weight),
                                  desc=f"Credit weights of the {dataset_name} dataset")
            weighted = [sum(any(w != 1.0 for w in ws) for ws in dataset[key]) for key in WEIGHTS]
            print(f"credit: {dataset_name} token weights on {weighted[1]} rejected and {weighted[0]} chosen "
                  f"completions of {len(dataset)} (the rest uniform)", flush=True)
            return dataset

        def _set_signature_columns_if_needed(self) -> None:
            super()._set_signature_columns_if_needed()
            self._signature_columns = [*self._signature_columns, *WEIGHTS]

        def _precompute_ref_logps(self, dataset: Any, name: str, batch_size: int) -> Any:
            self.data_collator = _WeightedCollator.around(self.data_collator)
            return super()._precompute_ref_logps(dataset, name, batch_size)

        def get_train_dataloader(self) -> Any:
            self.data_collator = _WeightedCollator.around(self.data_collator)
            return super().get_train_dataloader()

        def get_eval_dataloader(self, eval_dataset: Any = None) -> Any:
            self.data_collator = _WeightedCollator.around(self.data_collator)
            return super().get_eval_dataloader(eval_dataset)

        def compute_ref_log_probs(self, model: Any, inputs: Any) -> Any:
            inputs, weights, sharing = self._shared_prompts(inputs)
            with _weighted_log_probs(weights), sharing:
                return super().compute_ref_log_probs(_AutocastFp32Logits(model, self.accelerator), inputs)

        def compute_loss(self, model: Any, inputs: Any, return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            tokens = inputs["attention_mask"].sum() if "attention_mask" in inputs else None
            inputs, weights, sharing = self._shared_prompts(inputs)
            with _weighted_log_probs(weights), sharing:
                out = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            if tokens is not None and self.model.training:  # TRL counted the narrowed batch's tokens
                self._total_train_tokens += int(tokens - inputs["attention_mask"].sum()) // self._tp_size
                self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
            return out

        def _shared_prompts(self, inputs: Any) -> tuple[Any, Any, Any]:
            """The batch TRL is to read, its credit weights, and the context to run it in: with
            ``share_prompt``, the causal LMs that TRL's policy and reference calls reach run each pair's
            prompt once, and TRL reads rows cut to their completions (``eta.train.shared_prompt``)."""
            weights = inputs.pop(COMPLETION_WEIGHTS, None)
            if not getattr(self.args, "share_prompt", False):
                return inputs, weights, nullcontext()
            from eta.train.shared_prompt import narrow, sharing

            lms = _causal_lms(self.model, self.ref_model)
            cut = narrow(inputs, weights) if NARROW_ROWS else "rows not narrowed (NARROW_ROWS: a bench's baseline)"
            if isinstance(cut, str):  # the ordinary forward, which says why once
                return inputs, weights, sharing(lms, inputs["completion_mask"])
            narrowed, weights = cut
            return narrowed.inputs, weights, sharing(lms, inputs["completion_mask"], narrowed)

    return _EtaDPOTrainer


def _causal_lms(*models: Any) -> list[Any]:
    """The causal LMs inside ``models``: a peft model's base model (the adapter-disabled reference runs
    through it too), a plain model itself."""
    from peft import PeftModel

    return [m.get_base_model() if isinstance(m, PeftModel) else m for m in models if m is not None]


def _token_weights(example: dict[str, Any], tokenizer: Any, weight: float) -> dict[str, list[float]]:
    """The credit weights of one tokenized pair (``eta.train.credit``); uniform where a span is missing or
    the tokenizer's offsets do not give TRL's tokens."""
    from eta.train.credit import completion_weights

    out = {}
    for side, key in zip(("chosen", "rejected"), WEIGHTS):
        ids, span = example[f"{side}_ids"], example[f"{side}_span"]
        weights = completion_weights(tokenizer, example["prompt"], example[side], ids,
                                     tuple(span) if span else None, weight)
        out[key] = weights if weights is not None else [1.0] * len(ids)
    return out


class _WeightedCollator:
    """TRL's preference collator, plus the batch's per-token credit weights laid out as its
    ``completion_mask`` is (prompt then completion, truncated and right-padded the same way)."""

    def __init__(self, base: Any) -> None:
        self.base = base

    @classmethod
    def around(cls, collator: Any) -> Any:
        return collator if isinstance(collator, cls) else cls(collator)

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch
        from trl.trainer.utils import pad

        batch = self.base(examples)
        if WEIGHTS[0] not in examples[0]:
            return batch
        rows = [[1.0] * len(e["prompt_ids"]) + list(e[key]) for key in WEIGHTS for e in examples]
        max_length = getattr(self.base, "max_length", None)
        if max_length is not None:
            keep_end = getattr(self.base, "truncation_mode", "keep_start") == "keep_end"
            rows = [r[-max_length:] if keep_end else r[:max_length] for r in rows]
        weights = pad([torch.tensor(r, dtype=torch.float32) for r in rows], padding_value=1.0, padding_side="right",
                      pad_to_multiple_of=getattr(self.base, "pad_to_multiple_of", None))
        if weights.shape != batch["completion_mask"].shape:
            raise RuntimeError(f"credit weights {tuple(weights.shape)} do not lie over the batch "
                               f"{tuple(batch['completion_mask'].shape)}")
        batch[COMPLETION_WEIGHTS] = weights
        return batch


@contextmanager
def _weighted_log_probs(weights: Any) -> Iterator[None]:
    """While it is open, TRL's DPO per-token log-probs come out multiplied by ``weights`` (the batch's,
    aligned with its input ids: a log-prob at position t is that of token t + 1)."""
    if weights is None:
        yield
        return
    import trl.trainer.dpo_trainer as trl_dpo

    plain = trl_dpo.selective_log_softmax

    def weighted(logits: Any, index: Any) -> Any:
        logps = plain(logits, index)
        return logps * weights[..., 1:].to(device=logps.device, dtype=logps.dtype)

    trl_dpo.selective_log_softmax = weighted
    try:
        yield
    finally:
        trl_dpo.selective_log_softmax = plain


class _AutocastFp32Logits:
    """Calls ``model`` under the accelerator's autocast and returns its logits in fp32."""

    def __init__(self, model: Any, accelerator: Any) -> None:
        self.model, self.accelerator = model, accelerator

    def __call__(self, **kwargs: Any) -> Any:
        with self.accelerator.autocast():
            outputs = self.model(**kwargs)
        outputs.logits = outputs.logits.float()
        return outputs
