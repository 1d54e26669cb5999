"""Wrong-answer classes (eta.report.mistakes): hand-written mutants of one synthetic reference, each made by
one kind of change, so the expected class is known by construction; values returned against expected ones."""

from __future__ import annotations

import pytest

from eta.report.mistakes import DIFF_CATEGORIES, DIFF_RULES, VALUE_RELATIONS, VALUE_RULES, classify, diff_category, \
    value_relation

REFERENCE = '''def sum_above(values, limit):
    total = 0
    for i in range(len(values)):
        if values[i] > limit:
            total += values[i]
    return total
'''


def mutant(old: str, new: str, renamed: bool = True) -> str:
    assert old in REFERENCE
    program = REFERENCE.replace(old, new)
    # the model's own names: renaming alone is no change
    return program.replace("total", "acc").replace("values", "xs") if renamed else program


@pytest.mark.parametrize("program,category", [
    (mutant("", ""), "same as reference"),
    (mutant("> limit", ">= limit"), "comparison operator"),
    (mutant("> limit", "< limit"), "comparison operator"),
    (mutant("range(len(values))", "range(len(values) - 1)"), "loop bound"),
    (mutant("range(len(values))", "range(1, len(values))"), "loop bound"),
    (mutant("total = 0", "total = 1"), "accumulator or initial value"),
    (mutant("total += values[i]", "total *= values[i]"), "accumulator or initial value"),
    (mutant("total += values[i]", "total += i"), "accumulator or initial value"),
    (mutant("> limit", "> limit + 1"), "other"),
    (mutant("values[i] > limit", "values[i] * 2 > limit"), "other"),  # an operand added
    (mutant("values[i] > limit", "values[i] - limit > 0"), "other"),
    (mutant("if values[i] > limit", "if values[i] > limit and i > 0"), "other"),
  # a new operand: a structural change, not a constant's value
    (mutant("    return total\n", ""), "return missing or misplaced"),
    (mutant("            total += values[i]\n    return total\n",
            "            total += values[i]\n        return total\n"), "return missing or misplaced"),
    (mutant("> limit", ">= limit").replace("acc = 0", "acc = 1"), "other"),  # two kinds of change
    (mutant("total = 0\n    for i in range(len(values)):\n        if values[i] > limit:\n            total += values[i]",
            "total = sum(v for v in values if v > limit)"), "other"),  # another algorithm
    ("def sum_above(values, limit:\n", "other"),  # does not parse
])
def test_each_mutant_gets_the_class_of_its_change(program, category):
    assert diff_category(program, REFERENCE, "sum_above") == category
    assert category in DIFF_CATEGORIES and category in DIFF_RULES


def test_a_constant_outside_loops_and_accumulators_is_a_constant():
    reference = "def f(xs):\n    if len(xs) < 3:\n        return -1\n    return xs[2]\n"
    assert diff_category(reference.replace("-1", "0"), reference, "f") == "constant"
    assert diff_category(reference.replace("xs[2]", "xs[1]"), reference, "f") == "constant"
    assert diff_category(reference.replace("< 3", "<= 3"), reference, "f") == "comparison operator"
    assert diff_category(reference.replace("< 3", "< 2"), reference, "f") == "constant"


def test_an_arithmetic_operator_outside_an_accumulator():
    reference = "def f(xs):\n    out = []\n    for x in xs:\n        out.append(x * 2)\n    return out\n"
    assert diff_category(reference.replace("x * 2", "x + 2"), reference, "f") == "arithmetic operator"
    assert diff_category(reference.replace("x * 2", "x + 3"), reference, "f") == "other"  # operator and constant


def test_while_conditions_are_loop_bounds_and_helpers_outside_the_entry_point_are_ignored():
    reference = "def f(n):\n    i = 0\n    while i < n:\n        i += 2\n    return i\n"
    assert diff_category(reference.replace("i < n", "i <= n"), reference, "f") == "loop bound"
    helper = "def unused():\n    return 99\n\n" + reference
    assert diff_category(helper, reference, "f") == "same as reference"


def rec(*results, outcome="wrong_answer"):
    return {"outcome": outcome, "tests": [dict(index=i, outcome=o, error_message=m) for i, (o, m) in enumerate(results)]}


TESTS = ["assert sum_above([], 0) == 0", "assert sum_above([1, 5], 2) == 5", "assert sum_above([3, 4], 2) == [3, 4]"]


@pytest.mark.parametrize("record,relation", [
    (rec(("passed", None), ("wrong_answer", "got None")), "returned None"),
    (rec(("passed", None), ("wrong_answer", "got 4")), "off by one"),
    (rec(("passed", None), ("wrong_answer", "got 6")), "off by one"),
    (rec(("passed", None), ("wrong_answer", "got 7")), "other value"),
    (rec(("passed", None), ("wrong_answer", "got 5.5")), "other value"),
    (rec(("passed", None), ("passed", None), ("wrong_answer", "got [3]")), "off by one"),
    (rec(("passed", None), ("passed", None), ("wrong_answer", "got [4, 3]")), "other value"),
    (rec(("wrong_answer", "got 1"), ("passed", None), ("passed", None)), "fails only the empty/zero test"),
    (rec(("wrong_answer", "got 1"), ("wrong_answer", "got 4")), "off by one"),  # not only the empty test
    (rec(("passed", None), ("wrong_answer", "got a Foo object")), "other value"),
    (rec(("runtime_error", None), outcome="runtime_error"), None),
])
def test_the_value_returned_against_the_expected_one(record, relation):
    assert value_relation(record, TESTS) == relation
    assert relation is None or (relation in VALUE_RELATIONS and relation in VALUE_RULES)


def test_classify_a_record_with_both_views():
    record = dict(rec(("passed", None), ("wrong_answer", "got 4")), completion=mutant("> limit", ">= limit"))
    assert classify(record, REFERENCE, TESTS, "sum_above") == {"diff": "comparison operator", "value": "off by one"}
    assert classify(record, None, TESTS, "sum_above") == {"diff": None, "value": "off by one"}
    assert classify(dict(record, outcome="timeout"), REFERENCE, TESTS, "sum_above") is None
