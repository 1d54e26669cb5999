"""Repair runs: each problem of a set as a repair task, sampled through the run's own sampler (so a hosted
model works too), each fixed program executed against the original tests, metrics per set and feedback.

Files, each resumable (a killed run continues, a finished one is read, not redone)::

    <out>/shots_executions.jsonl           the training-split mutants the worked examples come from
    <out>/quixbugs/buggy_executions.jsonl  the 40 buggy programs, executed once
    <out>/shots_focus.jsonl                their failing tests run alone, every event kept (feedback=trace's window)
    <out>/<set>/focus_executions.jsonl     the same for the set's programs (eta.repair.focus)
    <out>/<set>/<feedback>/samples.jsonl   the policy's attempts (<feedback>: also a control, none or scratch)
    <out>/<set>/<feedback>/executions.jsonl
    <out>/<set>/<feedback>/metrics.json

Repair accuracy is the share of problems fixed in one attempt: the greedy answer when ``n`` is 1, the
first of the ``n`` sampled attempts otherwise (then pass@k over the ``n`` attempts too, the unbiased
estimator of ``eta.metrics``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from eta import rundir
from eta.repair.focus import with_focus
from eta.repair.problems import RepairProblem, from_records, quixbugs_tasks
from eta.repair.prompt import Shot, asked_task
from eta.repair.settings import RepairSettings
from eta.repair.shots import build_shots, for_problem
from eta.tasks.errors import TaskLoadError
from eta.tasks.schema import Task

SEED_OFFSET = 2  # the evaluation samples at seed + 1; repair attempts draw their own stream


def execute_programs(ctx: Any, todo: list[tuple[str, Task, str]], out: Path, dataset_cfg: Any, *,
                     only: dict[str, int] | None = None, events: bool = False) -> list[dict[str, Any]]:
    """Run (id, task, whole program) triples in the sandbox under the run's execute settings and the time
    limits of ``dataset_cfg``; each program as a whole-program answer to its task's tests, or to the one
    test ``only`` names for its id (index into the task's tests), with every trace event when ``events``."""
    from eta.context import derived_limits, limits_of
    from eta.execute import TraceOptions
    from eta.execute.batch import Sample, execute_samples
    from eta.execute.reftimes import per_test_limits
    from eta.tasks.schema import CompletionMode

    if not todo:
        return []
    ex, only = ctx.cfg.execute, only or {}
    limits = limits_of(ex, dataset_cfg)
    trace = TraceOptions(max_events=ex.max_events, budget_lines=ex.budget_lines, events=events) if ex.trace else None
    originals = {t.task_id: replace(t, completion_mode=CompletionMode.FULL) for _, t, _ in todo}
    # limits measured once per original problem (cached by content), not once per repair problem
    measured = per_test_limits(list(originals.values()), limits, derived_limits(dataset_cfg), workers=ex.workers,
                               say=ctx.say)
    by_id: dict[str, Task] = {}
    per_test: dict[str, list[float]] = {}
    for pid, t, _ in todo:
        task, limit = originals[t.task_id], measured.get(t.task_id)
        if pid in only:
            task, limit = replace(task, tests=(task.tests[only[pid]],)), limit and [limit[only[pid]]]
        by_id[pid] = task
        if limit:
            per_test[pid] = limit
    samples = [Sample(pid, program, 0, {}) for pid, _, program in todo]
    return execute_samples(samples, by_id, out, workers=ex.workers, limits=limits, trace=trace, resume=True,
                           say=ctx.say, test_timeouts=per_test)


def quixbugs_problems(ctx: Any, out: Path, limit: int | None = None) -> tuple[list[RepairProblem], Any]:
    tasks, d = quixbugs_tasks(ctx.cfg)
    tasks = tasks[:limit] if limit else tasks
    todo = [(t.task_id, t, t.metadata["buggy_program"]) for t in tasks]
    records = execute_programs(ctx, todo, out, d)
    return [RepairProblem(t.task_id, t, prog, rec) for (_, t, prog), rec in zip(todo, records)], d


def failing_problems(ctx: Any, executions: Path | None, per_problem: int | None) -> list[RepairProblem]:
    from eta.jsonl import read_rows

    if executions is None or not executions.exists():
        return []
    return from_records(read_rows(executions), ctx.eval_tasks, per_problem=per_problem)


def repair_metrics(records: list[dict[str, Any]], settings: RepairSettings, ks: list[int]) -> dict[str, Any]:
    from eta.metrics import repair_accuracy, summarize

    first = [r for r in records if r["sample_id"] == 0]
    out: dict[str, Any] = {"decoding": "greedy" if settings.greedy else "first of n sampled",
                           "n": settings.n, "shots": settings.shots, "n_problems": len({r["task_id"] for r in records})}
    try:
        out["accuracy"] = repair_accuracy(first)
    except ValueError:  # no problems, or every attempt masked
        out["accuracy"] = None
        return out
    out["n_fixed"] = sum(bool(r.get("passed")) for r in first)
    summary = summarize(records, ks=sorted({k for k in [1, *ks, settings.n] if k <= settings.n}))
    out.update({k: v for k, v in summary.items() if k.startswith("pass@")})
    out.update(execution_rate=summary["execution_rate"], outcomes=summary["outcomes"],
               n_infra_error=summary["n_infra_error"])
    return out


def attempt(ctx: Any, model: Any, tokenizer: Any, problems: list[RepairProblem], shots: list[Shot], feedback: str,
            settings: RepairSettings, out: Path, dataset_cfg: Any, policy: str) -> dict[str, Any]:
    """One set under one feedback kind or control: sample, execute, metrics (out/metrics.json)."""
    from eta.sample.generate import sample_tasks
    from eta.config import plain_dict

    cfg = ctx.cfg
    budget = cfg.execute.budget_lines
    tasks = [asked_task(p, feedback, for_problem(shots, p, settings.shots), budget) for p in problems]
    # the rows: the engine's own bounds, which follow the prompts' lengths (repair prompts run to ~5k tokens)
    sampler = SimpleNamespace(**{**plain_dict(cfg.sampler, "sampler"),
                                 "max_new_tokens": settings.max_new_tokens or cfg.sampler.max_new_tokens})
    samples = sample_tasks(model, tokenizer, tasks, out / rundir.SAMPLES, n=settings.n,
                           temperature=0.0 if settings.greedy else cfg.sampler.temperature, sampler_cfg=sampler,
                           style=ctx.style, policy=policy, seed=ctx.sampling_seed(SEED_OFFSET),
                           label=f"repairing ({policy}, {out.parent.name}, feedback={feedback})")
    by_id, asked = {p.problem_id: p for p in problems}, {t.task_id: t for t in tasks}
    # a repair's answer is a whole program; scratch's is in the task's own format
    todo = [(s["task_id"], by_id[s["task_id"]].task, asked[s["task_id"]].program(s["completion"])) for s in samples]
    records = _with_ids(execute_programs(ctx, _numbered(todo, samples), out / rundir.EXECUTIONS, dataset_cfg), samples)
    metrics = repair_metrics(records, settings, list(cfg.eval.ks))
    (out / rundir.METRICS).write_text(json.dumps(metrics, indent=2))
    return metrics


def _numbered(todo: list[tuple[str, Task, str]], samples: list[dict[str, Any]]) -> list[tuple[str, Task, str]]:
    # one sandbox id per attempt: problem id and attempt number
    return [(f"{pid}@{s['sample_id']}", task, program) for (pid, task, program), s in zip(todo, samples)]


def _with_ids(records: list[dict[str, Any]], samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dict(r, task_id=s["task_id"], sample_id=s["sample_id"]) for r, s in zip(records, samples)]


def evaluate_repair(ctx: Any, model: Any, tokenizer: Any, settings: RepairSettings, out: Path, *, policy: str,
                    failing_source: Path | None, buggy_executions: Path | None = None) -> dict[str, dict[str, Any]]:
    """metrics[set][kind] for every set and feedback kind or control of ``settings`` (no ``scratch`` for
    QuixBugs: it has no problem statement apart from the buggy program); ``failing_source`` is the
    evaluation executions whose failing programs make the ``failing`` set, ``buggy_executions`` where the
    QuixBugs programs' own executions are (default: ``out/quixbugs/``)."""
    out.mkdir(parents=True, exist_ok=True)
    shots = build_shots(ctx.train_tasks, settings.shots, ctx.cfg.seed,
                        lambda todo: execute_programs(ctx, todo, out / rundir.SHOTS_EXECUTIONS, ctx.cfg.dataset))
    if settings.shots and len(shots) < settings.shots:
        ctx.say(f"repair: only {len(shots)} worked example(s) could be made from the training split "
                f"(asked for {settings.shots})")
    windowed = "trace" in settings.kinds  # its window needs each failing test traced in full (eta.repair.focus)
    if windowed and shots:
        focused = with_focus(ctx, [s.problem for s in shots], out / rundir.SHOTS_FOCUS, ctx.cfg.dataset)
        shots = [replace(s, problem=p) for s, p in zip(shots, focused)]
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for name in settings.sets:
        if name == "quixbugs":
            where = buggy_executions or out / "quixbugs" / rundir.BUGGY_EXECUTIONS
            where.parent.mkdir(parents=True, exist_ok=True)
            try:
                problems, d = quixbugs_problems(ctx, where, settings.limit)
            except TaskLoadError as e:  # no QuixBugs data here: the rest of the evaluation still runs
                ctx.say(f"repair: the QuixBugs set is skipped: {e}")
                results[name] = {"skipped": str(e)}
                continue
            problems = [p for p in problems if not p.execution.get("passed")]
        else:
            problems, d = failing_problems(ctx, failing_source, settings.per_problem), ctx.cfg.dataset
        problems = problems[: settings.limit] if settings.limit else problems
        if windowed:
            problems = with_focus(ctx, problems, out / name / rundir.FOCUS_EXECUTIONS, d)
        results[name] = {}
        for feedback in settings.kinds:
            if feedback == "scratch" and name == "quixbugs":  # its only statement is the buggy program itself
                continue
            folder = out / name / feedback
            folder.mkdir(parents=True, exist_ok=True)
            results[name][feedback] = attempt(ctx, model, tokenizer, problems, shots, feedback, settings, folder, d,
                                              policy)
            m = results[name][feedback]
            acc = "-" if m.get("accuracy") is None else f"{m['accuracy']:.1%}"
            ctx.say(f"repair ({policy}, {name}, feedback={feedback}): {acc} of {m['n_problems']} fixed "
                    f"({m['decoding']})")
    return results
