"""Divergence from the reference (eta.trace.divergence): where a failing program leaves the reference's
execution, what it matched, and that padding of any shape never buys a better score.

The tracing tests here need the standard library only (they run on 3.11 and on a bare 3.12)."""

from __future__ import annotations

import ast
import sys
from fractions import Fraction
from typing import Any

import pytest

from eta.prefer import compare, make_criteria
from eta.trace.divergence import canonical, divergence, sequence
from eta.trace.liveness import analyze
from eta.trace.run import load, trace_call
from eta.trace.writes import value_writes

REFERENCE = """\
def sum_above(nums, k):
    total = 0
    for x in nums:
        if x > k:
            total += x
    return total
"""
TESTS = [([3, -1, 7, 12], 2, 22), ([4, 6, 1], 4, 6), ([], 0, 0), ([8, 8, 2], 7, 16)]
# One edit (the accumulator starts at 1), and that edit and one more (>= for >).
NEARER = REFERENCE.replace("total = 0", "total = 1")
FURTHER = NEARER.replace("x > k", "x >= k")
# A runaway: it recurses until the recursion limit, so where its trace ends depends on what else it runs.
RUNAWAY = NEARER.replace("return total", "return total + sum_above(nums[1:] + [k], k)")


def run(source: str, entry: str = "sum_above") -> list[dict[str, Any]]:
    """Each test's result dict as the sandbox reports it (outcome and value writes), traced in-process."""
    ns = load(source)
    out = []
    for i, (nums, k, want) in enumerate(TESTS):
        record, value, error = trace_call(ns, f"{entry}({nums!r}, {k!r})")
        outcome = "runtime_error" if error is not None else "passed" if value == want else "wrong_answer"
        out.append({"index": i, "outcome": outcome, "error_type": type(error).__name__ if error else None,
                    "writes": value_writes(record)})
    return out


def reference() -> dict[str, Any]:
    live = analyze(REFERENCE, "sum_above")
    seqs = [sequence(t["writes"], live) for t in run(REFERENCE)]
    return {"values": [s.values for s in seqs], "steps": [s.live_steps for s in seqs]}


def diverge(source: str) -> dict[str, Any]:
    return divergence(run(source), reference(), analyze(source, "sum_above"))


def record(source: str) -> dict[str, Any]:
    tests = run(source)
    passed = sum(t["outcome"] == "passed" for t in tests)
    failed = next((t for t in tests if t["outcome"] != "passed"), None)
    return {"task_id": "T/0", "sample_id": source, "completion": source, "passed": failed is None,
            "outcome": failed["outcome"] if failed else "passed", "tests_passed": passed,
            "tests_total": len(tests), "error_type": failed and failed["error_type"], "steps": 1,
            "divergence": divergence(tests, reference(), analyze(source, "sum_above"))}


def test_the_first_wrong_value_names_its_line_and_the_shared_state():
    found = diverge(NEARER)
    first = found["tests"][0]
    assert first["index"] == 0 and first["line"] == 2  # `total = 1`
    assert (first["expected"], first["got"]) == ("0", "1")
    assert first["shared"] == ["[3, -1, 7, 12]", "2"]  # the arguments: all the two runs share
    assert first["matched"] == 2 and first["of"] > 2 and 0 < found["score"] < 1


def test_one_edit_is_nearer_than_that_edit_and_more():
    nearer, further = record(NEARER), record(FURTHER)
    criteria = make_criteria(["passed", "divergence"], 10_000)
    assert compare(nearer, further, criteria)[0] is nearer


def test_names_do_not_matter_and_another_structure_stays_near():
    renamed = REFERENCE.replace("total", "acc").replace("x", "v").replace("nums", "xs")
    indexed = ("def sum_above(nums, k):\n    s = 0\n    n = len(nums)\n    i = 0\n    while i < n:\n"
               "        if nums[i] > k:\n            s = s + nums[i]\n        i += 1\n    return s + 1\n")
    assert diverge(renamed.replace("acc = 0", "acc = 1"))["score"] == diverge(NEARER)["score"]
    # the same algorithm written with an index (wrong only in its last step) matches more than a wrong start
    assert diverge(indexed)["f1"] > diverge(NEARER)["f1"]


def _pad(source: str, shape: str) -> str:
    tree = ast.parse(source)
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef)
    if shape == "in_loop":
        loop = next(n for n in ast.walk(fn) if isinstance(n, ast.For))
        loop.body[:0] = ast.parse("_t = 0\nfor _j in range(5):\n    _t += _j").body
    elif shape == "before_return":
        fn.body[-1:-1] = ast.parse("for _q in range(50):\n    _u = _q * 2").body
    else:
        padding = {"loop": "for _ in range(2000):\n    pass",
                   "variables": "_a = 0\n_b = [1, 2, 3]\n_c = _a + 1",
                   "while": "_k = 0\nwhile _k < 300:\n    _k += 1",
                   "helper": "_helper(40)",
                   "helper_on_input": "_count(nums)",
                   "copy_of_live": "_copy = list(nums)\n_copy.append(0)"}[shape]
        fn.body[:0] = ast.parse(padding).body
        tree.body[:0] = ast.parse("def _helper(n):\n    t = 0\n    for i in range(n):\n        t += i\n    return t\n"
                                  "def _count(xs):\n    n = 0\n    for _ in range(100):\n        n += 1\n    return n\n").body
    return ast.unparse(tree) + "\n"


SHAPES = ("loop", "variables", "while", "helper", "helper_on_input", "copy_of_live", "in_loop", "before_return")


@pytest.fixture
def shallow_recursion():
    """A low recursion limit, so that the runaway reaches it fast (the tracer makes deep stacks slow)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(120)
    yield
    sys.setrecursionlimit(old)


@pytest.mark.parametrize("shape", SHAPES)
def test_padding_never_scores_better_than_the_program_itself(shape, shallow_recursion):
    criteria = make_criteria(["passed", "divergence", "steps", "error_class", "tests"], 10_000)
    for program in (NEARER, FURTHER, RUNAWAY):
        plain, padded = record(program), record(_pad(program, shape))
        assert not padded["passed"]
        for criterion in criteria:
            kp, ku = criterion.key(padded), criterion.key(plain)
            assert kp is None or ku is None or kp <= ku, (shape, criterion.name, kp, ku)
        assert compare(padded, plain, criteria) is None or compare(padded, plain, criteria)[0] is plain


def test_padding_is_dead_and_the_computation_live():
    live = analyze(_pad(_pad(NEARER, "loop"), "helper_on_input"), "sum_above")
    assert live is not None
    assert live.functions["sum_above"] >= {"nums", "k", "total", "x"}
    assert not {"_", "_pad"} & live.functions["sum_above"] and "_count" not in live.functions
    mutating = analyze("def f(xs):\n    g(xs)\n    return xs\ndef g(ys):\n    ys.append(1)\n", "f")
    assert "g" in mutating.functions  # a helper that changes what it is passed is not padding


def test_relative_steps_count_the_first_failing_test_against_the_reference():
    steps = make_criteria(["steps"], 10_000)[0].key
    assert steps(record(NEARER)) == Fraction(1)  # it runs the reference's whole loop, only from a wrong start
    early = NEARER.replace("    for x in nums:", "    return total\n    for x in nums:")
    assert steps(record(early)) < steps(record(NEARER))
    timeout = {**record(NEARER), "outcome": "timeout"}
    assert steps(timeout) == 0


def test_sets_read_the_same_whatever_the_hash_seed():
    assert canonical("{'b', 'a'}") == canonical("{'a', 'b'}") == "{'a', 'b'}"
    assert canonical("{'k': {'y', 'x'}}") == "{'k': {'x', 'y'}}"
    assert canonical("{'a': 1, 'b': 2}") == "{'a': 1, 'b': 2}"  # dicts keep their (deterministic) order
    assert canonical("{'b', 'a', ...}") == "{'b', 'a', ...}"  # cut short: left as rendered


def test_a_program_without_a_reference_leaves_the_decision_to_the_other_criteria():
    plain = {**record(NEARER)}
    del plain["divergence"]
    assert make_criteria(["divergence"], 10)[0].key(plain) is None
    assert make_criteria(["steps"], 10)[0].key(plain) is None  # raw steps are what padding buys


@pytest.mark.parametrize("forged", [{"writes": [1, 2]}, {"writes": [[1, "f", "x"]]}, {"lines": "many"}, {"writes": None}])
def test_writes_the_child_forged_are_charged_to_the_program_not_the_run(forged):
    # The child sends its writes, so a candidate can replace them: reading them must never raise (that would
    # stop the run) nor leave the program unmeasured (that would spare it the criterion), but rank it furthest.
    from eta.execute.reftraces import UNREADABLE, annotate
    from eta.tasks.schema import Task

    honest = run(NEARER)
    tests = [dict(t, writes=forged) if t["outcome"] != "passed" else t for t in honest]
    task = Task(task_id="T/0", prompt="", reference=REFERENCE, tests=(), entry_point="sum_above")
    rec = {"passed": False, "outcome": "wrong_answer", "completion": NEARER, "tests": tests}
    annotate(rec, task, reference())
    assert rec["divergence"] == UNREADABLE
    assert diverge(NEARER)["f1"] > UNREADABLE["f1"]
