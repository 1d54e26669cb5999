"""The comparison of a sweep's methods: ``python -m eta.report.compare SWEEP_DIR``, also run at the end of
``python run.py -m experiment=comparison`` (``CompareCallback``, a Hydra callback).

Three steps, one module each: ``eta.report.jobs`` finds the sweep's jobs (a folder with ``.hydra/config.yaml``
and ``metrics.json``) and reads each policy's per-problem evaluations; ``eta.report.estimates`` gives, for
every metric, the mean and 95% interval per method from a bootstrap over seeds and problems
(``eta.report.bootstrap``), and the paired difference of each method against the base and against its
binary counterpart (ETA-DPO vs DPO-binary, ETA-RM vs GRPO-binary); ``eta.report.writing`` writes, into the
sweep folder:

* ``comparison.md``: the tables (and which errors each arm fixes: ``eta.report.transitions``);
  ``comparison.csv``: the estimates (the transition table's too), one row each;
* ``plots/*.png``: each metric by method with its interval, outcome frequencies stacked by method, the
  metrics by round when the jobs ran rounds > 1;
* a W&B run (``comparison``) in the jobs' group with the same tables and plots, when the jobs log to W&B.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eta import rundir
from eta.errors import ConfigError
from eta.report.estimates import (COUNTERPARTS, ENDPOINT, counterparts_of, estimate_all, ordered,
                                  primary_analysis)
from eta.report.jobs import Evaluations, Job, collect, find_jobs
from eta.report.transitions import as_rows, collect_transitions, transition_table
from eta.report.writing import log_wandb, markdown, write_csv, write_plots

__all__ = ["CompareCallback", "compare", "main", "ordered", "primary_settings"]


def _settings(jobs: Sequence[Job]) -> dict[str, Any]:
    """``compare:`` of the jobs' config (counterparts, primary, n_boot, seed), else the defaults."""
    for job in jobs:
        if isinstance(job.cfg.get("compare"), Mapping):
            return dict(job.cfg["compare"])
    return {}


def _jobs(sweep_dir: Path) -> tuple[list[Job], list[Path]]:
    if not sweep_dir.is_dir():
        raise ConfigError(f"compare: no sweep folder {sweep_dir}")
    jobs, unfinished = find_jobs(sweep_dir)
    if not jobs:
        raise ConfigError(f"compare: no finished job (a folder with .hydra/config.yaml and metrics.json) under {sweep_dir}")
    return jobs, unfinished


def _primary(settings: Mapping[str, Any], counterparts: Mapping[str, Any]) -> tuple[dict[str, str], str]:
    """The declared primary contrasts and endpoint; where none are declared, each arm's first counterpart."""
    primary_cfg = dict(settings.get("primary") or {})
    contrasts = dict(primary_cfg.get("contrasts")
                     or {m: found[0] for m in counterparts if (found := counterparts_of(m, counterparts))})
    return contrasts, str(primary_cfg.get("endpoint") or ENDPOINT)


def primary_settings(sweep_dir: str | Path) -> tuple[Evaluations, dict[str, str], str]:
    """A sweep's evaluations, its primary contrasts and endpoint (for eta.report.plan)."""
    jobs, _ = _jobs(Path(sweep_dir))
    settings = _settings(jobs)
    contrasts, endpoint = _primary(settings, {**COUNTERPARTS, **dict(settings.get("counterparts") or {})})
    return collect(jobs), contrasts, endpoint


def compare(sweep_dir: str | Path, wandb: bool | None = None, n_boot: int | None = None,
            say: Any = print) -> Path:
    """Write the comparison of the sweep in ``sweep_dir``; returns the path of comparison.md."""
    sweep_dir = Path(sweep_dir)
    jobs, unfinished = _jobs(sweep_dir)
    settings = _settings(jobs)
    counterparts = {**COUNTERPARTS, **dict(settings.get("counterparts") or {})}
    n_boot = int(n_boot or settings.get("n_boot", 2000))
    contrasts, endpoint = _primary(settings, counterparts)
    ev = collect(jobs)
    rows = estimate_all(ev, counterparts, n_boot=n_boot, seed=int(settings.get("seed", 0)))
    primary = primary_analysis(ev, contrasts, endpoint, n_boot=n_boot, seed=int(settings.get("seed", 0)))
    seeds = sorted({j.seed for j in jobs})
    notes = [f"{len(jobs)} finished jobs, seeds {seeds}, methods {', '.join(ordered(j.label for j in jobs))}; "
             f"{n_boot} bootstrap replicates"]
    if unfinished:
        notes.append(f"{len(unfinished)} job(s) without metrics.json left out: "
                     + ", ".join(str(p.relative_to(sweep_dir)) for p in unfinished))
    transitions = transition_table(collect_transitions(jobs), counterparts, n_boot, int(settings.get("seed", 0)))
    text = markdown(rows, f"Comparison: {sweep_dir.name}", notes, primary, endpoint, transitions)
    (sweep_dir / rundir.COMPARISON).write_text(text)
    write_csv(rows + as_rows(transitions), sweep_dir / rundir.COMPARISON_CSV, primary, endpoint)
    plots = write_plots(rows, ev, sweep_dir / "plots")
    logger = next((j.cfg.get("logger") for j in jobs if isinstance(j.cfg.get("logger"), Mapping)), {}) or {}
    if wandb if wandb is not None else str(logger.get("name", "none")) == "wandb":
        run_id = log_wandb(sweep_dir, logger, rows, plots, text)
        say(f"comparison logged to W&B run {run_id} (group {logger.get('group')})")
    say(f"comparison of {len(jobs)} jobs: {sweep_dir / 'comparison.md'}")
    return sweep_dir / rundir.COMPARISON


try:  # the callback is importable wherever Hydra is
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover
    Callback = object  # type: ignore[misc,assignment]


class CompareCallback(Callback):  # type: ignore[misc]
    """Runs :func:`compare` on the sweep folder once every job of a multirun has finished."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            compare(sweep_dir)
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eta.report.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--no-wandb", action="store_true", help="write the files only, no W&B run")
    parser.add_argument("--n-boot", type=int, default=None, help="bootstrap replicates (default 2000)")
    args = parser.parse_args(argv)
    try:
        compare(args.sweep_dir, wandb=False if args.no_wandb else None, n_boot=args.n_boot)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
