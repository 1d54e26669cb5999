"""Token-level credit for DPO (``method.credit=divergence``, eta.train.credit and eta.methods.dpo): the
divergent line's characters and tokens, its counterpart in the chosen program, padding, the weighted loss
against TRL's, and a run through the pipeline."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import pytest

from eta.train.credit import counterpart_span, divergent_span, token_weights
from test_divergence import NEARER, REFERENCE, SHAPES, _pad, diverge


def fenced(program: str) -> str:
    """A chat answer holding ``program``, with prose around it."""
    return f"Here is the function:\n```python\n{program}```\nIt sums the numbers above k.\n"


def span_text(text: str, span: tuple[int, int] | None) -> str | None:
    return None if span is None else text[span[0]:span[1]]


def test_the_divergent_line_is_found_in_the_response_and_is_exactly_its_tokens():
    torch = pytest.importorskip("torch")  # noqa: F841  (the tokenizer below)
    from eta.models.tiny import build_tiny_tokenizer
    from eta.train.credit import completion_weights

    line = diverge(NEARER)["line"]
    assert NEARER.splitlines()[line - 1].strip() == "total = 1"
    response = fenced(NEARER)
    span = divergent_span(response, NEARER, line)
    assert span_text(response, span) == "total = 1"

    tok = build_tiny_tokenizer()
    prompt = tok.apply_chat_template([{"role": "user", "content": "Sum the numbers above k."}], tokenize=False,
                                     add_generation_prompt=True)
    ids = tok(text=prompt + response)["input_ids"][len(tok(text=prompt)["input_ids"]):]  # TRL's completion ids
    weights = completion_weights(tok, prompt, response, ids, span, 3.0)
    assert len(weights) == len(ids) and set(weights) == {1.0, 3.0}
    heavy = [i for i, w in enumerate(weights) if w == 3.0]
    assert heavy == list(range(heavy[0], heavy[-1] + 1))  # one run of tokens
    assert tok.decode([ids[i] for i in heavy]) == "total = 1"  # byte-level: exactly the line, nothing around it
    assert completion_weights(tok, prompt, response, ids, None, 3.0) == [1.0] * len(ids)
    assert completion_weights(tok, prompt, response, ids[1:], span, 3.0) is None  # not TRL's tokens: uniform


def test_the_same_text_elsewhere_does_not_take_the_span():
    # the divergent line's text also in the prose before the code, and twice in the code: the k-th in the code
    program = "def f(n):\n    x = 0\n    x = 0\n    return x\n"
    response = "Start with x = 0 then:\n```python\n" + program + "```"
    for line in (2, 3):
        span = divergent_span(response, program, line)
        assert span_text(response, span) == "x = 0"
        assert response[:span[0]].count("\n") == 1 + line  # the line's own place in the fenced block
    assert divergent_span(response, program, 9) is None and divergent_span(response, program, None) is None


def test_a_line_of_the_prompt_an_appended_completion_follows_is_not_the_models():
    prompt = 'def add(a, b):\n    """Add."""\n'
    body = "    s = a - b\n    return s\n"
    response = "```python\ndef add(a, b):\n    s = a - b\n    return s\n```"
    assert divergent_span(response, prompt + body, 1, len(prompt)) is None  # the signature: the prompt's
    assert span_text(response, divergent_span(response, prompt + body, 3, len(prompt))) == "s = a - b"


@pytest.mark.parametrize("shape", SHAPES)
def test_padding_never_moves_the_span(shape):
    padded = _pad(NEARER, shape)
    span = divergent_span(fenced(padded), padded, diverge(padded)["line"])
    # the padded program's span is the unpadded one's line, or none where padding filled the tracer's event cap
    # before the program reached its divergence (then no line is known and the pair keeps uniform weights)
    assert span_text(fenced(padded), span) in ("total = 1", None)
    if shape != "loop":  # only the 2000-iteration loop fills the cap
        assert span is not None


def test_the_counterpart_in_the_chosen_program():
    rejected = fenced(NEARER)
    span = divergent_span(rejected, NEARER, diverge(NEARER)["line"])
    assert span_text(fenced(REFERENCE), counterpart_span(rejected, span, fenced(REFERENCE))) == "total = 0"
    # the divergent line common to both: the chosen's same line
    same = REFERENCE.replace("x > k", "x >= k")
    assert span_text(fenced(same), counterpart_span(rejected, span, fenced(same))) == "total = 0"
    other = "def sum_above(nums, k):\n    return sum(v for v in nums if v > k)\n"
    assert counterpart_span(rejected, span, fenced(other)) is None  # another program: nothing corresponds
    assert counterpart_span(rejected, None, fenced(REFERENCE)) is None


def test_token_weights_overlap():
    offsets = [(0, 3), (3, 4), (4, 9), (9, 10)]
    assert token_weights(offsets, [(3, 5)], 2.0) == [1.0, 2.0, 2.0, 1.0]
    assert token_weights(offsets, [None], 2.0) == [1.0] * 4


# ---------------------------------------------------------------- the weighted loss through TRL's DPOTrainer

def _trainer(tmp_path: Path, rows: list[dict], **method):
    torch = pytest.importorskip("torch")
    from datasets import Dataset

    from eta.methods import dpo
    from eta.models.tiny import build_tiny_model
    from eta.train.settings import build_args

    model, tok = build_tiny_model()
    ref = copy.deepcopy(model)
    noise = torch.Generator().manual_seed(0)
    with torch.no_grad():  # a reference other than the policy (the same in every call): log-ratios are not zero
        for p in ref.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=noise))
    cfg = {"name": "dpo", "learning_rate": 1e-2, "per_device_train_batch_size": 2, "max_steps": 1, "bf16": False,
           "use_lora": False, "disable_tqdm": True, "save_steps": 100, **method}
    args = build_args(dpo.DPOArgs, cfg, tmp_path / f"out{len(list(tmp_path.iterdir()))}")
    trainer = dpo._trainer_class()(model=model.eval(), ref_model=ref.eval().requires_grad_(False), args=args,
                                   train_dataset=Dataset.from_list(rows), processing_class=tok)
    return trainer, tok


def _rows(tok, spans: bool) -> list[dict]:
    prompt = tok.apply_chat_template([{"role": "user", "content": "Sum the numbers above k."}], tokenize=False,
                                     add_generation_prompt=True)
    chosen, rejected = fenced(REFERENCE), fenced(NEARER)
    r_span = divergent_span(rejected, NEARER, 2)
    c_span = counterpart_span(rejected, r_span, chosen)
    row = {"prompt": prompt, "chosen": chosen, "rejected": rejected,
           "chosen_span": list(c_span) if spans else [], "rejected_span": list(r_span) if spans else []}
    plain = {"prompt": prompt, "chosen": fenced(REFERENCE.replace("total", "acc")), "rejected": fenced(""),
             "chosen_span": [], "rejected_span": []}
    return [row, plain]


def _losses(trainer, row: int) -> tuple[float, float]:
    """The loss of one pair with its credit weights, and TRL's own (the same batch without them)."""
    from eta.methods.dpo import COMPLETION_WEIGHTS, _WeightedCollator

    batch = _WeightedCollator.around(trainer.data_collator)([trainer.train_dataset[row]])
    plain = {k: v for k, v in batch.items() if k != COMPLETION_WEIGHTS}
    return tuple(float(trainer.compute_loss(trainer.model, b).detach()) for b in (batch, plain))


def test_the_weighted_loss_differs_only_where_a_span_is_and_equals_trls_at_weight_one(tmp_path):
    from eta.models.tiny import build_tiny_tokenizer

    rows = _rows(build_tiny_tokenizer(), True)  # the first pair has spans, the second none
    weighted, _ = _trainer(tmp_path, rows, credit="divergence", credit_weight=3.0)
    credited, trl = _losses(weighted, 0)
    assert math.isfinite(trl) and abs(trl - math.log(2)) > 1e-4 and abs(credited - trl) > 1e-4
    assert _losses(weighted, 1)[0] == pytest.approx(_losses(weighted, 1)[1], abs=1e-6)  # no span: TRL's loss
    weight_one, _ = _trainer(tmp_path, rows, credit="divergence", credit_weight=1.0)
    assert _losses(weight_one, 0)[0] == pytest.approx(trl, abs=1e-6)


def test_the_weighted_log_probs_are_the_weighted_sum_of_the_tokens(tmp_path):
    import torch

    from eta.methods.dpo import COMPLETION_WEIGHTS, _WeightedCollator
    from eta.models.tiny import build_tiny_tokenizer

    trainer, _ = _trainer(tmp_path, _rows(build_tiny_tokenizer(), True), credit="divergence", credit_weight=3.0)
    rows = [trainer.train_dataset[i] for i in range(2)]
    batch = _WeightedCollator.around(trainer.data_collator)(rows)
    weights, mask = batch[COMPLETION_WEIGHTS], batch["completion_mask"]
    assert (weights[mask == 1] == 3.0).sum() == 9 + 9  # "total = 1" and "total = 0": 9 bytes each
    with torch.no_grad():
        logits = trainer.ref_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logps = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, batch["input_ids"][:, 1:, None])[..., 0]
    expected = (logps * weights[:, 1:] * mask[:, 1:]).sum(1)
    chosen, rejected = trainer.compute_ref_log_probs(trainer.ref_model, dict(batch))
    assert torch.allclose(torch.cat([chosen, rejected]), expected, atol=1e-4)
    assert not torch.allclose(expected, (logps * mask[:, 1:]).sum(1), atol=1e-2)


def test_bad_credit_settings_are_named(tmp_path):
    pytest.importorskip("torch")
    from eta.errors import ConfigError
    from eta.methods import dpo
    from eta.train.settings import build_args

    with pytest.raises(ConfigError, match="method.credit: 'trace'; use one of none, divergence"):
        build_args(dpo.DPOArgs, {"name": "dpo", "credit": "trace"}, tmp_path)
    with pytest.raises(ConfigError, match="method.credit_weight: 0"):
        build_args(dpo.DPOArgs, {"name": "dpo", "credit_weight": 0}, tmp_path)
    with pytest.raises(ConfigError, match="use_liger_kernel=false"):
        build_args(dpo.DPOArgs, {"name": "dpo", "credit": "divergence", "use_liger_kernel": True}, tmp_path)


# ---------------------------------------------------------------- through the pipeline, in-process

def _returns_none(task) -> str:
    """The task's reference, every return made ``return None``: it fails at a line of its own."""
    body = [line[:line.index("return")] + "return None" if "return " in line else line
            for line in task.reference.rstrip().splitlines()]
    return task.prompt + "\n".join(body) + "\n"


def test_dpo_with_divergence_credit_runs_through_the_pipeline(tmp_path, monkeypatch, capsys):
    """The tiny model's own answers never reach a reference's values, so they are replaced by one program
    per problem that returns None (its divergence located), one that is not code, and one that returns None
    before doing anything: the `divergence` criterion orders the two wrong answers (issue 27: the criterion,
    end to end on the tiny model), and DPO trains with divergence credit."""
    pytest.importorskip("torch")
    import eta.sample
    from safetensors.torch import load_file

    from eta.context import load_splits
    from eta.pipeline import run as run_pipeline
    from eta.sample.engine import Generation
    from eta.train import runner
    from helpers import compose
    from test_pipeline_resume import SMALL

    cfg = compose(*SMALL, "method.max_steps=2", "method.per_device_train_batch_size=1", "method.credit=divergence",
                  "method.credit_weight=3.0", "method.heldout_max_pairs=0", "stages=[sample,execute,prefer,train]",
                  "sampler.n=3")
    tasks = [t for split in load_splits(cfg) for t in split]

    def answers(model, tokenizer, prompts, n, **kw):
        out = []
        for prompt in prompts:
            task = next(t for t in tasks if f"def {t.entry_point}(" in prompt)
            texts = [f"```python\n{_returns_none(task)}```", "I cannot.",
                     f"```python\n{task.prompt}    return None\n```"]
            out.append([Generation(texts[i % 3], 5, "stop") for i in range(n)])
        return out

    monkeypatch.setattr(eta.sample, "sample", answers)
    metrics = run_pipeline(cfg, tmp_path)
    credit = metrics["method"]["credit"]
    assert credit["pairs"] > 0 and credit["rejected_spans"] > 0, credit
    weighted = re.search(r"credit: train token weights on (\d+) rejected", capsys.readouterr().out)
    assert weighted and int(weighted.group(1)) == credit["rejected_spans"]  # every located span reached its tokens
    records = [json.loads(line) for line in (tmp_path / "executions.jsonl").read_text().splitlines()]
    assert any((r.get("divergence") or {}).get("line") for r in records)
    pairs = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    by_divergence = [p for p in pairs if p["criterion"] == "divergence"]
    assert by_divergence, "the divergence criterion ordered no pair of wrong answers"
    completions = {(r["task_id"], r["sample_id"]): r["completion"] for r in records}
    for pair in by_divergence:  # the program that ran the reference's steps before its wrong return is nearer
        assert completions[(pair["task_id"], pair["chosen_sample_id"])].count("\n") > \
            completions[(pair["task_id"], pair["rejected_sample_id"])].count("\n")
    adapter = load_file(str(tmp_path / "train" / runner.ADAPTER_FILE))
    lora_b = [v for k, v in adapter.items() if "lora_B" in k]
    assert lora_b and any(float(v.abs().sum()) > 0 for v in lora_b)  # B starts at zero: the adapter trained
