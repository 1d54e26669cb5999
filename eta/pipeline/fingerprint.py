"""Which config keys each stage depends on, and what a resumed run must redo because they changed.

Every stage of a run records, in ``stages.json``, the values of the config keys it reads (flattened,
``model.name: tiny``) and a digest of its input problems. On a re-run in the same directory, a stage
whose recorded keys differ from the current ones, or whose input stage is redone, is redone too: its
files are moved to ``superseded/`` (never deleted: they may be hours of sampling) and the run says which
keys changed. Files with no record at all were made by an unknown config and are treated the same way.
A stage that matches keeps its files, and continues from them if it was killed half-way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eta import rundir
from eta.config import plain_dict
from eta.context import RunContext
from eta.hosted.settings import OPERATIONAL_KEYS as HOSTED_OPERATIONAL
from eta.sample.precision import sampler_dtype
from eta.tasks.schema import Task

# Dataset keys that only the executing stages read: changing a timeout does not call for new samples.
EXECUTE_ONLY = ("timeout_s", "test_timeout_s", "test_time_floor_s", "test_time_factor")


@dataclass(frozen=True)
class StageSpec:
    name: str
    keys: dict[str, Any]  # flattened config values (and input digests) the stage depends on
    after: str | None  # the stage whose files it reads
    outputs: tuple[str, ...]  # what it writes, relative to the run directory


def flatten(node: Any, prefix: str) -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}.{key}"))
        return out
    return {prefix: node}


def config_keys(cfg: Any, *nodes: str, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """The flattened values of the named top-level nodes (``model``, ``sampler``, ``seed``), less ``drop``."""
    out: dict[str, Any] = {}
    for node in nodes:
        value = getattr(cfg, node)
        nested = hasattr(value, "keys") or (dataclasses.is_dataclass(value) and not isinstance(value, type))
        out.update(flatten(plain_dict(value, node) if nested else value, node))
    return {k: v for k, v in out.items() if not any(k == d or k.startswith(d + ".") for d in drop)}


def tasks_digest(tasks: list[Task]) -> str:
    """A digest of the problems themselves, so that changed benchmark data is new input."""
    h = hashlib.sha256()
    for t in tasks:
        h.update(json.dumps(t.to_dict(), sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def plan(ctx: RunContext, method: Any) -> list[StageSpec]:
    """The stages this run may do, in order, each with the keys it depends on."""
    cfg = ctx.cfg
    sampling = config_keys(cfg, "model", "sampler", "dataset", "seed",
                           drop=("model.lora", *(f"dataset.{k}" for k in EXECUTE_ONLY),
                                 *(f"model.hosted.{k}" for k in HOSTED_OPERATIONAL)))
    _resolved_dtype(sampling, cfg)
    executing = config_keys(cfg, "execute", "dataset")
    evaluating = {**sampling, **executing, **config_keys(cfg, "eval"), "eval_tasks": tasks_digest(ctx.eval_tasks)}
    train_tasks = tasks_digest(ctx.train_tasks)
    specs = [
        StageSpec("evaluate_base", evaluating, None, (f"{rundir.EVAL}/{rundir.BASE}",)),
        StageSpec("sample", {**sampling, "train_tasks": train_tasks, **_previous(ctx)}, None,
                  (rundir.SAMPLES, rundir.SAMPLES_JOURNAL)),
        StageSpec("execute", executing, "sample", (rundir.EXECUTIONS,)),
        StageSpec("prefer", config_keys(cfg, "heuristic", "prefer"), "execute", (rundir.PAIRS, rundir.PAIRS_DATASET)),
    ]
    train_keys = config_keys(cfg, "method", "model", "seed", *method.keys)
    if "sampler" in method.keys:  # GRPO's rollouts and repair's attempts are sampled as evaluation's are
        _resolved_dtype(train_keys, cfg)
    if method.needs is None:
        train_keys.update(config_keys(cfg, "dataset"), train_tasks=train_tasks, **_previous(ctx))
    specs.append(StageSpec("train", train_keys, method.needs, (rundir.TRAIN,)))
    specs.append(StageSpec("evaluate_trained", evaluating, "train", (f"{rundir.EVAL}/{rundir.TRAINED}",)))
    return specs


def _resolved_dtype(keys: dict[str, Any], cfg: Any) -> None:
    """``sampler.dtype`` in ``keys`` as what it chose on this machine (auto is bfloat16 on one CPU, the
    model's own on another); left out where that is the model's dtype, so runs from before the key match."""
    keys["sampler.dtype"] = sampler_dtype(cfg)[0]
    if keys["sampler.dtype"] is None:
        keys.pop("sampler.dtype")


def _previous(ctx: RunContext) -> dict[str, Any]:
    # a later round's input is the policy the round before trained, named by a digest of its weights
    return {"previous_round_policy": ctx.previous} if ctx.round > 1 else {}


def reconcile(ctx: RunContext, specs: list[StageSpec]) -> Iterator[str]:
    """Move aside what a changed config made stale, record the current keys; yields what it did."""
    state = ctx.state()
    redone: set[str] = set()
    for spec in specs:
        record = state.get(spec.name)
        present = [p for p in spec.outputs if (ctx.run_dir / p).exists()]
        reason = None
        if spec.after in redone:
            reason = f"its input '{spec.after}' is redone"
        elif record is None and present:
            reason = "its files have no record of the config that made them"
        elif record is not None and record.get("keys") != spec.keys:
            reason = describe_change(record.get("keys") or {}, spec.keys)
        if reason is not None and (record is not None or present):
            redone.add(spec.name)
            moved = _supersede(ctx, spec, present)
            yield f"redoing '{spec.name}': {reason}" + (f" (old files moved to {moved})" if moved else "")
            state.pop(spec.name, None)
        if spec.name not in state:
            state[spec.name] = {"keys": spec.keys}
    ctx.write_state(state)


def describe_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    changed = sorted(k for k in set(old) | set(new) if old.get(k, "<unset>") != new.get(k, "<unset>"))
    shown = ", ".join(f"{k} ({old.get(k, '<unset>')!r} -> {new.get(k, '<unset>')!r})" for k in changed[:4])
    more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
    return f"{shown}{more} changed"


def _supersede(ctx: RunContext, spec: StageSpec, present: list[str]) -> str | None:
    present = [rel for rel in present if not (ctx.run_dir / rel).is_symlink()]  # shared data: keyed, never stale
    if not present:
        return None
    dest = ctx.run_dir / rundir.SUPERSEDED / f"{time.strftime('%Y%m%d-%H%M%S')}-{spec.name}"
    for rel in present:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(ctx.run_dir / rel), str(target))
    return str(dest.relative_to(ctx.run_dir))
