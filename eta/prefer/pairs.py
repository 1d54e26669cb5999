"""Preference pairs from execution records: within each problem, the sample the heuristic prefers is
``chosen`` and the other ``rejected``; ties are dropped (matched composition: oriented by a coin), infra
errors never take part. Which pairs are made at all: ``eta.prefer.composition``."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eta.execute.outcome import Outcome
from eta.prefer.composition import Composition, Mode, check_matched, matched_pairs
from eta.prefer.criteria import Criterion, compare
from eta.prefer.heuristic import HeuristicConfig, Pairing
from eta.prefer.records import Record, describe, outcome_of, usable


@dataclass(frozen=True)
class Pair:
    task_id: str
    prompt: str
    chosen: str
    rejected: str
    chosen_sample_id: Any
    rejected_sample_id: Any
    criterion: str  # the criterion that decided
    chosen_outcome: Outcome
    rejected_outcome: Outcome

    def to_dict(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected,
                "chosen_sample_id": self.chosen_sample_id, "rejected_sample_id": self.rejected_sample_id,
                "criterion": self.criterion, "chosen_outcome": self.chosen_outcome.value,
                "rejected_outcome": self.rejected_outcome.value}


def _sample_order(record: Record) -> tuple[int, Any, str]:
    sid = record["sample_id"]
    return (0, sid, "") if isinstance(sid, int) else (1, 0, str(sid))


def _group_by_task(records: Sequence[Record]) -> dict[str, list[Record]]:
    """Samples per task in sample-id order, one per distinct completion (the first sample keeps it)."""
    groups: dict[str, list[Record]] = {}
    for record in records:
        groups.setdefault(record["task_id"], []).append(record)
    for task_id, group in groups.items():
        group.sort(key=_sample_order)
        seen_ids: set[Any] = set()
        seen_text: set[str] = set()
        unique: list[Record] = []
        for record in group:
            if record["sample_id"] in seen_ids:
                raise ValueError(f"{describe(record)}: the same sample appears twice (files concatenated?)")
            seen_ids.add(record["sample_id"])
            text = record["completion"].rstrip()  # trailing whitespace does not change the program
            if text not in seen_text:
                seen_text.add(text)
                unique.append(record)
        groups[task_id] = unique
    return groups


def _decided(a: Record, b: Record, criteria: Sequence[Criterion]) -> tuple[Record, Record, str] | None:
    result = compare(a, b, criteria)
    if result is None:
        return None
    winner, name = result
    return (a, b, name) if winner is a else (b, a, name)


def _all_pairs(group: list[Record], criteria: Sequence[Criterion], cap: int | None,
               rng: random.Random) -> list[tuple[Record, Record, str]]:
    decided = [d for i, a in enumerate(group) for b in group[i + 1:] if (d := _decided(a, b, criteria))]
    if cap is not None and len(decided) > cap:
        keep = sorted(rng.sample(range(len(decided)), cap))
        decided = [decided[i] for i in keep]
    return decided


def _best_vs_worst(group: list[Record], criteria: Sequence[Criterion], cap: int | None,
                   rng: random.Random) -> list[tuple[Record, Record, str]]:
    """Rank samples by wins minus losses (robust even where criteria that do not apply make the order
    partial), then pair the i-th best with the i-th worst; ties within a rank are broken by the seed."""
    score = [0] * len(group)
    for i in range(len(group)):
        for j in range(i + 1, len(group)):
            d = _decided(group[i], group[j], criteria)
            if d is not None:
                w, lo = (i, j) if d[0] is group[i] else (j, i)
                score[w] += 1
                score[lo] -= 1
    tie_break = [rng.random() for _ in group]
    order = sorted(range(len(group)), key=lambda i: (-score[i], tie_break[i]))
    pairs = []
    for i in range(len(order) // 2):
        d = _decided(group[order[i]], group[order[-1 - i]], criteria)
        if d is not None:
            pairs.append(d)
        if cap is not None and len(pairs) == cap:
            break
    return pairs


def build_pairs(records: Iterable[Record], heuristic_cfg: HeuristicConfig | Mapping[str, Any],
                prompts: Mapping[str, str], composition: Composition | Mapping[str, Any] | None = None) -> list[Pair]:
    """Preference pairs, task by task in the order tasks first appear in ``records``; ``composition``
    (``cfg.prefer``; default free) says which pairs are made, the heuristic how each is oriented."""
    cfg = HeuristicConfig.from_mapping(heuristic_cfg)
    criteria = cfg.make_criteria()
    how = Composition.from_mapping(composition)
    if how.mode is Mode.MATCHED:
        check_matched(criteria, cfg.name)
    kept, _masked = usable(records)
    pairs: list[Pair] = []
    for task_id, group in _group_by_task(kept).items():
        if task_id not in prompts:
            raise ValueError(f"no prompt for task {task_id!r} (prompts cover {len(prompts)} tasks)")
        if how.mode is Mode.MATCHED:
            decided = matched_pairs(group, task_id, criteria, how)
        else:
            rng = random.Random(f"{cfg.seed}:{task_id}")  # str seeds hash stably across processes
            make = _all_pairs if cfg.pairing is Pairing.ALL else _best_vs_worst
            decided = make(group, criteria, cfg.max_pairs_per_problem, rng)
        for chosen, rejected, name in decided:
            pairs.append(Pair(task_id=task_id, prompt=prompts[task_id], chosen=chosen["completion"],
                              rejected=rejected["completion"], chosen_sample_id=chosen["sample_id"],
                              rejected_sample_id=rejected["sample_id"], criterion=name,
                              chosen_outcome=outcome_of(chosen), rejected_outcome=outcome_of(rejected)))
    return pairs


def write_pairs(pairs: Iterable[Pair], path: str | Path) -> int:
    """Write pairs as JSON lines; return how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for pair in pairs:
            f.write(json.dumps(pair.to_dict(), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_pairs(path: str | Path) -> list[Pair]:
    path = Path(path)
    pairs = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                d["chosen_outcome"] = Outcome(d["chosen_outcome"])
                d["rejected_outcome"] = Outcome(d["rejected_outcome"])
                pairs.append(Pair(**d))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise ValueError(f"{path}:{lineno}: not a preference pair ({type(e).__name__}: {e})") from None
    return pairs


def to_hf_dataset(pairs: Sequence[Pair], metadata: bool = False):
    """A ``datasets.Dataset`` in TRL's standard preference format (``prompt``/``chosen``/``rejected``).

    ``metadata=True`` adds task_id, sample ids, criterion and outcomes as extra columns, for inspection;
    the default keeps only what the DPO trainer reads.
    """
    from datasets import Dataset

    columns: dict[str, list[Any]] = {"prompt": [p.prompt for p in pairs], "chosen": [p.chosen for p in pairs],
                                     "rejected": [p.rejected for p in pairs]}
    if metadata:
        for name in ("task_id", "criterion"):
            columns[name] = [getattr(p, name) for p in pairs]
        for name in ("chosen_sample_id", "rejected_sample_id"):
            columns[name] = [str(getattr(p, name)) for p in pairs]  # ids may mix int and str across datasets
        for name in ("chosen_outcome", "rejected_outcome"):
            columns[name] = [getattr(p, name).value for p in pairs]
    return Dataset.from_dict(columns)
