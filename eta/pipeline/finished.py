"""A finished run recognised as finished before anything heavy loads.

A re-run in a finished run directory (the finished jobs of a re-launched sweep) redoes nothing, but the
stage-by-stage path finds that out only after the method's TRL config (~10 s of imports) and the model
are loaded and every stage has re-read its files: ~45 s per job with SmolLM2. At its end a run records in
``stages.json`` (key ``finished``) a digest of everything its result depends on: the whole resolved
config, the problems themselves, the stage records and ``metrics.json``. A re-run whose digest matches,
with the files the run left still there, returns ``metrics.json`` at once; any difference (a key, the
benchmark data, a stage marked again, a file gone) takes the ordinary path, which redoes what it must.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from eta import rundir
from eta.config import RootConf, plain_dict
from eta.context import RunContext
from eta.tasks.schema import Task

KEY = "finished"  # its entry in stages.json; not a stage, so `reconcile` leaves it alone


def _digest(conf: RootConf, train_tasks: list[Task], eval_tasks: list[Task], state: dict[str, Any],
            metrics_text: str) -> str | None:
    from eta.pipeline.fingerprint import tasks_digest

    config = plain_dict(conf, "config")  # as the composed config resolves: the digests of earlier runs hold
    stages = {k: v for k, v in state.items() if k != KEY}
    whole = {"config": config, "train": tasks_digest(train_tasks), "eval": tasks_digest(eval_tasks),
             "stages": stages, "metrics": hashlib.sha256(metrics_text.encode()).hexdigest()}
    return hashlib.sha256(json.dumps(whole, sort_keys=True, default=str).encode()).hexdigest()


def mark_finished(ctx: RunContext) -> None:
    """Record the run as finished (call it last, after metrics.json and the report are written)."""
    state, metrics = ctx.state(), ctx.run_dir / rundir.METRICS
    digest = _digest(ctx.cfg, ctx.train_tasks, ctx.eval_tasks, state, metrics.read_text() if metrics.exists() else "")
    if digest is not None:
        # a link into shared/ whose target is gone (a sampling journal, removed once its samples were
        # complete) is not a file the run left: listed, it would make every finished job of a sweep look unfinished
        files = sorted(p.name for p in ctx.run_dir.iterdir() if not p.name.startswith(".") and p.exists())
        ctx.write_state({**state, KEY: {"digest": digest, "files": files}})


def finished_metrics(conf: RootConf, run_dir: Path) -> dict[str, Any] | None:
    """The metrics of a run finished in ``run_dir`` under this very config and these problems, else None."""
    try:
        state = RunContext(cfg=conf, run_dir=run_dir).state()
    except (OSError, ValueError):
        return None
    record = state.get(KEY)
    metrics = run_dir / rundir.METRICS
    if not record or not metrics.is_file() or not all((run_dir / f).exists() for f in record.get("files", [])):
        return None
    from eta.context import load_splits

    try:
        train_tasks, eval_tasks = load_splits(conf)
    except Exception:  # noqa: BLE001 - bad input is reported by the ordinary path, in its own words
        return None
    text = metrics.read_text()
    if _digest(conf, train_tasks, eval_tasks, state, text) != record.get("digest"):
        return None
    return json.loads(text)
