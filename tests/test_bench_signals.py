"""experiments/bench_signals.py and its behavioural oracle (experiments/signal_oracle.py): the dev/held-out
split by problem family, the oracle's inputs and distances, and the goal line.

Standard library only (they run on 3.11 and on a bare 3.12, like the tracer's tests)."""

from __future__ import annotations

import importlib.util
import random
import sys

from helpers import ROOT

sys.path.insert(0, str(ROOT / "experiments"))
spec = importlib.util.spec_from_file_location("bench_signals", ROOT / "experiments" / "bench_signals.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
oracle = bench.signal_oracle

REFERENCE = "def count_big(xs, k):\n    n = 0\n    for x in xs:\n        if x > k:\n            n += 1\n    return n\n"
TESTS = ["assert count_big([1, 5, 9], 4) == 2", "assert count_big([], 0) == 0", "assert abs(count_big([3], 1)) == 1"]


def test_a_family_never_straddles_the_two_parts_and_both_parts_are_drawn():
    synthetic = [f"Synthetic/fam{f}/{i}" for f in range(40) for i in range(3)]
    parts = {tid: bench.part_of(tid) for tid in synthetic + [f"Mbpp/{i}" for i in range(40)]}
    for f in range(40):
        assert len({parts[f"Synthetic/fam{f}/{i}"] for i in range(3)}) == 1
    assert set(parts.values()) == {"dev", "heldout"}
    assert bench.part_of("Mbpp/7") == bench.part_of("Mbpp/7#n3f1")  # a program goes with its problem


def test_the_oracle_reads_the_literal_calls_of_the_tests_and_perturbs_them_reproducibly():
    assert oracle.literal_inputs(TESTS + ["assert count_big(make(), 1) == 0"], "count_big") == [
        ([1, 5, 9], 4), ([], 0), ([3], 1)]  # a call with a non-literal argument gives no input
    drawn = oracle.oracle_inputs(TESTS, "count_big", 5, "T/1")
    assert drawn[:3] == [([1, 5, 9], 4), ([], 0), ([3], 1)] and 3 < len(drawn) <= 18
    assert drawn == oracle.oracle_inputs(TESTS, "count_big", 5, "T/1")
    assert len({repr(d) for d in drawn}) == len(drawn)
    rng = random.Random(0)
    for value in ([1, 2, 3], (1, "ab"), "hello", 7, 2.5, {"a": 1}, True, None):
        assert type(bench.signal_oracle.perturb(value, rng)) is type(value)


def test_distance_counts_other_answers_exceptions_and_runaways_on_the_inputs_the_reference_answers():
    inputs = [([1, 5, 9], 4), ([], 0), ([3], 1), ([2, 2], 1), (None, 1)]
    jobs = {"ref": (REFERENCE, "count_big", inputs),
            # no item equals k here: the same answers
            "ge": (REFERENCE.replace("x > k", "x >= k"), "count_big", inputs),
            "off": (REFERENCE.replace("n = 0", "n = 1"), "count_big", inputs),
            "raises": (REFERENCE.replace("n += 1", "n += xs[99]"), "count_big", inputs),
            "loops": (REFERENCE.replace("for x in xs:", "while True:\n        x = 0"), "count_big", inputs)}
    answers = oracle.outputs(jobs, workers=2)
    ref = answers["ref"]
    assert ref[:4] == ["2", "0", "1", "2"] and ref[4] == "!TypeError"  # an input the reference rejects counts not
    assert oracle.distance(ref, answers["ge"]) == 0
    assert oracle.distance(ref, answers["off"]) == 4
    assert oracle.distance(ref, answers["raises"]) == 3  # the empty list never reaches the bad line
    assert oracle.distance(ref, answers["loops"]) == 4
    assert oracle.distance(ref, answers["off"], among=range(2)) == 2


def _row(pairs: int, decided: int, correct: int, trace: bool = True, padded_wins: int = 0,
         agree: tuple = (0, 0, 0)) -> dict:
    return {"pairs": pairs, "decided": decided, "correct": correct, "trace": trace, "padded_wins": padded_wins,
            "agree_pairs": agree[0], "agree_decided": agree[1], "agree_correct": agree[2]}


def test_the_goal_needs_a_trace_signal_precise_and_wide_enough_and_no_padded_win_but_the_controls():
    wide_precise = {"divergence": _row(100, 80, 65), "random": _row(100, 100, 50, False, 9),
                    "steps_raw": _row(100, 40, 30, padded_wins=30), "tests": _row(100, 90, 85, trace=False)}
    assert bench.goal(wide_precise)[0] and bench.goal(wide_precise)[2] == "divergence"
    assert not bench.goal({**wide_precise, "divergence": _row(100, 80, 63)})[0]  # 78.75% correct
    assert not bench.goal({**wide_precise, "divergence": _row(100, 70, 69)})[0]  # decides 70%
    met, said, _ = bench.goal({**wide_precise, "div_f1": _row(100, 90, 80, padded_wins=1)})
    assert not met and "div_f1" in said
    # the secondary view reads the counts on the pairs where behaviour agrees with the label
    narrow = {"divergence": _row(100, 70, 50, agree=(60, 50, 45)), "div_f1": _row(100, 90, 60, agree=(60, 55, 40))}
    assert not bench.goal(narrow)[0]
    assert bench.goal(narrow, "agree_")[:3:2] == (True, "divergence")


def test_the_interval_resamples_problems():
    def pair(task: str, nearer_wins: bool) -> dict:
        a, b = {"task_id": task, "k": int(nearer_wins)}, {"task_id": task, "k": int(not nearer_wins)}
        return {"a": a, "b": b}

    key = lambda r: r["k"]  # noqa: E731
    assert bench.interval([pair(f"T/{i}", True) for i in range(5)], key) == (100.0, 100.0)
    low, high = bench.interval([pair(f"T/{i}", i % 2 == 0) for i in range(20)], key)
    assert low < 50 < high
