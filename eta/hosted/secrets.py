"""The API keys of a run with a hosted model, held where no program the run executes can read them.

The fork servers get an environment without credentials (``eta.execute.pool.server_environment``), and a
sandbox with its own user id and filesystem view sees no other process at all. Without those layers (a
machine where eta does not run as root) a candidate program runs as the run's own user and could still
read the key in ``/proc/<pid>/environ`` of the run itself, which keeps the environment it started with,
and of every process the run started with the key inherited (W&B's service among them). So, before any
stage starts:

- the keys leave ``os.environ`` for this module: nothing the run starts afterwards inherits them;
- the run's process becomes non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``): its ``/proc/<pid>/environ``
  and ``/proc/<pid>/mem`` are then readable only with ``CAP_SYS_PTRACE``, which a sandboxed program lacks.
  The cost: no core dumps of the run, and a debugger (py-spy) must attach as root.
"""

from __future__ import annotations

import os
import sys

KEY_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
PR_SET_DUMPABLE = 4
_held: dict[str, str] = {}


def hold_keys() -> list[str]:
    """Move the hosted APIs' keys out of the environment into this process alone; the variables moved."""
    moved = []
    for name in KEY_VARIABLES:
        value = os.environ.pop(name, None)
        if value and value.strip():
            _held[name] = value.strip()
            moved.append(name)
    if moved or _held:
        _not_dumpable()
    return moved


def held_key(name: str) -> str:
    """The key from the environment, else the one :func:`hold_keys` took from it; '' when neither has one."""
    return os.environ.get(name, "").strip() or _held.get(name, "")


def _not_dumpable() -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the environment is emptied all the same
        pass
