"""Program repair: a policy gets a failing program and is asked for a fixed one (``method=repair``, and
``eval.repair`` for every evaluated policy).

``eta.repair.problems`` makes the problems (QuixBugs' buggy programs; the failing programs among the
evaluation samples), ``eta.repair.prompt`` the prompt with its feedback (none, error, trace, trace_events; ``eta.repair.focus``
the full trace of each failing test that ``trace``'s window reads),
``eta.repair.shots`` worked examples from the training split, ``eta.repair.evaluate`` the runs and their
metrics. :func:`policy_repair` is the evaluation stage's hook.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eta import rundir
from eta.repair.settings import FEEDBACK, SETS, RepairSettings


def eval_settings(conf: Any) -> RepairSettings | None:
    """``eval.repair`` of the run's config (``eta.config.RootConf``) as settings, None when it is off."""
    node = conf.eval.repair
    if not node.enabled:
        return None
    return RepairSettings.from_node(node, "eval.repair", drop=("enabled",))


def base_eval_dir(ctx: Any) -> Path:
    """The base policy's evaluation folder (a round of ``rounds=N`` lives one level below the run)."""
    in_round = ctx.cfg.rounds > 1 and ctx.run_dir.name == rundir.round_dir(ctx.run_dir, ctx.round).name  # the base is evaluated above
    top = ctx.run_dir.parent if in_round else ctx.run_dir
    return rundir.eval_dir(top, rundir.BASE)


def policy_repair(ctx: Any, model: Any, tokenizer: Any, policy: str) -> dict[str, Any] | None:
    """The repair evaluation of one evaluated policy (``eval.repair``), into ``eval/<policy>/repair/``:
    the QuixBugs programs and the base policy's failing evaluation samples (this policy's own where the
    base is not evaluated), so that every policy repairs the same programs."""
    from eta.repair.evaluate import evaluate_repair

    settings = eval_settings(ctx.cfg)
    if settings is None:
        return None
    own = ctx.path(rundir.EVAL, policy, rundir.SAMPLED_EXECUTIONS)
    base = base_eval_dir(ctx)
    failing = base / rundir.SAMPLED_EXECUTIONS
    if not failing.exists():
        ctx.say(f"repair ({policy}): no base evaluation samples; the failing set is this policy's own")
        failing = own
    buggy = base / rundir.REPAIR / "quixbugs" / rundir.BUGGY_EXECUTIONS if base.is_dir() else None
    return evaluate_repair(ctx, model, tokenizer, settings, ctx.path(rundir.EVAL, policy, rundir.REPAIR, ".keep").parent,
                           policy=policy, failing_source=failing, buggy_executions=buggy)


__all__ = ["FEEDBACK", "SETS", "RepairSettings", "base_eval_dir", "eval_settings", "policy_repair"]
