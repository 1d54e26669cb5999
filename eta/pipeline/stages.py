"""The stages of a run other than training: sample, execute, prefer, evaluate, report. Each reads and
writes files in the run directory, so that a killed run continues where it stopped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eta import rundir
from eta.context import RunContext, derived_limits
from eta.sample.generate import sample_tasks
from eta.tasks.schema import Task


def sample_stage(ctx: RunContext, model: Any, tokenizer: Any) -> list[dict[str, Any]]:
    """The base policy's k samples per training problem (samples.jsonl)."""
    sampler = ctx.cfg.sampler
    return sample_tasks(model, tokenizer, ctx.train_tasks, ctx.path(rundir.SAMPLES), n=sampler.n,
                        temperature=sampler.temperature, sampler_cfg=sampler, style=ctx.style,
                        policy=ctx.policy_label, seed=ctx.sampling_seed(1000 * (ctx.round - 1)))


def execute_stage(ctx: RunContext, samples: list[dict[str, Any]], tasks: list[Task], out: Path) -> list[dict[str, Any]]:
    from eta.execute import TraceOptions
    from eta.execute.batch import Sample, execute_samples

    by_id = {t.task_id: t for t in tasks}
    ex = ctx.cfg.execute
    todo = [Sample(s["task_id"], s["completion"], s["sample_id"],
                   {k: s[k] for k in ("policy", "response", "num_tokens", "finish_reason") if k in s})
            for s in samples]
    limits = ctx.limits
    # with value writes: each failing program's divergence from its reference, what the heuristic's
    # `divergence` and `steps` criteria read (docs/traces.md)
    trace = TraceOptions(max_events=ex.max_events, budget_lines=ex.budget_lines, writes=True) if ex.trace else None
    from eta.execute.reftimes import per_test_limits

    needed = [by_id[t] for t in dict.fromkeys(s.task_id for s in todo)]
    per_test = per_test_limits(needed, limits, derived_limits(ctx.cfg.dataset), workers=ex.workers, say=ctx.say)
    return execute_samples(todo, by_id, out, workers=ex.workers, limits=limits, trace=trace, resume=True, say=ctx.say,
                           test_timeouts=per_test)


def sandbox_layers(ctx: RunContext) -> dict[str, str]:
    """The sandbox's layers in force, checked once before the model loads: a layer that cannot be set up
    (and that ETA_SANDBOX_DISABLE does not turn off) stops the run here with one line (SandboxRefused)."""
    from eta.execute import Executor

    with Executor(workers=1, limits=ctx.limits) as ex:
        return dict(ex.layers)


def prefer_stage(ctx: RunContext, records: list[dict[str, Any]], tasks: list[Task]) -> int:
    """Pairs by the heuristic, written as pairs.jsonl and as a `datasets` dataset in TRL's format
    (pairs_dataset/, absent when there are none); a finished prefer stage is not redone."""
    from eta.prefer import HeuristicConfig, build_pairs, read_pairs, to_hf_dataset, write_pairs
    from eta.config import plain_dict
    from eta.prefer.records import reference_records

    if ctx.done("prefer") and ctx.pairs_file.exists():
        return len(read_pairs(ctx.pairs_file))
    prompts = {s["task_id"]: s["prompt"] for s in ctx.samples()}
    # The policy is trained on what it said, not on the code extracted from it.
    texts = [dict(r, code=r["completion"], completion=r.get("response", r["completion"])) for r in records]
    if ctx.cfg.prefer.include_reference:
        texts += reference_records(tasks)
    heuristic = HeuristicConfig.from_mapping(ctx.cfg.heuristic)
    pairs = build_pairs(texts, heuristic, prompts, composition=plain_dict(ctx.cfg.prefer, "prefer"))
    write_pairs(pairs, ctx.pairs_file)
    if pairs:
        to_hf_dataset(pairs).save_to_disk(str(ctx.pairs_dir))
    return len(pairs)


def evaluate_policy(ctx: RunContext, model: Any, tokenizer: Any, policy: str) -> dict[str, Any]:
    """pass@k from n samples, greedy pass@1, execution rate and outcome frequencies on the held-out problems."""
    from eta.metrics import summarize
    from eta.tasks.families import n_families
    from eta.train.drift import merged_copy

    cfg, tasks = ctx.cfg, ctx.eval_tasks
    metrics: dict[str, Any] = {}
    adapted, model = model, merged_copy(model)  # sampled and scored merged; `adapted` switches it off for the KL
    runs = [(rundir.SAMPLED, cfg.eval.n, cfg.sampler.temperature)] + ([(rundir.GREEDY, 1, 0.0)] if cfg.eval.greedy else [])
    for kind, n, temperature in runs:
        samples = sample_tasks(model, tokenizer, tasks, ctx.path(rundir.EVAL, policy, rundir.eval_file(kind, "samples")), n=n,
                               temperature=temperature, sampler_cfg=cfg.sampler, style=ctx.style, policy=policy,
                               seed=ctx.sampling_seed(1))
        records = execute_stage(ctx, samples, tasks, ctx.path(rundir.EVAL, policy, rundir.eval_file(kind, "executions")))
        summary = summarize(records, ks=[k for k in cfg.eval.ks if k <= n] or [1])
        summary["n_families"] = n_families({str(r["task_id"]) for r in records})  # beside n_tasks: the clusters
        if kind == rundir.GREEDY:
            metrics["greedy_pass@1"] = summary.get("pass@1")
        else:
            from eta.rewards import mean_rewards

            metrics.update(summary)
            metrics["reward"] = mean_rewards(records)  # each verdict reward's mean on the held-out samples
            if policy != "base":  # how far training moved it, on its own held-out samples
                from eta.train.drift import kl_to_reference

                metrics.update(kl_to_reference(adapted, tokenizer, samples, cfg.eval.kl_samples, seed=cfg.seed,
                                               merged=model) or {})
    from eta.repair import policy_repair

    repair = policy_repair(ctx, model, tokenizer, policy)  # eval.repair: metrics["repair"][set][feedback]
    if repair:
        metrics["repair"] = repair
    from eta.pipeline.cheat import impossible_eval

    cheat = impossible_eval(ctx, model, tokenizer, policy)  # eval.cheat: passes on impossible tasks
    if cheat is not None:
        metrics["cheat"] = cheat
    ctx.path(rundir.EVAL, policy, rundir.METRICS).write_text(json.dumps(metrics, indent=2))
    return metrics


POLICIES = (rundir.BASE, rundir.TRAINED)  # the policies metrics.json holds side by side; "method" and "rounds" are others


def report_stage(ctx: RunContext, metrics: dict[str, dict[str, Any]], log_history: list[dict[str, Any]]) -> str:
    from eta.report import format_table, plot_loss, plot_outcomes, plot_pass_at_k

    policies = {name: metrics[name] for name in POLICIES if name in metrics}
    plots = {}
    if policies:
        plots["pass_at_k"] = plot_pass_at_k(policies, ctx.path(rundir.PLOTS, "pass_at_k.png"))
    if "base" in metrics and "trained" in metrics:
        plots["outcomes"] = plot_outcomes(metrics["base"], metrics["trained"], ctx.path(rundir.PLOTS, "outcomes.png"))
    if any("loss" in entry for entry in log_history):
        plots["loss"] = plot_loss(log_history, ctx.path(rundir.PLOTS, "loss.png"))
    if len(metrics.get("rounds", {})) > 1:
        from eta.report.plots import plot_rounds

        plots["rounds"] = plot_rounds(metrics["base"] if "base" in metrics else None, metrics["rounds"],
                                      ctx.path(rundir.PLOTS, "rounds.png"))
    intervals = _paired(ctx, metrics) if len(policies) == 2 else None
    table = format_table(policies, intervals=intervals) if policies else ""
    if intervals:
        n = max((e.n_problems for e in intervals.values()), default=0)
        f = max((e.n_families for e in intervals.values()), default=0)
        table += (f"\n95% CI: paired bootstrap over the {n} held-out problems in {f} families (families, then problems "
                  "within them; base and trained on the same problems); 'spans 0': the interval includes no change")
    from eta.report.wandb_log import flatten_metrics  # nested ones (held-out pairs) as heldout_pairs/accuracy

    own = metrics.get("method", {})
    method = {**{k: v for k, v in own.items() if isinstance(v, str)}, **flatten_metrics(own)}
    from eta.report.rm import rm_table

    rm = rm_table(own)
    if rm:
        table += "\n\n" + rm
    if method:
        table += "\n\n" + "\n".join(f"method {k}: {v:.4g}" if isinstance(v, float) else f"method {k}: {v}"
                                     for k, v in method.items())
    ctx.path(rundir.REPORT).write_text(table.strip() + "\n")
    from eta.report.analysis import table_rows, write_analysis

    analysis = write_analysis(ctx.run_dir, ctx.eval_tasks)  # analysis.md: newly solved/broken, error classes
    if ctx.logger is not None:
        _log_wandb(ctx, metrics, plots, table_rows(analysis[1]) if analysis else {})
    return table


def _paired(ctx: RunContext, metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from eta.report.paired import paired_intervals, table_intervals, trained_eval_dir

    estimates = paired_intervals(rundir.eval_dir(ctx.run_dir, rundir.BASE), trained_eval_dir(ctx.run_dir, metrics),
                                 ks=[k for k in ctx.cfg.eval.ks if k <= ctx.cfg.eval.n], seed=int(ctx.cfg.seed))
    return table_intervals(estimates)


def _log_wandb(ctx: RunContext, metrics: dict[str, dict[str, Any]], plots: dict[str, Path],
               extra_tables: dict[str, list[dict[str, Any]]] | None = None) -> None:
    from eta.prefer import read_pairs
    from eta.prefer.records import read_records
    from eta.report import log_to_wandb
    from eta.report.wandb_log import pair_rows, sample_rows

    tables: dict[str, Any] = dict(extra_tables or {})
    if ctx.pairs_file.exists():
        tables["pairs"] = pair_rows(read_pairs(ctx.pairs_file))
    for policy in POLICIES:
        executions = ctx.path(rundir.EVAL, policy, rundir.SAMPLED_EXECUTIONS)
        if executions.exists():
            tables[f"samples_{policy}"] = sample_rows(read_records(executions))
    # every number of metrics.json, nested ones (outcomes, error types, rounds) as base/outcomes/passed
    log_to_wandb(ctx.logger, metrics, images={k: str(v) for k, v in plots.items()}, tables=tables)
