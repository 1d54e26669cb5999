"""The whole pipeline of one run: sample -> execute + trace -> prefer -> train -> evaluate -> report."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from eta.pipeline.context import RunContext, load_splits
from eta.pipeline.ranks import reload_policy, sharded_after_training, wait_for_stage
from eta.pipeline.sample import sample_tasks
from eta.pipeline.stages import (_style, evaluate_policy, execute_stage, prefer_stage, report_stage,
                                 train_stage)
from eta.train.distributed import is_main_process, rank, world_size
from eta.train.settings import plain_dict

TRAIN_NEEDS = ("sample", "execute", "prefer", "train")


def say(message: str) -> None:
    who = f" rank {rank()}" if world_size() > 1 else ""
    print(f"[eta {time.strftime('%H:%M:%S')}{who}] {message}", flush=True)


def run(cfg: Any, run_dir: str | Path | None = None) -> dict[str, Any]:
    """Run every configured stage in `run_dir` (default: Hydra's run directory); returns the metrics."""
    run_dir = Path(run_dir or _hydra_run_dir() or cfg.paths.output_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(cfg=cfg, run_dir=run_dir)
    stages = {s.value if hasattr(s, "value") else str(s) for s in cfg.stages}
    ctx.train_tasks, ctx.eval_tasks = load_splits(cfg)
    method = cfg.method.name.value if hasattr(cfg.method.name, "value") else str(cfg.method.name)
    say(f"run directory {run_dir}")
    say(f"{cfg.dataset.name.value if hasattr(cfg.dataset.name, 'value') else cfg.dataset.name}: "
        f"{len(ctx.train_tasks)} training problems, {len(ctx.eval_tasks)} held-out; method={method}, "
        f"model={cfg.model.name}")
    from eta.models import load_model

    if not is_main_process():  # see eta.pipeline.ranks: the other ranks only join the training
        if method != "none" and all(s in stages for s in TRAIN_NEEDS):
            model, tokenizer = load_model(plain_dict(cfg.model, "model"))
            _join_training(ctx, model, tokenizer)
        return {}
    ctx.logger = _start_logger(cfg, run_dir)
    model, tokenizer = load_model(plain_dict(cfg.model, "model"))
    metrics: dict[str, dict[str, Any]] = {}
    log_history: list[dict[str, Any]] = []
    if "evaluate" in stages and (cfg.eval.base or method == "none"):
        metrics["base"] = _timed(ctx, "evaluate_base", lambda: evaluate_policy(ctx, model, tokenizer, "base"))
    if method != "none" and "sample" in stages:
        policy, log_history = _train(ctx, model, tokenizer, stages)
        if policy is not None and "evaluate" in stages:
            metrics["trained"] = _timed(ctx, "evaluate_trained", lambda: evaluate_policy(ctx, policy, tokenizer, "trained"))
    ctx.path("metrics.json").write_text(json.dumps(metrics, indent=2))
    if "report" in stages and metrics:
        table = report_stage(ctx, metrics, log_history)
        print(table, flush=True)
    if ctx.logger is not None:
        ctx.logger.finish()
    say(f"metrics: {run_dir / 'metrics.json'}")
    return metrics


def _train(ctx: RunContext, model: Any, tokenizer: Any, stages: set[str]) -> tuple[Any, list[dict[str, Any]]]:
    cfg = ctx.cfg
    samples = _timed(ctx, "sample", lambda: sample_tasks(
        model, tokenizer, ctx.train_tasks, ctx.path("samples.jsonl"), n=cfg.sampler.n,
        temperature=cfg.sampler.temperature, sampler_cfg=cfg.sampler, style=_style(cfg), policy="base",
        seed=cfg.seed))
    if "execute" not in stages:
        return None, []
    records = _timed(ctx, "execute", lambda: execute_stage(ctx, samples, ctx.train_tasks, ctx.path("executions.jsonl")))
    passed = sum(r["passed"] for r in records)
    say(f"executed {len(records)} training samples: {passed} passed")
    if "prefer" not in stages:
        return None, []
    prompts = {s["task_id"]: s["prompt"] for s in samples}
    n_pairs, dataset_dir = _timed(ctx, "prefer", lambda: prefer_stage(ctx, records, prompts, ctx.train_tasks),
                                  record=lambda value: {"pairs": value[0]})
    say(f"{n_pairs} preference pairs ({ctx.run_dir / 'pairs.jsonl'})")
    if "train" not in stages:
        return None, []
    if n_pairs == 0:
        say("no preference pairs: every sample of a problem tied under the heuristic; nothing to train on "
            "(try more samples, a higher temperature, or prefer.include_reference=true)")
        return None, []
    result = _timed(ctx, "train", lambda: train_stage(ctx, model, tokenizer, dataset_dir))
    say(f"trained {result.steps} steps ({'reused a finished run' if getattr(result, 'reused', False) else 'done'})")
    if sharded_after_training(cfg) and not result.reused:  # a reused run was loaded whole from disk already
        say(f"reloading the trained policy from {result.output_dir} to sample from it on rank 0 alone")
        return reload_policy(cfg, result), result.log_history
    return result.model, result.log_history


def _join_training(ctx: RunContext, model: Any, tokenizer: Any) -> None:
    """A rank other than 0: wait for rank 0's preference pairs, then train with it."""
    say("waiting for rank 0 to sample, execute and pair")
    prefer = wait_for_stage(ctx, "prefer", say)
    dataset_dir = ctx.run_dir / "pairs_dataset"
    if not prefer.get("pairs", int(dataset_dir.is_dir())):
        say("rank 0 found no preference pairs: nothing to train")
        return
    result = train_stage(ctx, model, tokenizer, dataset_dir)
    say(f"trained {result.steps} steps")


def _timed(ctx: RunContext, stage: str, fn: Any, record: Any = None) -> Any:
    """Run a stage and mark it done in stages.json, with its seconds (summed over resumes) and what
    `record(value)` adds."""
    t0 = time.monotonic()
    value = fn()
    previous = ctx._state().get(stage, {}).get("seconds", 0.0)
    ctx.mark_done(stage, seconds=round(previous + time.monotonic() - t0, 1), **(record(value) if record else {}))
    return value


def _hydra_run_dir() -> str | None:
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else None
    except ImportError:
        return None


def _start_logger(cfg: Any, run_dir: Path) -> Any:
    name = cfg.logger.name.value if hasattr(cfg.logger.name, "value") else str(cfg.logger.name)
    if name == "none":
        return None
    import wandb
    from omegaconf import OmegaConf

    mode = cfg.logger.mode.value if hasattr(cfg.logger.mode, "value") else str(cfg.logger.mode)
    os.environ.setdefault("WANDB_SILENT", "true")
    # A stable id: a resumed run (same directory) continues the same W&B run instead of starting another.
    run_id = hashlib.sha1(str(run_dir).encode()).hexdigest()[:12]
    return wandb.init(project=cfg.logger.project, entity=cfg.logger.entity, group=cfg.logger.group,
                      tags=list(cfg.logger.tags), mode=mode, dir=str(run_dir), id=run_id, resume="allow",
                      name=f"{cfg.name}-{run_dir.name}",
                      config=OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
