"""How well each preference signal orders failing programs by how far they are from correct, and whether
padding can buy it (issue 27; table in docs/traces.md).

Programs are mutants of the references of the synthetic suite and of MBPP (eta.repair.shots.mutants: one
small edit, a comparison, an operator, a constant, and/or): a *nearer* program is one edit away from the
reference, a *further* one is that edit and one or two more. On every pair where both fail, each criterion
and each heuristic (conf/heuristic/*.yaml, and the orders listed in ORDERS) either ties or prefers one:
the table gives the share of pairs it decides and, of those, the share where it prefers the nearer.

The padding test: every failing nearer program is padded in several shapes (PADDINGS: work that changes
nothing of what the program computes) and executed; a signal fails it when it prefers a padded copy to the
program itself, even once. ``steps_raw`` is the steps criterion as it was before issue 27 (every line
executed, over all tests), for comparison.

    python experiments/bench_signals.py [--datasets synthetic mbpp] [--limit 60] [--near 3] [--far 2]
        [--workers 2] [--out outputs/bench_signals.json] [--work outputs/bench_signals]

Execution goes through the sandbox (python -m eta.execute's path, with value writes traced); the
references' traces are cached under $ETA_CACHE_DIR/ref_traces.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eta.execute.batch import Sample, execute_samples, has_reference  # noqa: E402
from eta.execute.pool import TraceOptions  # noqa: E402
from eta.prefer.criteria import CRITERION_NAMES, Criterion, compare, make_criteria, runaway  # noqa: E402
from eta.prefer.heuristic import HeuristicConfig, load_heuristic  # noqa: E402
from eta.prefer.records import outcome_of  # noqa: E402
from eta.repair.shots import _sites, edit  # noqa: E402
from eta.tasks import load_tasks  # noqa: E402
from eta.tasks.schema import Task  # noqa: E402

MAX_STEPS = 10_000
# Orders tried beside the configured heuristics: the measurement that picks conf/heuristic/eta.yaml's.
ORDERS = {
    "div>steps>err>tests": ["passed", "divergence", "steps", "error_class", "tests"],
    "div>err>tests>steps": ["passed", "divergence", "error_class", "tests", "steps"],
    "div>tests>err>steps": ["passed", "divergence", "tests", "error_class", "steps"],
    "steps>div>err>tests": ["passed", "steps", "divergence", "error_class", "tests"],
    "err>div>steps>tests": ["passed", "error_class", "divergence", "steps", "tests"],
    "tests>div>steps>err": ["passed", "tests", "divergence", "steps", "error_class"],
    "err>steps>div>tests": ["passed", "error_class", "steps", "divergence", "tests"],
}


def _body_start(fn: ast.FunctionDef) -> int:
    first = fn.body[0]
    docstring = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant)
    return 1 if docstring and len(fn.body) > 1 else 0


def _pad(source: str, entry: str, shape: str) -> str | None:
    """`source` with padding of one shape put into (or around) the function `entry`."""
    tree = ast.parse(source)
    fn = next((n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == entry), None)
    if fn is None:
        return None
    at = _body_start(fn)
    param = (fn.args.args or fn.args.posonlyargs or [None])[0]
    stmts = {
        "loop_top": "for _pad in range(2000):\n    pass",
        "variables": "_pad_a = 0\n_pad_b = [1, 2, 3]\n_pad_c = 'pad' * 2\n_pad_d = _pad_a + 1",
        "while_counter": "_k = 0\nwhile _k < 300:\n    _k += 1",
        "helper_call": "_pad_helper(40)",
        "helper_on_input": f"_pad_len({param.arg})" if param else "_pad_len([])",
    }
    helpers = {
        "helper_call": "def _pad_helper(n):\n    t = 0\n    for i in range(n):\n        t += i\n    return t\n",
        "helper_on_input": "def _pad_len(xs):\n    n = 0\n    for _ in range(100):\n        n += 1\n    return n\n",
    }
    if shape == "before_returns":  # a counting loop before every return of the function
        for node in ast.walk(fn):
            for name in ("body", "orelse"):
                block = getattr(node, name, None)
                if isinstance(block, list):
                    new: list[ast.stmt] = []
                    for s in block:
                        if isinstance(s, ast.Return):
                            new += ast.parse("for _pad in range(50):\n    _unused = _pad * 2").body
                        new.append(s)
                    setattr(node, name, new)
    elif shape == "in_loops":  # dead work inside every loop body
        for node in ast.walk(fn):
            if isinstance(node, (ast.For, ast.While)):
                node.body = ast.parse("_pad_t = 0\nfor _pad in range(5):\n    _pad_t += _pad").body + node.body
    else:
        fn.body[at:at] = ast.parse(stmts[shape]).body
        if shape in helpers:
            tree.body[:0] = ast.parse(helpers[shape]).body
    return ast.unparse(tree) + "\n"


PADDINGS = ("loop_top", "variables", "while_counter", "helper_call", "helper_on_input", "before_returns", "in_loops")


def _mutate(source: str, at: tuple[int, ...]) -> str | None:
    """`source` with the edits of eta.repair.shots (a comparison, an operator, a constant, and/or) made at
    the sites numbered `at`; None if it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    sites = _sites(tree)
    for i in at:
        edit(*sites[i])
    return ast.unparse(tree) + "\n"


def _order(n: int, seed: str) -> list[int]:
    return sorted(range(n), key=lambda i: hashlib.sha1(f"{seed}:{i}".encode()).hexdigest())


def programs(tasks: list[Task], near: int, far: int) -> tuple[list[Sample], list[tuple[str, str]], list[tuple[str, str, str]]]:
    """Samples to execute, the (nearer, further) sample-id pairs, and (unpadded, padded, shape) triples."""
    samples: list[Sample] = []
    pairs: list[tuple[str, str]] = []
    padded: list[tuple[str, str, str]] = []
    for task in tasks:
        try:
            reference = ast.unparse(ast.parse(task.reference)) + "\n"
        except (SyntaxError, ValueError):
            continue
        seen = {reference}

        def add(source: str, tag: str) -> str:
            sid = f"{task.task_id}#{tag}"
            samples.append(Sample(task.task_id, source, len(samples), {"bench_id": sid}))
            seen.add(source)
            return sid

        n_sites = len(_sites(ast.parse(reference)))
        made = 0
        for i in _order(n_sites, f"near:{task.task_id}"):
            nearer = _mutate(reference, (i,))
            if made >= near or nearer is None or nearer in seen:
                continue
            made += 1
            nid = add(nearer, f"n{i}")
            count = 0
            others = [j for j in _order(n_sites, f"far:{task.task_id}:{i}") if j != i]
            for j, other in enumerate(others):  # the same edit, and one (or, every other time, two) more
                if count >= far:
                    break
                extra = (other,) if j % 2 == 0 or len(others) < 2 else (other, others[(j + 1) % len(others)])
                further = _mutate(reference, (i, *extra))
                if further is None or further in seen:
                    continue
                pairs.append((nid, add(further, f"n{i}f{j}")))
                count += 1
            for shape in PADDINGS:
                source = _pad(nearer, task.entry_point or "", shape)
                if source and source not in seen:
                    padded.append((nid, add(source, f"n{i}p-{shape}"), shape))
    return samples, pairs, padded


def steps_raw(record: dict[str, Any]) -> int | None:
    """The steps criterion before issue 27: every line executed, over all tests."""
    if outcome_of(record).value == "passed":
        return None
    if runaway(record):
        return 0
    steps = record.get("steps")
    return None if steps is None else min(steps, MAX_STEPS)


def _field(name: str) -> Callable[[dict[str, Any]], Any]:
    def key(record: dict[str, Any]) -> Fraction | None:
        found = record.get("divergence")
        if outcome_of(record).value == "passed" or not isinstance(found, dict) or name not in found:
            return None
        return Fraction(str(found[name]))
    return key


def _heuristic(path: Path) -> tuple[str, list[str]]:
    """A heuristic file's name and criteria: with PyYAML through eta.prefer.load_heuristic, else read from
    its two one-line keys (so that the bench runs on a bare Python too)."""
    try:
        cfg: HeuristicConfig = load_heuristic(path)
        return cfg.name, list(cfg.criteria)
    except ImportError:
        keys = dict(line.split(":", 1) for line in path.read_text().splitlines() if line[:1].isalpha() and ":" in line)
        names = keys["criteria"].split("#")[0].strip().strip("[]")
        return keys["name"].strip(), [n.strip() for n in names.split(",")]


def signals() -> dict[str, Callable[[dict[str, Any]], Any] | list[Criterion]]:
    out: dict[str, Any] = {n: make_criteria([n], MAX_STEPS)[0].key for n in CRITERION_NAMES}
    out["steps_raw"] = steps_raw
    out["div_first"] = _field("first")  # the reference followed on the first failing test only
    out["div_prefix"] = _field("score")  # divergence's second key alone: the reference followed before diverging
    out["div_common"] = _field("common")  # the reference's values written at all, in order (LCS)
    out["div_f1"] = _field("f1")  # divergence's first key alone
    for path in sorted((ROOT / "conf" / "heuristic").glob("*.yaml")):
        if not path.stem.startswith("_"):
            name, criteria = _heuristic(path)
            out[f"heuristic:{name}"] = make_criteria(criteria, MAX_STEPS)
    old = ["passed", "steps_raw", "error_class", "tests"]
    out["heuristic:eta (before #27)"] = [Criterion(n, out[n] if n == "steps_raw" else make_criteria([n], MAX_STEPS)[0].key)
                                          for n in old]
    for name, order in ORDERS.items():
        out[f"order:{name}"] = make_criteria(order, MAX_STEPS)
    return out


def winner(signal: Any, a: dict[str, Any], b: dict[str, Any]) -> int:
    """1 when `signal` prefers a, -1 when b, 0 for a tie or no say."""
    if isinstance(signal, list):
        found = compare(a, b, signal)
        return 0 if found is None else (1 if found[0] is a else -1)
    ka, kb = signal(a), signal(b)
    if ka is None or kb is None or ka == kb:
        return 0
    return 1 if ka > kb else -1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=["synthetic", "mbpp"])
    p.add_argument("--limit", type=int, default=60, help="problems per dataset (all splits)")
    p.add_argument("--near", type=int, default=3, help="one-edit mutants per problem")
    p.add_argument("--far", type=int, default=2, help="further mutants per nearer one")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default="outputs/bench_signals.json")
    p.add_argument("--work", default="outputs/bench_signals", help="folder of the execution results (resumable)")
    args = p.parse_args(argv)
    table: dict[str, Any] = {"command": " ".join(sys.argv), "datasets": {}}
    per_signal: dict[str, dict[str, int]] = {}
    t0 = time.perf_counter()
    for dataset in args.datasets:
        tasks = [t for t in load_tasks(dataset, split="all") if has_reference(t) and t.entry_point]
        tasks = sorted(tasks, key=lambda t: hashlib.sha1(t.task_id.encode()).hexdigest())[:args.limit]
        samples, pairs, padded = programs(tasks, args.near, args.far)
        out = Path(args.work) / f"{dataset}.jsonl"
        records = execute_samples(samples, {t.task_id: t for t in tasks}, out, workers=args.workers,
                                  trace=TraceOptions(writes=True), progress=False)
        by_id = {r["bench_id"]: r for r in records}
        failing = lambda sid: not by_id[sid]["passed"] and by_id[sid]["outcome"] != "infra_error"  # noqa: E731
        kept = [(a, b) for a, b in pairs if failing(a) and failing(b)]
        pads = [(a, b, s) for a, b, s in padded if failing(a) and failing(b)]
        table["datasets"][dataset] = {"problems": len(tasks), "programs": len(samples), "pairs": len(kept),
                                      "padded_copies": len(pads)}
        for name, signal in signals().items():
            row = per_signal.setdefault(name, {"decided": 0, "correct": 0, "pairs": 0, "padded_wins": 0,
                                               "padded": 0})
            for a, b in kept:
                w = winner(signal, by_id[a], by_id[b])
                row["pairs"] += 1
                row["decided"] += w != 0
                row["correct"] += w == 1
            for a, b, shape in pads:
                row["padded"] += 1
                if winner(signal, by_id[b], by_id[a]) == 1:
                    row["padded_wins"] += 1
                    row.setdefault("padded_win_shapes", {}).setdefault(shape, 0)
                    row["padded_win_shapes"][shape] += 1
    table["seconds"] = round(time.perf_counter() - t0, 1)
    table["signals"] = per_signal
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(table, indent=1))
    print(f"{'signal':34} {'decides':>8} {'correct of decided':>19} {'prefers padded':>15}")
    for name, row in per_signal.items():
        decided = row["decided"] / max(1, row["pairs"])
        correct = row["correct"] / max(1, row["decided"])
        print(f"{name:34} {100 * decided:7.1f}% {100 * correct:18.1f}% {row['padded_wins']:>7}/{row['padded']}")
    print(json.dumps(table["datasets"]), f"{table['seconds']} s")
    # The goal (issue 27): the best trace signal orders >= 80% of the pairs it decides correctly while deciding
    # >= 75% of them, and no signal but the pre-#27 steps ever prefers a padded copy.
    trace_signals = [n for n in per_signal if n in ("steps", "divergence") or n.startswith("div_")]
    best = max(trace_signals, key=lambda n: per_signal[n]["correct"] / max(1, per_signal[n]["decided"])
               if per_signal[n]["decided"] >= 0.75 * per_signal[n]["pairs"] else -1)
    row = per_signal[best]
    padded = [n for n, r in per_signal.items() if r["padded_wins"] and "before #27" not in n and n != "steps_raw"]
    met = row["decided"] >= 0.75 * row["pairs"] and row["correct"] >= 0.8 * row["decided"] and not padded
    print(f"goal {'met' if met else 'NOT met'}: best trace signal deciding >= 75%: {best} "
          f"({100 * row['correct'] / max(1, row['decided']):.1f}% of {100 * row['decided'] / max(1, row['pairs']):.1f}%); "
          f"signals preferring a padded copy: {padded or 'none'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
