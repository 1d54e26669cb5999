"""The tracer's events: fields, depth, exceptions, the cap, what is traced, and hostile programs."""

from __future__ import annotations

import json
import signal
import sys
import time
from contextlib import contextmanager
from typing import Iterator

import pytest

from eta.trace import TraceConfig, TraceEvent, available_cores, make_tracer
from eta.trace.crosscheck import compare
from eta.trace.run import load, trace_call

EVENT_KEYS = {"line_number", "event_type", "variable_states", "error_info", "return_value", "function", "depth",
              "detail", "frame_id"}


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging if the tracer ever runs a hostile object's code."""
    def expire(*_: object) -> None:
        raise TimeoutError(f"took more than {seconds}s: the tracer ran user code")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_events_have_the_proposal_fields_and_serialise() -> None:
    source = "def f(x):\n    y = x * 2\n    return y\n"
    record, value, error = trace_call(load(source), "f(21)")
    assert (value, error) == (42, None)
    assert [(e.event_type, e.line_number) for e in record.events] == \
        [("call", 1), ("line", 2), ("line", 3), ("return", 3)]
    call, _, last_line, ret = record.events
    assert call.variable_states == {"x": "21"} and last_line.variable_states == {"x": "21", "y": "42"}
    assert ret.return_value == "42" and ret.variable_states == {} and ret.error_info is None
    assert {e.function for e in record.events} == {"f"} and {e.depth for e in record.events} == {0}
    payload = json.loads(json.dumps(record.to_dict()))
    assert payload["steps"] == record.steps == 2 and payload["dropped"] == 0
    assert all(set(e) == EVENT_KEYS for e in payload["events"])
    assert TraceEvent.from_dict(payload["events"][2]) == last_line


def test_recursion_depth_and_frames() -> None:
    source = "def fact(n):\n    if n <= 1:\n        return 1\n    return n * fact(n - 1)\n"
    record, value, _ = trace_call(load(source), "fact(4)")
    assert value == 24
    calls = [e for e in record.events if e.event_type == "call"]
    assert [(e.depth, e.variable_states["n"]) for e in calls] == [(0, "4"), (1, "3"), (2, "2"), (3, "1")]
    assert len({e.frame_id for e in calls}) == 4
    returns = [(e.depth, e.return_value) for e in record.events if e.event_type == "return"]
    assert returns == [(3, "1"), (2, "2"), (1, "6"), (0, "24")]
    for e in record.events:  # every event carries its own frame's depth
        assert e.depth == next(c.depth for c in calls if c.frame_id == e.frame_id)


def test_uncaught_exception_details() -> None:
    source = "def inner(d):\n    return d['missing']\n\ndef outer():\n    return inner({'a': 1})\n"
    record, _, error = trace_call(load(source), "outer()")
    assert isinstance(error, KeyError)
    raised = [e for e in record.events if e.event_type == "exception"]
    assert [(e.function, e.line_number) for e in raised] == [("inner", 2), ("outer", 5)]
    assert raised[0].error_info == {"error_type": "KeyError", "error_message": "'missing'",
                                    "traceback": ["line 2, in inner"]}
    assert raised[1].error_info["traceback"] == ["line 5, in outer", "line 2, in inner"]
    unwound = [e for e in record.events if e.detail == "unwind"]
    assert [(e.function, e.return_value) for e in unwound] == [("inner", None), ("outer", None)]


def test_exception_caught_inside_the_candidate() -> None:
    source = ("def safe(x):\n    try:\n        return 10 // x\n    except ZeroDivisionError as e:\n"
              "        msg = 'no'\n    return msg\n")
    record, value, error = trace_call(load(source), "safe(0)")
    assert (value, error) == ("no", None)
    kinds = [(e.event_type, e.line_number) for e in record.events]
    assert kinds == [("call", 1), ("line", 2), ("line", 3), ("exception", 3), ("line", 4), ("line", 5),
                     ("line", 6), ("return", 6)]
    assert "e" not in record.events[4].variable_states  # the except line binds it
    assert record.events[5].variable_states["e"] == "ZeroDivisionError('integer division or modulo by zero')"
    assert "e" not in record.events[6].variable_states  # and the end of the handler unbinds it
    assert record.events[-1].detail == "" and record.events[-1].return_value == "'no'"


def test_cap_keeps_counting_steps() -> None:
    source = "def spin(n):\n    t = 0\n    for i in range(n):\n        t += i\n    return t\n"
    full, _, _ = trace_call(load(source), "spin(3000)", TraceConfig(max_events=100_000))
    capped, value, _ = trace_call(load(source), "spin(3000)", TraceConfig(max_events=50))
    assert value == sum(range(3000))
    assert len(capped.events) == 50 and capped.steps == full.steps == 6003
    assert capped.dropped == len(full.events) - 50
    assert [e.to_dict() for e in capped.events] == [e.to_dict() for e in full.events[:50]]


def test_errors_past_the_cap_are_kept_without_variables() -> None:
    source = "def spin(n):\n    for i in range(n):\n        pass\n    raise ValueError(n)\n"
    record, _, error = trace_call(load(source), "spin(100)", TraceConfig(max_events=10, tail_errors=1))
    assert isinstance(error, ValueError) and len(record.events) == 11
    tail = record.events[-1]
    assert (tail.event_type, tail.line_number, tail.variable_states) == ("exception", 4, {})
    assert tail.error_info["error_message"] == "100"


def test_only_candidate_frames_are_traced() -> None:
    source = '''import json
from collections import Counter
def work(xs):
    counts = Counter(xs)
    text = json.dumps(sorted(counts))
    return helper(text)
'''
    namespace = load(source)
    exec(compile("def helper(t):\n    return len(t)\n", "<test>", "exec"), namespace)
    record, value, _ = trace_call(namespace, "work([1, 2, 2])")
    assert value == 6
    assert {e.function for e in record.events} == {"work"}
    assert {e.line_number for e in record.events} <= {3, 4, 5, 6}


def test_lambdas_comprehensions_and_closures_are_traced() -> None:
    source = "def f(xs):\n    key = lambda v: -v\n    return sorted([x for x in xs], key=key)\n"
    record, value, _ = trace_call(load(source), "f([2, 3])")
    assert value == [3, 2]
    functions = {e.function for e in record.events}
    assert "<lambda>" in functions and "f" in functions
    lambda_calls = [e for e in record.events if e.function == "<lambda>" and e.event_type == "call"]
    assert [e.variable_states for e in lambda_calls] == [{"v": "2"}, {"v": "3"}]


def test_hostile_objects_neither_hang_nor_break_the_trace() -> None:
    source = '''class Loop:
    def __repr__(self):
        while True:
            pass
    __str__ = __repr__
class Raise:
    def __repr__(self):
        raise RuntimeError("no")
    def __eq__(self, other):
        while True:
            pass
    __hash__ = object.__hash__
    @property
    def __class__(self):
        raise RuntimeError("no class")
class Meta(type):
    @property
    def __name__(cls):
        while True:
            pass
class Weird(metaclass=Meta):
    pass
def run():
    a = Loop()
    b = [Raise(), Loop()]
    b[0] = Raise()
    c = {Raise(): Weird()}
    d = Weird
    e = ValueError(Loop())
    raise KeyError(Loop())
'''
    with deadline(10):
        record, _, error = trace_call(load(source), "run()")
        text = json.dumps(record.to_dict())
    assert isinstance(error, KeyError)
    last = [e for e in record.events if e.event_type == "line"][-1].variable_states
    assert last == {"a": "<Loop object>", "b": "[<Raise object>, <Loop object>]",
                    "c": "{<Raise object>: <Weird object>}", "d": "<class Weird>",
                    "e": "ValueError(<Loop object>)"}
    raised = [e for e in record.events if e.event_type == "exception"][0]
    assert raised.error_info["error_type"] == "KeyError"
    assert raised.error_info["error_message"] == "<Loop object>"
    assert "while True" not in text


def test_huge_values_are_bounded_in_size_and_time() -> None:
    source = '''def big():
    n = 10 ** 200000
    s = "ab" * 1_000_000
    xs = list(range(1_000_000))
    nested = [[[[[1]]]]] * 5000
    d = {i: [i] * 100 for i in range(300)}
    return n
'''
    config = TraceConfig(max_value_chars=60, max_items=4)
    namespace = load(source)
    t0 = time.perf_counter()
    record, _, _ = trace_call(namespace, "big()", config)
    states = [e for e in record.events if e.function == "big" and e.event_type == "line"][-1].variable_states
    assert time.perf_counter() - t0 < 5
    assert all(len(v) <= 60 for v in states.values())
    assert states["n"] == "<int of ~200001 digits>"
    assert states["xs"] == "[0, 1, 2, 3, ...(+999996)]"
    assert states["nested"] == "[[[...]], [[...]], [[...]], [[...]], ...(+4996)]"
    assert states["s"].startswith("'abab") and states["s"].endswith("...")
    assert record.events[-1].return_value == "<int of ~200001 digits>"


def test_containers_are_captured_when_seen_not_when_rendered() -> None:
    source = "def grow():\n    xs = []\n    xs.append(1)\n    xs.append(2)\n    xs.clear()\n    return xs\n"
    record, _, _ = trace_call(load(source), "grow()")
    shown = [e.variable_states.get("xs") for e in record.events if e.event_type == "line"]
    assert shown == [None, "[]", "[1]", "[1, 2]", "[]"]


def test_variables_can_be_left_out() -> None:
    source = "def f(x):\n    y = x + 1\n    return y\n"
    record, _, _ = trace_call(load(source), "f(1)", TraceConfig(record_variables=False))
    assert [e.variable_states for e in record.events if e.event_type != "return"] == [{}, {}, {}]
    assert record.events[-1].return_value == "2" and record.steps == 2


def test_deep_recursion_does_not_break_the_tracer() -> None:
    source = "def down(n):\n    return down(n + 1)\n"
    namespace = load(source)
    previous = sys.gettrace()
    record, _, error = trace_call(namespace, "down(0)", TraceConfig(max_events=200))
    assert isinstance(error, RecursionError)
    assert len(record.events) >= 200 and record.steps > 100
    assert sys.gettrace() is previous
    if record.core == "settrace":  # CPython drops a trace function that cannot be called any more
        assert record.incomplete and "RecursionError" in record.incomplete
    again, value, _ = trace_call(load("def ok():\n    return 1\n"), "ok()")
    assert value == 1 and again.incomplete is None and len(again.events) == 3


def test_stop_restores_the_previous_trace_function_and_is_safe_after_errors() -> None:
    seen: list[str] = []

    def outer_tracer(frame: object, event: str, arg: object) -> None:
        seen.append(event)

    tracer = make_tracer(TraceConfig(core="settrace"))
    sys.settrace(outer_tracer)
    try:
        tracer.start()
        try:
            with pytest.raises(ZeroDivisionError):
                exec(compile("def f():\n    return 1 / 0\nf()\n", "<candidate>", "exec"), {})
        finally:
            record = tracer.stop()
        assert sys.gettrace() is outer_tracer
    finally:
        sys.settrace(None)
    assert [e.event_type for e in record.events][-2:] == ["exception", "return"]
    with pytest.raises(RuntimeError, match="not started"):
        tracer.stop()
    tracer.start()
    with pytest.raises(RuntimeError, match="already running"):
        tracer.start()
    tracer.stop()


def test_bad_configuration_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="max_items"):
        TraceConfig(max_items=-1)
    with pytest.raises(ValueError, match="core"):
        TraceConfig(core="fast")
    with pytest.raises(ValueError, match="file names"):
        make_tracer(TraceConfig(), frozenset())


def test_available_cores_say_why_not() -> None:
    cores = available_cores()
    assert set(cores) == {"settrace", "monitoring"} and cores["settrace"] is None
    if sys.version_info < (3, 12):
        assert "3.12" in cores["monitoring"]
        with pytest.raises(ValueError, match="3.12"):
            make_tracer(TraceConfig(core="monitoring"))
        auto = make_tracer(TraceConfig())
        assert auto.name == "settrace" and "3.12" in auto.fallback_reason
    else:
        assert cores["monitoring"] is None and make_tracer(TraceConfig()).name == "monitoring"


def test_shortcuts_match_a_full_look_at_every_event() -> None:
    """The cores skip re-reading what a line cannot have changed; a recorder that reads every variable
    at every event must see exactly the same states (the corpus covers every way to change one)."""
    result = compare()
    assert result["runs"] >= 20 and result["mismatches"] == []
