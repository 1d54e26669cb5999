"""How often two heuristics orient the same failing pair differently: what a matched DPO contrast can show.

In a matched comparison (`prefer.composition=matched`) two DPO arms train on the same pairs and differ only
in how each orients the failing-vs-failing ones. Where the two heuristics orient every such pair alike, the
arms train the same policy and their contrast is 0 by construction, whatever its interval says. This reads
one or more executions files (a run's `executions.jsonl`, or an evaluation's `sampled_executions.jsonl`),
forms every pair of distinct failing programs of a problem, and counts what the two heuristics do with it:

    python experiments/ordering_agreement.py RUN/executions.jsonl                    # verdict vs eta
    python experiments/ordering_agreement.py A.jsonl B.jsonl --first verdict --second eta --json out.json

"opposite" and "only second" (the first ties: in a matched comparison a coin orients it) are the pairs
where the second arm's signal differs from the first's; the problems and families that hold them say how
many independent places the contrast could learn from.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KINDS = ("same", "opposite", "only first", "only second", "both tie")


def heuristic_criteria(name: str) -> list[Any]:
    """The criteria of ``conf/heuristic/<name>.yaml`` (``passed`` included: failing pairs never use it)."""
    from eta.prefer import load_heuristic

    return load_heuristic(ROOT / "conf" / "heuristic" / f"{name}.yaml").make_criteria()


def classify(a: Any, b: Any, first: Sequence[Any], second: Sequence[Any]) -> str:
    """What the two heuristics do with the pair (a, b); the pairs other than "same" and "both tie" are the ones
    ``prefer.contested`` draws (eta.prefer.composition.contested)."""
    from eta.prefer.composition import orientation

    x, y = orientation(a, b, first), orientation(a, b, second)
    if x is None and y is None:
        return "both tie"
    if x is None:
        return "only second"
    if y is None:
        return "only first"
    return "same" if x == y else "opposite"


def agreement(records: Sequence[dict[str, Any]], first: Sequence[Any], second: Sequence[Any]) -> dict[str, Any]:
    """Counts of each kind over every pair of distinct failing programs of a problem, and the problems and
    families holding a pair the heuristics treat differently."""
    from eta.prefer.pairs import _group_by_task
    from eta.tasks.families import family_of

    counts: Counter[str] = Counter()
    differ: set[str] = set()
    for task_id, group in _group_by_task(records).items():
        failing = [r for r in group if not r.get("passed")]
        for i, a in enumerate(failing):
            for b in failing[i + 1:]:
                kind = classify(a, b, first, second)
                counts[kind] += 1
                if kind in ("opposite", "only second", "only first"):
                    differ.add(task_id)
    problems = {str(r["task_id"]) for r in records}
    return {"pairs": sum(counts.values()), **{k: counts[k] for k in KINDS},
            "problems": len(problems), "families": len({family_of(p) for p in problems}),
            "problems_differing": len(differ), "families_differing": len({family_of(p) for p in differ})}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("executions", nargs="+", type=Path, help="executions.jsonl files (one table each)")
    parser.add_argument("--first", default="verdict", help="heuristic of the no-trace arm (conf/heuristic)")
    parser.add_argument("--second", default="eta", help="heuristic of the trace arm")
    parser.add_argument("--json", type=Path, help="also write the tables here")
    args = parser.parse_args(argv)
    from eta.prefer.records import read_records

    first, second = heuristic_criteria(args.first), heuristic_criteria(args.second)
    tables = {}
    print(f"| file | failing pairs | {' | '.join(KINDS)} | problems (families) | differing in |")
    print("|" + " --- |" * (len(KINDS) + 4))
    for path in args.executions:
        t = tables[str(path)] = agreement(read_records(path), first, second)
        share = lambda k: f"{t[k]} ({t[k] / max(t['pairs'], 1):.1%})"  # noqa: E731
        print(f"| {path} | {t['pairs']} | {' | '.join(share(k) for k in KINDS)} | {t['problems']} "
              f"({t['families']}) | {t['problems_differing']} problems ({t['families_differing']} families) |")
    if args.json:
        args.json.write_text(json.dumps({"first": args.first, "second": args.second, "tables": tables}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
