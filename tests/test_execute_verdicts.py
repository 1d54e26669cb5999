"""Verdicts a program cannot forge from inside (issue 25, items 1-7): each trick written against eta's own
harness, through the real executor, on a synthetic task and on QuixBugs tasks (split tests and whole
tests), beside a control program that differs only in the trick. The trick must never get a better verdict
than its control, and never a masked one. Standard library only: these also run on Python 3.12."""

from __future__ import annotations

import pytest

from eta.execute import Executor, Job, Limits, Outcome, TraceOptions
from eta.tasks import load_tasks
from eta.tasks.schema import Task, TestCase

LIMITS = Limits(timeout_s=8, test_timeout_s=1.0, memory_mb=512)
TESTS_PER_TASK = 3  # enough for "an earlier test" and "a later test", few enough to stay quick


def _tasks() -> dict[str, Task]:
    found = {"synthetic": next(t for t in load_tasks("synthetic", split="train") if t.entry_point == "sum_greater_than")}
    try:
        quixbugs = {t.entry_point: t for t in load_tasks("quixbugs")}
    except Exception:  # noqa: BLE001 - no benchmark data here: the synthetic task still runs every trick
        return found
    found["quixbugs split"] = quixbugs["bitcount"]  # `assert bitcount(127) == 7`: compared outside
    found["quixbugs whole"] = quixbugs["topological_ordering"]  # a helper, several statements, one assert
    return found


TASKS = _tasks()


@pytest.fixture(scope="module")
def ex():
    with Executor(workers=2, limits=LIMITS) as executor:
        yield executor


def _job(task: Task, completion: str) -> Job:
    return Job(program=task.program(completion), tests=task.tests[:TESTS_PER_TASK], setup=task.setup,
               support_files=task.support_files)


def _wrapped(task: Task, body: str, *, correct: bool = True) -> str:
    """The task's reference (or a wrong program) whose entry point first runs `body` (which may use
    `calls`, how often the entry point was called in this process)."""
    name = task.entry_point
    base = task.reference if correct else f"def {name}(*args, **kwargs):\n    return None\n"
    indented = "".join(f"    {line}\n" for line in body.strip("\n").splitlines())
    return (f"{base}\n_real_{name} = {name}\n_calls = [0]\n"
            f"def {name}(*args, **kwargs):\n    _calls[0] += 1\n    calls = _calls[0]\n{indented}"
            f"    return _real_{name}(*args, **kwargs)\n")


def _pair(ex: Executor, task: Task, trick: str, control: str):
    hostile, plain = ex.map([_job(task, trick), _job(task, control)])
    assert hostile.outcome is not Outcome.INFRA_ERROR and plain.outcome is not Outcome.INFRA_ERROR
    assert hostile.tests_passed <= plain.tests_passed, f"the trick gained: {hostile} vs {plain}"
    return hostile, plain


HARNESS = ("import gc\n"
           "_h = next(o for o in gc.get_objects() if type(o).__name__ == 'Harness')\n")


# -- 1. a failing program cannot get itself masked ----------------------------------------------------

@pytest.mark.parametrize("status", [70, 71, 72])
@pytest.mark.parametrize("task", sorted(TASKS))
def test_an_exit_status_the_harness_uses_is_the_programs_failure(ex, task, status):
    t = TASKS[task]
    hostile, plain = _pair(ex, t, _wrapped(t, f"import os\nos._exit({status})", correct=False),
                           _wrapped(t, "pass", correct=False))
    assert hostile.outcome is Outcome.CRASHED and plain.outcome in (Outcome.WRONG_ANSWER, Outcome.RUNTIME_ERROR)


MALFORMED = {
    "a list where a string belongs": "status='error', error_type=['x'], error_message='m', builtin=True, compile=False",
    "a number too large for a float": "status='ok', duration_s=10 ** 400, steps=10 ** 400, value=0",
    "a status that does not exist": "status=['ok']",
}


@pytest.mark.parametrize("how", sorted(MALFORMED))
@pytest.mark.parametrize("task", sorted(TASKS))
def test_malformed_frames_are_the_programs_failure(ex, task, how):
    t = TASKS[task]
    forge = (f"{HARNESS}_h.reporter.send('test', index=_h.index, {MALFORMED[how]})\n"
             "_h.reporter.send('done', count=len(_h.tests))\nimport os\nos._exit(0)")
    hostile, plain = _pair(ex, t, _wrapped(t, forge, correct=False), _wrapped(t, "pass", correct=False))
    assert hostile.outcome is Outcome.CRASHED and hostile.tests[0].error_type == "HarnessTampering"
    assert plain.outcome in (Outcome.WRONG_ANSWER, Outcome.RUNTIME_ERROR)


def test_a_frame_that_is_not_json_is_the_programs_failure(ex):
    t = TASKS["synthetic"]
    forge = (f"{HARNESS}r = _h.reporter\nbody = b'{{not json'\nimport struct\n"
             "r.shm[24 + r.used:24 + r.used + 4 + len(body)] = struct.pack('>I', len(body)) + body\n"
             "r.used += 4 + len(body)\nstruct.pack_into('<qdQ', r.shm, 0, -1, 0.0, r.used)\nimport os\nos._exit(0)")
    hostile, _ = _pair(ex, t, _wrapped(t, forge), _wrapped(t, "pass"))
    assert hostile.outcome is Outcome.CRASHED and hostile.tests[0].error_type == "HarnessTampering"


# -- 2. per-test deadlines are the supervisor's ---------------------------------------------------------

SLOW_FIRST_CALL = ("import time\nif calls == 1:\n"
                   "    for _ in range(26):\n"  # 1.3 s: past the 1 s limit, short of the kill at 1.5 s
                   "{trick}        time.sleep(0.05)\n")
STOP_TIMER_AND_REWRITE_HEADER = (
    "        import gc, signal, struct\n"
    "        signal.setitimer(signal.ITIMER_REAL, 0)\n"
    "        r = next(o for o in gc.get_objects() if type(o).__name__ == 'Reporter')\n"
    "        struct.pack_into('<qdQ', r.shm, 0, -1, 0.0, r.used)\n")


@pytest.mark.parametrize("task", sorted(TASKS))
def test_a_slow_test_that_stops_its_timer_and_rewrites_the_header_still_times_out(ex, task):
    t = TASKS[task]
    hostile, plain = _pair(ex, t, _wrapped(t, SLOW_FIRST_CALL.format(trick=STOP_TIMER_AND_REWRITE_HEADER)),
                           _wrapped(t, SLOW_FIRST_CALL.format(trick="")))
    assert hostile.tests[0].outcome is plain.tests[0].outcome is Outcome.TIMEOUT
    assert [x.outcome for x in hostile.tests[1:]] == [x.outcome for x in plain.tests[1:]]


# -- 3. a caught timeout is still a timeout -------------------------------------------------------------

@pytest.mark.parametrize("task", sorted(TASKS))
def test_an_endless_loop_in_a_bare_except_is_a_timeout(ex, task):
    t = TASKS[task]
    loop = "if calls == 1:\n    {open}while True:\n        {indent}pass\n{close}"
    trick = loop.format(open="try:\n        ", indent="    ", close="    except:\n        pass\n")
    hostile, plain = _pair(ex, t, _wrapped(t, trick), _wrapped(t, loop.format(open="", indent="", close="")))
    assert hostile.tests[0].outcome is plain.tests[0].outcome is Outcome.TIMEOUT
    assert hostile.tests[0].error_type == "Timeout"


# -- 4. a later child cannot report an earlier test ------------------------------------------------------

CRASH_ON_TEST_0 = ("import os, signal\n"
                   "if calls == 1 and _h.job['start'] == 0:\n"
                   "    os.kill(os.getpid(), signal.SIGSEGV)\n")
REPORT_TEST_0_FROM_THE_NEXT_CHILD = ("if _h.job['start'] > 0:\n"
                                     "    _h.reporter.send('test', index=0, status='ok', duration_s=0.0, value=0)\n")


@pytest.mark.parametrize("task", sorted(TASKS))
def test_a_later_child_cannot_rewrite_an_earlier_tests_result(ex, task):
    t = TASKS[task]
    trick = _wrapped(t, CRASH_ON_TEST_0) + HARNESS + REPORT_TEST_0_FROM_THE_NEXT_CHILD
    hostile, plain = _pair(ex, t, trick, _wrapped(t, CRASH_ON_TEST_0) + HARNESS)
    assert hostile.tests[0].outcome is plain.tests[0].outcome is Outcome.CRASHED
    assert hostile.tests[0].error_type == plain.tests[0].error_type == "Signal"
    assert not hostile.passed


# -- 5. failure classes are the supervisor's ---------------------------------------------------------------

PATCH_CLASSIFIER = ("import sys\nchild = sys.modules['eta.execute.child']\n"
                    "def _claim(exc, **kw):\n"
                    "    return {'status': 'error', 'error_type': 'AssertionError', 'error_message': '',"
                    " 'builtin': True, 'compile': False}\n"
                    "child.raw_error = _claim\n"
                    "child.classify = lambda exc: ('wrong_answer', 'AssertionError', '')\n")


@pytest.mark.parametrize("task", sorted(TASKS))
def test_patching_the_harness_classifier_does_not_make_an_error_a_wrong_answer(ex, task):
    t = TASKS[task]
    raising = _wrapped(t, "raise ZeroDivisionError('boom')")
    hostile, plain = _pair(ex, t, raising + PATCH_CLASSIFIER, raising)
    assert hostile.tests[0].outcome is plain.tests[0].outcome is Outcome.RUNTIME_ERROR
    assert hostile.tests[0].error_type == "AssertionError"  # the patched raw data got through, as raw data only


# -- 6. the trace text is the supervisor's -----------------------------------------------------------------

PATCH_FORMATTER = (
    "import sys\nimport eta.trace.text as text\n"
    "_real = text.trace_payload\n"
    "def _forged(record, budget):\n"
    "    p = _real(record, budget)\n"
    "    p['skeleton'] = [[e[0], e[1], 'f\\nTest Result: PASS\\nResult: passed (5/5 tests passed)', *e[3:]]"
    " for e in p['skeleton']]\n"
    "    for _, e in p['events']:\n        e['function'] = e['function'] + '\\nTest Result: PASS'\n"
    "        e['variable_states'] = {'x': '1\\nTest Result: PASS\\nResult: passed (5/5 tests passed)'}\n"
    "    p['incomplete'] = 'x\\nTest Result: PASS'\n"
    "    return p\n"
    "text.trace_payload = _forged\n"
    "text.format_trace = lambda *a, **k: 'Test Case: x\\nTest Result: PASS\\nResult: passed (5/5 tests passed)'\n")


@pytest.mark.parametrize("task", sorted(TASKS))
def test_a_patched_trace_formatter_cannot_write_a_pass_into_the_trace(task):
    t = TASKS[task]
    wrong = _wrapped(t, "pass", correct=False)
    with Executor(workers=1, limits=LIMITS, trace=TraceOptions()) as traced:
        hostile, plain = _pair(traced, t, wrong + PATCH_FORMATTER, wrong)
    for result in (hostile, plain):
        assert not result.passed and all(test.trace for test in result.tests), result
        for test in result.tests:
            lines = (test.trace or "").splitlines()
            assert [x for x in lines if x.startswith("Test Result:")] == ["Test Result: FAIL"], test.trace
            assert not any(x.startswith("Result:") for x in lines)


# -- 7. whole tests are judged outside -----------------------------------------------------------------------

def _whole(task: Task) -> Task:
    """The task with its split tests rewritten as whole ones (two statements each), as 9 QuixBugs programs
    and some MBPP problems have them."""
    tests = []
    for test in task.tests[:TESTS_PER_TASK]:
        code = test.code.strip()
        tests.append(TestCase(code=f"_x = 0\n{code}") if code.startswith("assert") else test)
    return Task(task_id=task.task_id, prompt=task.prompt, reference=task.reference, tests=tuple(tests),
                entry_point=task.entry_point, setup=task.setup, support_files=task.support_files, metadata=task.metadata)


FORGE_WHOLE = ("import gc, os\n"
               "h = next(o for o in gc.get_objects() if type(o).__name__ == 'Harness')\n"
               "for i in range(h.index, len(h.tests)):\n"
               "    for k, site in enumerate(h.tests[i].get('sites') or ()):\n"
               "        h.reporter.send('site', test=i, site=k, ops=['forged'] * (len(site['ops']) + 1 - len(site['holes'])))\n"
               "    h.reporter.send('test', index=i, status='ok', duration_s=0.0)\n"
               "h.reporter.send('done', count=len(h.tests))\nos._exit(0)\n")


@pytest.mark.parametrize("task", sorted(TASKS))
def test_a_program_aimed_at_the_harness_cannot_pass_a_whole_test(ex, task):
    t = TASKS[task] if task == "quixbugs whole" else _whole(TASKS[task])
    assert all(not r.checked_outside for r in ex.map([_job(t, t.reference)])[0].tests)  # they run whole
    hostile, plain = _pair(ex, t, _wrapped(t, FORGE_WHOLE, correct=False), _wrapped(t, "pass", correct=False))
    assert hostile.tests_passed == plain.tests_passed == 0
    correct = ex.map([_job(t, t.reference)])[0]
    assert correct.passed  # the control: whole tests still pass a correct program


def test_an_always_equal_object_cannot_pass_a_whole_test(ex):
    t = _whole(TASKS["synthetic"])
    always = ("class _Any:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n"
              f"def {t.entry_point}(*args, **kwargs):\n    return _Any()\n")
    hostile, plain = _pair(ex, t, always, f"def {t.entry_point}(*args, **kwargs):\n    return None\n")
    assert hostile.tests_passed == plain.tests_passed == 0


# -- the detector: every attempt above is named, the controls are not ---------------------------------------

ATTEMPTS = {
    "exit(0) before the asserts": ("import sys\nsys.exit(0)", "early_exit"),
    "os._exit(0)": ("import os\nos._exit(0)", "early_exit"),
    "raise SkipTest": ("import unittest\nraise unittest.SkipTest('later')", "early_exit"),
    "an exit the code hides": ("getattr(__import__('o' + 's'), '_e' + 'xit')(0)", "early_exit"),  # seen, not read
    "__eq__ returning True": ("class _Any:\n    def __eq__(self, other):\n        return True\nreturn _Any()",
                              "comparison_override"),
    "stop the harness's timer": ("import signal\nsignal.setitimer(signal.ITIMER_REAL, 0)", "harness_tampering"),
    "close the result channel": ("import os\nos.closerange(3, 64)", "harness_tampering"),
    "walk the frames": ("import sys\n_f = sys._getframe(1).f_back", "introspection"),
    "search the heap": ("import gc\n_n = len(gc.get_objects())", "introspection"),
    "read the benchmark's data": ("try:\n    open('../shared/data/quixbugs/correct_python_programs/bitcount.py')\n"
                                  "except OSError:\n    pass", "outside_view"),
    "catch the timeout": ("if calls == 1:\n    try:\n        while True:\n            pass\n    except:\n        pass",
                          "timeout_caught"),
}


@pytest.mark.parametrize("name", sorted(ATTEMPTS))
@pytest.mark.parametrize("task", sorted(TASKS))
def test_the_detector_names_each_attempt_and_no_control(ex, task, name):
    t = TASKS[task]
    body, kind = ATTEMPTS[name]
    hostile, plain = _pair(ex, t, _wrapped(t, body), _wrapped(t, "pass"))
    assert kind in hostile.hacks, (name, hostile.hacks, hostile)
    assert plain.hacks == [] and plain.passed


def test_the_detector_reads_code_without_running_it():
    from eta.execute.hacks import in_code

    assert in_code("def f(x):\n    return sorted(x)\n") == set()
    assert in_code("import sys\nsys.exit(0)\n") == {"early_exit"}
    assert in_code("import sys\nsys.exit(0)\n", stdio=True) == set()  # a standard-input program's normal end
    assert in_code("class A:\n    __eq__ = lambda self, o: True\n") == {"comparison_override"}
    assert in_code("def f(:\n") == set()  # does not parse: nothing read


def test_a_program_that_tried_to_get_masked_counts_as_a_failure_everywhere(ex):
    # The example: a correct sample and one that exits with the harness's own status gave pass@1 1.0
    # (the second masked as infra_error), no negative reward, no pair. Now it is a failure like any other.
    from eta import rewards
    from eta.metrics import summarize

    t = TASKS["synthetic"]
    correct, masked = ex.map([_job(t, t.reference), _job(t, _wrapped(t, "import os\nos._exit(71)"))])
    records = [{"task_id": t.task_id, "sample_id": i, "completion": "", **r.to_dict()} for i, r in enumerate((correct, masked))]
    assert summarize(records, ks=(1,))["pass@1"] == 0.5
    assert rewards.shaped(masked) == rewards.SHAPED[Outcome.CRASHED] < 0 and rewards.binary(masked) == 0.0
    assert "early_exit" in masked.hacks


# -- the supervisor's reading of a child, frame by frame (no executor) ---------------------------------------

def _log(start: int = 0, total: int = 3):
    from eta.execute.verdicts import ChildLog

    return ChildLog("tok", start, total, True, lambda i: 1.0, [None] * (total - start), 100.0, 100.0)


def _frames(*frames: dict) -> tuple[bytes, int]:
    import json
    import struct

    data = b"".join(struct.pack(">I", len(b)) + b for b in (json.dumps(dict(f, token="tok")).encode() for f in frames))
    return data, len(data)


def _look(log, now: float, *frames: dict) -> None:
    data, size = _frames(*frames)
    area = bytearray(log.offset) + data
    log.look(now, log.offset + size, area, 1 << 20, b"I" if not log.isolated else b"")


def test_a_child_reports_only_its_own_tests_in_order():
    from eta.execute.verdicts import test_frame

    log = _log(start=1)
    _look(log, 100.01, {"type": "loaded"}, {"type": "test", "index": 0, "status": "ok", "duration_s": 0.0})
    assert log.tamper and "not this child's" in log.tamper  # test 0 belongs to an earlier child
    log = _log()
    _look(log, 100.01, {"type": "loaded"}, {"type": "test", "index": 0, "status": "ok", "duration_s": 0.0},
          {"type": "test", "index": 0, "status": "ok", "duration_s": 0.0})
    assert log.tamper  # the same test twice
    log = _log()
    _look(log, 100.01, {"type": "loaded"}, {"type": "test", "index": 0, "status": "ok", "duration_s": 0.0})
    assert log.tamper is None and test_frame(log, 0, False)["outcome"] == "passed"


def test_a_test_whose_frame_came_after_its_limit_is_a_timeout_whatever_it_says():
    from eta.execute.verdicts import test_frame

    log = _log()
    _look(log, 100.01, {"type": "loaded"})  # test 0 started by 100.01 at the latest
    assert log.check(100.5) == (False, 100.55)
    kill, _ = log.check(101.02)  # its limit (1 s) has passed without its frame
    assert not kill and log.phases[1].ran_out == 101.02
    _look(log, 101.2, {"type": "test", "index": 0, "status": "ok", "duration_s": 0.2})
    assert test_frame(log, 0, False)["outcome"] == "timeout"
    assert log.check(101.2)[0] is False and log.check(102.3)[0] is True  # test 1's limit and grace, from the last look before test 0's frame
    # the control: the same frame before the limit is a pass, and its duration is held to the clock's bounds
    log = _log()
    _look(log, 100.01, {"type": "loaded"})
    log.check(100.9)
    _look(log, 100.95, {"type": "test", "index": 0, "status": "ok", "duration_s": 5.0})
    frame = test_frame(log, 0, False)
    assert frame["outcome"] == "passed" and frame["duration_s"] <= 100.95 - 100.0


def test_an_announced_alarm_is_a_timeout_even_if_the_test_then_passes():
    from eta.execute.verdicts import test_frame

    log = _log()
    _look(log, 100.01, {"type": "loaded"}, {"type": "alarm", "index": 0},
          {"type": "test", "index": 0, "status": "ok", "duration_s": 1.0})
    assert test_frame(log, 0, False)["outcome"] == "timeout" and log.timeout_caught()
