"""GRPO's token-level credit (method.credit=divergence, EGCA) and what every GRPO run logs beside its
reward: the divergent line found in the answer, its tokens found among the generated ones, only those
tokens trained on for a located failure, the learned reward not scaled by the group's std, and the
rollouts' steps and length per step in the log and plots/grpo.png."""

from __future__ import annotations

import json
import math

import pytest

from eta.tasks.schema import CompletionMode, Task, TestCase
from eta.tasks.spans import line_span

GRPO = "method=grpo"
REFERENCE = "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n"
WRONG = "def f(xs):\n    total = 0\n    for x in xs:\n        total += x * 2\n    return total\n"


def fenced(code: str) -> str:
    return f"Sum them up:\n```python\n{code}```\nThat adds `total += x` for each x."


# -- the divergent line in the answer ----------------------------------------------------------------------

def test_a_program_line_is_found_in_the_answers_code_not_its_prose():
    answer = fenced(WRONG)
    start, end = line_span(WRONG, 4, answer, WRONG)
    assert answer[start:end] == "total += x * 2"
    start, end = line_span(REFERENCE, 4, fenced(REFERENCE), REFERENCE)
    assert fenced(REFERENCE)[start:end] == "total += x" and start < fenced(REFERENCE).index("```\n")


def test_a_repeated_line_is_told_apart_by_order_and_a_prompt_line_has_no_span():
    prompt = "def f(xs):\n    total = 0\n"
    completion = "    for x in xs:\n        total = 0\n        total += x\n    return total\n"
    program = prompt + completion  # HumanEval's append mode: the prompt's lines are not the answer's
    assert line_span(program, 2, completion, completion) is None  # the prompt's `total = 0`
    start, end = line_span(program, 4, completion, completion)
    assert (start, end) == (completion.index("total = 0"), completion.index("total = 0") + 9)
    assert line_span(program, 1, completion, completion) is None and line_span(program, 99, completion) is None


def test_the_token_span_reads_the_generated_tokens_decoding():
    pytest.importorskip("tokenizers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from eta.train.tokens import token_span

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer, bpe.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    bpe.train_from_iterator([fenced(WRONG)] * 20 + ["naïve ünïcode"] * 5, trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=["<eos>"]))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<eos>")
    answer = fenced(WRONG) + " naïve"
    ids = tok.encode(answer, add_special_tokens=False) + [tok.eos_token_id]
    assert len(ids) < len(answer) / 2  # multi-character tokens: a character offset is not a token index
    start, end = line_span(WRONG, 4, answer, WRONG)
    s, e = token_span(tok, ids, start, end)
    assert tok.decode(ids[s:e]).strip() == "total += x * 2"  # exactly the line's tokens, no more
    assert "total" not in tok.decode(ids[s + 1:e]) and "2" not in tok.decode(ids[s:e - 1])
    i = answer.index("ï")  # a character split across tokens belongs to every token holding a part of it
    s, e = token_span(tok, ids, i, i + 1)
    assert "ï" in tok.decode(ids[s:e]) and e - s <= 2
    assert token_span(tok, ids, 5, 5) is None


# -- only the located tokens receive gradient (tiny model) --------------------------------------------------

def sum_task() -> Task:
    return Task(task_id="S/0", prompt="Write f(xs), the sum of xs.", reference=REFERENCE,
                tests=(TestCase(code="assert f([1, 2, 3]) == 6"), TestCase(code="assert f([4]) == 4")),
                entry_point="f", completion_mode=CompletionMode.FULL, dataset="sums")


@pytest.fixture
def scored_batch(tmp_path, compose, monkeypatch):
    """The credit trainer on the tiny model, one group of fixed rollouts (the reference, a wrong line, a
    syntax error: passing, located, unlocated) executed and scored: its loss inputs and the trainer."""
    pytest.importorskip("trl")
    from datasets import Dataset

    from eta.execute import TraceOptions
    from eta.execute.reftraces import reference_traces
    from eta.methods import load_method
    from eta.models.load import load_model
    from eta.rewards import reward_funcs
    from eta.rl.credit import credit_trainer
    from eta.rl.rollouts import RolloutExecutor

    monkeypatch.setenv("ETA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is marked experimental
    cfg = compose(GRPO, "model=tiny", "logger=none", "method.credit=divergence", "method.use_lora=false",
                  "method.bf16=false", "method.num_generations=3", "method.per_device_train_batch_size=3",
                  "method.gradient_accumulation_steps=1", "method.beta=0.0", "+method.disable_tqdm=true")
    args = load_method(cfg, tmp_path).args
    model, tokenizer = load_model(dict(cfg.model))
    task = sum_task()
    trace = TraceOptions(writes=True)
    refs = reference_traces([task], trace, workers=1)
    texts = [fenced(REFERENCE), fenced(WRONG), fenced("def f(xs) return 0\n")]
    ids = [tokenizer.encode(t, add_special_tokens=False) + [tokenizer.eos_token_id] for t in texts]

    def fixed(prompts, trainer):
        return {"prompt_ids": [tokenizer.encode(p, add_special_tokens=False) for p in prompts],
                "completion_ids": [list(x) for x in ids], "logprobs": None}

    rollouts = RolloutExecutor([task], style="chat", prompts={"S/0": task.prompt}, workers=1, trace=trace,
                               references=refs)
    funcs, _ = reward_funcs("shaped", rollouts)
    trainer = credit_trainer(rollouts)(model=model, reward_funcs=funcs, args=args, processing_class=tokenizer,
                                       train_dataset=Dataset.from_list([{"prompt": "p", "task_id": "S/0"}]),
                                       rollout_func=fixed)
    model.train()
    with rollouts:
        batch = trainer._generate_and_score_completions([{"prompt": "Sum:\n", "task_id": "S/0"}] * 3)
        results = rollouts.results(["S/0"] * 3, texts)
    assert [r.outcome.value for r in results] == ["passed", "wrong_answer", "syntax_error"]
    return trainer, batch, ids, texts


def logit_grads(trainer, batch):
    """The loss's gradient w.r.t. each completion position's logits: (rollouts, completion tokens) norms."""
    import torch

    kept = []
    model = trainer.model
    hook = model.lm_head.register_forward_hook(lambda m, i, out: (out.retain_grad(), kept.append(out))[-1])
    try:
        trainer.current_gradient_accumulation_steps = 1  # set by Trainer's loop, which this test skips
        trainer.compute_loss(model, batch).backward()
    finally:
        hook.remove()
    grads = torch.cat([k.grad for k in kept])[:, :-1]  # the last position predicts past the completion
    return grads.norm(dim=-1)


def test_only_the_divergent_lines_tokens_of_a_located_failure_receive_gradient(scored_batch):
    trainer, batch, ids, texts = scored_batch
    norms = logit_grads(trainer, batch)
    assert batch["advantages"].abs().min() > 0  # every rollout has an advantage to give
    nonzero = [set(i for i, g in enumerate(row[:len(x)].tolist()) if g > 0) for row, x in zip(norms, ids)]
    tokenizer = trainer.processing_class
    # the passing rollout, and the syntax error (no divergence to locate): every token
    assert nonzero[0] == set(range(len(ids[0]))) and nonzero[2] == set(range(len(ids[2])))
    # the wrong program: exactly the tokens of `total += x * 2`, the line where its values left the reference's
    located = sorted(nonzero[1])
    assert located == list(range(located[0], located[-1] + 1))
    assert tokenizer.decode(ids[1][located[0]:located[-1] + 1]).strip() == "total += x * 2"
    assert len(located) < len(ids[1]) / 4
    assert (norms[:, max(map(len, ids)):] == 0).all()  # padding never trains
    # the loss is normalized by the tokens it trains on, as TRL does with its own loss mask
    assert batch["num_items_in_batch"].item() == len(ids[0]) + len(located) + len(ids[2])


def test_credit_none_keeps_trls_loss_mask(tmp_path, compose):
    pytest.importorskip("trl")
    from eta.errors import ConfigError
    from eta.methods import load_method

    assert load_method(compose(GRPO), tmp_path).args.credit == "none"
    with pytest.raises(ConfigError, match="method.credit must be one of none, divergence, got 'tokens'"):
        load_method(compose(GRPO, "method.credit=tokens"), tmp_path)


# -- a learned reward is not divided by the group's std ------------------------------------------------------

@pytest.mark.parametrize("overrides, scale", [
    (["method.reward=rm"], "none"), (["+method.reward={shaped:1.0,rm:0.5}"], "none"), (["method.reward=shaped"], "group"),
    (["method.reward=binary"], "group"), (["method.reward=rm", "method.scale_rewards=group"], "group"),
    (["method.reward=shaped", "method.scale_rewards=batch"], "batch"),
])
def test_scale_rewards_is_none_by_default_for_a_learned_reward(tmp_path, compose, overrides, scale):
    pytest.importorskip("trl")
    from eta.methods import load_method

    assert load_method(compose(GRPO, *overrides), tmp_path).args.scale_rewards == scale


def test_a_bad_scale_rewards_fails_in_one_line(tmp_path, compose):
    pytest.importorskip("trl")
    from eta.errors import ConfigError
    from eta.methods import load_method

    with pytest.raises(ConfigError, match="method.scale_rewards must be one of auto, group, batch, none, got 'std'"):
        load_method(compose(GRPO, "method.scale_rewards=std"), tmp_path)


# -- steps and length beside the reward, in the log and plots/grpo.png (tiny run) -----------------------------

def test_the_steps_logged_per_batch_are_raw_and_relative_to_the_reference():
    from eta.execute.outcome import Outcome
    from eta.execute.result import ExecutionResult, TestResult
    from eta.rl.rollouts import step_metrics

    def failing(steps, live, reference):
        return ExecutionResult(outcome=Outcome.WRONG_ANSWER, tests_total=1,
                               tests=[TestResult(0, Outcome.WRONG_ANSWER, steps=steps)],
                               divergence={"score": 0.5, "f1": 0.5, "line": 3,
                                           "tests": [{"index": 0, "steps": live, "reference_steps": reference}]})

    honest = failing(steps=10, live=5, reference=20)
    padded = failing(steps=4010, live=5, reference=20)  # 4000 line events of a loop that changes nothing
    passed = ExecutionResult(outcome=Outcome.PASSED, tests_total=1, tests=[TestResult(0, Outcome.PASSED, steps=30)])
    crashed = ExecutionResult(outcome=Outcome.SYNTAX_ERROR, tests_total=1)
    assert step_metrics([honest, passed, crashed], 10_000) == {"exec/mean_steps": 20.0, "exec/rel_steps": 0.125}
    padding = step_metrics([padded, passed, crashed], 10_000)
    assert padding["exec/mean_steps"] == 2020.0 and padding["exec/rel_steps"] == 0.125  # raw shows it, rel not
    assert all(math.isnan(v) for v in step_metrics([passed.__class__(outcome=Outcome.PASSED)], 10).values())

def test_a_grpo_run_logs_and_plots_reward_steps_and_length_per_step(tmp_path, compose, monkeypatch):
    """With the divergence reward and EGCA's credit, so that both run end to end on the tiny model in the
    default suite (tests/test_grpo.py checks the reward's values, in the slow suite)."""
    pytest.importorskip("trl")
    from dataclasses import replace

    from eta.context import RunContext
    from eta.methods import load_method
    from eta.models.load import load_model
    from eta.rl.plot import grpo_panels

    monkeypatch.setenv("ETA_CACHE_DIR", str(tmp_path / "cache"))
    cfg = compose(GRPO, "model=tiny", "logger=none", "dataset.prompt_style=completion", "dataset.test_time_floor_s=null",
                  "method.max_steps=2", "method.max_completion_length=2", "method.temperature=1.5", "method.bf16=false",
                  "method.per_device_train_batch_size=4", "method.gradient_accumulation_steps=1",
                  "method.num_generations=4", "+method.disable_tqdm=true", "method.warmup_steps=0",
                  "method.credit=divergence", "method.reward=divergence", "execute.workers=1")
    # the lottery of tests/test_grpo.py, whose prompt is a whole solution: the reference
    tasks = [Task(task_id=f"L/{i}", prompt=f"def f():\n    return {i + 1}\n", reference=f"def f():\n    return {i + 1}\n",
                  tests=(TestCase(code=f"assert f() == {i + 1}"),), entry_point="f",
                  completion_mode=CompletionMode.APPEND, dataset="lottery") for i in range(2)]
    run = RunContext(cfg=cfg, run_dir=tmp_path, train_tasks=tasks)
    model, tokenizer = load_model(dict(cfg.model))
    result = load_method(cfg).train(run, model, tokenizer)
    assert result.steps == 2
    state = json.loads((tmp_path / "train" / "trainer_state.json").read_text())
    steps = [e for e in state["log_history"] if "frac_reward_zero_std" in e]
    assert len(steps) == 2
    for entry in steps:
        assert isinstance(entry["reward"], float) and entry["completions/mean_length"] > 0
        assert entry["exec/mean_steps"] >= 0 and "exec/rel_steps" in entry and "credit/located" in entry
    assert result.metrics["grpo_exec_mean_steps_last"] == steps[-1]["exec/mean_steps"]
    assert result.metrics["grpo_completions_mean_length_first"] == steps[0]["completions/mean_length"]
    assert (tmp_path / "plots" / "grpo.png").stat().st_size > 10_000
    panels = dict(grpo_panels(state["log_history"], ["divergence"]))
    for title, label in (("mean reward per function", "divergence"), ("steps executed (mean per rollout)", "mean_steps"),
                         ("completion length (mean tokens)", "mean_length")):
        xs, ys = panels[title][label]
        assert xs == [e["step"] for e in steps] and all(not math.isnan(y) for y in ys)
