"""Which errors each arm fixes: a paired transition table per arm, pooled over seeds, for ``comparison.md``.

Every held-out problem of a seed gets the base policy's class on it: ``solved by base`` (the rule of
:data:`eta.report.analysis.SOLVED_RULE`), else the most common failure class among the base's failing samples
(:func:`eta.report.analysis.categorize`, a wrong value split by its change against the reference where the
analysis stage wrote ``wrong_answers.jsonl``). Against the arm's policy on the same problem and seed, a failing
problem is *fixed* (the arm solves it) or *still failing*; a solved one is *kept* or *broken*.

Shares are ratios over the (seed, problem) rows of a class, pooled over seeds; their intervals come from the
cluster bootstrap of :mod:`eta.report.bootstrap` with every problem one cluster of its rows in all seeds
(families drawn, then problems within them). Seeds are not drawn on their own here: a class holds different
problems in different seeds, so a per-seed mean of a class's share is undefined where a seed has none of it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eta import rundir
from eta.report.analysis import CATEGORIES, WRONG_FILE, categorize, solved
from eta.report.bootstrap import Estimate, estimate, paired_difference
from eta.report.estimates import Row, counterparts_of, ordered
from eta.report.jobs import BASE, Job
from eta.report.mistakes import DIFF_CATEGORIES
from eta.tasks.families import family_of

SOLVED = "solved by base"
CLASSES = tuple(c for c in CATEGORIES if c != "wrong value") + tuple(f"wrong value: {d}" for d in DIFF_CATEGORIES) + \
    ("wrong value", SOLVED)  # the table's order; "wrong value" alone: no reference class recorded
Outcomes = dict[int, dict[str, tuple[str, bool]]]  # seed -> problem -> (base class, the arm solves it)


def failure_class(record: Mapping[str, Any], wrong: Mapping[tuple[str, int], Mapping[str, Any]]) -> str | None:
    """A failing record's class: its category, a wrong value with its change against the reference."""
    category = categorize(dict(record))
    if category == "wrong value":
        diff = wrong.get((str(record["task_id"]), int(record.get("sample_id", 0))), {}).get("diff")
        return f"wrong value: {diff}" if diff else category
    return category


def problem_classes(records: Sequence[Mapping[str, Any]], wrong: Mapping[tuple[str, int], Mapping[str, Any]]
                    ) -> dict[str, str]:
    """Per problem, the base's class: solved, or its most common failure class (ties: the table's order)."""
    by_task: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_task.setdefault(str(r["task_id"]), []).append(dict(r))
    out = {}
    for task, rows in by_task.items():
        if solved(rows):
            out[task] = SOLVED
            continue
        counts = Counter(c for c in (failure_class(r, wrong) for r in rows) if c)
        if counts:
            out[task] = min(counts, key=lambda c: (-counts[c], CLASSES.index(c)))
    return out


def _read(eval_dir: Path) -> tuple[list[dict[str, Any]], dict[tuple[str, int], dict[str, Any]]] | None:
    from eta.jsonl import read_rows

    path = eval_dir / rundir.SAMPLED_EXECUTIONS
    if not path.is_file():
        return None
    records = [r for r in read_rows(path) if r.get("outcome") != "infra_error"]
    wrong_path = eval_dir / WRONG_FILE
    wrong = {(str(w["task_id"]), int(w.get("sample_id", 0))): w for w in read_rows(wrong_path)} \
        if wrong_path.is_file() else {}
    return records, wrong


def collect_transitions(jobs: Sequence[Job]) -> dict[str, Outcomes]:
    """Per trained arm, per seed and problem: the base's class and whether the arm's policy solves it."""
    bases: dict[int, dict[str, str]] = {}
    for job in jobs:
        if job.seed not in bases and (read := _read(job.eval_dir(BASE))) is not None:
            bases[job.seed] = problem_classes(*read)
    out: dict[str, Outcomes] = {}
    for job in jobs:
        if job.policy != "trained" or job.seed not in bases or (read := _read(job.eval_dir("trained"))) is None:
            continue
        by_task: dict[str, list[dict[str, Any]]] = {}
        for r in read[0]:
            by_task.setdefault(str(r["task_id"]), []).append(r)
        out.setdefault(job.label, {})[job.seed] = {t: (c, solved(by_task[t])) for t, c in bases[job.seed].items()
                                                   if t in by_task}
    return out


@dataclass(frozen=True)
class Transition:
    arm: str
    base_class: str
    share: Estimate  # fixed (of a failing class) or broken (of the solved class)
    against: str | None = None  # a counterpart arm: share is then the arm's minus the counterpart's

    @property
    def moved(self) -> str:
        return "broken" if self.base_class == SOLVED else "fixed"


def _rows(outcomes: Outcomes, base_class: str) -> tuple[list[str], np.ndarray]:
    """The (seed, problem) rows of one base class: problem ids, and 1 where the arm moved it."""
    ids, moved = [], []
    for seed in sorted(outcomes):
        for task, (c, ok) in sorted(outcomes[seed].items()):
            if c == base_class:
                ids.append(task)
                moved.append(float(ok != (c == SOLVED)))  # fixed: solved now; broken: no longer solved
    return ids, np.array(moved)


def _estimate(ids: list[str], values: Sequence[np.ndarray], n_boot: int, seed: int) -> Estimate:
    families = {i: family_of(i) for i in ids}
    groups = [(v, np.ones(len(v))) for v in values]
    if len(groups) == 1:
        return estimate(groups, n_boot, seed, problems=[ids], families=families)
    return paired_difference([groups[0]], [groups[1]], n_boot, seed, problems=[ids], families=families)


def transition_table(data: Mapping[str, Outcomes], counterparts: Mapping[str, str | Sequence[str]],
                     n_boot: int = 2000, seed: int = 0) -> list[Transition]:
    """Per arm and base class, the share fixed (or broken) with its interval; for an arm with a counterpart
    (its first, where it has several), the difference of the two on the (seed, problem) rows both have."""
    rows: list[Transition] = []
    for arm in ordered(data):
        present = {c for by_task in data[arm].values() for c, _ in by_task.values()}
        for base_class in (c for c in CLASSES if c in present):
            ids, moved = _rows(data[arm], base_class)
            rows.append(Transition(arm, base_class, _estimate(ids, [moved], n_boot, seed)))
            other = next(iter(counterparts_of(arm, counterparts)), None)
            if other in data:
                common = {s: {t: v for t, v in data[arm][s].items() if t in data[other][s]}
                          for s in data[arm] if s in data[other]}
                theirs = {s: {t: data[other][s][t] for t in common[s]} for s in common}
                ids, mine = _rows(common, base_class)
                if ids:
                    rows.append(Transition(arm, base_class, _estimate(ids, [mine, _rows(theirs, base_class)[1]],
                                                                      n_boot, seed), other))
    return rows


def as_rows(transitions: Sequence[Transition]) -> list[Row]:
    """The table as comparison.csv's estimate rows: metric ``transition <fixed|broken>: <base class>``."""
    return [Row(f"transition {t.moved}: {t.base_class}", t.arm, t.against, t.share) for t in transitions]
