"""The default model's pass@1 on the synthetic suite, per family (target: between 15% and 50% a family).

    .venv/bin/python experiments/synthetic_base_rate.py --split test                 # greedy
    .venv/bin/python experiments/synthetic_base_rate.py --split validation --per-family 2 --n 8   # sampled
    .venv/bin/python experiments/synthetic_base_rate.py --families max_of_three squares --per-family 2 --n 8

Chat prompts, at most ``--max-new-tokens`` new tokens, stopping at the answer's closing fence, with eta's own
sampler (``eta.sample``, the one ``make run`` evaluates with): greedy (``--n 1``), or ``--n`` samples a
problem at ``--temperature``/``--top-p``. The code is extracted with
``eta.tasks.extract`` and run against every test in eta's sandbox. Prints pass@1 (the share of samples that
pass) overall, per kind and per family, with each family's failures by outcome (wrong answer, runtime error,
syntax error, ...) and its mean share of tests passed, the time taken, and writes every answer to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eta.tasks import load_tasks  # noqa: E402
from eta.tasks.extract import extract_code  # noqa: E402
from eta.tasks.prompts import build_prompt, stop_strings  # noqa: E402


def sample_answers(model, tokenizer, prompts: list[str], stops: list[str], args: argparse.Namespace) -> list[list[str]]:
    """``args.n`` answers a prompt at ``args.temperature`` with eta's sampler; one greedy answer for ``--n 1``."""
    from eta.sample import sample

    temperature = 0.0 if args.n == 1 else args.temperature
    gens = sample(model, tokenizer, prompts, n=args.n, temperature=temperature, top_p=args.top_p,
                  max_new_tokens=args.max_new_tokens, stop=stops, seed=args.seed, threads=args.threads,
                  progress=True)
    return [[g.text for g in row] for row in gens]


def earlier_answers(tasks: list, paths: list[str]) -> list[list[str]]:
    """Each task's answers from earlier --out files (a tests change needs no new samples); none is missing."""
    by_task: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        for row in json.loads(Path(path).read_text())["results"]:
            by_task[row["task_id"]].append(row["answer"])
    missing = [t.task_id for t in tasks if not by_task[t.task_id]]
    if missing:
        raise SystemExit(f"error: no earlier answers for {len(missing)} problems, e.g. {missing[0]}")
    return [by_task[t.task_id] for t in tasks]


def run_all(pairs: list) -> list[tuple[int, int, str]]:
    """(tests passed, tests total, outcome) per (task, completion), in eta's sandbox."""
    from eta.execute import execute_tasks

    return [(r.tests_passed, r.tests_total, r.outcome.value) for r in execute_tasks(pairs, workers=2)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test", choices=["test", "validation", "train", "all"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-family", type=int, default=10)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--families", nargs="*", default=None, help="only these families (any split)")
    parser.add_argument("--n", type=int, default=1, help="1: greedy; more: samples a problem at --temperature")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--threads", type=int, default=None, help="torch threads for sampling (1 on a busy box)")
    parser.add_argument("--model", default="smollm2_135m")
    parser.add_argument("--max-new-tokens", type=int, default=192)
    parser.add_argument("--out", default="outputs/synthetic_base_rate.json")
    parser.add_argument("--rescore", nargs="*", default=None,
                        help="earlier --out files: run their answers against today's tests instead of sampling")
    args = parser.parse_args()

    started = time.time()
    split = "all" if args.families else args.split
    tasks = load_tasks("synthetic", split=split, limit=args.limit, seed=args.seed, per_family=args.per_family,
                       families=args.families)
    if args.rescore is not None:
        answers = earlier_answers(tasks, args.rescore)
        loaded = generated = time.time()
    else:
        from eta.models import load_model

        model, tokenizer = load_model(args.model)
        loaded = time.time()
        prompts = [build_prompt(t, "chat", tokenizer) for t in tasks]
        answers = sample_answers(model, tokenizer, prompts, stop_strings(tasks[0], "chat"), args)
        generated = time.time()
    samples = [(t, a, extract_code(t, a, "chat")) for t, row in zip(tasks, answers) for a in row]
    scores = run_all([(t, c) for t, _, c in samples])
    done = time.time()

    passed = [p == n and n > 0 for p, n, _ in scores]
    groups: dict[str, list[int]] = defaultdict(list)  # sample indices
    for i, (task, _, _) in enumerate(samples):
        groups[f"kind {task.metadata['kind']}"].append(i)
        groups[f"family {task.metadata['family']}"].append(i)
    rate = sum(passed) / len(passed)
    mode = "greedy" if args.n == 1 else f"n={args.n} T={args.temperature} top_p={args.top_p}"
    print(f"synthetic split={split} seed={args.seed} per_family={args.per_family} model={args.model} "
          f"{mode} max_new_tokens={args.max_new_tokens}")
    print(f"pass@1 = {sum(passed)}/{len(passed)} = {rate:.1%}")
    for name in sorted(groups):
        members = groups[name]
        ok = sum(passed[i] for i in members)
        outcomes = Counter(scores[i][2] for i in members if not passed[i])
        partial = sum(scores[i][0] / max(1, scores[i][1]) for i in members) / len(members)
        fails = ", ".join(f"{k} {v}" for k, v in outcomes.most_common())
        print(f"  {name:28s} {ok:3d}/{len(members):3d} = {ok / len(members):4.0%}  tests {partial:4.0%}  {fails}")
    print(f"time: load {loaded - started:.0f}s, generate {generated - loaded:.0f}s, execute {done - generated:.0f}s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "args": vars(args), "pass_at_1": rate,
        "results": [{"task_id": t.task_id, "answer": a, "completion": c, "tests_passed": s[0], "tests_total": s[1],
                     "outcome": s[2]} for (t, a, c), s in zip(samples, scores)]}, indent=1))


if __name__ == "__main__":
    main()
