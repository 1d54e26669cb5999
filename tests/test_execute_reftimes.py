"""Per-test limits derived from the reference's own time (eta.execute.reftimes): a looping program is cut
at its test's derived limit, well under the fixed one; a test on which the reference is slow keeps a limit
the reference passes under; times are cached by task content. Standard library only (runs on 3.12 too)."""

from __future__ import annotations

import dataclasses

import pytest

from eta.execute import Executor, Job, Limits, Outcome
from eta.execute import reftimes
from eta.execute.batch import result_key
from eta.execute.reftimes import DerivedLimits, per_test_limits, reference_times
from eta.tasks.schema import CompletionMode, Task, TestCase

FIXED = Limits(timeout_s=12, test_timeout_s=5.0, memory_mb=512)
FAST = DerivedLimits(floor_s=0.3, factor=4.0)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(reftimes.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "ref_times"


def task(reference: str, tests: list[str], task_id: str = "T/0") -> Task:
    return Task(task_id=task_id, prompt="", reference=reference, tests=tuple(TestCase(code=c) for c in tests),
                entry_point="f", completion_mode=CompletionMode.FULL)


INC = task("def f(x):\n    return x + 1\n", ["assert f(1) == 2", "assert f(2) == 3", "assert f(-1) == 0"])
SLOW = task("import time\n\ndef f(x):\n    time.sleep(x)\n    return x\n",
            ["assert f(0.4) == 0.4", "assert f(0) == 0"], task_id="T/slow")


def run(job: Job):
    with Executor(workers=1, limits=FIXED) as ex:
        return ex.map([job])[0]


def test_a_looping_program_is_cut_at_its_derived_limit_not_the_fixed_one():
    limits = per_test_limits([INC], FIXED, FAST, workers=1)["T/0"]
    assert limits == [FAST.floor_s] * 3  # the reference takes microseconds: the floor decides
    loop = "def f(x):\n    if x == -1:\n        while True:\n            pass\n    return x + 1\n"
    r = run(Job.for_task(INC, loop, test_timeouts=limits))
    assert [t.outcome for t in r.tests] == [Outcome.PASSED, Outcome.PASSED, Outcome.TIMEOUT]
    assert r.duration_s < FIXED.test_timeout_s / 2, r.duration_s  # cut near 0.3 s, not at 5 s


def test_the_first_test_past_its_derived_limit_ends_the_program():
    limits = per_test_limits([INC], FIXED, FAST, workers=1)["T/0"]
    loop = "def f(x):\n    while True:\n        pass\n"
    r = run(Job.for_task(INC, loop, test_timeouts=limits))
    assert [t.outcome for t in r.tests] == [Outcome.TIMEOUT] * 3
    assert [t.error_message for t in r.tests[1:]] == ["not run: an earlier test ran past its time limit"] * 2
    assert r.duration_s < 2 * FAST.floor_s + 0.5, r.duration_s  # one limit spent, not three


def test_a_loop_that_swallows_the_soft_timeout_is_still_killed_at_the_derived_limit():
    limits = per_test_limits([INC], FIXED, FAST, workers=1)["T/0"]
    stubborn = ("def f(x):\n    while True:\n        try:\n            while True:\n                pass\n"
                "        except BaseException:\n            pass\n")
    r = run(Job.for_task(INC, stubborn, test_timeouts=limits))
    assert all(t.outcome is Outcome.TIMEOUT for t in r.tests)
    assert r.duration_s < FIXED.test_timeout_s / 2, r.duration_s  # killed at the derived limit, then no more tests


def test_a_slow_reference_keeps_a_limit_it_passes_under_and_only_its_slow_test_gets_it():
    limits = per_test_limits([SLOW], FIXED, FAST, workers=1)["T/slow"]
    assert limits[0] >= FAST.factor * 0.4 and limits[1] == FAST.floor_s
    assert run(Job.for_task(SLOW, SLOW.reference, test_timeouts=limits)).passed
    # The same sleep on the fast test is past that test's own limit.
    slow_everywhere = "import time\n\ndef f(x):\n    time.sleep(0.4 if x == 0 else x)\n    return x\n"
    r = run(Job.for_task(SLOW, slow_everywhere, test_timeouts=limits))
    assert [t.outcome for t in r.tests] == [Outcome.PASSED, Outcome.TIMEOUT]


def test_derived_limits_stay_under_the_program_timeout():
    assert DerivedLimits(floor_s=1.0, factor=1000.0).derive([0.5, 0.001], FIXED) == [FIXED.timeout_s, 1.0]


def test_times_are_measured_once_and_remeasured_when_the_task_changes(cache, monkeypatch):
    measured: list[list[str]] = []
    real = reftimes._measure

    def counting(tasks, limits, workers):
        measured.append([t.task_id for t in tasks])
        return real(tasks, limits, workers)

    monkeypatch.setattr(reftimes, "_measure", counting)
    first = reference_times([INC], FIXED, workers=1)
    again = reference_times([INC], FIXED, workers=1)
    assert measured == [["T/0"]] and again == first and len(list(cache.iterdir())) == 1  # a hit
    changed = dataclasses.replace(INC, tests=INC.tests + (TestCase(code="assert f(9) == 10"),))
    times = reference_times([changed], FIXED, workers=1)
    assert measured == [["T/0"], ["T/0"]] and len(times["T/0"]) == 4  # a miss: new content, new entry
    assert len(list(cache.iterdir())) == 2


def test_a_torn_cache_entry_is_measured_again(cache, monkeypatch):
    reference_times([INC], FIXED, workers=1)
    (entry,) = cache.iterdir()
    entry.write_text('{"times": [0.1')
    calls = []
    monkeypatch.setattr(reftimes, "_measure", lambda tasks, limits, workers: calls.append(1) or {"T/0": [0.0] * 3})
    assert reference_times([INC], FIXED, workers=1) == {"T/0": [0.0] * 3} and calls == [1]


def test_tasks_without_a_working_reference_keep_the_fixed_limits():
    none = dataclasses.replace(INC, task_id="T/none", reference="", metadata={"has_reference": False})
    broken = dataclasses.replace(INC, task_id="T/broken", reference="def f(x):\n    return x\n")
    assert per_test_limits([none, broken, INC], FIXED, FAST, workers=1).keys() == {"T/0"}
    assert per_test_limits([INC], FIXED, None) == {}  # the dataset turned derived limits off


def test_a_job_rejects_per_test_limits_that_do_not_fit_its_tests():
    with pytest.raises(ValueError, match="one positive number per test"):
        Job.for_task(INC, INC.reference, test_timeouts=[1.0])
    with pytest.raises(ValueError, match="one positive number per test"):
        Job.for_task(INC, INC.reference, test_timeouts=[1.0, 0.0, 1.0])


def test_a_stored_verdict_is_not_reused_under_other_per_test_limits():
    keys = {result_key(INC, "x", FIXED, None, limits) for limits in (None, [1.0] * 3, [2.0] * 3)}
    assert len(keys) == 3


def test_config_keys_turn_derived_limits_on_and_off():
    assert reftimes.from_config({"test_time_floor_s": 0.5, "test_time_factor": 2}) == DerivedLimits(0.5, 2.0)
    assert reftimes.from_config({"test_time_floor_s": None, "test_time_factor": 4.0}) is None
    with pytest.raises(ValueError, match="positive"):
        reftimes.from_config({"test_time_floor_s": 0, "test_time_factor": 4.0})
