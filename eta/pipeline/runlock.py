"""One live process per run directory: a run holds an exclusive lock on ``<run_dir>/.run.lock`` from before
its first stage until it ends, so that two launchers of one sweep (two terminals, a cluster job requeued
while the old one still runs) never write the same job's files at once.

The lock is taken without waiting: a second process finds the folder held and stops at once with one line
naming the folder and the holder's pid (:class:`RunDirBusy`); in a multirun sweep ``run.py`` skips that job
and goes on with the next, since the other launcher is doing it (the comparison step leaves out a job
without ``metrics.json`` and says so). ``fcntl.flock`` belongs to the open file, which the kernel closes when
the process dies, however it dies: a killed run's folder is free at once, and the next launch resumes it.

Lock order: a run takes its run-directory lock first, then the shared folders' locks (``eta.pipeline.shared``),
and only the shared ones are waited for; a run that waits for a shared folder holds no lock that any other
run waits for, so the two kinds cannot deadlock. Only rank 0 of a multi-process launch takes it: the other
ranks of the same launch work in the same folder by design.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from eta import rundir
from eta.errors import ConfigError

LOCK_FILE = rundir.LOCK
_held: dict[Path, Any] = {}  # run directory -> its open lock file, in this process


class RunDirBusy(ConfigError):
    """Another live process is running in this run directory."""


def lock_run_dir(run_dir: Path) -> None:
    """Hold ``run_dir``'s lock until :func:`release_run_dir`; raises RunDirBusy if another process holds it."""
    import fcntl

    run_dir = Path(run_dir).resolve()
    if run_dir in _held:
        return
    f = open(run_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held open past this function on purpose
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        f.close()
        raise RunDirBusy(f"run directory {run_dir} is in use by another live run (pid {holder}); not touching it "
                         f"(it is free again when that run ends, and the next launch resumes it)") from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")  # for the message of the process that finds it held
    f.flush()
    _held[run_dir] = f


def release_run_dir(run_dir: Path) -> None:
    """Let go of ``run_dir``'s lock (a no-op when this process does not hold it)."""
    import fcntl

    f = _held.pop(Path(run_dir).resolve(), None)
    if f is not None:
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()
