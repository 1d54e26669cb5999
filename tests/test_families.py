"""Families and the stratified selection: a limit takes problems round-robin across families, so a small
held-out set spans every family instead of the first two or three; counted beside the problems."""

from __future__ import annotations

from collections import Counter

import pytest

from eta.tasks import load_tasks, synthetic
from eta.tasks.families import family_of, n_families, stratified


def test_family_of_reads_the_task_id_and_agrees_with_the_synthetic_metadata():
    for task in load_tasks("synthetic", split="all", per_family=2):
        assert family_of(task.task_id) == f"Synthetic/{task.metadata['family']}"
    assert family_of("Synthetic/keep_even/3#2@base") == "Synthetic/keep_even"  # a repair program of a problem
    assert family_of("HumanEval/7") == "HumanEval/7" and family_of("QuixBugs/bitcount") == "QuixBugs/bitcount"


@pytest.mark.parametrize("limit", [1, 5, 8, 13, 24, 79])
def test_stratified_is_balanced_deterministic_and_in_the_original_order(limit):
    ids = [f"D/f{f}/{i}" for f, size in enumerate([10, 3, 10, 1, 10, 6, 10, 10]) for i in range(size)]
    picked = stratified(ids, limit)
    assert len(picked) == min(limit, len(ids)) and picked == stratified(ids, limit)
    assert picked == [i for i in ids if i in set(picked)]
    counts = {}
    for i in picked:
        counts[family_of(i)] = counts.get(family_of(i), 0) + 1
    sizes = {f"D/f{f}": size for f, size in enumerate([10, 3, 10, 1, 10, 6, 10, 10])}
    # round-robin: a family short of the most-picked one has run out of problems
    top = max(counts.values())
    assert all(counts.get(f, 0) >= top - 1 or counts.get(f, 0) == size for f, size in sizes.items())
    assert n_families(picked) == min(limit, len(sizes))


def test_without_families_a_limit_is_the_prefix():
    ids = [f"HumanEval/{i}" for i in range(10)]
    assert stratified(ids, 4) == ids[:4] and stratified(ids, None) == ids and n_families(ids) == 10


def _synthetic_cfg(eval_split: str = "test", limit: int | None = 24, eval_limit: int | None = None):
    from omegaconf import OmegaConf

    return OmegaConf.create({"seed": 0, "dataset": {
        "name": "synthetic", "eval_split": eval_split, "train_split": "train", "holdout_fraction": 0.5,
        "limit": limit, "eval_limit": eval_limit, "data_dir": None, "source": "local", "options": {"seed": 0, "per_family": 10}}})


def test_the_default_synthetic_limit_spans_every_held_out_family():
    from eta.context import load_splits

    train, held = load_splits(_synthetic_cfg())
    assert len(train) == len(held) == 24
    assert n_families(held) == 24 and n_families(load_tasks("synthetic", split="test")) == 58  # 3 with a prefix
    assert n_families(train) == 24  # one problem from each of 24 of the 75 training families


def test_eval_limit_sizes_the_held_out_set_alone_and_stays_stratified():
    from eta.context import load_splits

    train, held = load_splits(_synthetic_cfg(limit=12, eval_limit=174))
    assert len(train) == 12 and len(held) == 174
    assert [t.task_id for t in train] == [t.task_id for t in load_splits(_synthetic_cfg(limit=12))[0]]
    per_family = Counter(family_of(t.task_id) for t in held)
    assert len(per_family) == 58 and set(per_family.values()) == {3}  # 174 = 3 from each of the 58 test families


def test_validation_is_the_evaluation_set_for_tuning_and_shares_no_family():
    from eta.context import load_splits

    train, validation = load_splits(_synthetic_cfg("validation", limit=None))
    _, test = load_splits(_synthetic_cfg("test", limit=None))
    families = [{family_of(t.task_id) for t in side} for side in (train, validation, test)]
    assert {f.split("/")[1] for f in families[1]} == synthetic.VALIDATION_FAMILIES
    assert all(t.split == "validation" for t in validation) and all(t.split == "train" for t in train)
    assert not (families[0] & families[1] or families[0] & families[2] or families[1] & families[2])
