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

Dev and held-out: every problem belongs to one part by a hash of its family (``part_of``). Every design
choice of the signals (the criteria's keys, the order of conf/heuristic/eta.yaml) is made on ``--part dev``;
the table docs/traces.md reports is ``--part heldout`` (and ``all``, labelled). The exit code says whether
issue 27's goal is met on the part asked for.

The label's own ceiling: whether "one edit" is nearer than "that edit and more" is a question about
behaviour, which signal_oracle.py answers without a trace (each program's answers on the tests' inputs and
perturbed variants of them, against the reference's). The bench prints how often the label agrees with it,
every signal's agreement with it ("vs behaviour"), and every signal on the pairs where the behaviour agrees
with the label (a secondary view, not the goal's).

    python experiments/bench_signals.py [--datasets synthetic mbpp] [--limit 60] [--near 3] [--far 2]
        [--part dev|heldout|all] [--variants 8] [--workers 2] [--out outputs/bench_signals.json]
        [--work outputs/bench_signals]

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
sys.path.insert(0, str(ROOT / "experiments"))

from eta.execute.batch import Sample, execute_samples, has_reference  # noqa: E402
from eta.execute.pool import TraceOptions  # noqa: E402
from eta.prefer.criteria import CRITERION_NAMES, Criterion, compare, make_criteria, runaway  # noqa: E402
from eta.prefer.heuristic import HeuristicConfig, load_heuristic  # noqa: E402
from eta.prefer.records import outcome_of  # noqa: E402
from eta.repair.shots import _sites, edit  # noqa: E402
from eta.tasks import load_tasks  # noqa: E402
from eta.tasks.families import family_of  # noqa: E402
from eta.tasks.schema import Task  # noqa: E402
import signal_oracle  # noqa: E402

MAX_STEPS = 10_000
Rec = dict[str, Any]  # an execution record
Padded = tuple[Rec, Rec, str]  # the program, its padded copy, the padding's shape
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


def part_of(task_id: str) -> str:
    """Which part a problem's pairs belong to: ``dev`` (every design choice of the signals is made on it) or
    ``heldout`` (the reported table), drawn by a hash of its family (``eta.tasks.families``: a synthetic
    family's problems differ only in constants and names, so they never straddle the two parts; any other
    problem is its own family)."""
    return "dev" if int(hashlib.sha1(f"part:{family_of(task_id)}".encode()).hexdigest(), 16) % 2 == 0 else "heldout"


def _oracle(tasks: list[Task], samples: list[Sample], kept: list[tuple[str, str]], variants: int, workers: int,
            cache: Path) -> dict[tuple[str, str], tuple[int, int, int, int]]:
    """Per kept pair, the behavioural distances (signal_oracle) of nearer and further from the reference:
    on the tests' own inputs, and on those with their perturbed variants."""
    by_task = {t.task_id: t for t in tasks}
    source = {s.extra["bench_id"]: s.completion for s in samples}
    inputs = {t.task_id: signal_oracle.oracle_inputs([c.code for c in t.tests], t.entry_point or "", variants,
                                                     t.task_id) for t in tasks}
    originals = {t.task_id: len(signal_oracle.literal_inputs([c.code for c in t.tests], t.entry_point or ""))
                 for t in tasks}
    jobs: dict[str, signal_oracle.Job] = {}
    for sid in {s for pair in kept for s in pair}:
        tid = sid.split("#", 1)[0]
        jobs[sid] = (source[sid], by_task[tid].entry_point or "", inputs[tid])
        jobs[f"{tid}#ref"] = (ast.unparse(ast.parse(by_task[tid].reference)) + "\n", by_task[tid].entry_point or "",
                              inputs[tid])
    answers = signal_oracle.cached_outputs(jobs, workers, cache)
    out = {}
    for a, b in kept:
        tid = a.split("#", 1)[0]
        ref, first = answers[f"{tid}#ref"], range(originals[tid])
        out[(a, b)] = (signal_oracle.distance(ref, answers[a], first), signal_oracle.distance(ref, answers[b], first),
                       signal_oracle.distance(ref, answers[a]), signal_oracle.distance(ref, answers[b]))
    return out


def trace_signal(name: str, signal: Any) -> bool:
    """Whether a signal reads the trace (the goal is about those): a divergence or steps field, or a
    heuristic that has the divergence or the repaired steps among its criteria."""
    if isinstance(signal, list):
        return any(c.name in ("divergence", "steps") for c in signal) and "before #27" not in name
    return name in ("steps", "divergence") or name.startswith("div_")


def _share(n: int, of: int) -> float:
    return 100 * n / max(1, of)


def score(rows: list[Rec], pads: list[Padded]) -> dict[str, dict[str, Any]]:
    """Every signal's counts on the pairs (against the edit label, against the behavioural oracle, and on the
    pairs where the two agree) and on the padded copies."""
    per_signal: dict[str, dict[str, Any]] = {}
    for name, signal in signals().items():
        row = per_signal.setdefault(name, {"decided": 0, "correct": 0, "pairs": 0, "padded_wins": 0, "padded": 0,
                                           "agree_pairs": 0, "agree_decided": 0, "agree_correct": 0,
                                           "oracle_pairs": 0, "oracle_decided": 0, "oracle_correct": 0,
                                           "trace": trace_signal(name, signal)})
        for r in rows:
            w = winner(signal, r["a"], r["b"])
            row["pairs"] += 1
            row["decided"] += w != 0
            row["correct"] += w == 1
            if r["oracle"] != 0:  # the pairs the behaviour orders: w against it
                row["oracle_pairs"] += 1
                row["oracle_decided"] += w != 0
                row["oracle_correct"] += w == r["oracle"]
            if r["oracle"] == 1:  # the secondary view: pairs where behaviour agrees with the edit label
                row["agree_pairs"] += 1
                row["agree_decided"] += w != 0
                row["agree_correct"] += w == 1
        for a, b, shape in pads:
            row["padded"] += 1
            if winner(signal, b, a) == 1:
                row["padded_wins"] += 1
                row.setdefault("padded_win_shapes", {}).setdefault(shape, 0)
                row["padded_win_shapes"][shape] += 1
    return per_signal


def goal(per_signal: dict[str, dict[str, Any]], view: str = "") -> tuple[bool, str, str | None]:
    """Issue 27's goal: the best trace signal orders >= 80% of the pairs it decides correctly while deciding
    >= 75% of them, and no signal prefers a padded copy (but the pre-#27 steps, kept to show what padding
    bought, and ``random``, the control that orders by no information and so prefers half of anything).
    `view` ``agree_`` reads the counts on the pairs where the behaviour agrees with the edit label. Returns
    whether it is met, the line that says so, and the best signal's name."""
    def counts(n: str) -> tuple[int, int, int]:
        r = per_signal[n]
        return r[f"{view}decided"], r[f"{view}correct"], r[f"{view}pairs"]

    wide = [n for n, r in per_signal.items() if r["trace"] and counts(n)[0] >= 0.75 * counts(n)[2]]
    padded = [n for n, r in per_signal.items()
              if r["padded_wins"] and "before #27" not in n and n != "steps_raw" and "random" not in n]
    if not wide:
        return False, ("no trace signal decides >= 75% of the pairs; signals preferring a padded copy: "
                       f"{padded or 'none'}"), None
    best = max(wide, key=lambda n: (counts(n)[1] / max(1, counts(n)[0]), counts(n)[0]))
    decided, correct, pairs = counts(best)
    met = correct >= 0.8 * decided and not padded
    return met, (f"best trace signal deciding >= 75%: {best} ({_share(correct, decided):.1f}% of "
                 f"{_share(decided, pairs):.1f}%); signals preferring a padded copy: {padded or 'none'}"), best


def interval(rows: list[dict[str, Any]], signal: Any, resamples: int = 1000) -> tuple[float, float]:
    """A 95% bootstrap interval of the share of decided pairs a signal orders correctly, resampling problems
    (a problem's pairs share its reference, so they are not independent evidence)."""
    import random

    wins: dict[str, list[int]] = {}
    for r in rows:
        wins.setdefault(r["a"]["task_id"], []).append(winner(signal, r["a"], r["b"]))
    problems = sorted(wins)
    rng = random.Random(0)
    shares = []
    for _ in range(resamples):
        drawn = [w for p in rng.choices(problems, k=len(problems)) for w in wins[p]]
        shares.append(_share(drawn.count(1), len(drawn) - drawn.count(0)))
    shares.sort()
    return shares[int(0.025 * resamples)], shares[int(0.975 * resamples) - 1]


def collect(args: argparse.Namespace) -> tuple[list[Rec], list[Padded], dict[str, Any]]:
    """Execute (or reuse) every program of the part asked for, and return the failing pairs (both records, the
    dataset, the oracle's verdicts: 1 nearer, -1 further, 0 tie), the padded triples and the table's head."""
    table: dict[str, Any] = {"command": " ".join(sys.argv), "part": args.part, "datasets": {}}
    rows: list[dict[str, Any]] = []
    pads_all: list[Padded] = []
    t0 = time.perf_counter()
    for dataset in args.datasets:
        tasks = [t for t in load_tasks(dataset, split="all") if has_reference(t) and t.entry_point]
        tasks = sorted(tasks, key=lambda t: hashlib.sha1(t.task_id.encode()).hexdigest())[:args.limit]
        # The programs of every selected problem are drawn first, so that a sample's id does not depend on
        # the part asked for; each part's results are kept in a file of their own (resumable either way).
        samples, pairs, padded = programs(tasks, args.near, args.far)
        parts = ("dev", "heldout") if args.part == "all" else (args.part,)
        tasks = [t for t in tasks if part_of(t.task_id) in parts]
        keep = {t.task_id for t in tasks}
        samples = [s for s in samples if s.task_id in keep]
        pairs = [(a, b) for a, b in pairs if a.split("#", 1)[0] in keep]
        padded = [(a, b, s) for a, b, s in padded if a.split("#", 1)[0] in keep]
        records = []
        for part in parts:
            records += execute_samples([s for s in samples if part_of(s.task_id) == part],
                                       {t.task_id: t for t in tasks}, Path(args.work) / f"{dataset}.{part}.jsonl",
                                       workers=args.workers, trace=TraceOptions(writes=True), progress=False)
        by_id = {r["bench_id"]: r for r in records}
        failing = lambda sid: not by_id[sid]["passed"] and by_id[sid]["outcome"] != "infra_error"  # noqa: E731
        kept = [(a, b) for a, b in pairs if failing(a) and failing(b)]
        pads = [(a, b, s) for a, b, s in padded if failing(a) and failing(b)]
        distances = _oracle(tasks, samples, kept, args.variants, args.workers,
                            Path(args.work) / f"{dataset}.oracle.json")
        for a, b in kept:
            near_t, far_t, near_g, far_g = distances[(a, b)]
            rows.append({"a": by_id[a], "b": by_id[b], "dataset": dataset, "part": part_of(a.split("#", 1)[0]),
                         "oracle": (near_g < far_g) - (near_g > far_g),
                         "oracle_tests": (near_t < far_t) - (near_t > far_t)})
        pads_all += [(by_id[a], by_id[b], s) for a, b, s in pads]
        table["datasets"][dataset] = {"problems": len(tasks), "programs": len(samples), "pairs": len(kept),
                                      "padded_copies": len(pads)}
    table["seconds"] = round(time.perf_counter() - t0, 1)
    return rows, pads_all, table


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=["synthetic", "mbpp"])
    p.add_argument("--limit", type=int, default=60, help="problems per dataset (all splits)")
    p.add_argument("--near", type=int, default=3, help="one-edit mutants per problem")
    p.add_argument("--far", type=int, default=2, help="further mutants per nearer one")
    p.add_argument("--part", choices=("dev", "heldout", "all"), default="all",
                   help="the problems whose pairs count (part_of: by a hash of the problem's family)")
    p.add_argument("--variants", type=int, default=8, help="perturbed inputs per test input for the oracle")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default="outputs/bench_signals.json")
    p.add_argument("--work", default="outputs/bench_signals", help="folder of the execution results (resumable)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    rows, pads_all, table = collect(args)
    per_signal = score(rows, pads_all)
    n = len(rows)
    table["label"] = {view: {"decided": sum(r[view] != 0 for r in rows), "agrees": sum(r[view] == 1 for r in rows),
                             "pairs": n} for view in ("oracle", "oracle_tests")}
    table["signals"] = per_signal
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    print(f"{'signal':34} {'decides':>8} {'correct':>8} {'padded':>10}   {'vs behaviour':>12} "
          f"{'on agreeing pairs':>18}")
    for name, row in per_signal.items():
        print(f"{name:34} {_share(row['decided'], row['pairs']):7.1f}% {_share(row['correct'], row['decided']):7.1f}% "
              f"{row['padded_wins']:>5}/{row['padded']:<5} "
              f"{_share(row['oracle_correct'], row['oracle_decided']):11.1f}% "
              f"{_share(row['agree_correct'], row['agree_decided']):8.1f}% of "
              f"{_share(row['agree_decided'], row['agree_pairs']):5.1f}%")
    for view, said in (("oracle", "the tests' inputs and their perturbed variants"),
                       ("oracle_tests", "the tests' inputs only")):
        lab = table["label"][view]
        print(f"behaviour on {said}: orders {_share(lab['decided'], n):.1f}% of the pairs; the edit label agrees "
              f"on {_share(lab['agrees'], lab['decided']):.1f}% of those")
    print(json.dumps(table["datasets"]), f"{table['seconds']} s")
    table["per_dataset"] = {}
    for dataset in args.datasets:  # the two suites differ (error_class orders synthetic pairs otherwise): each alone
        own = score([r for r in rows if r["dataset"] == dataset], [])
        table["per_dataset"][dataset] = own
        said = ", ".join(f"{n} {_share(own[n]['correct'], own[n]['decided']):.1f}% of "
                         f"{_share(own[n]['decided'], own[n]['pairs']):.1f}%" for n in ("divergence", "heuristic:eta"))
        print(f"{dataset} alone ({len([r for r in rows if r['dataset'] == dataset])} pairs): {said}")
    met, said, best = goal(per_signal)
    if best is not None:
        low, high = interval(rows, signals()[best])
        said += f"; its 95% interval over problems [{low:.1f}, {high:.1f}]"
    _, secondary, _ = goal(per_signal, "agree_")
    table["goal"] = {"met": met, "said": said, "on_agreeing_pairs": secondary}
    Path(args.out).write_text(json.dumps(table, indent=1))
    print(f"secondary view, the pairs where behaviour agrees with the edit label: {secondary}")
    print(f"goal {'met' if met else 'NOT met'} (part {args.part}): {said}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
