"""The supervisor: runs one job through the zygote's children, enforcing deadlines and deciding verdicts.

It lives in the fork server and never forks itself (see :mod:`eta.execute.zygote` for why). Per child it
writes the job into the shared job area, asks the zygote for a fork, then watches the zygote's status (the
child ended) and the children's output, and reads the child's report frames from the shared report area as
they come (:mod:`eta.execute.verdicts`: the trust boundary, the tests timed by this process's clock, each
test's outcome decided here from raw data). Before the fork it splits the tests it can (see
:mod:`eta.execute.checks`): the child then only computes values, and the verdicts on them are made here; a
whole test's assertions send their operands out (:mod:`eta.execute.sites`).
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
import warnings
from types import CodeType
from typing import Any

from eta.execute import hacks, isolation, view
from eta.execute.checks import Check, final_result, split_test, transform
from eta.execute.child import (COMPILE_ERRORS, FRAMES_AT, HEADER, NOT_RUN_AFTER_TIMEOUT, compile_program,
                             compile_setup, compile_test, compile_value)
from eta.execute.limits import Limits, test_limit
from eta.execute.outcome import Outcome
from eta.execute.sites import Site
from eta.execute.verdicts import ChildLog, tampered, test_frame
from eta.execute.zygote import (EXIT_CHANNEL_LOST, EXIT_HARNESS_DISRUPTED, FORK, FORK_TRACED, PID, STATUS, Zygote,
                                kill_group, write_job)

WATCH_PIPE_AT = 1 << 20  # once the shared area has less room than this, the pipe that takes the rest is watched


class ZygoteDied(Exception):
    """The zygote is gone (a candidate that may kill its parent killed it): the server must go too."""


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

    def split(self, tests: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Check | None], list[list[Site] | None]]:
        """The tests as the child gets them, each one's check (None: run whole in the child) and a whole
        test's assertion sites. The child's tests carry nothing of what a test expects, not even its display:
        a split test only its call, a whole test its code with each assertion's constants taken out."""
        child, checks, sites = [], [], []
        for test in tests:
            if test.get("kind", "assert") == "assert":  # parsed once per test source, like its compilation
                check, whole = _memo(self.splits, test.get("code", ""), lambda: _split_or_transform(test), self.CACHE_SIZE)
            else:
                check, whole = split_test(test), None
            checks.append(check)
            sites.append(whole[1] if whole else None)
            if whole is not None:
                child.append({"kind": "assert", "code": whole[0], "sites": [site.for_child() for site in whole[1]]})
            elif check is None:
                child.append({k: v for k, v in test.items() if k not in ("expected_stdout", "display")})
            elif check.kind == "stdio":
                child.append({"kind": "stdio", "stdin": test.get("stdin", "")})
            else:
                child.append({"kind": "value", "code": check.expr})
        return child, checks, sites

    def codes(self, job: dict[str, Any]) -> tuple[tuple[Any, Any, Any] | None, str, BaseException | None]:
        """The job's code objects for the child, the warnings they printed, and the program's compile error."""
        program, printed, error = self.program(job["program"])
        if program is None:
            return None, printed, error
        setup, setup_printed = self.cached("setup", job["setup"]) if job.get("setup") else (None, "")
        tests = [self.cached(t.get("kind", "assert"), t.get("code", "")) if t.get("kind") != "stdio" else (None, "")
                 for t in job["tests"]]
        return (program, setup, tuple(code for code, _ in tests)), printed + setup_printed, None


def _split_or_transform(test: dict[str, Any]) -> tuple[Check | None, tuple[str, list[Site]] | None]:
    check = split_test(test)
    return check, (transform(test.get("code", "")) if check is None else None)


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
        self.frames = memoryview(zygote.report)[FRAMES_AT:]  # the frames part of the shared report area
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
        job["tests"], checks, sites = self.compiler.split(given)
        output = Output(limits.output_bytes)
        codes, printed, error = self.compiler.codes(job)
        output.add(printed.encode())
        observed: set[str] = set()
        if error is not None:  # the child would report exactly this for every test; no need to start one
            etype, msg = type(error).__name__, str(error)[:500]
            results = {i: {"index": i, "outcome": Outcome.SYNTAX_ERROR.value, "error_type": etype,
                           "error_message": msg, "steps": 0 if job.get("trace") else None} for i in range(total)}
        else:
            results = self._run_tests(job, codes, limits, t0 + limits.timeout_s, output, sites, observed)
            if "infra_error" in results:
                return results
        budget = (job.get("trace") or {}).get("budget_lines")
        tests = [final_result(results[i], checks[i], given[i], job["tests"][i], program=job["program"],
                              budget_lines=budget) for i in range(total) if i in results]
        stdio = bool(given) and all(t.get("kind") == "stdio" for t in given)
        return {"tests": tests, "duration_s": time.monotonic() - t0,
                "output": output.kept.decode("utf-8", "replace"), "output_bytes": output.total,
                "hacks": hacks.detect(job["program"], tests, stdio=stdio, observed=observed,
                                      code=codes[0] if codes else None)}

    def _run_tests(self, job: dict[str, Any], codes: tuple[Any, Any, Any] | None, limits: Limits, deadline: float,
                   output: Output, sites: list[list[Site] | None], observed: set[str]) -> dict[Any, Any]:
        """Each test's frame, by index: children are forked until every test has one (a child that dies
        takes only its running test with it), or the program's time is spent. A child's frames count only
        for the tests from the one it started at, each decided once."""
        total, traced = len(job["tests"]), bool(job.get("trace"))
        results: dict[Any, Any] = {}
        start = 0
        while start < total:
            log, ending = self._run_child(job, codes, limits, start, deadline, output, sites)
            if ending is not None and ending[0] is Outcome.INFRA_ERROR:
                return {"infra_error": ending[2]}
            if log.timeout_caught():
                observed.add(hacks.TIMEOUT_CAUGHT)
            index = start
            while index < total and (frame := test_frame(log, index, traced, sites[index])) is not None:
                results[index] = frame
                index += 1
                if frame["outcome"] == Outcome.TIMEOUT.value and job.get("test_timeouts"):
                    return _not_run(results, index, total, NOT_RUN_AFTER_TIMEOUT, traced)
            if index >= total:
                break
            if log.tamper is not None:
                verdict = tampered(log.tamper)
            elif ending is None:  # "done" came before this test's result
                for rest in range(index, total):
                    results[rest] = _verdict(rest, tampered("the test's result never came"))
                break
            else:
                verdict = ending
            results[index] = _verdict(index, verdict)
            start = index + 1
            if verdict[0] is Outcome.TIMEOUT and job.get("test_timeouts"):  # see child.NOT_RUN_AFTER_TIMEOUT
                return _not_run(results, start, total, NOT_RUN_AFTER_TIMEOUT, traced)
            if start < total and time.monotonic() >= deadline:
                return _not_run(results, start, total, "not run: the program's time budget was spent", False)
        return results

    def _run_child(self, job: dict[str, Any], codes: tuple[Any, Any, Any] | None, limits: Limits, start: int,
                   deadline: float, output: Output, sites: list[list[Site] | None]) -> tuple[ChildLog, tuple[Outcome, str, str] | None]:
        """The child's log, and how it ended when it did not finish (None when it did)."""
        token = os.urandom(16).hex()
        workdir = f"/tmp/eta-sandbox-{token[:16]}"  # made by the child; with a view, in the view's private /tmp
        z = self.zygote
        write_job(z.jobs, dict(job, start=start, token=token, workdir=workdir), codes)
        HEADER.pack_into(z.report, 0, -1, 0.0, 0)
        t_start = time.monotonic()
        os.write(z.cmd_w, FORK_TRACED if job.get("trace") else FORK)
        (pid,) = PID.unpack(self._read_status(PID.size))
        if pid < 0:
            raise OSError("the zygote could not fork a child for the program")
        tests, per_test = job["tests"], job.get("test_timeouts")
        stdio = bool(tests) and all(t.get("kind") == "stdio" for t in tests)
        log = ChildLog(token, start, len(tests), not stdio,
                       lambda i: test_limit(limits.test_timeout_s, per_test, i),
                       [len(s) if s is not None else None for s in sites[start:]], t_start, time.monotonic())
        try:
            status, killed_for = self._watch(pid, log, deadline, output)
            log.killed = killed_for
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
                    import shutil  # only here: it loads bz2, lzma and zlib, start-up the fork server need not pay

                    shutil.rmtree(workdir, ignore_errors=True)
        if not log.isolated:  # the candidate never ran: whatever happened is the harness's
            return log, (Outcome.INFRA_ERROR, "InfraError", "the sandbox could not be set up")
        return log, (None if log.done and log.tamper is None else _ending(status, killed_for))

    def _watch(self, pid: int, log: ChildLog, deadline: float, output: Output) -> tuple[int, str | None]:
        """Read the child's frames as they come and wait for it to end, or kill it at a deadline: its
        program's, or its running test's by the supervisor's clock (see eta.execute.verdicts)."""
        z = self.zygote
        status, killed_for, pipe, watch_pipe = None, None, b"", False
        room = len(z.report) - FRAMES_AT
        while status is None:
            wake = None  # once killed, only the zygote's report of the end is awaited
            if killed_for is None:
                now = time.monotonic()
                used = HEADER.unpack_from(z.report, 0)[2]
                log.look(now, used, self.frames, room, pipe)
                pipe = b""
                kill, due = log.check(now)
                if log.tamper is not None or kill or now >= deadline:
                    killed_for = "tamper" if log.tamper is not None else "test" if kill else "program"
                    kill_group(pid)
                    continue
                # Past this fill the child spills into the pipe: it must not wait long on us to read it.
                watch_pipe = watch_pipe or used > room - WATCH_PIPE_AT
                wake = max(0.0, min(deadline, due) - now)
            watched = [z.status_r, z.out_r, z.res_r] if watch_pipe else [z.status_r, z.out_r]
            ready, _, _ = select.select(watched, [], [], wake)
            if z.out_r in ready:
                output.add(_read_some(z.out_r))
            if z.res_r in ready:
                pipe += _read_some(z.res_r)
            if z.status_r in ready:
                (status,) = STATUS.unpack(self._read_status(STATUS.size))
        # The child and all it started are dead now: what they wrote is all in the pipes.
        output.add(_drain(z.out_r))
        log.look(time.monotonic(), HEADER.unpack_from(z.report, 0)[2], self.frames, room, pipe + _drain(z.res_r))
        return status, killed_for

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
    code = os.WEXITSTATUS(status)  # past the sandbox's mark, every status is the program's (71 included)
    if code == EXIT_HARNESS_DISRUPTED:
        return Outcome.CRASHED, "HarnessDisrupted", "the program broke the harness it runs in"
    if code == EXIT_CHANNEL_LOST:
        return Outcome.CRASHED, "HarnessTampering", "the program closed the harness's result channel"
    return Outcome.CRASHED, "EarlyExit", f"the program exited with status {code} before its tests finished"


def _verdict(index: int, verdict: tuple[Outcome, str, str]) -> dict[str, Any]:
    return {"index": index, "outcome": verdict[0].value, "error_type": verdict[1], "error_message": verdict[2]}


def _not_run(results: dict[Any, Any], start: int, total: int, why: str, traced: bool) -> dict[Any, Any]:
    for rest in range(start, total):
        results[rest] = dict(_verdict(rest, (Outcome.TIMEOUT, "Timeout", why)), steps=0 if traced else None)
    return results


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
