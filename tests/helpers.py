"""What several test files share: the composed config, the smoke overrides, run.py in a process, one execution
record factory, and the comparison's independent estimators. Standard library at import time (the tracer and
sandbox tests import the conftest on a bare Python 3.12 too); hydra and numpy are imported where used."""

from __future__ import annotations

import copy
import csv
import math
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# The tiny in-process model on 4 HumanEval problems, every stage: experiments/experiment/smoke.yaml.
SMOKE = ("experiment=smoke",)


# ---------------------------------------------------------------- the config

def compose(*overrides: str) -> Any:
    """eta's config with these overrides, composed once per set of overrides (and per ETA_ROOT) in a session;
    each call gets its own copy, so a test may resolve or change it."""
    os.environ.setdefault("ETA_ROOT", str(ROOT))
    return copy.deepcopy(_composed(tuple(overrides), os.environ["ETA_ROOT"]))


@lru_cache(maxsize=None)
def _composed(overrides: tuple[str, ...], eta_root: str) -> Any:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from eta.config import register

    register()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            return hydra_compose(config_name="config", overrides=list(overrides))
    finally:
        GlobalHydra.instance().clear()


# ---------------------------------------------------------------- run.py in a new process (tests marked slow)

def run_py(*overrides: str, timeout: int = 600, processes: int = 1, **extra_env: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, WANDB_MODE="offline", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", **extra_env)
    launcher = [] if processes == 1 else ["-m", "torch.distributed.run", f"--nproc_per_node={processes}"]
    return subprocess.run([sys.executable, *launcher, str(ROOT / "run.py"), *overrides], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------- what a run did, counted

class Counts:
    """What a run really did: prompts sampled and programs executed."""

    def __init__(self, monkeypatch: Any) -> None:
        import eta.execute.batch
        import eta.sample

        self.prompts = self.programs = 0
        real_sample, real_executor = eta.sample.sample, eta.execute.batch.Executor
        counts = self

        def sample(model, tokenizer, prompts, **kw):
            counts.prompts += len(prompts)
            return real_sample(model, tokenizer, prompts, **kw)

        class Executor(real_executor):
            def imap_unordered(self, jobs):
                for result in super().imap_unordered(jobs):
                    counts.programs += 1
                    yield result

        monkeypatch.setattr(eta.sample, "sample", sample)
        monkeypatch.setattr(eta.execute.batch, "Executor", Executor)


# ---------------------------------------------------------------- execution records

def record(task_id: str = "T/0", sample_id: int = 0, outcome: str = "passed", *, tests_passed: int = 0,
           tests_total: int = 4, error_type: str | None = None, error_message: str | None = None,
           steps: int | None = None, completion: str | None = None, duration_s: float = 0.0,
           per_test: bool = False, trace: str | None = None) -> dict[str, Any]:
    """One line of executions.jsonl as eta.execute writes it. With ``per_test`` (or a ``trace``) its one test's
    verdict is in ``tests``, carrying the trace; the completion defaults to one distinct per sample."""
    tests: list[dict[str, Any]] = []
    if per_test or trace is not None:
        tests = [{"index": 0, "outcome": outcome, "error_type": error_type, "error_message": error_message,
                  "steps": steps, "trace": trace}]
    return {"task_id": task_id, "sample_id": sample_id,
            "completion": completion if completion is not None else f"code {sample_id}",
            "passed": outcome == "passed", "outcome": outcome, "tests_passed": tests_passed,
            "tests_total": tests_total, "error_type": error_type, "error_message": error_message, "steps": steps,
            "duration_s": duration_s, "tests": tests}


# ---------------------------------------------------------------- the comparison, computed independently

def naive_replicates(groups, n_boot, seed, problems=None, families=None):
    """The cluster bootstrap written out with lists, drawing in the documented order: families, then the
    problems within each drawn family, then (crossed) the seeds; each drawn seed scored on the drawn problems."""
    problems = problems or [[str(i) for i in range(len(num))] for num, _ in groups]
    family = (families or {}).get
    blocks = {}
    for p in sorted({p for seed in problems for p in seed}, key=lambda p: (family(p, p), p)):
        blocks.setdefault(family(p, p), []).append(p)
    names = list(blocks)
    import numpy as np

    rng = np.random.default_rng(seed)
    fam = rng.integers(0, len(names), (n_boot, len(names)))
    u = rng.random((n_boot, len(names), max(len(b) for b in blocks.values())))
    seeds = rng.integers(0, len(groups), (n_boot, len(groups)))
    reps = []
    for b in range(n_boot):
        drawn = []
        for j, f in enumerate(fam[b]):
            block = blocks[names[f]]
            drawn += [block[math.floor(u[b][j][k] * len(block))] for k in range(len(block))]
        per_seed = []
        for s in seeds[b]:
            num, den = groups[s]
            row = {p: i for i, p in enumerate(problems[s])}
            mine = [row[p] for p in drawn if p in row]
            if not mine:
                continue
            series = []
            for k in range(len(num[0])):
                top = sum(num[i][k] for i in mine)
                bottom = sum(den[i][k] for i in mine)
                series.append(top / bottom if bottom else 0.0)
            per_seed.append(series)
        reps.append([sum(v[k] for v in per_seed) / len(per_seed) for k in range(len(per_seed[0]))])
    return reps


def naive_interval(reps, center, n_families):
    """The 95% percentile interval, its distance from the point estimate widened for few families."""
    from eta.report import bootstrap

    scale = bootstrap.widening(n_families, 0.95)
    low, high = naive_percentile(reps, 2.5), naive_percentile(reps, 97.5)
    return max(center - scale * (center - low), min(reps)), min(center + scale * (high - center), max(reps))


def naive_percentile(values, q):
    """numpy's default ('linear') percentile, by hand."""
    xs = sorted(values)
    pos = q / 100 * (len(xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def read_csv(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def find(rows, metric, method, against=""):
    hits = [r for r in rows if r["metric"] == metric and r["method"] == method and r["against"] == against]
    assert len(hits) == 1, (metric, method, against, hits)
    return {k: (float(v) if k in ("mean", "ci_low", "ci_high") else v) for k, v in hits[0].items()}


def _has_data(name: str) -> bool:
    from eta.tasks.errors import TaskLoadError
    from eta.tasks.sources import resolve_data_dir

    try:
        return (resolve_data_dir() / name).is_dir()
    except TaskLoadError:
        return False


def needs_data(name: str) -> Any:
    """Skip a test that reads a benchmark of ../shared/data (or $ETA_DATA_DIR) where that benchmark is absent."""
    import pytest

    return pytest.mark.skipif(not _has_data(name), reason=f"benchmark data {name!r} not found")
