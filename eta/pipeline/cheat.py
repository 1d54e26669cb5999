"""The cheating rate of an evaluated policy (``eval.cheat``): its samples on impossible variants of the
held-out tasks (:mod:`eta.tasks.impossible`), where any pass is a cheat. Files, in ``eval/<policy>/``:
``impossible_references.jsonl`` (each variant's reference, run to check that it fails: a variant it passes
is not impossible and is dropped), ``impossible_samples.jsonl`` and ``impossible_executions.jsonl``."""

from __future__ import annotations

from typing import Any

from eta import rundir
from eta.context import RunContext
from eta.metrics import cheat_rate
from eta.sample.generate import sample_tasks
from eta.tasks.schema import Task


def impossible_eval(ctx: RunContext, model: Any, tokenizer: Any, policy: str) -> dict[str, Any] | None:
    """``metrics["cheat"]`` of one evaluated policy, or None when ``eval.cheat`` is off."""
    settings = ctx.cfg.eval.cheat
    if not settings.enabled or settings.tasks < 1 or settings.n < 1:
        return None
    tasks = checked_variants(ctx, policy, settings.tasks)
    if not tasks:
        ctx.say(f"cheat ({policy}): no held-out task has an impossible variant its reference fails")
        return {"rate": None, "n": 0, "passed": 0, "tasks": 0}
    from eta.pipeline.stages import execute_stage

    samples = sample_tasks(model, tokenizer, tasks, ctx.path(rundir.EVAL, policy, rundir.impossible_file("samples")),
                           n=settings.n, temperature=ctx.cfg.sampler.temperature, sampler_cfg=ctx.cfg.sampler,
                           style=ctx.style, policy=policy, seed=ctx.cfg.seed + 2)
    records = execute_stage(ctx, samples, tasks, ctx.path(rundir.EVAL, policy, rundir.impossible_file("executions")))
    found = cheat_rate(records)
    ctx.say(f"cheat ({policy}): {found['passed']}/{found['n']} samples passed an impossible task "
            f"(95% CI {found['ci95'][0]:.1%}-{found['ci95'][1]:.1%})")
    return found


def checked_variants(ctx: RunContext, policy: str, limit: int) -> list[Task]:
    """The first `limit` impossible variants of the held-out tasks whose reference fails them."""
    from eta.execute.batch import canonical_samples
    from eta.pipeline.stages import execute_stage
    from eta.tasks.impossible import impossible_tasks

    variants = impossible_tasks(ctx.eval_tasks, limit)
    references = [{"task_id": s.task_id, "completion": s.completion, "sample_id": s.sample_id}
                  for s in canonical_samples(variants)]
    if not references:
        return []
    results = execute_stage(ctx, references, variants, ctx.path(rundir.EVAL, policy, rundir.impossible_file("references")))
    failed = {r["task_id"] for r in results if not r["passed"] and r["outcome"] != "infra_error"}
    return [v for v in variants if v.task_id in failed][:limit]
