"""Preference pairs: each criterion, the hierarchy's order, ties, caps, pairing modes, masking, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import record as plain_record

from eta.execute.outcome import Outcome
from eta.prefer import (HeuristicConfig, Pair, build_pairs, compare, load_heuristic, make_criteria, read_pairs,
                        read_records, to_hf_dataset, write_pairs)

CONF = Path(__file__).resolve().parents[1] / "conf" / "heuristic"
FULL = ["passed", "steps", "error_class", "tests"]


T0 = "T/0"  # the task of a record unless a test names another
REFERENCE_STEPS = 10**6  # the reference's steps on every first failing test here: relative steps follow `steps`


def record(task_id: str, sample_id: int, outcome: str, *, steps: int | None = None, **kw: Any) -> dict:
    """helpers.record, where `steps` are the live steps on the first failing test: a failing record with steps
    carries a divergence from a reference with REFERENCE_STEPS there (None: untraced, or no reference)."""
    r = plain_record(task_id, sample_id, outcome, steps=steps, **kw)
    if steps is not None and outcome != "passed":
        r["divergence"] = {"score": 0.0, "f1": 0.0, "tests": [{"index": 0, "steps": steps,
                                                               "reference_steps": REFERENCE_STEPS}]}
    return r


def cfg(criteria=FULL, **kw) -> HeuristicConfig:
    return HeuristicConfig.from_mapping({"name": "t", "criteria": list(criteria), **kw})


def decide(a: dict, b: dict, criteria=FULL, max_steps: int = 10_000) -> tuple[int, str] | None:
    result = compare(a, b, make_criteria(criteria, max_steps))
    return None if result is None else (result[0]["sample_id"], result[1])


PROMPTS = {"T/0": "def f():\n", "T/1": "def g():\n"}


# --- each criterion -------------------------------------------------------------------------------------------

def test_passing_beats_failing_whatever_else():
    passing = record(T0, 1, "passed", steps=3, tests_passed=4)
    failing = record(T0, 2, "wrong_answer", steps=900, tests_passed=3)
    assert decide(passing, failing) == (1, "passed")
    assert decide(failing, passing) == (1, "passed")


def test_more_steps_before_the_error_wins_between_failures():
    assert decide(record(T0, 1, "runtime_error", steps=12), record(T0, 2, "runtime_error", steps=40)) == (2, "steps")


def test_runtime_error_beats_syntax_error_on_error_class():
    # the runtime error raised before any line of the candidate ran: 0 steps, the same as a syntax error
    runtime, syntax = record(T0, 1, "runtime_error", steps=0), record(T0, 2, "syntax_error", steps=None)
    assert decide(runtime, syntax) == (1, "error_class")
    crash, syntax = record(T0, 1, "runtime_error", steps=5), record(T0, 2, "syntax_error")
    assert decide(crash, syntax, ["passed", "error_class"]) == (1, "error_class")


def test_error_class_ranks_wrong_answer_then_runtime_then_runaways_then_syntax():
    order = ["wrong_answer", "runtime_error", "timeout", "syntax_error"]
    for i, better in enumerate(order):
        for worse in order[i + 1:]:
            pair = record(T0, 1, better), record(T0, 2, worse)
            assert decide(*pair, ["error_class"]) == (1, "error_class"), (better, worse)
    assert decide(record(T0, 1, "timeout"), record(T0, 2, "memory_exceeded"), ["error_class"]) is None


def test_more_tests_passed_wins():
    a = record(T0, 1, "wrong_answer", steps=20, tests_passed=1)
    b = record(T0, 2, "wrong_answer", steps=20, tests_passed=3)
    assert decide(a, b) == (2, "tests")


def test_untraced_steps_leave_the_decision_to_the_next_criterion():
    a = record(T0, 1, "runtime_error", steps=None, tests_passed=2)
    b = record(T0, 2, "runtime_error", steps=50, tests_passed=1)
    assert decide(a, b) == (1, "tests")


# --- the hierarchy and its order ------------------------------------------------------------------------------

def test_order_of_criteria_decides_the_winner():
    deep_crash = record(T0, 1, "runtime_error", steps=60, tests_passed=1)
    shallow_wrong = record(T0, 2, "wrong_answer", steps=30, tests_passed=2)
    assert decide(deep_crash, shallow_wrong, ["passed", "steps", "error_class", "tests"]) == (1, "steps")
    assert decide(deep_crash, shallow_wrong, ["passed", "error_class", "steps", "tests"]) == (2, "error_class")
    assert decide(deep_crash, shallow_wrong, ["passed", "tests", "steps"]) == (2, "tests")


def test_timeouts_and_runaways_never_win_by_steps():
    timeout = record(T0, 1, "timeout", steps=10**7)
    memory = record(T0, 2, "memory_exceeded", steps=10**7)
    recursion = record(T0, 3, "runtime_error", steps=10**6, error_type="RecursionError")
    modest = record(T0, 4, "runtime_error", steps=5, error_type="IndexError")
    for runaway in (timeout, memory, recursion):
        assert decide(runaway, modest, ["passed", "steps"]) == (4, "steps")


def test_steps_are_capped_so_long_runs_tie():
    long1 = record(T0, 1, "runtime_error", steps=50_000, tests_passed=1)
    long2 = record(T0, 2, "runtime_error", steps=20_000, tests_passed=2)
    assert decide(long1, long2, max_steps=10_000) == (2, "tests")
    assert decide(long1, long2, max_steps=100_000) == (1, "steps")


# --- building pairs -------------------------------------------------------------------------------------------

def ladder(n: int, task: str = "T/0") -> list[dict]:
    """n failing samples, strictly ordered by steps: sample i has i*10+1 steps."""
    return [record(task, i, "runtime_error", steps=i * 10 + 1) for i in range(n)]


def test_all_pairing_keeps_every_decided_pair_with_its_metadata():
    records = [record(T0, 0, "passed", tests_passed=4), record(T0, 1, "runtime_error", steps=7, error_type="KeyError"),
               record(T0, 2, "syntax_error")]
    pairs = build_pairs(records, cfg(), PROMPTS)
    got = {(p.chosen_sample_id, p.rejected_sample_id, p.criterion) for p in pairs}
    assert got == {(0, 1, "passed"), (0, 2, "passed"), (1, 2, "steps")}
    p = next(p for p in pairs if p.rejected_sample_id == 2)
    assert p.prompt == PROMPTS["T/0"] and p.rejected == "code 2" and p.rejected_outcome is Outcome.SYNTAX_ERROR


def test_ties_are_dropped():
    records = [record(T0, 0, "wrong_answer", steps=10, tests_passed=1),
               record(T0, 1, "wrong_answer", steps=10, tests_passed=1), record(T0, 2, "runtime_error", steps=3)]
    assert build_pairs(records, cfg(["passed"]), PROMPTS) == []  # binary: failing programs all tie
    pairs = build_pairs(records, cfg(), PROMPTS)
    assert {(p.chosen_sample_id, p.rejected_sample_id) for p in pairs} == {(0, 2), (1, 2)}


def test_pairs_stay_within_their_problem():
    records = ladder(3, "T/0") + ladder(3, "T/1")
    pairs = build_pairs(records, cfg(), PROMPTS)
    assert len(pairs) == 6
    for p in pairs:
        assert p.prompt == PROMPTS[p.task_id]
        assert p.chosen.startswith("code") and p.chosen_sample_id > p.rejected_sample_id


def test_identical_completions_are_not_paired():
    records = [record(T0, 0, "passed", completion="return 1"), record(T0, 1, "timeout", completion="return 1\n"),
               record(T0, 2, "wrong_answer", steps=4, completion="return 2")]
    pairs = build_pairs(records, cfg(), PROMPTS)
    assert [(p.chosen_sample_id, p.rejected_sample_id) for p in pairs] == [(0, 2)]


def test_infra_errors_are_masked():
    records = [record(T0, 0, "infra_error"), record(T0, 1, "runtime_error", steps=9), record(T0, 2, "syntax_error"),
               record("T/9", 0, "infra_error")]  # a task with nothing usable needs no prompt
    pairs = build_pairs(records, cfg(), PROMPTS)
    assert [(p.chosen_sample_id, p.rejected_sample_id) for p in pairs] == [(1, 2)]


def test_cap_samples_deterministically_with_the_seed():
    records = ladder(6)
    everything = build_pairs(records, cfg(), PROMPTS)
    assert len(everything) == 15
    capped = build_pairs(records, cfg(max_pairs_per_problem=4, seed=1), PROMPTS)
    assert len(capped) == 4 and set(capped) <= set(everything)
    assert capped == build_pairs(records, cfg(max_pairs_per_problem=4, seed=1), PROMPTS)
    subsets = {tuple(build_pairs(records, cfg(max_pairs_per_problem=4, seed=s), PROMPTS)) for s in range(10)}
    assert len(subsets) > 1  # the seed, not the input order, picks the pairs


def test_best_vs_worst_pairs_the_extremes():
    records = ladder(6)  # sample 5 is best, sample 0 worst
    pairs = build_pairs(records, cfg(pairing="best_vs_worst"), PROMPTS)
    assert [(p.chosen_sample_id, p.rejected_sample_id) for p in pairs] == [(5, 0), (4, 1), (3, 2)]
    one = build_pairs(records, cfg(pairing="best_vs_worst", max_pairs_per_problem=1), PROMPTS)
    assert [(p.chosen_sample_id, p.rejected_sample_id) for p in one] == [(5, 0)]


def test_best_vs_worst_with_ties_picks_a_tied_best_and_stays_decided():
    records = [record(T0, i, "passed", tests_passed=4) for i in range(3)] + [record(T0, 3, "syntax_error")]
    pairs = build_pairs(records, cfg(pairing="best_vs_worst"), PROMPTS)
    assert len(pairs) == 1 and pairs[0].rejected_sample_id == 3 and pairs[0].criterion == "passed"


# --- configs, files, datasets ---------------------------------------------------------------------------------

def test_every_heuristic_config_loads():
    configs = {p.stem: load_heuristic(p) for p in CONF.glob("*.yaml")}
    assert {"eta", "binary", "steps_only", "error_class_only", "tests_only", "divergence_only"} <= set(configs)
    assert set(configs["eta"].criteria) == set(FULL) | {"divergence"}  # every criterion, in the measured order
    assert configs["binary"].criteria == ("passed",)
    for stem, c in configs.items():
        assert c.name == stem
        c.make_criteria()


def test_omegaconf_config_is_accepted():
    from omegaconf import OmegaConf

    dict_config = OmegaConf.create({"name": "x", "criteria": ["passed", "steps"], "max_pairs_per_problem": None})
    assert HeuristicConfig.from_mapping(dict_config).criteria == ("passed", "steps")


@pytest.mark.parametrize("bad, needle", [
    ({"name": "x", "criteria": ["passed", "speed"]}, "speed"),
    ({"name": "x", "criteria": "passed"}, "criteria"),
    ({"name": "x", "criteria": ["passed"], "pairing": "random"}, "pairing"),
    ({"name": "x", "criteria": ["passed"], "max_pairs_per_problem": 0}, "max_pairs_per_problem"),
    ({"name": "x", "criteria": ["passed"], "max_steps": -1}, "max_steps"),
    ({"name": "x", "criteria": ["passed"], "max_step": 5}, "max_step"),
    ({"criteria": ["passed"]}, "name"),
])
def test_bad_heuristic_config_names_the_problem(bad, needle):
    with pytest.raises(ValueError, match=needle):
        HeuristicConfig.from_mapping(bad)


def test_bad_records_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="'outcome'.*'exploded'"):
        build_pairs([record(T0, 0, "exploded")], cfg(), PROMPTS)
    broken = record(T0, 0, "passed")
    del broken["completion"]
    with pytest.raises(ValueError, match="completion"):
        build_pairs([broken], cfg(), PROMPTS)
    with pytest.raises(ValueError, match="'passed'"):
        build_pairs([{**record(T0, 0, "wrong_answer"), "passed": True}], cfg(), PROMPTS)
    with pytest.raises(ValueError, match="no prompt for task 'T/7'"):
        build_pairs(ladder(2, "T/7"), cfg(), PROMPTS)
    with pytest.raises(ValueError, match="twice"):
        build_pairs(ladder(2) + ladder(2), cfg(), PROMPTS)
    path = tmp_path / "executions.jsonl"
    path.write_text(json.dumps(record(T0, 0, "passed")) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"executions.jsonl:2: not valid JSON"):
        read_records(path)
    path.write_text(json.dumps({**record(T0, 0, "runtime_error"), "steps": -3}) + "\n")
    with pytest.raises(ValueError, match=r"executions.jsonl:1: .*'steps'"):
        read_records(path)


def test_write_and_read_pairs_round_trip(tmp_path):
    pairs = build_pairs(ladder(3) + [record(T0, 9, "passed")], cfg(), PROMPTS)
    path = tmp_path / "out" / "pairs.jsonl"
    assert write_pairs(pairs, path) == len(pairs) == 6
    assert read_pairs(path) == pairs
    first = json.loads(path.read_text().splitlines()[0])
    assert first["chosen_outcome"] in {o.value for o in Outcome} and "criterion" in first


def test_hf_dataset_has_trl_columns():
    pairs = build_pairs(ladder(3), cfg(), PROMPTS)
    ds = to_hf_dataset(pairs)
    assert ds.column_names == ["prompt", "chosen", "rejected"] and len(ds) == 3
    assert ds[0] == {"prompt": pairs[0].prompt, "chosen": pairs[0].chosen, "rejected": pairs[0].rejected}
    meta = to_hf_dataset(pairs, metadata=True)
    assert meta[0]["criterion"] == "steps" and meta[0]["rejected_outcome"] == "runtime_error"


def test_pair_serialises_outcomes_as_values():
    p = Pair("T/0", "p", "a", "b", 1, 2, "steps", Outcome.RUNTIME_ERROR, Outcome.SYNTAX_ERROR)
    assert p.to_dict()["rejected_outcome"] == "syntax_error"
