#!/usr/bin/env python
"""Whether two evaluations of one policy sample the same distribution (issue 28: a faster sampler, e.g.
bfloat16 against float32, must leave pass@1 and the completion length where they were): pass@1 and the mean
completion length (generated tokens) of each, with 95% intervals, and their paired difference, a cluster
bootstrap over the problems' families and the problems within them (``eta.report.bootstrap``); greedy
pass@1 too where both have it. Also how many samples are identical, and with ``--same`` whether a third
evaluation (another run at the same seed) reproduced the second one sample for sample.

    python run.py 'stages=[evaluate]' logger=none eval.repair.enabled=false eval.cheat.enabled=false \\
        sampler.dtype=null hydra.run.dir=A       # and sampler.dtype=bfloat16 into B (twice: B, C)
    python experiments/compare_sampler_dtype.py A/eval/base B/eval/base --same C/eval/base
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def per_problem(eval_dir: Path, kind: str) -> dict[str, tuple[float, float, float]]:
    """problem -> (passed share, summed generated tokens, samples)."""
    passed = {(r["task_id"], r["sample_id"]): bool(r["passed"]) for r in rows(eval_dir / f"{kind}_executions.jsonl")}
    out: dict[str, list[float]] = {}
    for s in rows(eval_dir / f"{kind}_samples.jsonl"):
        acc = out.setdefault(s["task_id"], [0.0, 0.0, 0.0])
        acc[0] += passed[(s["task_id"], s["sample_id"])]
        acc[1] += s["num_tokens"]
        acc[2] += 1
    return {t: (p / n, tokens, n) for t, (p, tokens, n) in out.items()}


def main() -> None:
    import numpy as np

    from eta.report.bootstrap import estimate, paired_difference
    from eta.tasks.families import family_of

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path, help="eval/<policy> of the reference evaluation (e.g. float32)")
    parser.add_argument("b", type=Path, help="eval/<policy> of the other one (e.g. bfloat16)")
    parser.add_argument("--same", type=Path, help="a rerun of b at the same seed: are its samples b's?")
    args = parser.parse_args()
    for kind in ("sampled", "greedy"):
        if not (args.a / f"{kind}_executions.jsonl").is_file() or not (args.b / f"{kind}_executions.jsonl").is_file():
            continue
        a, b = per_problem(args.a, kind), per_problem(args.b, kind)
        ids = sorted(set(a) & set(b))
        problems, families = [ids], {t: family_of(t) for t in ids}
        print(f"{kind}: {len(ids)} problems in {len(set(families.values()))} families, "
              f"{sum(a[t][2] for t in ids):.0f} samples each")
        for name, num, den in (("pass@1", lambda d, t: d[t][0], lambda d, t: 1.0),
                               ("mean completion tokens", lambda d, t: d[t][1], lambda d, t: d[t][2])):
            series = [[(np.array([num(d, t) for t in ids]), np.array([den(d, t) for t in ids]))] for d in (a, b)]
            ea, eb = (estimate(s, problems=problems, families=families) for s in series)
            diff = paired_difference(series[1], series[0], problems=problems, families=families)
            print(f"  {name:24s} {args.a.parent.parent.name}: {ea.mean:.3f} [{ea.low:.3f}, {ea.high:.3f}]   "
                  f"{args.b.parent.parent.name}: {eb.mean:.3f} [{eb.low:.3f}, {eb.high:.3f}]   "
                  f"difference {diff.mean:+.3f} [{diff.low:+.3f}, {diff.high:+.3f}]")
        same = {(r["task_id"], r["sample_id"]): r["response"] for r in rows(args.a / f"{kind}_samples.jsonl")}
        other = rows(args.b / f"{kind}_samples.jsonl")
        print(f"  identical samples: {sum(same.get((r['task_id'], r['sample_id'])) == r['response'] for r in other)}"
              f" of {len(other)}")
        if args.same is not None:
            again = {(r["task_id"], r["sample_id"]): r["response"] for r in rows(args.same / f"{kind}_samples.jsonl")}
            print(f"  {args.same.parent.parent.name} reproduces {args.b.parent.parent.name}: "
                  f"{sum(again.get((r['task_id'], r['sample_id'])) == r['response'] for r in other)} of {len(other)}")


if __name__ == "__main__":
    main()
