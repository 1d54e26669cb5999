"""Warming the fork server before it forks the zygote, so that the children fault fewer pages.

A forked child copies every page it writes. CPython writes to many objects just by running code the first
time: a function's warm-up counter lives in its code object until the function is quickened (8 calls on
3.11), the method cache fills on lookups, lazily bound symbols are patched in. Running the child's own path
(job decoding, the harness, the reporter, an import through ``from ... import``) a dozen times on a fixed
trusted program does all of that once, in the server, instead of once per child.
"""

from __future__ import annotations

import mmap
import os
import signal
import sys

from eta.execute import zygote
from eta.execute.child import Harness, Reporter, compile_program, compile_test, compile_value
from eta.execute.sites import SITE_FN, holds
from eta.execute.values import decode

# Trusted and fixed: a typical short solution, with a test that passes, one that fails and one that raises.
PROGRAM = '''
from typing import Dict, List, Optional, Tuple
import math


def solve(xs: List[int], s: str) -> Tuple[int, str]:
    """Sum of the even squares, and the alternate words reversed."""
    total = sum(x * x for x in xs if x % 2 == 0)
    words = sorted(set(s.lower().split()), key=len)
    seen: Dict[str, int] = {}
    for ch in s:
        seen[ch] = seen.get(ch, 0) + 1
    kept = [w[::-1].upper() for i, w in enumerate(words) if i % 2 == 0 and w.isalpha()]
    return total + int(math.sqrt(16)), " ".join(kept) + str(len(seen))
'''
# Most tests reach the child split (the supervisor keeps the expected value): "value" is the usual kind. A
# whole test reaches it with its assertions made sites (eta.execute.checks.transform): here
# `assert solve([], '') == (4, '1')`, whose constant stays with the supervisor (EXPECTED).
TESTS = (("value", "solve([1, 2, 3, 4], 'a bb ccc')"),
         ("assert", f"{SITE_FN}(0, solve([], ''))"),
         ("value", "solve([2], 'x')"),
         ("value", "solve(None, 'x')"))
SITES = [{"ops": ["eq"], "negate": False, "holes": [1]}]
EXPECTED = (4, "1")
ROUNDS = 12  # past 3.11's quickening threshold of 8 calls


def warm_up(rounds: int = ROUNDS) -> list[str]:
    """Run the child's path on the fixed program `rounds` times, in this process, and return the last
    round's outcomes. Leaves nothing behind but warmed caches: stdout, stderr, the environment, the alarm
    timer and its handler are as they were."""
    stdout, stderr, environ = sys.stdout, sys.stderr, dict(os.environ)
    on_alarm = signal.getsignal(signal.SIGALRM)
    jobs, report = mmap.mmap(-1, 1 << 20), mmap.mmap(-1, 1 << 20)
    tests = [{"kind": kind, "code": code, **({"sites": SITES} if kind == "assert" else {})} for kind, code in TESTS]
    compiled = tuple((compile_value if kind == "value" else compile_test)(code) for kind, code in TESTS)
    outcomes: list[str] = []
    try:
        for _ in range(rounds):
            job = {"program": PROGRAM, "tests": tests, "setup": "", "token": "0" * 32, "start": 0,
                   "limits": {"output_bytes": 1 << 16, "test_timeout_s": 60.0}}
            zygote.write_job(jobs, job, (compile_program(PROGRAM), None, compiled))
            job, codes = zygote.read_job(jobs)
            os.environ.update(HOME="/", TMPDIR="/")
            harness = Harness(job, Reporter(report, -1, job["token"]), codes)
            namespace = harness._load_module(codes[0], 0)
            outcomes = []
            for index in range(len(TESTS)):
                harness.reporter.start(index)
                reported = harness.reporter.used
                result = harness._run_test(index, codes[0], namespace)
                harness.reporter.send("test", **result)
                outcomes.append(_outcome(result, _frames(report, reported, harness.reporter.used)))
            harness.reporter.send("done", count=len(TESTS))
    finally:
        sys.stdout, sys.stderr = stdout, stderr
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, on_alarm)
        os.environ.clear()
        os.environ.update(environ)
        jobs.close()
        report.close()
    return outcomes



def _outcome(result: dict, frames: list[dict]) -> str:
    """The verdict the supervisor would give (a trusted stand-in: the program and its tests are fixed)."""
    if result["status"] != "ok":
        return "runtime_error"
    for frame in frames:
        if frame.get("type") == "site" and not holds(SITES[0], [decode(frame["ops"][0]), EXPECTED]):
            return "wrong_answer"
    return "passed"


def _frames(report: mmap.mmap, start: int, stop: int) -> list[dict]:
    import json
    import struct

    from eta.execute.child import FRAMES_AT

    found, at = [], FRAMES_AT + start
    while at < FRAMES_AT + stop:
        (size,) = struct.unpack(">I", report[at:at + 4])
        found.append(json.loads(report[at + 4:at + 4 + size]))
        at += 4 + size
    return found
