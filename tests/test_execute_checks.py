"""Verdicts decided outside the candidate's process: which tests split, how values cross the boundary, and
that the supervisor's comparison says what the same comparison says in-process, for every plain value.
Standard library only: these tests also run on Python 3.12 (make test-py312)."""

from __future__ import annotations

import itertools
import json
import math
import operator
from collections import Counter, OrderedDict, defaultdict, deque, namedtuple
from decimal import Decimal
from enum import IntEnum
from fractions import Fraction

import pytest

from eta.execute.checks import Check, final_result, split_test
from eta.execute.outcome import Outcome
from eta.execute.values import MAX_UNITS, decode, encode


def roundtrip(value):
    """What the supervisor holds after the child encoded `value` and the frame crossed as JSON."""
    return decode(json.loads(json.dumps(encode(value))))


def frame_for(value) -> dict:
    return {"index": 0, "outcome": "passed", "value": json.loads(json.dumps(encode(value)))}


# -- splitting ----------------------------------------------------------------------------------------

SPLITS = {
    "assert f(3) == 7": ("compare", "f(3)", 7, {"op": "eq"}),
    "assert 7 == f(3)": ("compare", "f(3)", 7, {"op": "eq"}),
    "assert f(1) != [1, 2]": ("compare", "f(1)", [1, 2], {"op": "ne"}),
    "assert 3 < f(x)": ("compare", "f(x)", 3, {"op": "gt"}),
    "assert f(0) is None": ("compare", "f(0)", None, {"op": "is"}),
    "assert f('a') is not True": ("compare", "f('a')", True, {"op": "is_not"}),
    "assert sum_product([3, 5, 7]) == (3 + 5 + 7, 3 * 5 * 7)": ("compare", "sum_product([3, 5, 7])", (15, 105), {"op": "eq"}),
    "assert set(g((3, 4), (4, 5))) == set((4,))": ("compare", "set(g((3, 4), (4, 5)))", {4}, {"op": "eq"}),
    "assert f(2) == -float('inf')": ("compare", "f(2)", -math.inf, {"op": "eq"}),
    "assert f('x') == 'ab' * 3": ("compare", "f('x')", "ababab", {"op": "eq"}),
    "assert f(1) == 2, 'message'": ("compare", "f(1)", 2, {"op": "eq"}),
    "assert is_prime(7)": ("truth", "is_prime(7)", True, {}),
    "assert not is_prime(8)": ("truth", "is_prime(8)", False, {}),
    "assert math.isclose(area(2), 12.56, rel_tol=0.001)": ("isclose", "area(2)", 12.56, {"rel_tol": 0.001}),
    "assert isclose(1.5, area(1), abs_tol=1e-3)": ("isclose", "area(1)", 1.5, {"abs_tol": 1e-3}),
    "assert abs(candidate(3.5) - 0.5) < 1e-6": ("abs_diff", "candidate(3.5)", 0.5, {"op": "lt", "tolerance": 1e-6}),
    "assert abs(0.5 - candidate(3.5)) <= 1e-6": ("abs_diff", "candidate(3.5)", 0.5, {"op": "le", "tolerance": 1e-6}),
    "assert _apps_equal(Solution().f([1]), [100])": ("apps_equal", "Solution().f([1])", [100], {}),
}

WHOLE = [
    "x = f()\nassert x == 1",  # two statements
    "assert tuple(f([1])) == tuple(f([1]))",  # the expected side calls the candidate
    "assert f(1) in (1, 2)",  # membership runs the container's code
    "assert 0 < f(1) < 5",  # a chained comparison
    "assert f(1) == 1 and f(2) == 2",  # the child's part would compare
    "assert not f(1) == 2",
    "assert f(1) is 5",  # `is` with a number is CPython's caching, not a value
    "assert f(1) == 10 ** 10 ** 10",  # not folded in the supervisor
    "assert f(1) == 'x' * 10 ** 9",
    "assert f(1) == g(2)",
    "assert f(",  # does not parse: the child reports it
    "f(1)",  # not an assertion
    "assert math.isclose(f(1), g(1))",
]


@pytest.mark.parametrize("code", sorted(SPLITS))
def test_common_test_forms_split_into_a_call_and_an_expected_value(code):
    check = split_test({"kind": "assert", "code": code})
    assert check is not None, code
    kind, expr, expected, options = SPLITS[code]
    assert (check.kind, check.expr, check.options) == (kind, expr, options)
    assert check.expected == expected and type(check.expected) is type(expected)


@pytest.mark.parametrize("code", WHOLE)
def test_other_tests_run_whole_in_the_child(code):
    assert split_test({"kind": "assert", "code": code}) is None


def test_stdio_tests_are_always_judged_outside():
    check = split_test({"kind": "stdio", "stdin": "1\n", "expected_stdout": "2\n"})
    assert check.kind == "stdio" and check.expected == "2\n"
    assert check.judge({"stdout": "2"})[0] is Outcome.PASSED
    assert check.judge({"stdout": "3"})[:2] == (Outcome.WRONG_ANSWER, "OutputMismatch")
    assert check.judge({})[:2] == (Outcome.CRASHED, "HarnessTampering")


# -- values across the boundary ------------------------------------------------------------------------

class Colour(IntEnum):
    RED = 1


Point = namedtuple("Point", "x y")

PLAIN = [None, True, False, 0, -7, 2 ** 70, -(2 ** 400), 0.0, -0.0, 1.5, math.inf, 1e-300, "", "héllo\n",
         b"\x00\xff", bytearray(b"ab"), 1 + 2j, (), (1, (2, [3])), [], [1, "a", None], {1, 2}, frozenset({3}),
         {"a": [1, {2: (3,)}]}, {(1, 2): {4}}, Counter("abca"), OrderedDict([("b", 1), ("a", 2)]),
         deque([1, 2]), Fraction(3, 7), Decimal("1.10")]


@pytest.mark.parametrize("value", PLAIN, ids=repr)
def test_plain_values_cross_unchanged(value):
    back = roundtrip(value)
    assert type(back) is type(value) and (back == value or value != value)


def test_subclasses_cross_as_the_builtin_value_they_hold():
    assert type(roundtrip(Colour.RED)) is int and roundtrip(Colour.RED) == 1
    assert roundtrip(Point(1, 2)) == (1, 2) and type(roundtrip(Point(1, 2))) is tuple
    assert roundtrip(defaultdict(list, a=[1])) == {"a": [1]}
    assert math.isnan(roundtrip(float("nan")))


def test_a_value_never_runs_its_own_comparison_or_iteration():
    class Liar(list):
        def __eq__(self, other):
            return True

        def __iter__(self):
            return iter([9, 9, 9])

        __hash__ = None

    assert roundtrip(Liar([1, 2])) == [1, 2]

    class Claims:
        __class__ = property(lambda self: int)  # isinstance(Claims(), int) is True

        def __index__(self):
            raise AssertionError("never asked")

    assert encode(Claims())["unsupported"] == "test_a_value_never_runs_its_own_comparison_or_iteration.<locals>.Claims"


def test_what_is_not_plain_data_is_named_and_its_truth_kept():
    class Thing:
        def __bool__(self):
            return False

    marker = encode(Thing())
    assert marker["unsupported"].endswith("Thing") and marker["truth"] is False
    assert encode(iter([]))["truth"] is True


def test_values_larger_than_any_expected_one_are_marked_not_sent():
    assert encode("x" * (MAX_UNITS + 1)) == {"too_big": 1}
    loop: list = []
    loop.append(loop)
    assert encode(loop) == {"too_big": 1}
    assert encode(list(range(1000))) == list(range(1000))


@pytest.mark.parametrize("forged", [{"t": 1}, {"s": [[1]]}, {"d": [[1]]}, {"q": 1}, {"t": [], "s": []},
                                    {"b": "!!"}, {"i": "xyz"}, {"fr": [1, 0]}, {"c": [1, 2]}, {"dec": 5}])
def test_malformed_encodings_are_rejected(forged):
    with pytest.raises(ValueError):
        decode(forged)


# -- the comparison outside says what it says inside ---------------------------------------------------

VALUES = [None, True, False, 0, 1, 2, -1, 1.0, 0.5, math.nan, 3 + 0j, "", "a", "ab", b"a", (), (1,), (1, 2),
          [], [1], [1, 2], [[1]], {1}, frozenset({1}), {}, {1: 2}, {"a": 1}, Counter(a=1), Fraction(1, 2),
          Decimal("0.5"), deque([1])]
EXPECTED = [None, True, False, 0, 1, 2, 1.0, 0.5, "a", (1,), (1, 2), [1], [1, 2], {1}, {1: 2}, {"a": 1}, ()]
OPS = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
       "ge": operator.ge}


def in_process(test) -> Outcome:
    try:
        return Outcome.PASSED if test() else Outcome.WRONG_ANSWER
    except TypeError:
        return Outcome.RUNTIME_ERROR


def test_comparisons_agree_with_python_in_process_for_every_plain_pair():
    checked = 0
    for value, expected, (name, op) in itertools.product(VALUES, EXPECTED, OPS.items()):
        want = in_process(lambda: op(value, expected))
        got = Check("compare", "f()", expected, op=name).judge(frame_for(value))[0]
        assert got is want, (value, name, expected)
        checked += 1
    for value in VALUES:
        for expected in (True, False):
            assert Check("truth", "f()", expected).judge(frame_for(value))[0] is in_process(
                lambda: bool(value) is expected), value
        for singleton in (None, True, False):
            assert Check("compare", "f()", singleton, op="is").judge(frame_for(value))[0] is in_process(
                lambda: value is singleton), value
    assert checked == len(VALUES) * len(EXPECTED) * len(OPS)


def test_tolerances_agree_with_python_in_process():
    for value in (0.5, 0.5000001, 0.51, 1, "0.5", None, [0.5]):
        assert Check("isclose", "f()", 0.5, rel_tol=1e-3).judge(frame_for(value))[0] is in_process(
            lambda: math.isclose(value, 0.5, rel_tol=1e-3)), value
        assert Check("abs_diff", "f()", 0.5, op="lt", tolerance=1e-6).judge(frame_for(value))[0] is in_process(
            lambda: abs(value - 0.5) < 1e-6), value


def test_apps_comparison_counts_a_tuple_as_a_list_and_unwraps_the_expected_value():
    check = Check("apps_equal", "f()", [[1, 2]])
    assert check.judge(frame_for([1, 2]))[0] is Outcome.PASSED
    assert check.judge(frame_for((1, 2)))[0] is Outcome.PASSED
    assert check.judge(frame_for([1, 3]))[0] is Outcome.WRONG_ANSWER


def test_markers_get_the_verdicts_their_values_would():
    eq = Check("compare", "f()", [1], op="eq")
    big = {"index": 0, "outcome": "passed", "value": {"too_big": 1}}
    assert eq.judge(big)[0] is Outcome.WRONG_ANSWER
    assert Check("compare", "f()", [1], op="ne").judge(big)[0] is Outcome.PASSED
    assert Check("truth", "f()", True).judge(big)[0] is Outcome.PASSED
    other = {"index": 0, "outcome": "passed", "value": {"unsupported": "Match", "truth": True}}
    assert eq.judge(other)[:2] == (Outcome.WRONG_ANSWER, "UncomparableValue")
    assert Check("truth", "f()", True).judge(other)[0] is Outcome.PASSED  # assert re.match(...)
    assert Check("truth", "f()", False).judge(other)[0] is Outcome.WRONG_ANSWER


# -- what a frame may carry into a result -------------------------------------------------------------

def test_a_result_keeps_only_known_fields_and_never_an_infra_error_claimed_by_the_program():
    test = {"kind": "assert", "code": "assert f() == 1"}
    check = split_test(test)
    forged = {"index": 0, "outcome": "infra_error", "steps": "many", "checked_outside": True, "extra": 1}
    r = final_result(forged, None, test, test)
    assert r["outcome"] == "crashed" and r["error_type"] == "HarnessTampering"
    assert r["checked_outside"] is False and r["steps"] is None and "extra" not in r
    r = final_result({"index": 0, "outcome": "passed", "value": 2}, check, test, {})
    assert (r["outcome"], r["error_message"], r["checked_outside"]) == ("wrong_answer", "got 2", True)
    r = final_result({"index": 0, "outcome": "runtime_error", "error_type": "KeyError"}, check, test, {})
    assert (r["outcome"], r["error_type"]) == ("runtime_error", "KeyError")


def test_a_traced_split_test_names_the_test_and_its_real_verdict():
    test = {"kind": "assert", "code": "assert f() == 1", "display": "f()"}
    trace = "Test Case: f()\nExecution Trace:\n[L1] call:\n[L2] return: 2\nTest Result: PASS"
    r = final_result({"index": 0, "outcome": "passed", "value": 2, "trace": trace}, split_test(test), test, {})
    assert r["trace"].splitlines()[0] == "Test Case: f()" and r["trace"].endswith("Test Result: FAIL")
    r = final_result({"index": 0, "outcome": "passed", "value": 2, "trace": "forged"}, split_test(test), test, {})
    assert "trace" not in r


def test_a_value_or_trace_that_breaks_the_supervisor_is_the_programs_failure():
    test = {"kind": "assert", "code": "assert f() == [1]"}
    deep = {"t": [1]}
    for _ in range(5000):  # deeper than the comparison can recurse
        deep = [deep]
    r = final_result({"index": 0, "outcome": "passed", "value": deep}, split_test(test), test, {})
    assert r["outcome"] == "crashed" and r["error_type"] == "HarnessTampering"
    forged = {"steps": 1, "dropped": 0, "max_events": 10, "incomplete": None, "skeleton": [[1, "line", "f", 0, "", 0]],
              "events": [[0, {"line_number": 1, "event_type": "line", "function": "f", "variable_states": 7}]]}
    r = final_result({"index": 0, "outcome": "passed", "value": [1], "trace": forged}, split_test(test), test, {})
    assert r["outcome"] == "passed" and "trace" not in r  # the trace is dropped, the verdict stands
