"""The fork server: a pre-warmed interpreter that runs programs in sandboxed children, one per program.

Started once per worker by :class:`eta.execute.pool.Executor` (``python -m eta.execute.server``); talks
length-prefixed JSON frames on its stdin/stdout. It loads what a child needs, sets up the isolation that
is shared by all its programs (namespaces), runs the child's code path a few times on a fixed program (see
:mod:`eta.execute.warmup`; while the probe's children try the namespaces), then forks the zygote that forks the children (see :mod:`eta.execute.zygote`),
and only then loads the supervisor. A program starts in about a millisecond
instead of an interpreter's tens of milliseconds.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import struct
import sys
from typing import Any, BinaryIO

from eta.execute import isolation
from eta.execute.view import DEFAULT_ALLOW_PACKAGES
from eta.execute.warmup import warm_up
from eta.execute.zygote import Zygote

# Modules a candidate commonly imports: loaded before the fork so that importing them costs nothing. Left
# out on purpose, because every child would pay for them, used or not: dataclasses and pprint (they pull in
# inspect, pages each child maps), and random, queue and anything else that imports threading or registers an
# after-fork hook (threading's hook alone costs each child 0.4 ms here).
PRELOAD = ("math", "cmath", "collections", "itertools", "functools", "heapq", "bisect", "re", "string",
           "typing", "fractions", "decimal", "datetime", "json", "copy", "operator", "hashlib", "array",
           "struct", "textwrap", "unicodedata", "numbers", "enum", "abc", "contextlib", "io", "time",
           "calendar", "difflib", "base64", "binascii", "sys")
TMPFS_ENV = "ETA_SANDBOX_TMPFS_MB"  # the private /tmp's size, set by the executor from Limits.tmpfs_mb
ALLOW_ENV = "ETA_SANDBOX_ALLOW_PACKAGES"  # comma-separated, set by the executor from Limits.allow_packages


def read_frame(stream: BinaryIO) -> Any | None:
    header = stream.read(4)
    if len(header) < 4:
        return None
    (size,) = struct.unpack(">I", header)
    return json.loads(stream.read(size))


def write_frame(stream: BinaryIO, obj: Any) -> None:
    body = json.dumps(obj).encode()
    stream.write(struct.pack(">I", len(body)) + body)
    stream.flush()


def main() -> None:
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed by accident goes to stderr, never into the protocol
    requests = sys.stdin.buffer
    for name in PRELOAD:
        __import__(name)
    tmpfs_mb = int(os.environ.get(TMPFS_ENV, "64"))
    allow = os.environ.get(ALLOW_ENV)
    try:  # fail closed: a layer that cannot be set up, and that the user did not turn off, stops the server
        # The warm-up needs no namespace: it runs while the probe's children try the layers.
        plan = isolation.probe(tmpfs_mb, DEFAULT_ALLOW_PACKAGES if allow is None else [p for p in allow.split(",") if p],
                               while_waiting=warm_up)
        refused = isolation.refusal(plan)
        if refused is None:
            isolation.enter_namespaces(plan, tmpfs_mb)
    except isolation.SandboxRefused as e:
        refused = str(e)
    except OSError as e:
        refused = f"the sandbox refuses to run programs: its namespaces could not be entered: {e}"
    if refused is not None:
        write_frame(channel, {"type": "refused", "reason": refused})
        return
    isolation.become_subreaper()
    gc.freeze()  # children then share the server's objects without copying pages when their GC runs
    zygote = Zygote(plan)
    from eta.execute.supervisor import Supervisor, ZygoteDied  # after the fork: the zygote never maps them

    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    write_frame(channel, {"type": "ready", "pid": os.getpid(), "isolation": plan.describe(),
                          "layers": isolation.layers(plan)})
    supervisor = Supervisor(plan, zygote)
    while (job := read_frame(requests)) is not None:
        try:
            reply = supervisor.execute(job)
        except ZygoteDied:
            os._exit(1)  # the executor sees the server die, and retries in a fresh one
        except Exception as e:  # noqa: BLE001 - a harness fault is reported, never lost
            reply = {"infra_error": f"{type(e).__name__}: {e}"}
        write_frame(channel, reply)


if __name__ == "__main__":
    main()
