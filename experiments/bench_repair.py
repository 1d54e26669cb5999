"""Seconds per program of the QuixBugs repair pass's sampling (greedy, trace feedback), the old batching
against the engine's own, side by side in one process on the same prompts; and, with ``--accuracy``, the
repair accuracy of feedback kinds on the same programs (issue 27 section 5: the divergence window
``trace`` against the old whole-state ``trace_events`` and the ``none`` control), with paired intervals.

The old rule gave the whole pass one batch size, 16384 // (the longest prompt's tokens): 3 rows for the 40
trace prompts (397 to 4883 tokens), in calls of 32 prompts. Now the engine gets every prompt in one call
and bounds its rows by the KV cache they hold (``eta.sample.engine.KV_TOKENS``), so short prompts fill the
room the long ones leave. Prints seconds per program of each, their tokens, and whether the greedy
completions are identical.

    .venv/bin/python experiments/bench_repair.py --programs 8          # 8 programs spread over the lengths
    .venv/bin/python experiments/bench_repair.py --programs 40 --dtype bfloat16
    .venv/bin/python experiments/bench_repair.py --accuracy --out outputs/bench_repair_fb   # resumable

``--accuracy`` prints, per kind, the share of the QuixBugs programs fixed by the greedy answer and the mean
prompt tokens; per pair of kinds, the programs only one of them fixed, the difference with its 95%
interval (Newcombe's hybrid score interval for paired proportions, from Wilson intervals) and the exact
McNemar p-value (two-sided binomial on the discordant programs).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("ETA_ROOT", str(Path(__file__).resolve().parents[1]))

OLD_PREFILL_TOKENS = 16_384  # the old rule's constant (eta/repair/evaluate.py before issue 28)
OLD_CHUNK = 32  # prompts per sampler call before issue 28


def repair_prompts(model_name: str, feedback: str, count: int, out: Path) -> tuple[list[str], list[str], list[str], int]:
    """The prompts the repair pass asks (``count`` of them, spread over the lengths), all of them, its stop
    strings, and max_new_tokens, under `make run`'s config."""
    from hydra import compose, initialize_config_dir

    from eta.config import register
    from eta.context import RunContext, load_splits
    from eta.repair.evaluate import quixbugs_problems
    from eta.repair.prompt import repair_task
    from eta.tasks.prompts import build_prompt, stop_strings

    register()
    with initialize_config_dir(config_dir=str(Path(os.environ["ETA_ROOT"]) / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["logger=none", f"model={model_name}"])
    ctx = RunContext(cfg=cfg, run_dir=out)
    ctx.train_tasks, ctx.eval_tasks = load_splits(cfg)
    problems, _ = quixbugs_problems(ctx, out / "buggy_executions.jsonl")
    tasks = [repair_task(p, feedback, [], cfg.execute.budget_lines) for p in problems if not p.execution.get("passed")]
    from eta.models import load_model

    _, tokenizer = load_model(model_name)
    prompts = sorted((build_prompt(t, "chat", tokenizer) for t in tasks), key=len)
    step = max(1, len(prompts) // count)
    return prompts[::step][:count], prompts, stop_strings(tasks[0], "chat"), int(cfg.sampler.max_new_tokens)


def old(model, tokenizer, prompts: list[str], stops: list[str], max_new: int, dtype: str | None, longest: int) -> list:
    """The old rule: the rows from the longest prompt of the whole pass, not only of those timed."""
    from eta.sample.engine import sample

    rows = max(1, min(64, OLD_PREFILL_TOKENS // longest))
    out = []
    for start in range(0, len(prompts), OLD_CHUNK):
        out += sample(model, tokenizer, prompts[start:start + OLD_CHUNK], n=1, temperature=0.0, top_p=1.0,
                      max_new_tokens=max_new, stop=stops, batch_size=rows, dtype=dtype)
    print(f"  old: {rows} rows, calls of {OLD_CHUNK} prompts", flush=True)
    return out


def new(model, tokenizer, prompts: list[str], stops: list[str], max_new: int, dtype: str | None, longest: int) -> list:
    from eta.sample.engine import sample

    return sample(model, tokenizer, prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=max_new, stop=stops,
                  dtype=dtype)


def paired(a: list[bool], b: list[bool]) -> tuple[float, float, float, int, int, float]:
    """``a - b`` of two paired binary outcomes: the difference, its 95% Newcombe interval (method 10), the
    discordant counts (a only, b only) and the exact two-sided McNemar p-value."""
    from math import comb, sqrt

    from eta.metrics import wilson

    n = len(a)
    both, only_a = sum(x and y for x, y in zip(a, b)), sum(x and not y for x, y in zip(a, b))
    only_b, neither = sum(y and not x for x, y in zip(a, b)), sum(not x and not y for x, y in zip(a, b))
    p1, p2 = (both + only_a) / n, (both + only_b) / n
    (l1, u1), (l2, u2) = wilson(both + only_a, n), wilson(both + only_b, n)
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    phi = (both * neither - only_a * only_b) / sqrt(margins) if margins else 0.0
    d = p1 - p2
    low = d - sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = d + sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    k, m = min(only_a, only_b), only_a + only_b
    p = min(1.0, 2 * sum(comb(m, i) for i in range(k + 1)) / 2 ** m) if m else 1.0
    return d, low, high, only_a, only_b, p


def accuracy(args: argparse.Namespace) -> None:
    """Repair accuracy of each feedback kind on the same QuixBugs programs (resumable in ``args.out``)."""
    import json
    from itertools import combinations

    from hydra import compose, initialize_config_dir

    from eta.config import register
    from eta.context import RunContext, load_splits
    from eta.models import load_model
    from eta.repair.evaluate import evaluate_repair
    from eta.repair.settings import CONTROLS, RepairSettings

    register()
    with initialize_config_dir(config_dir=str(Path(os.environ["ETA_ROOT"]) / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["logger=none", f"model={args.model}", *args.override])
    out = Path(args.out)
    ctx = RunContext(cfg=cfg, run_dir=out)
    ctx.train_tasks, ctx.eval_tasks = load_splits(cfg)
    feedback = [k for k in args.kinds if k not in CONTROLS]
    settings = RepairSettings(sets=["quixbugs"], feedback=feedback, controls=[k for k in args.kinds if k in CONTROLS],
                              shots=args.shots, limit=args.limit, max_new_tokens=args.max_new_tokens)
    model, tokenizer = load_model(args.model)
    print(f"load_avg={os.getloadavg()[0]:.1f}; {settings}", flush=True)
    start = time.perf_counter()
    results = evaluate_repair(ctx, model, tokenizer, settings, out, policy="base", failing_source=None)["quixbugs"]
    print(f"{time.perf_counter() - start:.0f} s; load_avg now {os.getloadavg()[0]:.1f}", flush=True)
    fixed: dict[str, dict[str, bool]] = {}
    passed: dict[str, dict[str, float]] = {}  # the share of its tests each answer passes: a finer, paired signal
    for kind in settings.kinds:
        rows = [json.loads(line) for line in (out / "quixbugs" / kind / "executions.jsonl").read_text().splitlines()]
        fixed[kind] = {r["task_id"]: bool(r["passed"]) for r in rows if r["sample_id"] == 0}
        passed[kind] = {r["task_id"]: r["tests_passed"] / max(1, r["tests_total"]) for r in rows if r["sample_id"] == 0}
        samples = (out / "quixbugs" / kind / "samples.jsonl").read_text().splitlines()
        tokens = [len(tokenizer(json.loads(line)["prompt"])["input_ids"]) for line in samples]
        print(f"{kind}: {results[kind]['n_fixed']} of {results[kind]['n_problems']} fixed "
              f"({results[kind]['accuracy']:.1%}); prompts {min(tokens)}-{max(tokens)} tokens, "
              f"mean {sum(tokens) / len(tokens):.0f}; "
              f"mean share of tests passed {sum(passed[kind].values()) / len(passed[kind]):.1%}; "
              f"fixed: {sorted(t for t, ok in fixed[kind].items() if ok)}")
    for a, b in combinations(settings.kinds, 2):
        ids = sorted(set(fixed[a]) & set(fixed[b]))
        d, low, high, only_a, only_b, p = paired([fixed[a][t] for t in ids], [fixed[b][t] for t in ids])
        print(f"{a} - {b}: {d:+.1%} [{low:+.1%}, {high:+.1%}] on {len(ids)} programs; fixed by {a} only {only_a}, "
              f"by {b} only {only_b}; exact McNemar p = {p:.3f}")
        more = [passed[a][t] > passed[b][t] for t in ids]
        fewer = [passed[a][t] < passed[b][t] for t in ids]
        _, _, _, wins, losses, sign_p = paired(more, fewer)
        print(f"  tests passed: {a}'s answer passes more of its tests than {b}'s on {wins} programs, fewer on "
              f"{losses} (exact sign test p = {sign_p:.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2_135m")
    parser.add_argument("--programs", type=int, default=8)
    parser.add_argument("--feedback", default="trace", choices=["none", "error", "trace", "trace_events"])
    parser.add_argument("--dtype", default=None, choices=["float32", "bfloat16"], help="default: the model's own")
    parser.add_argument("--skip-old", action="store_true")
    parser.add_argument("--accuracy", action="store_true", help="repair accuracy of --kinds instead of timings")
    parser.add_argument("--kinds", nargs="+", default=["trace", "trace_events", "none"])
    parser.add_argument("--out", default="outputs/bench_repair_feedback", help="--accuracy's folder (resumable)")
    parser.add_argument("--limit", type=int, default=None, help="--accuracy: the first N QuixBugs programs")
    parser.add_argument("--shots", type=int, default=0)
    parser.add_argument("--max-new-tokens", type=int, default=384, help="method=repair's: a whole fixed program")
    parser.add_argument("--override", nargs="*", default=[], help="--accuracy: Hydra overrides of the run config")
    args = parser.parse_args()
    if args.accuracy:
        accuracy(args)
        return

    from eta.models import load_model

    with tempfile.TemporaryDirectory() as tmp:
        prompts, every, stops, max_new = repair_prompts(args.model, args.feedback, args.programs, Path(tmp))
    model, tokenizer = load_model(args.model)
    longest = max(len(tokenizer(p)["input_ids"]) for p in every)
    lengths = [len(tokenizer(p)["input_ids"]) for p in prompts]
    print(f"{len(prompts)} repair prompts ({args.feedback}), {min(lengths)}-{max(lengths)} tokens "
          f"(mean {sum(lengths) / len(lengths):.0f}; the pass's longest {longest}); max_new_tokens={max_new}, dtype={args.dtype or 'model'}; "
          f"load_avg={os.getloadavg()[0]:.1f}", flush=True)
    results = {}
    for name, fn in (("new", new), ("old", old)):
        if name == "old" and args.skip_old:
            continue
        start, cpu = time.perf_counter(), time.process_time()
        gens = fn(model, tokenizer, prompts, stops, max_new, args.dtype, longest)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        results[name] = gens
        tokens = sum(g[0].num_tokens for g in gens)
        print(f"{name}: {seconds:.1f} s = {seconds / len(prompts):.2f} s a program, {tokens} new tokens "
              f"({cpu:.0f} s of CPU; load_avg now {os.getloadavg()[0]:.1f})", flush=True)
    if len(results) == 2:
        same = sum(a[0] == b[0] for a, b in zip(results["old"], results["new"]))
        print(f"identical greedy completions: {same} of {len(prompts)}")


if __name__ == "__main__":
    main()
