"""The repair prompt: the problem, the failing program and, by ``feedback``, what went wrong.

- ``none``: the problem statement and the failing program;
- ``error``: also the first failing test and its verdict: the exception and its message, or the value
  the call returned against the one the test expects;
- ``trace``: also the window of that test's trace around where it first differs from the reference
  solution's execution, block by block with the values that differ marked (``eta.trace.window``, made
  from ``problem.focus``: ``eta.repair.focus``), at most ``budget_lines`` lines. Where the task has no
  reference (the offline APPS subset) or its reference fails, the window is the one around the exception
  (or the end of the test) and its first line says that there was nothing to compare with;
- ``trace_events``: the trace as it was shown before issue 27: that test's execution trace in eta's text
  format (``eta.trace.text``), every event with the whole state, its first and last events kept within
  ``budget_lines`` lines;
- ``scratch`` (a control, not feedback): the problem alone, without the failing program.

What the program controls (its code, its exception messages, the values it returns) never writes a line
of its own into the feedback: messages and values are put on one line (``one_line``) and cut to
``MAX_MESSAGE`` characters, every trace line is one event (as the tracer wrote it, its result line
restated from the harness's verdict, as ``eta.rm.text`` does), and the program sits in a code fence longer
than any run of backticks inside it. A repair task is the original task with a whole program as its answer
(``completion_mode=FULL``), the prompt in ``instruction`` (chat) or ``metadata`` (completion style).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from eta.execute.outcome import Outcome
from eta.repair.problems import RepairProblem
from eta.tasks.prompts import is_repair
from eta.tasks.schema import CompletionMode, Task, TestCase, TestKind
from eta.trace.text import one_line, restate

MAX_MESSAGE = 300  # characters of an error message or a returned value shown
TRACE_FRAME = 4  # a trace's lines around its events: header, "Execution Trace:", an early-end note, result
MAX_TEST_LINES = 12  # a longer test (QuixBugs' graph tests carry their fixtures) is shown by its call


@dataclass(frozen=True)
class Shot:
    """A worked example: a failing program of a training problem, its execution, and the fix."""

    problem: RepairProblem
    fixed: str


def fence(code: str, tag: str = "python") -> str:
    longest = max((len(m) for m in re.findall(r"`+", code)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{tag}\n{code.rstrip()}\n{ticks}"


def statement(task: Task) -> str:
    """What the program should do, in the benchmark's words (QuixBugs: only that one line is wrong)."""
    if is_repair(task) and task.dataset == "quixbugs":
        return f"The Python function `{task.entry_point}` below has a bug on exactly one line."
    return (task.instruction.strip() or task.prompt.strip())


def _short(text: str | None) -> str:
    text = one_line(text or "")
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "..."


def test_text(case: TestCase | None) -> str:
    if case is None:
        return "(no test ran)"
    if case.kind is TestKind.STDIO:
        return f"input:\n{fence(case.stdin, 'text')}\nexpected output:\n{fence(case.expected_stdout, 'text')}"
    code = case.code.strip()
    if len(code.splitlines()) > MAX_TEST_LINES:
        return f"`{_short(case.display)}`"
    return fence(code)


def verdict_text(case: TestCase | None, result: dict[str, Any] | None, execution: dict[str, Any]) -> str:
    """The harness's verdict on the failing test, in words."""
    if result is None:  # nothing ran: the whole program's verdict (a syntax error, a crash on import)
        outcome, kind, message = execution.get("outcome"), execution.get("error_type"), execution.get("error_message")
    else:
        outcome, kind, message = result["outcome"], result.get("error_type"), result.get("error_message")
    if outcome == Outcome.WRONG_ANSWER.value:
        got = (message or "").removeprefix("got ")
        expected = _expected(case)
        if message and message.startswith("got ") and expected is not None:
            return f"Wrong answer: it returned {_short(got)}; the test expects {_short(expected)}."
        return f"Wrong answer: {_short(message) or 'the assertion failed'}."
    if outcome == Outcome.TIMEOUT.value:
        return "Timeout: the test ran past its time limit (an infinite loop, or far too slow)."
    if outcome == Outcome.SYNTAX_ERROR.value:
        return f"The program does not compile: {_short(kind)}: {_short(message)}."
    return f"It raised {_short(kind) or 'an error'}: {_short(message)}" if outcome != Outcome.CRASHED.value \
        else f"It crashed: {_short(message)}"


def _expected(case: TestCase | None) -> str | None:
    if case is None or case.kind is not TestKind.ASSERT:
        return None
    from eta.execute.checks import split_test

    check = split_test(case.to_dict())
    if check is None or check.kind != "compare" or check.options.get("op") != "eq":
        return None
    return repr(check.expected)


def trace_lines(result: dict[str, Any] | None, budget_lines: int) -> list[str]:
    """The failing test's trace, its verdict restated by the harness: ``budget_lines`` events at most (the
    tracer's own budget), with its header and result lines."""
    trace = (result or {}).get("trace")
    if not trace:
        return ["(no trace: the test did not run under the tracer)"]
    try:
        text = restate(trace, False)
    except ValueError:  # not made by format_trace: show none of it rather than lines of unknown origin
        return ["(no trace)"]
    lines = [one_line(line) for line in text.split("\n")]
    room = budget_lines + TRACE_FRAME  # the tracer kept budget_lines events; this bounds a trace made otherwise
    if len(lines) > room:  # keep its head and its end, where the error is
        head, tail = (room - 1) // 2, room - 1 - (room - 1) // 2
        lines = lines[:head] + [f"... {len(lines) - head - tail} more trace lines omitted ..."] + lines[-tail:]
    return lines


def window_lines(problem: RepairProblem, budget_lines: int) -> list[str]:
    """The window of the failing test's trace (``feedback=trace``): a sentence saying where the program
    first differs from the reference, then the blocks around it, ``budget_lines`` lines at most."""
    from eta.trace.record import TraceEvent
    from eta.trace.window import divergence_window

    focus = problem.focus
    if focus is None:
        return ["(no trace: the test did not run under the tracer)"]
    try:
        events = [TraceEvent.from_dict(e) for e in focus.events]
    except ValueError:  # not made by the tracer: show none of it rather than lines of unknown origin
        return ["(no trace)"]
    window = divergence_window(events, problem.program, problem.task.entry_point, focus.reference,
                               max(3, budget_lines - 1), no_reference=focus.why)
    return [window.summary, *window.lines]


def feedback_text(problem: RepairProblem, feedback: str, budget_lines: int) -> str:
    """The feedback part of the prompt; empty for ``none``."""
    if feedback == "none":
        return ""
    case, result = problem.failing_test()
    parts = ["It fails this test:", test_text(case), verdict_text(case, result, problem.execution)]
    if feedback == "trace":
        parts += ["Its execution on that test, block by block (`[L4-6]`: lines 4 to 6 ran, then the values they "
                  "computed):", fence("\n".join(window_lines(problem, budget_lines)), "text")]
    elif feedback == "trace_events":
        parts += ["Its execution trace on that test:", fence("\n".join(trace_lines(result, budget_lines)), "text")]
    return "\n".join(parts)


def _chat_example(problem: RepairProblem, feedback: str, budget_lines: int) -> str:
    parts = [statement(problem.task), "This program fails its tests:", fence(problem.program)]
    feedback_part = feedback_text(problem, feedback, budget_lines)
    return "\n".join(parts + ([feedback_part] if feedback_part else []))


def _completion_feedback(problem: RepairProblem, feedback: str, budget_lines: int) -> str:
    text = feedback_text(problem, feedback, budget_lines)
    return f"### Feedback\n{text}\n\n" if text else ""


def _completion_shot(shot: Shot, feedback: str, budget_lines: int) -> str:
    p = shot.problem
    return (f"### Buggy program\n{p.program.strip()}\n\n{_completion_feedback(p, feedback, budget_lines)}"
            f"### Fixed program\n{shot.fixed.strip()}\n\n")


def repair_task(problem: RepairProblem, feedback: str, shots: list[Shot], budget_lines: int) -> Task:
    """The task the policy is asked: fix ``problem.program`` (the answer a whole program)."""
    examples = [f"Example {i}:\n{_chat_example(s.problem, feedback, budget_lines)}\nFixed program:\n{fence(s.fixed)}"
                for i, s in enumerate(shots, 1)]
    asked = _chat_example(problem, feedback, budget_lines) + "\nFix the program."
    instruction = asked if not examples else (
        "Each example below shows a program that fails its tests and the fixed program.\n\n"
        + "\n\n".join(examples) + f"\n\nNow the program to fix:\n{asked}")
    metadata = {**problem.task.metadata, "buggy_program": problem.program, "repair_of": problem.task.task_id,
                "repair_feedback": _completion_feedback(problem, feedback, budget_lines),
                "repair_shots": "".join(_completion_shot(s, feedback, budget_lines) for s in shots)}
    return replace(problem.task, task_id=problem.problem_id, completion_mode=CompletionMode.FULL,
                   instruction=instruction, metadata=metadata)


def scratch_task(problem: RepairProblem) -> Task:
    """The ``scratch`` control: the problem alone, as the evaluation asks it (no failing program, no feedback,
    no worked examples: they show fixes), under the repair problem's id; its answer is in the task's own
    format (``Task.program`` makes the whole program)."""
    return replace(problem.task, task_id=problem.problem_id)


def asked_task(problem: RepairProblem, kind: str, shots: list[Shot], budget_lines: int) -> Task:
    """What the policy is asked under a feedback kind or control (``scratch``: :func:`scratch_task`)."""
    return scratch_task(problem) if kind == "scratch" else repair_task(problem, kind, shots, budget_lines)
