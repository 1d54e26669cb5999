"""Executing GRPO's rollouts: one long-lived ``eta.execute.Executor`` per process, each batch's completions
executed once however many reward functions read them, each rollout recorded with the rewards the trainer
received.

A batch is the list of completions TRL hands every reward function of one generation step in turn; the
first function to ask executes it (each distinct program once), the others get the same verdicts. Per
batch it logs, through TRL's ``log_metric`` (so into the trainer's log history, the loss plot and W&B),
the share of each outcome (``rollouts/<outcome>``), the share of rollouts that attempted to hack the harness
(``hacking/attempt_rate``, and ``hacking/<kind>``: eta.execute.hacks) and the seconds spent executing
(``time/execute_s``).
``rollouts.jsonl`` (``rollouts.rank<r>.jsonl`` on rank r > 0) gets one line per rollout: the step, the
task, the program, its verdict and each reward function's value as returned to the trainer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eta.execute.hacks import rates as hacking_rates
from eta.execute.outcome import Outcome
from eta.execute.result import ExecutionResult
from eta.tasks.schema import Task


class RolloutExecutor:
    def __init__(self, tasks: Sequence[Task], *, style: str, prompts: Mapping[str, str], extra_stops: Sequence[str] = (),
                 workers: int = 2, limits: Any = None, trace: Any = None,
                 test_timeouts: Mapping[str, list[float]] | None = None, record: Path | None = None,
                 references: Mapping[str, Any] | None = None, max_steps: int = 10_000) -> None:
        self.tasks = {t.task_id: t for t in tasks}
        self.style, self.prompts, self.extra_stops = style, dict(prompts), tuple(extra_stops)
        self.workers, self.limits, self.trace = workers, limits, trace
        self.test_timeouts = dict(test_timeouts or {})
        self.record = record
        self.references = references  # task_id -> its reference's traced run (eta.execute.reftraces), or None
        self.max_steps = max_steps  # the repaired steps' cap (heuristic.max_steps)
        self.executions = 0  # programs executed, over the whole run (a test reads it)
        self._executor: Any = None
        self._batch_key: Any = None
        self._rows: list[dict[str, Any]] = []
        self._results: list[ExecutionResult] = []

    # -- what reward functions call ------------------------------------------------------------------
    def results(self, task_ids: Sequence[str], completions: Sequence[Any], *, step: int | None = None,
                log_metric: Any = None) -> list[ExecutionResult]:
        """The verdict of each completion (TRL's text, or a chat message list); the batch is executed on its
        first call, later calls with the same batch reuse it."""
        texts = [completion_text(c) for c in completions]
        key = (tuple(task_ids), tuple(texts))
        if key == self._batch_key:
            return self._results
        self.flush()
        codes = [self.code(t, x) for t, x in zip(task_ids, texts)]
        t0 = time.perf_counter()
        self._results = self._execute(list(task_ids), codes)
        seconds = time.perf_counter() - t0
        self._batch_key = key
        self._rows = [{"step": step, "task_id": t, "completion": x, "code": c, **_verdict(r)}
                      for t, x, c, r in zip(task_ids, texts, codes, self._results)]
        if log_metric is not None:
            for name, share in outcome_shares(self._results).items():
                log_metric(f"rollouts/{name}", share)  # every outcome, every batch: the same keys on all ranks
            for name, rate in hacking_rates(r for r in self._results if r.outcome is not Outcome.INFRA_ERROR).items():
                log_metric(name, rate)  # hacking/attempt_rate and hacking/<kind>, per step (eta.execute.hacks)
            log_metric("time/execute_s", seconds)
            if self.trace is not None:  # beside the rewards of the same rollouts (eta.rl.monitor, plots/grpo.png)
                for name, value in step_metrics(self._results, self.max_steps).items():
                    log_metric(name, value)
        return self._results

    def received(self, name: str, values: list[float | None]) -> list[float | None]:
        """Record what reward function ``name`` returned for the current batch, and return it."""
        for row, value in zip(self._rows, values):
            row.setdefault("rewards", {})[name] = value
        return values

    def metric(self, kwargs: Mapping[str, Any], name: str, value: float) -> None:
        log_metric = kwargs.get("log_metric")
        if log_metric is not None:
            log_metric(name, value)

    def prompt(self, task_id: str) -> str:
        return self.prompts[task_id]

    def answer(self, task_id: str, completion: Any) -> str:
        """A completion's text up to its first stop string: the answer the sampler would have returned."""
        from eta.tasks.extract import truncate
        from eta.tasks.prompts import stop_strings

        stops = list(dict.fromkeys([*stop_strings(self.tasks[task_id], self.style), *self.extra_stops]))
        return truncate(completion_text(completion), stops)

    def code(self, task_id: str, completion: Any) -> str:
        """The program a completion stands for, read as the sampler reads a sampled answer: cut at the
        first stop string, then extracted."""
        from eta.tasks.extract import extract_code

        return extract_code(self.tasks[task_id], self.answer(task_id, completion), self.style)

    def line_span(self, task_id: str, completion: Any, line: int) -> tuple[int, int] | None:
        """The characters of the completion's text that line ``line`` of its executed program came from
        (eta.tasks.spans); None when the line is not the completion's own."""
        from eta.tasks.spans import line_span

        code = self.code(task_id, completion)
        return line_span(self.tasks[task_id].program(code), line, self.answer(task_id, completion), code)

    # -- lifetime --------------------------------------------------------------------------------------
    def flush(self) -> None:
        if self.record is not None and self._rows:
            with self.record.open("a", encoding="utf-8") as f:
                for row in self._rows:
                    f.write(json.dumps(row) + "\n")
        self._rows = []

    def close(self) -> None:
        self.flush()
        if self._executor is not None:
            self._executor.close()
            self._executor = None

    def __enter__(self) -> "RolloutExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _execute(self, task_ids: list[str], codes: list[str]) -> list[ExecutionResult]:
        from eta.execute.pool import Executor, Job

        if self._executor is None:  # started once, on first use: the fork servers outlive every step
            self._executor = Executor(workers=self.workers, limits=self.limits, trace=self.trace)
        unique = list(dict.fromkeys(zip(task_ids, codes)))
        jobs = [Job.for_task(self.tasks[t], c, key=i, test_timeouts=self.test_timeouts.get(t))
                for i, (t, c) in enumerate(unique)]
        by_program = dict(zip(unique, self._executor.map(jobs)))
        self.executions += len(unique)
        if self.references is not None:
            from eta.execute.reftraces import attach

            for (t, c), result in by_program.items():
                attach(result, self.tasks[t], c, self.references.get(t))
        return [by_program[(t, c)] for t, c in zip(task_ids, codes)]


def completion_text(completion: Any) -> str:
    """TRL's completion: plain text, or (conversational prompts) a list of messages."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content", "") for m in completion if isinstance(m, Mapping))


def step_metrics(results: Sequence[ExecutionResult], max_steps: int) -> dict[str, float]:
    """The rollouts' steps, logged per batch beside their rewards so that a policy that pads shows:
    ``exec/mean_steps``, line events over all tests (the raw count, which padding inflates), and
    ``exec/rel_steps``, the repaired steps of the failing rollouts compared with a reference (live steps on
    the first failing test relative to the reference's, eta.prefer.criteria.steps_key, which padding does
    not move); NaN where no rollout has one (TRL's log leaves NaN out, and every rank logs every key)."""
    from eta.prefer.criteria import steps_key

    raw = [r.steps for r in results if r.steps is not None]
    rel = [steps_key({"outcome": r.outcome.value, "passed": r.passed, "error_type": r.error_type,
                      "divergence": r.divergence}, max_steps) for r in results if not r.passed]
    rel = [float(v) for v in rel if v is not None]
    return {"exec/mean_steps": sum(raw) / len(raw) if raw else float("nan"),
            "exec/rel_steps": sum(rel) / len(rel) if rel else float("nan")}


def outcome_shares(results: Sequence[ExecutionResult]) -> dict[str, float]:
    n = max(1, len(results))
    return {o.value: sum(r.outcome is o for r in results) / n for o in Outcome}


def _verdict(result: ExecutionResult) -> dict[str, Any]:
    return {"outcome": result.outcome.value, "passed": result.passed, "tests_passed": result.tests_passed,
            "tests_total": result.tests_total, "hacks": list(result.hacks)}


def from_run(run: Any, prompts: Mapping[str, str], *, trace: bool, record: Path | None,
             writes: bool = False) -> RolloutExecutor:
    """A RolloutExecutor judging the run's training problems as the execute stage does (the same limits,
    per-test limits from the references, and tracing when the reward reads traces; with `writes`, each
    failing rollout's divergence from its reference's traced run, for the divergence reward)."""
    from eta.context import derived_limits
    from eta.execute import TraceOptions
    from eta.execute.reftimes import per_test_limits

    ex, limits = run.cfg.execute, run.limits
    options = TraceOptions(max_events=ex.max_events, budget_lines=ex.budget_lines, writes=writes) \
        if (trace and ex.trace) or writes else None
    per_test = per_test_limits(run.train_tasks, limits, derived_limits(run.cfg.dataset), workers=ex.workers, say=run.say)
    references = None
    if writes:
        from eta.execute.reftraces import reference_traces

        references = reference_traces(run.train_tasks, options, limits, workers=ex.workers, say=run.say)
    return RolloutExecutor(run.train_tasks, style=run.style, prompts=prompts,
                           extra_stops=list(run.cfg.sampler.stop), workers=ex.workers, limits=limits,
                           trace=options, test_timeouts=per_test, record=record, references=references,
                           max_steps=int(run.cfg.heuristic.max_steps))
