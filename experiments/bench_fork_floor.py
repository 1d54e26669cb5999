"""What a fresh process per program costs this machine's kernel, before any harness work.

Measures, in one run:
  1. fork + _exit + wait of this interpreter bare, and after loading what the fork server preloads
     (the image every sandboxed child is forked from);
  2. the cost of one copy-on-write page: a child writes one byte into each of N pages it shares with
     its parent, against a child that writes nothing;
  3. with --pages, how many pages a real sandboxed child copies. For bench_execute.py's programs a child
     takes about 415 minor faults (the zygote's wait4 rusage), of which about 75 only map library text
     (perf's fault addresses): about 340 copies, the default.

It prints the floor these give for the CPU of one program, and the ceiling on programs/s that follows for
`--workers` cores if they scaled perfectly: bench_execute.py cannot pass it, whatever the harness, the
supervisor and the executor do (they add their own CPU on top).

    python experiments/bench_fork_floor.py [--forks 500] [--pages 340] [--workers 2]
"""

from __future__ import annotations

import argparse
import mmap
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAGE = mmap.PAGESIZE


def fork_exit_ms(forks: int, write_pages: mmap.mmap | None = None, n_pages: int = 0) -> float:
    """Wall ms per fork + (writes) + _exit + wait; the parent is idle meanwhile, so wall is CPU."""
    t0 = time.perf_counter()
    for _ in range(forks):
        pid = os.fork()
        if pid == 0:
            if write_pages is not None:
                for i in range(n_pages):
                    write_pages[i * PAGE] = 2
            os._exit(0)
        os.waitpid(pid, 0)
    return (time.perf_counter() - t0) / forks * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--forks", type=int, default=500)
    ap.add_argument("--pages", type=int, default=340, help="pages a sandboxed child copies")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    bare = fork_exit_ms(args.forks)
    from eta.execute.server import PRELOAD

    for name in PRELOAD:
        __import__(name)
    import eta.execute.child  # noqa: F401 - the harness the children run
    import eta.execute.zygote  # noqa: F401
    preloaded = fork_exit_ms(args.forks)

    shared = mmap.mmap(-1, 2 * args.pages * PAGE, flags=mmap.MAP_PRIVATE)
    for i in range(2 * args.pages):
        shared[i * PAGE] = 1  # present in the parent, so the child's writes copy
    writes = fork_exit_ms(args.forks, shared, args.pages)
    idle = fork_exit_ms(args.forks, shared, 0)
    cow_us = (writes - idle) / args.pages * 1e3

    floor_ms = preloaded + cow_us * args.pages / 1e3
    print(f"fork + exit, bare interpreter      : {bare:.3f} ms")
    print(f"fork + exit, fork server's image   : {preloaded:.3f} ms")
    print(f"one copy-on-write page             : {cow_us:.2f} us")
    print(f"floor per program ({args.pages} pages copied): {floor_ms:.2f} ms of CPU before any harness or program work")
    print(f"ceiling on {args.workers} cores: {args.workers / floor_ms * 1e3:.0f} programs/s")


if __name__ == "__main__":
    main()
