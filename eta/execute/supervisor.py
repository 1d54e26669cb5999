"""The supervisor: runs one job through the zygote's children, enforcing deadlines and collecting verdicts.

It lives in the fork server and never forks itself (see :mod:`eta.execute.zygote` for why). Per child it
writes the job into the shared job area, asks the zygote for a fork, then watches three pipes: the zygote's
status (the child ended), the children's output, and the overflow of their report frames. The test running
now and when it started are read from the shared report area, so a test that hangs is killed at its own
deadline without the child waking us up per test. Before the fork it splits the tests it can (see
:mod:`eta.execute.checks`): the child then only computes values, and the verdicts on them are made here.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import struct
import time
import warnings
from types import CodeType
from typing import Any

from eta.execute import isolation, view
from eta.execute.checks import Check, final_result, split_test
from eta.execute.child import (COMPILE_ERRORS, FRAMES_AT, HEADER, NOT_RUN_AFTER_TIMEOUT, compile_program,
                             compile_setup, compile_test, compile_value)
from eta.execute.limits import Limits, test_limit
from eta.execute.outcome import Outcome
from eta.execute.zygote import (EXIT_CHANNEL_LOST, EXIT_HARNESS_DISRUPTED, EXIT_ISOLATION_FAILED, FORK,
                                FORK_TRACED, PID, STATUS, Zygote, kill_group, write_job)

GRACE_S = 0.5  # the hard kill follows the child's own soft timer by this much
TORN_RECHECK_S = 0.001  # how soon to read the report header again after catching the child mid-write


class ZygoteDied(Exception):
    """The zygote is gone (a candidate that may kill its parent killed it): the server must go too."""


class FrameReader:
    """Parses the child's frames; any frame without the program's token is tampering."""

    def __init__(self, token: str) -> None:
        self.token, self.buf = token, bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self.buf += data
        frames = []
        while len(self.buf) >= 4:
            (size,) = struct.unpack(">I", self.buf[:4])
            if size > 64 * 1024 * 1024:
                raise ValueError("oversized frame")
            if len(self.buf) < 4 + size:
                break
            body, self.buf = bytes(self.buf[4:4 + size]), self.buf[4 + size:]
            frame = json.loads(body)
            if not isinstance(frame, dict) or frame.pop("token", None) != self.token:
                raise ValueError("frame without the program's token")
            frames.append(frame)
        return frames


class Run:
    """What one child reported before it ended."""

    def __init__(self) -> None:
        self.results: dict[int, dict[str, Any]] = {}
        self.current: int | None = None
        self.done = False
        self.ending: tuple[Outcome, str, str] | None = None  # how the child ended, when it did not finish


class Output:
    def __init__(self, cap: int) -> None:
        self.cap, self.kept, self.total = cap, bytearray(), 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        if len(self.kept) < self.cap:
            self.kept += data[: self.cap - len(self.kept)]


class Compiler:
    """Compiles ahead of the fork, in the supervisor's warm process: a child then loads code objects
    instead of parsing source, a test is compiled once for all the samples of its task, and a program that
    does not compile is judged without a child at all. Compile warnings are kept, to be shown in the
    program's output as if the child had printed them."""

    PROGRAM_MAX_CHARS = 256 * 1024  # a larger program is compiled by the child, under its limits
    CACHE_SIZE = 8192  # test and setup sources kept compiled (and tests kept split)

    def __init__(self) -> None:
        self.cache: dict[tuple[str, str], tuple[CodeType | None, str]] = {}
        self.splits: dict[str, Check | None] = {}

    def program(self, source: str) -> tuple[CodeType | None, str, BaseException | None]:
        """(code or None, warnings printed, the compile error if there was one)."""
        if len(source) > self.PROGRAM_MAX_CHARS:
            return None, "", None
        try:
            code, printed = _compile(compile_program, source)
        except COMPILE_ERRORS as e:
            return None, "", e
        return code, printed, None

    def cached(self, kind: str, source: str) -> tuple[CodeType | None, str]:
        """A test's, a value's or the setup's code, or None where it does not compile (the child then
        reports that)."""
        def compile_it() -> tuple[CodeType | None, str]:
            try:
                return _compile(_COMPILERS[kind], source)
            except Exception:  # noqa: BLE001 - the child compiles it again and reports the error as its verdict
                return None, ""
        return _memo(self.cache, (kind, source), compile_it, self.CACHE_SIZE)

    def split(self, tests: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Check | None]]:
        """The tests as the child gets them, and each one's check (None: judged in the child). The child's
        tests carry nothing of what a split test expects, not even its display."""
        child, checks = [], []
        for test in tests:
            if test.get("kind", "assert") == "assert":  # parsed once per test source, like its compilation
                check = _memo(self.splits, test.get("code", ""), lambda: split_test(test), self.CACHE_SIZE)
            else:
                check = split_test(test)
            checks.append(check)
            if check is None:
                child.append({k: v for k, v in test.items() if k != "expected_stdout"})
            elif check.kind == "stdio":
                child.append({"kind": "stdio", "stdin": test.get("stdin", ""), "display": test.get("display", "")})
            else:
                child.append({"kind": "value", "code": check.expr})
        return child, checks

    def codes(self, job: dict[str, Any]) -> tuple[tuple[Any, Any, Any] | None, str, BaseException | None]:
        """The job's code objects for the child, the warnings they printed, and the program's compile error."""
        program, printed, error = self.program(job["program"])
        if program is None:
            return None, printed, error
        setup, setup_printed = self.cached("setup", job["setup"]) if job.get("setup") else (None, "")
        tests = [self.cached(t.get("kind", "assert"), t.get("code", "")) if t.get("kind") != "stdio" else (None, "")
                 for t in job["tests"]]
        return (program, setup, tuple(code for code, _ in tests)), printed + setup_printed, None


_COMPILERS = {"setup": compile_setup, "assert": compile_test, "value": compile_value}


def _memo(cache: dict[Any, Any], key: Any, make: Any, size: int) -> Any:
    """cache[key], made on first use; the oldest entry goes when the cache is full."""
    if key not in cache:
        if len(cache) >= size:
            cache.pop(next(iter(cache)))
        cache[key] = make()
    return cache[key]


def _compile(compile_fn: Any, source: str) -> tuple[CodeType, str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = compile_fn(source)
    return code, "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno, None) for w in caught)


class Supervisor:
    def __init__(self, plan: isolation.Plan, zygote: Zygote) -> None:
        self.plan, self.zygote = plan, zygote
        self.compiler = Compiler()
        self._limits: dict[str, tuple[Limits, dict[str, Any], list[tuple[int, int, int]]]] = {}

    def _parse_limits(self, given: dict[str, Any] | None) -> tuple[Limits, dict[str, Any], list[tuple[int, int, int]]]:
        key = json.dumps(given, sort_keys=True)
        if key not in self._limits:  # every job of an executor carries the same limits: parse them once
            limits = Limits.from_mapping(given)
            self._limits[key] = (limits, limits.to_dict(),
                                 isolation.rlimits(limits, with_nproc=self.plan.uid is not None))
        return self._limits[key]

    def execute(self, job: dict[str, Any]) -> dict[str, Any]:
        t0 = time.monotonic()
        limits, job["limits"], job["rlimits"] = self._parse_limits(job.get("limits"))
        given = job["tests"]
        total = len(given)
        job["tests"], checks = self.compiler.split(given)
        output = Output(limits.output_bytes)
        codes, printed, error = self.compiler.codes(job)
        output.add(printed.encode())
        if error is not None:  # the child would report exactly this for every test; no need to start one
            etype, msg = type(error).__name__, str(error)[:500]
            results = {i: {"index": i, "outcome": Outcome.SYNTAX_ERROR.value, "error_type": etype,
                           "error_message": msg, "steps": 0 if job.get("trace") else None} for i in range(total)}
        else:
            results = self._run_tests(job, codes, limits, t0 + limits.timeout_s, output)
            if "infra_error" in results:
                return results
        tests = [final_result(results[i], checks[i], given[i], job["tests"][i]) for i in range(total) if i in results]
        return {"tests": tests, "duration_s": time.monotonic() - t0,
                "output": output.kept.decode("utf-8", "replace"), "output_bytes": output.total}

    def _run_tests(self, job: dict[str, Any], codes: tuple[Any, Any, Any] | None, limits: Limits, deadline: float,
                   output: Output) -> dict[Any, Any]:
        """Each test's frame, by index: children are forked until every test has one (a child that dies
        takes only its running test with it), or the program's time is spent."""
        total = len(job["tests"])
        results: dict[Any, Any] = {}
        start = 0
        while True:
            run = self._run_child(job, codes, limits, start, deadline, output)
            results.update((i, r) for i, r in run.results.items() if 0 <= i < total)  # a forged index is dropped
            if run.done or run.ending is None or total == 0:
                for index in set(range(start, total)) - set(results):  # "done" came before their results
                    results[index] = {"index": index, "outcome": Outcome.CRASHED.value, "error_type": "HarnessTampering",
                                      "error_message": "the test's result never came: the program interfered with its harness"}
                break
            if run.ending[0] is Outcome.INFRA_ERROR:
                return {"infra_error": run.ending[2]}
            missing = sorted(set(range(start, total)) - set(results))
            if not missing:
                break
            index = run.current if run.current is not None and run.current not in results else missing[0]
            outcome, etype, msg = run.ending
            results[index] = {"index": index, "outcome": outcome.value, "error_type": etype, "error_message": msg}
            start = index + 1
            if start >= total:
                break
            if outcome is Outcome.TIMEOUT and job.get("test_timeouts"):  # see child.NOT_RUN_AFTER_TIMEOUT
                for rest in range(start, total):
                    results[rest] = {"index": rest, "outcome": Outcome.TIMEOUT.value, "error_type": "Timeout",
                                     "error_message": NOT_RUN_AFTER_TIMEOUT}
                break
            if time.monotonic() >= deadline:
                for rest in range(start, total):
                    results[rest] = {"index": rest, "outcome": Outcome.TIMEOUT.value, "error_type": "Timeout",
                                     "error_message": "not run: the program's time budget was spent"}
                break
        return results

    def _run_child(self, job: dict[str, Any], codes: tuple[Any, Any, Any] | None, limits: Limits, start: int,
                   deadline: float, output: Output) -> Run:
        token = os.urandom(16).hex()
        workdir = f"/tmp/eta-sandbox-{token[:16]}"  # made by the child; with a view, in the view's private /tmp
        z = self.zygote
        write_job(z.jobs, dict(job, start=start, token=token, workdir=workdir), codes)
        HEADER.pack_into(z.report, 0, -1, 0.0, 0)
        os.write(z.cmd_w, FORK_TRACED if job.get("trace") else FORK)
        (pid,) = PID.unpack(self._read_status(PID.size))
        if pid < 0:
            raise OSError("the zygote could not fork a child for the program")
        try:
            return self._watch(pid, token, limits, job.get("test_timeouts"), deadline, output)
        except ZygoteDied:
            kill_group(pid)
            raise
        finally:
            if self.plan.view is not None:
                view.clear_writable(self.plan.view)
            else:
                try:
                    os.rmdir(workdir)  # empty, as it mostly is: no walk needed
                except OSError:
                    shutil.rmtree(workdir, ignore_errors=True)

    def _watch(self, pid: int, token: str, limits: Limits, per_test: list[float] | None, deadline: float,
               output: Output) -> Run:
        """Wait for the child to end, or kill it at a deadline: its program's, or its running test's."""
        z = self.zygote
        reader, pipe_data = FrameReader(token), bytearray()
        status, killed_for = None, None
        watched = [z.status_r, z.out_r, z.res_r]
        while status is None:
            now = time.monotonic()
            index, started, _ = HEADER.unpack_from(z.report, 0)
            # The child may be rewriting the header as we read it: struct's pack_into zero-fills the record
            # before it writes the fields, so a read in between says "test 0 started at time 0" (or a real
            # index with time 0). No test runs with started == 0: decide nothing on it, look again shortly.
            torn = index >= 0 and started <= 0.0
            limit = test_limit(limits.test_timeout_s, per_test, index)
            test_deadline = started + limit + GRACE_S if index >= 0 and not torn else float("inf")
            wake = None  # once killed, only the zygote's report of the end is awaited
            if killed_for is None:
                if now >= min(deadline, test_deadline):
                    killed_for = "test" if test_deadline <= deadline else "program"
                    kill_group(pid)
                    continue
                # A test that starts while we sleep is checked at the latest one test-timeout later.
                recheck = TORN_RECHECK_S if torn else min([limits.test_timeout_s, *(per_test or ())]) + GRACE_S
                wake = max(0.0, min(deadline, test_deadline, now + recheck) - now)
            ready, _, _ = select.select(watched, [], [], wake)
            if z.out_r in ready:
                output.add(_read_some(z.out_r))
            if z.res_r in ready:  # only when the shared area overflowed
                pipe_data += _read_some(z.res_r)
            if z.status_r in ready:
                (status,) = STATUS.unpack(self._read_status(STATUS.size))
        # The child and all it started are dead now: what they wrote is all in the pipes.
        output.add(_drain(z.out_r))
        pipe_data += _drain(z.res_r)
        run = Run()
        index, _, used = HEADER.unpack_from(z.report, 0)
        try:
            if used > len(z.report) - FRAMES_AT:
                raise ValueError("corrupt report area")
            frames = reader.feed(bytes(z.report[FRAMES_AT:FRAMES_AT + used]))
            frames += reader.feed(bytes(pipe_data))
        except (ValueError, RecursionError):
            killed_for, frames = "tamper", []
        for frame in frames:
            kind = frame.pop("type", None)
            if kind == "test":
                if type(frame.get("index")) is int:  # anything else is forged, and dropped
                    run.results[frame["index"]] = frame
            elif kind == "done":
                run.done = True
        if index >= 0 and index not in run.results:
            run.current = index
        if not run.done:
            run.ending = _ending(status, killed_for)
        return run

    def _read_status(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = os.read(self.zygote.status_r, n - len(data))
            if not chunk:
                raise ZygoteDied("the zygote exited")
            data += chunk
        return data


def _ending(status: int, killed_for: str | None) -> tuple[Outcome, str, str]:
    if killed_for == "tamper":
        return Outcome.CRASHED, "HarnessTampering", "the program wrote into or forged the harness's result channel"
    if killed_for == "test":
        return Outcome.TIMEOUT, "Timeout", "the test ran past its time limit"
    if killed_for == "program":
        return Outcome.TIMEOUT, "Timeout", "the program ran past its time limit"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return Outcome.TIMEOUT, "Timeout", "the program ran past its CPU time limit"
        return Outcome.CRASHED, "Signal", f"killed by signal {signal.Signals(sig).name}"
    code = os.WEXITSTATUS(status)
    if code == EXIT_ISOLATION_FAILED:
        return Outcome.INFRA_ERROR, "InfraError", "the sandbox could not be set up"
    if code == EXIT_HARNESS_DISRUPTED:
        return Outcome.CRASHED, "HarnessDisrupted", "the program broke the harness it runs in"
    if code == EXIT_CHANNEL_LOST:
        return Outcome.CRASHED, "HarnessTampering", "the program closed the harness's result channel"
    return Outcome.CRASHED, "EarlyExit", f"the program exited with status {code} before its tests finished"


def _read_some(fd: int) -> bytes:
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return b""


def _drain(fd: int) -> bytes:
    """What is left in a pipe, without waiting: the zygote keeps its write end open."""
    chunks = []
    while chunk := _read_some(fd):
        chunks.append(chunk)
    return b"".join(chunks)
