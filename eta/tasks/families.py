"""Families of problems, and a selection stratified over them.

A family is a set of problems that differ only in constants and names (the synthetic suite's generators),
so they are not independent evidence: a held-out set of 24 problems from 3 families says little about a
fourth. A dataset with families names them in its task ids, ``<Dataset>/<family>/<n>`` (the synthetic
suite: ``Synthetic/sum_above/3``); every other problem is its own family. A repair program's id
(``<task id>#<sample>@<policy>``) belongs to the family of its problem. The comparison reads the family
from the task id alone, so execution records need carry nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from eta.tasks.schema import Task

T = TypeVar("T", Task, str)


def family_of(task_id: str) -> str:
    """The family a problem (or a repair program of it) belongs to: ``<Dataset>/<family>`` of a three-part id,
    else the problem's own id."""
    problem = task_id.split("#", 1)[0]
    parts = problem.split("/")
    return "/".join(parts[:2]) if len(parts) >= 3 else problem


def _id(item: Task | str) -> str:
    return item if isinstance(item, str) else item.task_id


def n_families(items: Iterable[Task | str]) -> int:
    return len({family_of(_id(t)) for t in items})


def stratified(items: Sequence[T], limit: int | None) -> list[T]:
    """At most ``limit`` of ``items``, taken round-robin across their families (the first problem of every
    family, then the second of every family, ...), families in order of first appearance, and returned in
    their original order. Deterministic; without families it is the first ``limit`` items."""
    if limit is None or limit >= len(items):
        return list(items)
    by_family: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        by_family.setdefault(family_of(_id(item)), []).append(i)
    chosen: list[int] = []
    depth = 0
    while len(chosen) < limit:
        for members in by_family.values():
            if depth < len(members) and len(chosen) < limit:
                chosen.append(members[depth])
        depth += 1
    return [items[i] for i in sorted(chosen)]
