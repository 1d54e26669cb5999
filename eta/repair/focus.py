"""The raw material of ``feedback=trace``'s window (``eta.trace.window``): each problem's first failing test
run again alone in the sandbox with every trace event kept (the executions keep only the events their text
trace shows), and the reference solution's value sequence on that test (``eta.execute.reftraces``, cached
by the task's content and shared with the pipeline's divergence).

The test runs alone: a program that keeps state from one test to the next (a module-level cache) may run it
otherwise than it did after the tests before it; the verdict shown stays the one of the whole run. A task
without a reference solution (the offline APPS subset) or whose reference fails a test gets ``reference``
None and a ``why``: the window then centres on the exception (or the end of the test) and says so.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from eta.execute.outcome import Outcome
from eta.repair.problems import Focus, RepairProblem


def with_focus(ctx: Any, problems: list[RepairProblem], out: Path, dataset_cfg: Any) -> list[RepairProblem]:
    """``problems`` with their ``focus`` (None where no test failed under the tracer: a program that does
    not compile, a run without traces); the re-runs go to ``out`` (resumable)."""
    from eta.repair.evaluate import execute_programs

    failing = {p.problem_id: i for p in problems if (i := _failing_index(p)) is not None}
    if not failing or not ctx.cfg.execute.trace:
        return problems
    asked = [p for p in problems if p.problem_id in failing]
    records = execute_programs(ctx, [(p.problem_id, p.task, p.program) for p in asked], out, dataset_cfg,
                               only=failing, events=True)
    references = _references(ctx, [p.task for p in asked], dataset_cfg)
    found: dict[str, Focus] = {}
    for p, record in zip(asked, records):
        events = next((t.get("events") for t in record.get("tests", []) if t.get("events")), None)
        if events is None:
            continue
        i = failing[p.problem_id]
        values, why = references.get(p.task.task_id, (None, "its task has no reference solution"))
        found[p.problem_id] = Focus(i, events, values[i] if values is not None and i < len(values) else None, why)
    return [replace(p, focus=found.get(p.problem_id)) for p in problems]


def _failing_index(problem: RepairProblem) -> int | None:
    _, result = problem.failing_test()
    if result is None or result["outcome"] == Outcome.INFRA_ERROR.value:
        return None
    return result["index"] if result["index"] < len(problem.task.tests) else None


def _references(ctx: Any, tasks: list[Any], dataset_cfg: Any) -> dict[str, tuple[list[list[str]] | None, str]]:
    """task_id -> (the reference's value sequences per test, or None; why there are none)."""
    from eta.execute import TraceOptions
    from eta.execute.batch import has_reference
    from eta.execute.reftraces import reference_traces
    from eta.context import limits_of

    ex = ctx.cfg.execute
    unique = list({t.task_id: t for t in tasks}.values())
    with_ref = [t for t in unique if has_reference(t)]
    out: dict[str, tuple[list[list[str]] | None, str]] = {
        t.task_id: (None, "its task has no reference solution") for t in unique if not has_reference(t)}
    if not with_ref:
        return out
    # the pipeline's trace options: the same cache entries as its divergence
    traced = reference_traces(with_ref, TraceOptions(max_events=ex.max_events, budget_lines=ex.budget_lines),
                              limits_of(ex, dataset_cfg), workers=ex.workers, say=ctx.say)
    for t in with_ref:
        ref = traced.get(t.task_id)
        out[t.task_id] = (ref["values"], "") if ref is not None else (None, "its reference solution fails a test")
    return out
