"""The text the reward model reads: the problem, the code, the execution trace and the harness's verdict.

::

    Problem:
    <prompt>
    Code:
    | def f(x):
    |     return x
    Execution:
    Test Case: f(1)
    Execution Trace:
    [L1] call: x=1
    ...
    Test Result: PASS
    Result: passed (1/1 tests passed)

Only the program's code is written by the policy, and every line of it starts with ``| ``; a trace line is
one event (eta.trace.text keeps each on one line, values quoted and bounded by saferepr), and its
``Test Result:`` line is restated here from the harness's verdict on that test. So no line that starts
with ``Result:``, ``Test Result:`` or ``[L`` can come from the program's own strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eta.execute.outcome import Outcome
from eta.execute.result import ExecutionResult
from eta.trace.text import one_line, restate

CODE_MARK = "| "


def as_execution(execution: "ExecutionResult | Mapping[str, Any] | None") -> ExecutionResult | None:
    if execution is None or isinstance(execution, ExecutionResult):
        return execution
    return ExecutionResult.from_dict(dict(execution))


def rm_input(prompt: str, code: str, execution: "ExecutionResult | Mapping[str, Any] | None", *,
             budget_lines: int, with_trace: bool = True) -> str:
    """The reward model's input for one program; `budget_lines` caps the trace lines over all tests."""
    result = as_execution(execution)
    parts = ["Problem:", prompt.rstrip("\n"), "Code:"]
    parts += [CODE_MARK + one_line(line) for line in code.rstrip("\n").split("\n")]
    if with_trace:
        parts += ["Execution:", *_trace_lines(result, budget_lines)]
    parts.append(result_line(result))
    return "\n".join(parts)


def result_line(result: ExecutionResult | None) -> str:
    """The verdict, from the harness's outcome and test counts alone (never a message the program wrote)."""
    if result is None:
        return "Result: not executed"
    total = max(result.tests_total, len(result.tests))
    return f"Result: {result.outcome.value} ({result.tests_passed}/{total} tests passed)"


def _trace_lines(result: ExecutionResult | None, budget_lines: int) -> list[str]:
    if budget_lines < 1:
        raise ValueError(f"budget_lines must be >= 1, got {budget_lines}")
    lines: list[str] = []
    for test in (result.tests if result else []):
        if test.trace is None:
            continue
        try:
            text = restate(test.trace, test.outcome is Outcome.PASSED)
        except ValueError:  # not a format_trace text: show none of it rather than lines of unknown origin
            continue
        lines += [one_line(line) for line in text.split("\n")]
    if not lines:
        return ["(no trace)"]
    if len(lines) > budget_lines:
        omitted = len(lines) - (budget_lines - 1)
        lines = lines[:budget_lines - 1] + [f"... {omitted} more trace lines omitted ..."]
    return lines
