"""The default model's greedy pass@1 on the synthetic suite (target: between 20% and 60%).

    .venv/bin/python experiments/synthetic_base_rate.py --split test
    .venv/bin/python experiments/synthetic_base_rate.py --split all --per-family 5   # per-family rates

Chat prompts, greedy decoding, at most ``--max-new-tokens`` new tokens, stopping at the answer's closing
fence; the code is extracted with ``eta.tasks.extract`` and run against every test. Prints the pass rate
overall, per kind and per family, the time taken, and writes every answer to ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eta.tasks import load_tasks  # noqa: E402
from eta.tasks.extract import extract_code  # noqa: E402
from eta.tasks.prompts import build_prompt, stop_strings  # noqa: E402


def generate(model, tokenizer, prompts: list[str], stops: list[str], max_new_tokens: int, batch: int) -> list[str]:
    import torch

    answers = []
    for start in range(0, len(prompts), batch):
        chunk = prompts[start:start + batch]
        inputs = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens, stop_strings=stops,
                                 tokenizer=tokenizer, pad_token_id=tokenizer.pad_token_id)
        new = out[:, inputs["input_ids"].shape[1]:]
        answers += tokenizer.batch_decode(new, skip_special_tokens=True)
        print(f"  generated {len(answers)}/{len(prompts)}", file=sys.stderr, flush=True)
    return answers


def run_all(pairs: list) -> list[tuple[int, int]]:
    """(tests passed, tests total) per (task, completion), with the project's sandbox when it is there."""
    try:
        from eta.execute import execute_tasks
    except ImportError:
        execute_tasks = None
    if execute_tasks is not None:
        return [(r.tests_passed, r.tests_total) for r in execute_tasks(pairs, workers=2)]
    from eta.tasks._selfcheck import run_tests

    verdicts = [run_tests(task, completion, timeout_s=20) for task, completion in pairs]
    return [(v.count("passed"), len(v)) for v in verdicts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test", choices=["test", "validation", "train", "all"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-family", type=int, default=10)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--model", default="smollm2_135m")
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--out", default="outputs/synthetic_base_rate.json")
    args = parser.parse_args()

    from eta.models import load_model

    started = time.time()
    tasks = load_tasks("synthetic", split=args.split, limit=args.limit, seed=args.seed, per_family=args.per_family)
    model, tokenizer = load_model(args.model)
    loaded = time.time()
    prompts = [build_prompt(t, "chat", tokenizer) for t in tasks]
    answers = generate(model, tokenizer, prompts, stop_strings(tasks[0], "chat"), args.max_new_tokens, args.batch)
    generated = time.time()
    completions = [extract_code(t, a, "chat") for t, a in zip(tasks, answers)]
    scores = run_all(list(zip(tasks, completions)))
    done = time.time()

    passed = [p == n and n > 0 for p, n in scores]
    groups: dict[str, list[bool]] = defaultdict(list)
    for task, ok in zip(tasks, passed):
        groups[f"kind {task.metadata['kind']}"].append(ok)
        groups[f"family {task.metadata['family']}"].append(ok)
    rate = sum(passed) / len(passed)
    print(f"synthetic split={args.split} seed={args.seed} per_family={args.per_family} model={args.model} "
          f"greedy max_new_tokens={args.max_new_tokens} batch={args.batch}")
    print(f"pass@1 = {sum(passed)}/{len(passed)} = {rate:.1%}  (target 20%-60%: {'yes' if 0.2 <= rate <= 0.6 else 'NO'})")
    for name in sorted(groups):
        print(f"  {name:28s} {sum(groups[name]):3d}/{len(groups[name]):3d} = {sum(groups[name]) / len(groups[name]):.0%}")
    print(f"time: load {loaded - started:.0f}s, generate {generated - loaded:.0f}s, execute {done - generated:.0f}s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "args": vars(args), "pass_at_1": rate, "groups": {k: sum(v) / len(v) for k, v in groups.items()},
        "results": [{"task_id": t.task_id, "answer": a, "completion": c, "tests_passed": s[0], "tests_total": s[1]}
                    for t, a, c, s in zip(tasks, answers, completions, scores)]}, indent=1))


if __name__ == "__main__":
    main()
