"""Data shared between the runs of a sweep (``shared_dir``): the base policy's training samples, their
executions and the base policy's evaluation, made once and linked into every run that would make them the
same way, so that every method of one seed trains on the same samples and is compared against the same base.

Each shared stage lives in ``<shared_dir>/<stage>-<fingerprint>/``, the fingerprint a digest of the config
keys the stage and the stages it reads depend on (``eta.pipeline.fingerprint.plan``): a run under another
model, sampler, dataset, seed or execution setting gets another folder, never these files. The run's own
``samples.jsonl``, ``executions.jsonl`` and ``eval/base`` are symbolic links into it; a stage resumes from
the shared files as from its own (a complete file is read, not redone).

Runs that share a folder may run at the same time (two launchers of one sweep, a parallel launcher): each
run holds an exclusive lock (``fcntl.flock`` on ``<folder>/.lock``) on every shared folder it links, from
linking until its data stages are done (:func:`release_shared`), so that one of them makes the files and the
others wait, then read them complete. Folders are locked in one order, so two runs never wait on each other.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from eta import rundir
from eta.context import RunContext
from eta.pipeline.fingerprint import StageSpec

SHARED_STAGES = ("evaluate_base", "sample", "execute")
LOCK_FILE = rundir.SHARED_LOCK
_held: list[Any] = []  # this process's open lock files: one run at a time per process (Hydra's launcher)


def fingerprint(spec: StageSpec, specs: dict[str, StageSpec]) -> str:
    """A digest of the keys of ``spec`` and of every stage it reads from."""
    chain, current = [], spec
    while current is not None:
        chain.append({"stage": current.name, "keys": current.keys})
        current = specs.get(current.after) if current.after else None
    return hashlib.sha256(json.dumps(chain, sort_keys=True, default=str).encode()).hexdigest()[:16]


def link_shared(ctx: RunContext, specs: list[StageSpec]) -> list[str]:
    """Link the run's shared stages into ``shared_dir``; returns what it could not share, and why."""
    shared_dir = ctx.cfg.shared_dir
    if not shared_dir:
        return []
    by_name = {s.name: s for s in specs}
    state, notes = ctx.state(), []
    if ctx.round <= 1:
        release_shared()  # a run before this one in the process is over
    for name in SHARED_STAGES:
        spec = by_name.get(name)
        if spec is None or (name != "evaluate_base" and ctx.round > 1):  # later rounds sample the trained policy
            continue
        home = Path(shared_dir).resolve() / f"{name}-{fingerprint(spec, by_name)}"
        home.mkdir(parents=True, exist_ok=True)
        _lock(home, ctx.say)
        keys_file = home / rundir.SHARED_KEYS
        if not keys_file.exists():  # for a reader: what these files were made under
            keys_file.write_text(json.dumps(spec.keys, indent=1, sort_keys=True, default=str))
        linked = [_link(ctx.run_dir / rel, home / rel, directory=rel.startswith(rundir.EVAL)) for rel in spec.outputs]
        if not all(linked):
            notes.append(f"'{name}': this run directory made its own files before shared_dir was set; kept, not shared")
            continue
        state.setdefault(name, {"keys": spec.keys})  # the folder is keyed by these keys: they match by construction
    ctx.write_state(state)
    return notes


def _link(link: Path, target: Path, directory: bool) -> bool:
    if directory:
        target.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink():
        if Path(os.readlink(link)) == target:
            return True
        link.unlink()  # the config changed: the other shared folder stays as it is
    elif link.exists():
        return False
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=directory)
    return True


def _lock(home: Path, say: Any) -> None:
    """Hold ``home``'s lock until :func:`release_shared`, waiting (and saying so) while another run holds it."""
    import fcntl

    if any(getattr(f, "name", None) == str(home / LOCK_FILE) for f in _held):
        return
    f = open(home / LOCK_FILE, "a+")  # noqa: SIM115 - held open past this function on purpose
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        say(f"waiting for another run making the shared data in {home}")
        fcntl.flock(f, fcntl.LOCK_EX)
    _held.append(f)


def release_shared() -> None:
    """Let other runs at this process's shared folders: its data stages are done (or the run is over)."""
    import fcntl

    while _held:
        f = _held.pop()
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()
