"""Training the reward model on the run's pairs (Bradley-Terry loss, TRL's ``RewardTrainer``, LoRA with the
head trained through ``modules_to_save``), its held-out split by problem, and its pairwise accuracy."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eta import rundir
from eta.errors import ConfigError
from eta.metrics import wilson
from eta.prefer.records import REFERENCE_BASE
from eta.rm.scorer import META_FILE, Scorer, encode
from eta.rm.text import LAYOUT, Fit, rm_input

if TYPE_CHECKING:
    from eta.context import RunContext

META_KEYS = ("backbone", "with_trace", "layout", "max_length", "seed", "model", "settings", "args", "pairs")


@dataclass
class Example:
    task_id: str
    criterion: str
    chosen: str  # the reward model's input texts
    rejected: str
    # what the harness's verdict alone (the `Result:` line: passed, error class, tests passed) says of the
    # pair: 1 it orders it as the pair does, -1 the other way, 0 it ties
    verdict: int = 0


# The criteria whose deciding fact the `Result:` line states (outcome and tests passed): a model that reads
# the verdict alone can learn the pairs they decide; divergence and steps need the trace.
VERDICT_CRITERIA = ("passed", "error_class", "tests")


def pair_examples(run: "RunContext", fit: Fit, with_trace: bool) -> list[Example]:
    """The run's pairs (pairs.jsonl) as reward-model inputs, each program joined with its execution."""
    from eta.prefer.criteria import compare, make_criteria
    from eta.prefer.pairs import read_pairs

    executions = {(r["task_id"], r["sample_id"]): r for r in run.executions()}
    tasks = {t.task_id: t for t in run.train_tasks}
    by_verdict = make_criteria(VERDICT_CRITERIA, max_steps=1)
    examples = []
    for pair in read_pairs(run.pairs_file):
        texts, records = [], []
        for sid in (pair.chosen_sample_id, pair.rejected_sample_id):
            code, execution = _program(executions, tasks, pair.task_id, sid)
            texts.append(rm_input(pair.prompt, code, execution, fit, with_trace=with_trace))
            records.append(execution)
        said = compare(*records, by_verdict)
        verdict = 0 if said is None else (1 if said[0] is records[0] else -1)
        examples.append(Example(pair.task_id, pair.criterion, *texts, verdict=verdict))
    return examples


def _program(executions: dict, tasks: dict, task_id: str, sample_id: Any) -> tuple[str, dict[str, Any]]:
    record = executions.get((task_id, sample_id))
    if record is not None:
        return record["completion"], record
    task = tasks.get(task_id)
    if task is None or not isinstance(sample_id, int) or sample_id < REFERENCE_BASE:
        raise ConfigError(f"pairs.jsonl: task {task_id!r} sample {sample_id!r} has no record in executions.jsonl")
    # a reference solution: passing by construction, never executed, so it has no trace
    return task.reference.strip(), {"outcome": "passed", "passed": True, "tests_total": len(task.tests),
                                    "tests_passed": len(task.tests), "tests": []}


def split_by_problem(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """(train, held-out): every pair of a held-out problem is held out, chosen by a seeded hash of task ids."""
    ids = sorted({e.task_id for e in examples}, key=lambda t: hashlib.sha1(f"{seed}:rm:{t}".encode()).hexdigest())
    if len(ids) < 2:
        raise ConfigError(f"method=rm: pairs from {len(ids)} problem(s); a split by problem needs at least 2")
    held = set(ids[:min(len(ids) - 1, max(1, round(len(ids) * fraction)))])
    return [e for e in examples if e.task_id not in held], [e for e in examples if e.task_id in held]


def accuracy(scorer: Scorer, examples: list[Example]) -> dict[str, Any]:
    """Pairwise accuracy (chosen scored strictly above rejected; a tie counts as wrong), overall and by
    the criterion that decided each pair, each with its Wilson 95% interval."""
    chosen = scorer.score_texts([e.chosen for e in examples])
    rejected = scorer.score_texts([e.rejected for e in examples])
    return _by_criterion([c > r for c, r in zip(chosen, rejected)], examples)


def verdict_rule(examples: list[Example]) -> dict[str, Any]:
    """What the `Result:` line alone gets right: the rule passed > error class > tests passed applied to
    each pair (a tie counts as wrong, as a reward model's tie does), overall and by deciding criterion,
    and the share of the pairs a criterion of ``VERDICT_CRITERIA`` decided."""
    out = _by_criterion([e.verdict == 1 for e in examples], examples)
    out["decides"] = sum(e.verdict != 0 for e in examples) / len(examples) if examples else None
    out["verdict_decided_share"] = (sum(e.criterion in VERDICT_CRITERIA for e in examples) / len(examples)
                                    if examples else None)
    return out


def _summary(flags: list[bool]) -> dict[str, Any]:
    n = len(flags)
    return {"n": n, "accuracy": sum(flags) / n if n else None, "ci95": list(wilson(sum(flags), n))}


def _by_criterion(right: list[bool], examples: list[Example]) -> dict[str, Any]:
    out = _summary(right)
    out["by_criterion"] = {c: _summary([f for f, e in zip(right, examples) if e.criterion == c])
                           for c in sorted({e.criterion for e in examples})}
    return out


def train_reward_model(run: "RunContext", model: Any, tokenizer: Any, args: Any, *, with_trace: bool,
                       resume: bool = True) -> tuple[Path, Scorer, list[Example], Any]:
    """Train (or reuse, or resume) into ``<args.output_dir>/<trace|no_trace>/`` with ``args`` (an
    ``eta.methods.rm.RMArgs``); returns the folder, the scorer of the trained model, the held-out examples
    and the TrainResult."""
    from datasets import Dataset
    from transformers import set_seed

    from eta.rm.backbones import HEADS, build_backbone, window
    from eta.train.runner import fit, load_weights
    from eta.config import plain_dict
    from eta.train.settings import DERIVED, in_folder, lora_config, own_fields

    out = Path(args.output_dir) / ("trace" if with_trace else "no_trace")
    args = in_folder(args, out)
    base, tok = build_backbone(args.backbone, model, tokenizer, seed=args.seed)
    max_length = window(base.config, args.max_length)
    examples = pair_examples(run, Fit(tok, max_length), with_trace)
    train, heldout = split_by_problem(examples, args.heldout_fraction, args.seed)
    mine = own_fields(type(args))
    meta = {"backbone": args.backbone, "with_trace": with_trace, "layout": LAYOUT,
            "max_length": max_length, "seed": args.seed, "model": plain_dict(run.cfg.model, "model"),
            "settings": {k: getattr(args, k) for k in mine},
            # every TRL setting but those of this process (the launcher sets local_rank) or of the run's folders
            "args": {k: v for k, v in args.to_dict().items() if k not in (*DERIVED, *mine, "local_rank")},
            "pairs": hashlib.sha1(run.pairs_file.read_bytes()).hexdigest()}
    _claim(out, meta, run.say)

    def ids(texts: list[str]) -> list[list[int]]:
        return [encode(tok, t, meta["max_length"]) for t in texts]

    dataset = Dataset.from_dict({"chosen_ids": ids([e.chosen for e in train]),
                                 "rejected_ids": ids([e.rejected for e in train])})

    def build() -> Any:
        from trl import RewardTrainer

        set_seed(args.seed)
        lora = plain_dict(run.cfg.model.lora, "model.lora")
        if args.backbone != "policy":  # the policy's module names say nothing of an encoder's
            lora["target_modules"] = "all-linear"
        peft = lora_config(lora, task_type="SEQ_CLS", modules_to_save=HEADS[args.backbone]) if args.use_lora else None
        return RewardTrainer(model=base, args=args, train_dataset=dataset, processing_class=tok, peft_config=peft)

    result = fit(build, args, load=lambda path: load_weights(base, path), resume=resume)
    return out, Scorer(result.model, tok, meta), heldout, result


def _claim(out: Path, meta: dict[str, Any], say: Any, poll_s: float = 0.5) -> None:
    """Make ``out`` the folder of the reward model ``meta`` describes. In a multi-process launch every rank
    trains it (one DDP run; the Trainer saves on rank 0): rank 0 alone removes a stale folder and writes the
    meta, the others wait for that meta, so that no rank removes files another reads, and every rank
    decides alike whether a finished model is reused (one rank training while another loads would hang)."""
    from eta.train.distributed import is_main_process

    if is_main_process():
        _forget_if_stale(out, meta)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / (META_FILE + ".tmp")
        tmp.write_text(json.dumps(meta, indent=2, default=str))
        tmp.replace(out / META_FILE)  # atomic: a waiting rank never reads half of it
        return
    said = False
    while not _same_meta(out, meta):
        if not said:
            say(f"waiting for rank 0 to set up the reward model folder {out}")
            said = True
        time.sleep(poll_s)


def _same_meta(out: Path, meta: dict[str, Any]) -> bool:
    try:
        before = json.loads((out / META_FILE).read_text())
    except (OSError, ValueError):
        return False
    now = json.loads(json.dumps(meta, default=str))
    return all(before.get(k) == now.get(k) for k in META_KEYS)


def _forget_if_stale(out: Path, meta: dict[str, Any]) -> None:
    """A folder trained under another config or on other pairs is removed: never reused, never resumed."""
    old = out / META_FILE
    if old.is_file():
        if not _same_meta(out, meta):
            shutil.rmtree(out)
