"""One live process per run directory (eta.pipeline.runlock): a second launcher of the same job stops in one
line naming the folder and the holder's pid (a single run fails, a sweep skips the job) and touches none of
its files; a killed holder's folder is free, and the next launch resumes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ROOT, SMOKE, run_py

from eta.pipeline.runlock import LOCK_FILE, RunDirBusy, lock_run_dir, release_run_dir

HOLD = "import sys, time; from eta.pipeline.runlock import lock_run_dir; lock_run_dir(sys.argv[1]); print('held', flush=True); time.sleep(60)"


def test_a_held_run_dir_is_refused_with_the_holders_pid_and_free_once_the_holder_dies(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirBusy, match=rf"run directory {tmp_path} is in use by another live run \(pid {holder.pid}\)"):
            lock_run_dir(tmp_path)
    finally:
        holder.kill()  # SIGKILL: no cleanup of its own; the kernel lets go of the lock
        holder.wait()
    lock_run_dir(tmp_path)
    assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())
    lock_run_dir(tmp_path)  # taken again by the same process (a sweep's next job, the same folder): no self-deadlock
    release_run_dir(tmp_path)
    import fcntl

    with open(tmp_path / LOCK_FILE) as f:  # released: free for anyone
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _snapshot(run_dir: Path) -> dict[str, tuple[int, int]]:
    """Every file eta writes in the run dir, with size and mtime (Hydra's own .hydra/ left out)."""
    return {str(p.relative_to(run_dir)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in run_dir.rglob("*")
            if ".hydra" not in p.parts and not p.name.endswith(".log")}


@pytest.mark.slow  # three tiny runs and two refused starts: ~60 s here
def test_two_launchers_of_one_job_the_second_stops_and_the_killed_first_resumes(tmp_path):
    run_dir = tmp_path / "job"
    env = dict(os.environ, WANDB_MODE="offline", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    first = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *SMOKE, f"hydra.run.dir={run_dir}"], cwd=ROOT,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not _stage_done(run_dir, "evaluate_base"):  # the first is well into the run ...
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()[1][-3000:]
            time.sleep(0.2)
        first.send_signal(signal.SIGSTOP)  # ... and holds still: alive, holding the lock, writing nothing
        before = _snapshot(run_dir)
        single = run_py(*SMOKE, f"hydra.run.dir={run_dir}")
        sweep = run_py("-m", *SMOKE, f"hydra.sweep.dir={tmp_path}", "hydra.sweep.subdir=job")
        assert _snapshot(run_dir) == before  # neither touched the job's files
        busy = f"run directory {run_dir} is in use by another live run (pid {first.pid})"
        assert single.returncode == 2 and f"error: {busy}" in single.stderr and "Traceback" not in single.stderr
        assert sweep.returncode == 0 and f"skipped: {busy}" in sweep.stderr and "Traceback" not in sweep.stderr
        assert "[eta" not in single.stdout + sweep.stdout  # no stage began
        first.kill()  # a kill: the kernel frees the folder
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    made = {k: v for k, v in _snapshot(run_dir).items() if k.startswith("eval") and "samples" in k}
    assert made  # the killed first left its base evaluation samples
    again = run_py(*SMOKE, f"hydra.run.dir={run_dir}")
    assert again.returncode == 0, again.stderr[-3000:]
    state = json.loads((run_dir / "stages.json").read_text())
    after = _snapshot(run_dir)
    assert {k: after.get(k) for k in made} == made  # resumed: the base policy is not sampled again
    assert state["train"]["done"] and (run_dir / "metrics.json").is_file()


def _stage_done(run_dir: Path, stage: str) -> bool:
    try:
        return bool(json.loads((run_dir / "stages.json").read_text()).get(stage, {}).get("done"))
    except (OSError, ValueError):
        return False
