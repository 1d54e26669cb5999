"""Error analysis (eta.report.analysis): categories from hand-made execution records, analysis.md from files."""

from __future__ import annotations

import json
from functools import partial

import pytest
from helpers import record

from eta.report.analysis import CATEGORIES, categorize, compare, off_by_one, solved, table_rows, write_analysis

OBO_TRACE = ("[L1] call: xs=[1, 2]\n[L2] line: xs=[1, 2]\n[L3] line: xs=[1, 2], i=0\n"
             "[L3] line: xs=[1, 2], i=2, y=2 | EXCEPTION: IndexError(\"list index out of range\")")


rec = partial(record, per_test=True)  # the analysis reads the verdict (and trace) of each record's test


@pytest.mark.parametrize("outcome,error,category", [
    ("passed", None, None),
    ("infra_error", None, None),
    ("syntax_error", "SyntaxError", "syntax"),
    ("runtime_error", "NameError", "name or attribute"),
    ("runtime_error", "UnboundLocalError", "name or attribute"),
    ("runtime_error", "AttributeError", "name or attribute"),
    ("runtime_error", "TypeError", "type"),
    ("runtime_error", "IndexError", "index or key"),
    ("runtime_error", "KeyError", "index or key"),
    ("wrong_answer", "AssertionError", "wrong value"),
    ("timeout", None, "infinite loop or timeout"),
    ("runtime_error", "RecursionError", "infinite loop or timeout"),
    ("runtime_error", "ZeroDivisionError", "other runtime error"),
    ("memory_exceeded", "MemoryError", "other runtime error"),
    ("crashed", None, "other runtime error"),
])
def test_categories_come_from_the_outcome_and_the_exception(outcome, error, category):
    assert categorize(rec(outcome=outcome, error_type=error)) == category
    assert category is None or category in CATEGORIES


def test_the_first_failing_test_decides_the_exception():
    r = rec(outcome="runtime_error", error_type="TypeError")
    r["tests"] = [{"index": 0, "outcome": "passed"}, {"index": 1, "outcome": "runtime_error", "error_type": "KeyError"}]
    assert categorize(r) == "index or key"


def test_off_by_one_needs_the_trace_to_show_the_index_at_the_length():
    program = "def f(xs):\n    for i in range(len(xs) + 1):\n        y = xs[i]\n    return y\n"
    index_error = dict(outcome="runtime_error", error_type="IndexError", completion=program)
    assert off_by_one(rec(trace=OBO_TRACE, **index_error))
    # y == len(xs) too, but y is no index; i=7 is out of range but not at the boundary
    assert not off_by_one(rec(trace=OBO_TRACE.replace("i=2, y=2 | EXC", "i=7, y=2 | EXC"), **index_error))
    assert not off_by_one(rec(**index_error))  # no trace: not claimed
    assert not off_by_one(rec(trace=OBO_TRACE, **dict(index_error, error_type="KeyError")))


def test_solved_is_a_majority_of_the_samples():
    assert solved([rec(), rec(outcome="wrong_answer")])
    assert not solved([rec(), rec(outcome="wrong_answer"), rec(outcome="timeout")])
    assert not solved([rec(outcome="infra_error")])


def test_compare_finds_newly_solved_and_broken_with_programs_and_traces():
    base = [rec("A", 0, "runtime_error", error_type="IndexError", trace=OBO_TRACE, completion="def a(xs): bad = xs[i]"),
            rec("A", 1, "wrong_answer"), rec("B", 0, completion="def b(): good"), rec("B", 1), rec("C", 0), rec("C", 1)]
    trained = [rec("A", 0, completion="def a(): fixed"), rec("A", 1),
               rec("B", 0, "syntax_error", error_type="SyntaxError", completion="def b(:"), rec("B", 1, "timeout"),
               rec("C", 0), rec("C", 1, "wrong_answer")]
    result = compare(base, trained)
    [gained], [lost] = result["newly_solved"], result["newly_broken"]
    assert gained["task_id"] == "A" and gained["failing_program"] == "def a(xs): bad = xs[i]" and gained["off_by_one"]
    assert gained["trace"] == OBO_TRACE and gained["passing_program"] == "def a(): fixed"
    assert lost["task_id"] == "B" and lost["failing_program"] == "def b(:" and lost["passing_program"] == "def b(): good"
    assert result["categories"]["base"]["index or key"] == 1 and result["categories"]["base"]["wrong value"] == 1
    assert result["categories"]["trained"]["syntax"] == 1 and result["categories"]["trained"]["wrong value"] == 1
    assert result["categories"]["base"]["off-by-one (of index or key)"] == 1
    rows = table_rows({"trained": result})
    assert {r["change"] for r in rows["analysis_trained_changes"]} == {"newly solved", "newly broken"}


def test_write_analysis_reads_the_eval_files_and_writes_markdown(tmp_path):
    def write(policy, records, root=tmp_path):
        path = root / "eval" / policy / "sampled_executions.jsonl"
        path.parent.mkdir(parents=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in records))

    assert write_analysis(tmp_path) is None  # nothing evaluated yet
    write("base", [rec("A", 0, "runtime_error", error_type="IndexError", trace=OBO_TRACE,
                       completion="def a(xs): bad = xs[i]")])
    write("trained", [rec("A", 0, completion="def a(): fixed")], root=tmp_path / "round_1")
    path, results = write_analysis(tmp_path)
    text = path.read_text()
    assert path == tmp_path / "analysis.md" and set(results) == {"round_1"}
    assert "## round_1 against base" in text and "### Newly solved (1)" in text and "#### A" in text
    assert "def a(xs): bad = xs[i]" in text and "EXCEPTION: IndexError" in text and "def a(): fixed" in text
    assert "(off-by-one)" in text and "| index or key | 1 | 0 | -1 |" in text
    for category in CATEGORIES:
        assert f"**{category}**" in text  # each rule is stated


def test_write_analysis_classes_wrong_values_against_the_reference(tmp_path):
    from eta.tasks.schema import CompletionMode, Task, TestCase

    reference = "def above(xs, k):\n    n = 0\n    for x in xs:\n        if x > k:\n            n += 1\n    return n\n"
    tests = [TestCase(code="assert above([], 0) == 0"), TestCase(code="assert above([1, 2, 3], 1) == 2")]
    task = Task(task_id="Synthetic/above/0", prompt="", reference=reference, tests=tuple(tests), entry_point="above",
                completion_mode=CompletionMode.FULL)

    def wrong(sample_id, program, got):
        r = rec(task.task_id, sample_id, "wrong_answer", error_type="AssertionError", completion=program)
        r["tests"] = [{"index": 0, "outcome": "passed"},
                      {"index": 1, "outcome": "wrong_answer", "error_type": "AssertionError", "error_message": got}]
        return r

    base = [wrong(0, reference.replace("x > k", "x >= k"), "got 3"), wrong(1, reference.replace("n = 0", "n = 1"), "got 3")]
    trained = [rec(task.task_id, 0, completion=reference), wrong(1, reference.replace("    return n\n", ""), "got None")]
    for policy, records in (("base", base), ("trained", trained)):
        path = tmp_path / "eval" / policy / "sampled_executions.jsonl"
        path.parent.mkdir(parents=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    _, results = write_analysis(tmp_path, [task])
    rows = [json.loads(line) for line in (tmp_path / "eval" / "base" / "wrong_answers.jsonl").read_text().splitlines()]
    assert [(r["sample_id"], r["diff"], r["value"]) for r in rows] == [
        (0, "comparison operator", "off by one"), (1, "accumulator or initial value", "off by one")]
    wrong_trained = results["trained"]["wrong"]["trained"]
    assert wrong_trained["diff"]["return missing or misplaced"] == 1 and wrong_trained["value"]["returned None"] == 1
    text = (tmp_path / "analysis.md").read_text()
    assert "### Wrong values by change against the reference" in text
    assert "| comparison operator | 1 | 0 | -1 |" in text and "| returned None | 0 | 1 | +1 |" in text
    assert "**loop bound**" in text and "**fails only the empty/zero test**" in text
    table = table_rows(results)["analysis_trained_wrong_values"]
    assert {"by": "diff", "class": "comparison operator", "base": 1, "trained": 0} in table
    assert {"by": "value", "class": "returned None", "base": 0, "trained": 1} in table
