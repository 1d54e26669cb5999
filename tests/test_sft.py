"""method=sft: answers in the sampler's form, loss on the completion only, LoRA moves, the APPS fallback."""

from __future__ import annotations

import json

import pytest
from helpers import SMOKE, needs_data, run_py

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.needs_torch

from eta.methods import sft  # noqa: E402
from eta.models.tiny import build_tiny_model  # noqa: E402
from eta.tasks import load_tasks  # noqa: E402
from eta.tasks.answers import reference_answer  # noqa: E402
from eta.tasks.extract import extract_code  # noqa: E402
from eta.tasks.prompts import build_prompt  # noqa: E402
from eta.tasks.schema import Task, TestCase  # noqa: E402
from eta.train.settings import build_args, lora_config  # noqa: E402

LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}


def node(**overrides):
    cfg = {"name": "sft", "learning_rate": 1e-2, "per_device_train_batch_size": 2, "max_steps": 3,
           "logging_steps": 1, "bf16": False, "gradient_checkpointing": False, "disable_tqdm": True,
           "save_steps": 50}
    cfg.update(overrides)
    return cfg


@pytest.mark.parametrize("style", ["chat", "completion"])
def test_reference_answers_extract_back_to_the_reference(style):
    tasks = load_tasks("synthetic", split="train")[:6] + load_tasks("humaneval")[:4]
    _, tok = build_tiny_model()
    for task in tasks:
        answer = reference_answer(task, style)
        assert answer is not None, task.task_id
        program = task.program(extract_code(task, answer, style))
        namespace: dict = {}
        exec(compile(program + "\n" + task.setup, "<p>", "exec"), namespace)  # trusted benchmark code
        for test in task.tests:
            exec(test.code, namespace)
        if style == "chat":
            assert answer.startswith("```python\n") and answer.endswith("\n```")


def test_an_answer_the_stops_would_cut_is_refused():
    # a completion-style function task: the helper's top-level `def` is a stop, so sampling cannot write it
    task = Task(task_id="T/1", prompt="Add one.", reference="def helper(x):\n    return x + 1\n\n"
                "def f(x):\n    return helper(x)\n", tests=(TestCase(code="assert f(1) == 2"),), entry_point="f",
                metadata={"signature": "def f(x):"})
    assert reference_answer(task, "completion") is None
    assert reference_answer(task, "chat") is not None


def collated_batch(model, tok, rows, tmp_path):
    from datasets import Dataset
    from trl import SFTTrainer

    args = build_args(sft.SFTArgs, node(), tmp_path)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok)
    return trainer.data_collator([trainer.train_dataset[i] for i in range(len(rows))])


def test_loss_is_on_the_completion_tokens_only(tmp_path):
    model, tok = build_tiny_model()
    tasks = load_tasks("synthetic", split="train")[:2]
    rows, counts = sft.sft_rows(tasks, "chat", tok)
    assert counts["from_reference"] == 2 and len(rows) == 2
    assert rows[0]["prompt"] == build_prompt(tasks[0], "chat", tok)  # exactly the sampler's prompt
    batch = collated_batch(model, tok, rows, tmp_path)
    for i, row in enumerate(rows):
        prompt_ids = tok(row["prompt"])["input_ids"]
        full_ids = tok(row["prompt"] + row["completion"] + tok.eos_token)["input_ids"]
        ids, labels = batch["input_ids"][i].tolist(), batch["labels"][i].tolist()
        start = ids.index(full_ids[0]) if tok.padding_side == "left" else 0
        seq, lab = ids[start:start + len(full_ids)], labels[start:start + len(full_ids)]
        assert seq == full_ids
        assert all(x == -100 for x in lab[:len(prompt_ids)])  # the prompt: no loss
        assert lab[len(prompt_ids):] == full_ids[len(prompt_ids):]  # completion and EOS: loss
        assert tok.decode(lab[len(prompt_ids):]).endswith(tok.eos_token)


def test_train_sft_moves_lora_only_and_resumes_as_finished(tmp_path):
    from datasets import Dataset

    model, tok = build_tiny_model()
    base_before = {n: p.detach().clone() for n, p in model.named_parameters()}
    rows, _ = sft.sft_rows(load_tasks("synthetic", split="train")[:4], "chat", tok)
    args = build_args(sft.SFTArgs, node(), tmp_path / "train")
    result = sft.train_sft(model, tok, Dataset.from_list(rows), args, lora_config(LORA))
    assert result.steps == 3 and not result.reused
    losses = [h["loss"] for h in result.log_history if "loss" in h]
    assert len(losses) == 3 and losses[-1] < losses[0]
    lora_b = [p for n, p in result.model.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)  # B starts at zero: non-zero means it trained
    for name, p in result.model.named_parameters():
        if "lora_" not in name:
            key = name.removeprefix("base_model.model.").replace(".base_layer", "")
            assert torch.equal(p, base_before[key]), name
    fresh, _ = build_tiny_model()
    again = sft.train_sft(fresh, tok, Dataset.from_list(rows), args, lora_config(LORA))
    assert again.reused and again.steps == 3


def test_passing_samples_stand_in_where_there_is_no_reference():
    _, tok = build_tiny_model()
    with_ref = load_tasks("synthetic", split="train")[0]
    no_ref = Task(task_id="APPS/1", prompt="Print 1.", reference="", tests=(), dataset="apps")
    samples = [{"task_id": "APPS/1", "sample_id": i, "prompt": "P", "completion": c, "response": f"```python\n{c}\n```"}
               for i, c in enumerate(["print(1)", "print(2)", "print(1)"])]
    executions = [{"task_id": "APPS/1", "sample_id": i, "passed": p} for i, p in enumerate([True, False, True])]
    rows, counts = sft.sft_rows([with_ref, no_ref], "chat", tok, executions=executions, samples=samples)
    assert counts == {"from_reference": 1, "from_passing_samples": 1, "from_passing_samples_tasks": 1,
                      "tasks_without_reference": 1, "unexpressible": 0}
    assert rows[1] == {"prompt": "P", "completion": "```python\nprint(1)\n```"}  # the passing one, once
    rows, counts = sft.sft_rows([with_ref, no_ref], "chat", tok, "reference", executions=executions, samples=samples)
    assert len(rows) == 1 and counts["from_passing_samples"] == 0


@needs_data("apps")
def test_needs_follow_the_dataset(compose):
    from eta.errors import ConfigError
    from eta.methods import load_method

    assert load_method(compose("method=sft", "dataset=humaneval")).needs is None
    apps = load_method(compose("method=sft", "dataset=apps"))
    assert apps.needs == "execute" and apps.without_reference > 0
    passing = load_method(compose("method=sft", "method.completions=passing"))
    assert passing.needs == "execute"
    with pytest.raises(ConfigError, match="completions"):
        load_method(compose("method=sft", "method.completions=both"))


@pytest.mark.slow  # run.py in a new process
def test_method_sft_runs_end_to_end(tmp_path):
    run_dir = tmp_path / "run"
    done = run_py(*SMOKE, "method=sft", f"hydra.run.dir={run_dir}")
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {"base", "trained", "method"} <= set(metrics)
    assert metrics["method"]["sft_from_reference"] == 4 and metrics["method"]["sft_targets"] == "reference"
    assert not (run_dir / "samples.jsonl").exists()  # references need no sampling
    assert (run_dir / "train" / "adapter_model.safetensors").is_file()
    assert (run_dir / "analysis.md").read_text().startswith("# Error analysis")


@pytest.mark.slow
def test_method_sft_on_samples_executes_and_says_so(tmp_path):
    run_dir = tmp_path / "run"
    done = run_py(*SMOKE, "method=sft", "method.completions=passing", f"hydra.run.dir={run_dir}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (run_dir / "executions.jsonl").is_file()
    assert "passing samples stand in: " in done.stdout
    passed = sum(json.loads(line)["passed"] for line in (run_dir / "executions.jsonl").read_text().splitlines())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    if passed:  # the random tiny model rarely passes: then the run says there is nothing and trains nothing
        assert metrics["method"]["sft_from_passing_samples"] >= 1
    else:
        assert "SFT: nothing to train on" in done.stdout and "trained" not in metrics
