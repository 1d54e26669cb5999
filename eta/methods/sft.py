"""The SFT baseline: supervised fine-tuning on the training problems' reference solutions, TRL's
``SFTTrainer`` with LoRA (``method=sft``).

Each example is prompt-completion text: the prompt exactly as the policy is sampled (``build_prompt``, chat
template or completion format) and the reference solution written as a sampled answer would be
(``eta.tasks.answers``), so SFTTrainer's loss falls on the completion only (TRL 1.13: prompt-completion
data sets ``completion_only_loss``; the prompt's tokens get label -100) and the trained answers extract
the way sampled ones do. TRL appends the EOS token to each completion: the policy learns to stop.

Where the benchmark ships no reference (the offline APPS subset: ``Task.reference`` is empty), the base
policy's passing samples of that problem stand in (its own response text, as DPO trains on): the method
then needs the execute stage, and the run says so and records it under ``"method"`` in metrics.json.
``method.completions`` picks: ``auto`` (references, passing samples where there is none), ``reference``,
``passing``.

Notes on TRL 1.13 (``trl/trainer/sft_trainer.py``): a non-conversational prompt is tokenized with the
tokenizer's special tokens; where that adds a BOS token the chat template already wrote, the prompt text
is given without it, so that training sees the token ids sampling does (checked, else a ConfigError).
``SFTArgs`` is ``trl.SFTConfig`` with eta's keys (``use_lora``, ``completions``), built once by ``make``.
``SFTConfig`` turns gradient checkpointing on by default; the YAML turns it off (small models, short
sequences: the recomputation costs time and saves little memory).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

# At module level, not in a function: the Trainer pickles its args (training_args.bin) by class name.
from trl import SFTConfig

from eta import rundir
from eta.errors import ConfigError
from eta.tasks.schema import Task
from eta.train.runner import TrainResult, fit, load_weights
from eta.train.settings import in_folder, lora_config, run_args

if TYPE_CHECKING:
    from eta.context import RunContext

COMPLETIONS = ("auto", "reference", "passing")


@dataclass
class SFTArgs(SFTConfig):
    """``trl.SFTConfig`` with eta's keys of ``method=sft``."""

    use_lora: bool = field(default=True, metadata={"help": "false: full fine-tuning"})
    completions: str = field(default="auto", metadata={
        "help": "auto: references, and passing samples for problems without one | reference | passing"})

    def __post_init__(self) -> None:
        if self.completions not in COMPLETIONS:
            raise ConfigError(f"method.completions: one of {', '.join(COMPLETIONS)}, got {self.completions!r}")
        super().__post_init__()


class SFT:
    keys: tuple[str, ...] = ("dist", "sampler")  # sampler.stop shapes the answers' form
    trains_policy = True

    def __init__(self, cfg: Any, run_dir: Path) -> None:
        # built once, here: a bad value fails before any stage runs
        self.args = run_args(SFTArgs, cfg, run_dir / rundir.TRAIN)
        self.peft = lora_config(cfg.model.lora) if self.args.use_lora else None
        self.stops = list(cfg.sampler.stop)
        self.without_reference = _count_without_reference(cfg) if self.args.completions == "auto" else 0
        uses_samples = self.args.completions == "passing" or self.without_reference > 0
        self.needs: str | None = "execute" if uses_samples else None

    def train(self, run: RunContext, model: Any, tokenizer: Any) -> TrainResult | None:
        from datasets import Dataset

        completions = self.args.completions
        executions = run.executions() if self.needs == "execute" else []
        samples = run.samples() if self.needs == "execute" else []
        rows, counts = sft_rows(run.train_tasks, run.style, tokenizer, completions,
                                executions=executions, samples=samples, extra_stops=self.stops)
        if self.needs == "execute":
            why = ("method.completions=passing" if completions == "passing"
                   else f"{counts['tasks_without_reference']} training problem(s) ship no reference")
            run.say(f"SFT: {why}; the {run.policy_label} policy's passing samples stand in: "
                    f"{counts['from_passing_samples']} sample(s) of {counts['from_passing_samples_tasks']} problem(s)")
        if counts["unexpressible"]:
            run.say(f"SFT: {counts['unexpressible']} reference(s) left out: the {run.style} answer form cannot "
                    f"hold them (a stop string inside, or extraction would not read them back)")
        if not rows:
            run.say("SFT: nothing to train on: no problem has a usable reference and no sample passed "
                    "(try more samples, a higher temperature, or a benchmark with references)")
            return None
        args = in_folder(self.args, run.train_dir)
        result = train_sft(model, tokenizer, Dataset.from_list(rows), args, self.peft)
        result.metrics.update({f"sft_{k}": v for k, v in counts.items()}, sft_targets=_targets(counts))
        return result


def _targets(counts: dict[str, int]) -> str:
    kinds = [name for name, key in (("reference", "from_reference"), ("passing samples", "from_passing_samples"))
             if counts[key]]
    return " + ".join(kinds)


def make(cfg: Any, run_dir: Path) -> SFT:
    return SFT(cfg, run_dir)


def _count_without_reference(cfg: Any) -> int:
    """How many training problems ship no reference (whether the method must execute samples)."""
    from eta.context import load_splits

    train_tasks, _ = load_splits(cfg)
    return sum(not t.reference.strip() for t in train_tasks)


def sft_rows(tasks: list[Task], style: str, tokenizer: Any, completions: str = "auto", *,
             executions: list[dict[str, Any]] = (), samples: list[dict[str, Any]] = (),  # type: ignore[assignment]
             extra_stops: list[str] = ()) -> tuple[list[dict[str, str]], dict[str, int]]:  # type: ignore[assignment]
    """The prompt-completion rows to train on, and how many came from where.

    References first (``completions`` auto/reference); with ``auto`` a problem without a reference, and with
    ``passing`` every problem, gets its passing samples instead (each distinct response once).
    """
    from eta.tasks.answers import reference_answer
    from eta.tasks.prompts import build_prompt

    rows: list[dict[str, str]] = []
    counts = {"from_reference": 0, "from_passing_samples": 0, "from_passing_samples_tasks": 0,
              "tasks_without_reference": 0, "unexpressible": 0}
    fallback: set[str] = set()
    for task in tasks:
        if completions == "passing":
            fallback.add(task.task_id)
            continue
        if not task.reference.strip():
            counts["tasks_without_reference"] += 1
            if completions == "auto":
                fallback.add(task.task_id)
            continue
        answer = reference_answer(task, style, extra_stops)
        if answer is None:
            counts["unexpressible"] += 1
            continue
        rows.append({"prompt": build_prompt(task, style, tokenizer), "completion": answer})
        counts["from_reference"] += 1
    passing = passing_rows(executions, samples, fallback)
    counts["from_passing_samples"] = len(passing)
    counts["from_passing_samples_tasks"] = len({r["task_id"] for r in passing})
    rows += [{"prompt": r["prompt"], "completion": r["completion"]} for r in passing]
    return [dict(r, prompt=trl_prompt(r["prompt"], tokenizer)) for r in rows], counts


def passing_rows(executions: list[dict[str, Any]], samples: list[dict[str, Any]],
                 task_ids: set[str]) -> list[dict[str, str]]:
    """The passing samples of ``task_ids``: the prompt they were sampled with and the response as said."""
    by_key = {(s["task_id"], s["sample_id"]): s for s in samples}
    rows, seen = [], set()
    for record in executions:
        key = (record["task_id"], record["sample_id"])
        if record["task_id"] not in task_ids or not record.get("passed") or key not in by_key:
            continue
        sample = by_key[key]
        response = sample.get("response", sample["completion"])
        if (record["task_id"], response) in seen:
            continue
        seen.add((record["task_id"], response))
        rows.append({"task_id": record["task_id"], "prompt": sample["prompt"], "completion": response})
    return rows


def trl_prompt(prompt: str, tokenizer: Any) -> str:
    """``prompt`` as text that SFTTrainer tokenizes to the ids the sampler feeds the model."""
    from eta.sample.engine import _encode  # the sampler's own encoding of a prompt

    wanted = _encode(tokenizer, prompt)
    if tokenizer(text=prompt)["input_ids"] == wanted:
        return prompt
    bos = getattr(tokenizer, "bos_token", None)
    if bos and prompt.startswith(bos) and tokenizer(text=prompt[len(bos):])["input_ids"] == wanted:
        return prompt[len(bos):]  # the tokenizer adds the BOS the chat template wrote
    raise ConfigError("method=sft: the tokenizer encodes a prompt differently inside SFTTrainer than the sampler "
                      "does (special tokens); training would not see the prompts the policy is sampled with")


def train_sft(model: Any, tokenizer: Any, dataset: Any, args: SFTArgs, peft: Any = None, *,
              resume: bool = True) -> TrainResult:
    """Train ``model`` with SFT on ``dataset`` (columns prompt/completion) with ``args`` into
    ``args.output_dir``, LoRA when ``peft`` is given; a finished run there is loaded, an interrupted one
    continued."""
    _check_dataset(dataset, tokenizer, args.max_length)

    def build() -> Any:
        from transformers import set_seed
        from trl import SFTTrainer

        set_seed(args.seed)  # the LoRA A matrices are drawn inside SFTTrainer.__init__, before Trainer seeds
        return SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                          peft_config=peft)

    return fit(build, args, load=lambda path: load_weights(model, path), resume=resume)


def _check_dataset(dataset: Any, tokenizer: Any, max_length: int | None) -> None:
    names = getattr(dataset, "column_names", None)
    if names is None:
        raise TypeError(f"train_dataset must be a datasets.Dataset, got {type(dataset).__name__}")
    missing = [c for c in ("prompt", "completion") if c not in names]
    if missing:
        raise ConfigError(f"train_dataset: missing column(s) {missing}; it has {names}")
    if len(dataset) == 0:
        raise ConfigError("train_dataset: no examples")
    if max_length is not None:
        # TRL silently drops examples whose prompt alone fills max_length; with none left it fails obscurely
        lengths = [len(ids) for ids in tokenizer(list(dataset["prompt"]))["input_ids"]]
        if min(lengths) >= max_length:
            raise ConfigError(f"method.max_length: every prompt is at least max_length={max_length} tokens "
                              f"(shortest {min(lengths)}); raise method.max_length")
