"""The whole pipeline of one run, top to bottom: evaluate the base policy, make the data the method needs
(sample -> execute + trace -> prefer), train with the method, evaluate what it trained, report.

The pipeline knows no method by name: ``conf/method/*.yaml`` names a module of ``eta.methods`` (or any
importable one) and the method says which data it needs (``eta.methods.base``). Each stage reads and writes
files in the run directory and records the config keys it depends on, so that a killed run continues
where it stopped and a re-run under another config redoes exactly what that config changes
(``eta.pipeline.fingerprint``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from eta import rundir
from eta.config import RootConf, enum_text, parse, plain_dict
from eta.context import RunContext, load_splits, say
from eta.errors import ConfigError
from eta.hosted import check_run as check_hosted
from eta.methods import DATA_STAGES, load_method
from eta.pipeline.finished import finished_metrics, mark_finished
from eta.pipeline.fingerprint import plan, reconcile, sampler_dtype
from eta.pipeline.ranks import wait_for_stage
from eta.pipeline.runlock import lock_run_dir, release_run_dir
from eta.pipeline.shared import link_shared, release_shared
from eta.pipeline.stages import (evaluate_policy, execute_stage, prefer_stage, report_stage, sample_stage,
                                 sandbox_layers)
from eta.tasks.families import n_families
from eta.train.distributed import is_main_process, reload_policy, sharded_after_training, world_size

READY = "train_ready"  # rank 0's mark that the data is made: the other ranks may start training


def run(cfg: Any, run_dir: str | Path | None = None) -> dict[str, Any]:
    """Run every configured stage in `run_dir` (default: Hydra's run directory); returns the metrics.

    ``cfg`` is the composed Hydra config; it is parsed here, once, into the schemas' typed objects
    (``eta.config.RootConf``), which is all that the stages, the methods and the report below read."""
    conf = parse(cfg)  # the schemas' checks of every value: one out of range fails here, naming its key
    run_dir = Path(run_dir or _hydra_run_dir() or conf.paths.output_dir).resolve()
    # before the method's TRL config and the model load: a finished job of a re-launched sweep takes a second
    done = finished_metrics(conf, run_dir) if world_size() == 1 else None
    if done is not None:
        _say_finished(conf, run_dir)
        return done
    method = load_method(conf, run_dir)  # builds the method's settings: a bad key fails before anything loads
    check_hosted(conf, method)  # a hosted model: no key in the config, no training
    run_dir.mkdir(parents=True, exist_ok=True)
    if not is_main_process():  # the other ranks of this launch share rank 0's folder (and its lock)
        return _run(conf, run_dir, method)
    lock_run_dir(run_dir)  # before any file is written, and before the shared locks (lock order: runlock.py)
    try:
        return _run(conf, run_dir, method)
    finally:
        release_run_dir(run_dir)


def _run(cfg: RootConf, run_dir: Path, method: Any) -> dict[str, Any]:
    ctx = RunContext(cfg=cfg, run_dir=run_dir, method=method)
    stages = {enum_text(s) for s in cfg.stages}
    ctx.train_tasks, ctx.eval_tasks = load_splits(cfg)
    say(f"run directory {run_dir}")
    say(f"{enum_text(cfg.dataset.name)}: {len(ctx.train_tasks)} training problems ({n_families(ctx.train_tasks)} "
        f"families), {len(ctx.eval_tasks)} held-out ({n_families(ctx.eval_tasks)} families); "
        f"method={cfg.method['name']}, model={cfg.model.name}")
    from eta.models import load_model

    if not is_main_process():  # see eta.pipeline.ranks: the other ranks only join the training
        if "train" in stages:
            _join_training(ctx, method, *load_model(plain_dict(cfg.model, "model")))
        return {}
    if cfg.rounds > 1 and world_size() > 1:
        raise ConfigError("rounds: iterative rounds run in one process; launch with one process or rounds=1")
    specs = plan(ctx, method)
    specs = specs if cfg.rounds <= 1 else [s for s in specs if s.name == "evaluate_base"]  # rounds: round_<n>/
    for note in link_shared(ctx, specs):  # shared_dir: the same base samples and evaluation for every method
        say(note)
    for change in reconcile(ctx, specs):
        say(change)
    # Fail closed before anything loads: a sandbox layer that cannot be set up stops the run in one line.
    layers = sandbox_layers(ctx) if stages & {"execute", "train", "evaluate"} else None
    ctx.logger = _start_logger(cfg, run_dir)
    if layers is not None:
        say("sandbox layers: " + ", ".join(f"{k} {v}" for k, v in layers.items()))
        if ctx.logger is not None:
            ctx.logger.summary.update({f"sandbox/layers/{k}": v for k, v in layers.items()})
    model, tokenizer = load_model(plain_dict(cfg.model, "model"))
    if stages & {"sample", "evaluate"} and not hasattr(model, "sample_prompts"):  # a hosted policy samples itself
        say("sampler: " + sampler_dtype(cfg)[1])
    metrics: dict[str, dict[str, Any]] = {}
    log_history: list[dict[str, Any]] = []
    if "evaluate" in stages and (cfg.eval.base or not method.trains_policy):
        metrics["base"] = _timed(ctx, "evaluate_base", lambda: evaluate_policy(ctx, model, tokenizer, "base"))
    policy, rounds = model, {}
    for round_ctx in _rounds(ctx):
        result = _train(round_ctx, method, policy, tokenizer, stages)
        if result is None:
            break
        log_history = result.log_history
        if result.metrics:
            metrics["method"] = result.metrics
        if not method.trains_policy:
            break
        policy = result.model
        if sharded_after_training(cfg) and not result.reused:  # a reused run was loaded whole already
            say(f"reloading the trained policy from {result.output_dir} to sample from it on rank 0 alone")
            policy = reload_policy(cfg, result)
        if "evaluate" in stages:
            rounds[str(round_ctx.round)] = _timed(round_ctx, "evaluate_trained",
                                                  lambda: evaluate_policy(round_ctx, policy, tokenizer, "trained"))
        if round_ctx.round < cfg.rounds:
            policy = _merged(policy)
    if rounds:
        metrics["trained"] = rounds[max(rounds, key=int)]
        if cfg.rounds > 1:
            metrics["rounds"] = rounds
    usage = getattr(model, "usage_report", None)  # a hosted policy: tokens and the estimated cost
    if usage is not None:
        metrics["usage"] = usage(run_dir)
    release_shared()
    ran = bool(metrics)
    if layers is not None:  # the layers the run's programs ran under ("off" only where the user said so)
        metrics["sandbox"] = {"layers": layers}
    ctx.path(rundir.METRICS).write_text(json.dumps(metrics, indent=2))
    if "report" in stages and ran:
        print(report_stage(ctx, metrics, log_history), flush=True)
    if ctx.logger is not None:
        ctx.logger.finish()
    mark_finished(ctx)
    say(f"metrics: {run_dir / rundir.METRICS}")
    return metrics


def _say_finished(cfg: RootConf, run_dir: Path) -> None:
    say(f"run directory {run_dir}: finished under this config and these problems; nothing to redo")
    report = run_dir / rundir.REPORT
    if "report" in {enum_text(s) for s in cfg.stages} and report.is_file():
        print(report.read_text().rstrip(), flush=True)
    say(f"metrics: {run_dir / rundir.METRICS}")


def _rounds(ctx: RunContext) -> Any:
    """The run itself when rounds=1; else round_1/, round_2/, ... each with its own files and stages.json,
    each round's inputs tied to the training of the round before, so that a redone round redoes the later ones."""
    if ctx.cfg.rounds <= 1:
        yield ctx
        return
    previous = None
    for r in range(1, ctx.cfg.rounds + 1):
        round_ctx = dataclasses.replace(ctx, run_dir=rundir.round_dir(ctx.run_dir, r), round=r, previous=previous)
        round_ctx.run_dir.mkdir(parents=True, exist_ok=True)
        round_specs = plan(round_ctx, ctx.method)
        for note in link_shared(round_ctx, [s for s in round_specs if s.name != "evaluate_base"]):
            say(f"round {r}: {note}")
        for change in reconcile(round_ctx, round_specs):
            say(f"round {r}: {change}")
        say(f"round {r} of {ctx.cfg.rounds} in {round_ctx.run_dir}")
        yield round_ctx
        previous = _trained_digest(round_ctx)


def _trained_digest(ctx: RunContext) -> str:
    """What a round trained, by content: its saved weights (else the keys it trained under)."""
    import hashlib

    h = hashlib.sha256()
    weights = sorted((ctx.run_dir / rundir.TRAIN).glob("*.safetensors"))
    for path in weights:
        h.update(path.read_bytes())
    if not weights:
        h.update(json.dumps(ctx.state().get("train", {}).get("keys"), sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def _train(ctx: RunContext, method: Any, model: Any, tokenizer: Any, stages: set[str]) -> Any:
    """Make the data the method needs (as far as `stages` allows), then train; None when nothing trained."""
    made = _make_data(ctx, model, tokenizer, method.needs, stages)
    release_shared()  # the shared base samples and evaluation are complete: other runs may read them
    if not (made and "train" in stages):
        return None
    ctx.mark_done(READY)
    result = _timed(ctx, "train", lambda: method.train(ctx, model, tokenizer))
    if result is not None:
        say(f"trained {result.steps} steps ({'reused a finished run' if result.reused else 'done'})")
    return result


def _merged(policy: Any) -> Any:
    """The next round trains a fresh adapter on top of this round's policy (which is also its reference)."""
    return policy.merge_and_unload() if hasattr(policy, "merge_and_unload") else policy


def _make_data(ctx: RunContext, model: Any, tokenizer: Any, needs: str | None, stages: set[str]) -> bool:
    """Sample, execute and pair as far as the method needs and `stages` allows; whether all it needs is made."""
    wanted = DATA_STAGES[: DATA_STAGES.index(needs) + 1] if needs else ()
    missing = [s for s in wanted if s not in stages]
    if missing:  # the stages before the first one left out still run: `stages=[sample]` only samples
        wanted = wanted[: wanted.index(missing[0])]
        if "train" in stages:
            say(f"not training: the method needs the stage(s) {missing}, which `stages` leaves out")
    if "sample" in wanted:
        samples = _timed(ctx, "sample", lambda: sample_stage(ctx, model, tokenizer))
    if "execute" in wanted:
        records = _timed(ctx, "execute", lambda: execute_stage(ctx, samples, ctx.train_tasks,
                                                               ctx.path(rundir.EXECUTIONS)))
        say(f"executed {len(records)} training samples: {sum(r['passed'] for r in records)} passed")
    if "prefer" in wanted:
        n_pairs = _timed(ctx, "prefer", lambda: prefer_stage(ctx, records, ctx.train_tasks),
                         record=lambda n: {"pairs": n})
        say(f"{n_pairs} preference pairs ({ctx.pairs_file})")
    return not missing


def _join_training(ctx: RunContext, method: Any, model: Any, tokenizer: Any) -> None:
    """A rank other than 0: wait until rank 0 has made the method's data, then train with it."""
    say("waiting for rank 0 to make the training data")
    wait_for_stage(ctx, READY, say)
    result = method.train(ctx, model, tokenizer)
    if result is not None:
        say(f"trained {result.steps} steps")


def _timed(ctx: RunContext, stage: str, fn: Any, record: Any = None) -> Any:
    """Run a stage and mark it done in stages.json, with its seconds (summed over resumes) and what
    `record(value)` adds."""
    t0 = time.monotonic()
    value = fn()
    previous = ctx.state().get(stage, {}).get("seconds", 0.0)
    ctx.mark_done(stage, seconds=round(previous + time.monotonic() - t0, 1), **(record(value) if record else {}))
    return value


def _hydra_run_dir() -> str | None:
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else None
    except ImportError:
        return None


def _start_logger(cfg: RootConf, run_dir: Path) -> Any:
    if enum_text(cfg.logger.name) == "none":
        return None
    import hashlib
    import os

    import wandb

    os.environ.setdefault("WANDB_SILENT", "true")
    # A stable id: a resumed run (same directory) continues the same W&B run instead of starting another.
    run_id = hashlib.sha1(str(run_dir).encode()).hexdigest()[:12]
    return wandb.init(project=cfg.logger.project, entity=cfg.logger.entity, group=cfg.logger.group,
                      tags=list(cfg.logger.tags), mode=enum_text(cfg.logger.mode), dir=str(run_dir), id=run_id,
                      resume="allow", name=f"{cfg.name}-{run_dir.name}",
                      config=plain_dict(cfg, "config"))
