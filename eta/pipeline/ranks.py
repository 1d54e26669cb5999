"""Who does what when a launcher starts several processes (torchrun, accelerate launch, deepspeed).

Rank 0 samples, executes, builds the pairs, evaluates and reports, alone: those stages write the run's
files, and N processes writing them at once would sample everything N times into one file. Every rank
trains, since a DDP or DeepSpeed step needs them all. The other ranks wait for rank 0's pairs by reading
``stages.json``, not at a ``torch.distributed`` barrier: the process group does not exist before the
Trainer makes it, and sampling and executing can outlast a collective's timeout (30 minutes for NCCL by
default). If rank 0 dies, the launcher stops the others. A mark made before the launcher started is left
from an earlier launch in the same run directory (rank 0 redoes the pairs on a resume): the other ranks
wait for rank 0 to make it again.

After training, the policy in memory may be sharded across the ranks (ZeRO-3) or wrapped for them, and
rank 0 generates alone; so rank 0 evaluates a policy reloaded from the adapter the run saved
(``eta.train.distributed.reload_policy``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from eta.context import RunContext

POLL_S = 2.0
REPORT_EVERY_S = 300.0


def wait_for_stage(ctx: RunContext, stage: str, say: Callable[[str], None], poll_s: float = POLL_S,
                   report_every_s: float = REPORT_EVERY_S, since: float | None = None) -> dict[str, Any]:
    """Block until rank 0 marks `stage` done in stages.json after `since` (epoch seconds; default: when
    this process's launcher started); returns what it recorded with it."""
    since = launch_started_at() if since is None else since
    started = last_report = time.monotonic()
    while (mark := ctx.state().get(stage)) is None or mark.get("at", 0.0) < since:
        if time.monotonic() - last_report >= report_every_s:
            last_report = time.monotonic()
            say(f"waiting for rank 0 to finish '{stage}' ({(last_report - started) / 60:.0f} min so far)")
        time.sleep(poll_s)
    return mark


def launch_started_at(pid: int | None = None) -> float:
    """When the parent of `pid` (default: this process), the launcher, started, in epoch seconds; 0.0
    where /proc cannot tell."""
    try:
        with open(f"/proc/{pid or os.getpid()}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        with open(f"/proc/{ppid}/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22, counted after the name
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime"))
    except (OSError, ValueError, IndexError, StopIteration):
        return 0.0
    return boot + start_ticks / os.sysconf("SC_CLK_TCK")
