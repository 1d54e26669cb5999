"""The harness inside the sandboxed child: run the program, then its tests one by one, and report.

Reports are length-prefixed JSON frames in a shared memory area (and a private pipe when that is full),
each carrying a per-program token that the
supervisor chose: a candidate that writes into the pipe, closes it, exits early or prints look-alike text
cannot produce a frame the supervisor accepts, so it can never turn into a pass. The verdict on a test is
the harness's own record of how that test's code ended.
"""

from __future__ import annotations

import _signal
import builtins
import io
import json
import os
import signal
import struct
import sys
import time
from types import CodeType, TracebackType
from typing import Any, NoReturn

from eta.execute.limits import test_limit
from eta.execute.outcome import Outcome
from eta.execute.values import encode

CANDIDATE, SETUP, TEST = "<candidate>", "<setup>", "<test>"
HARNESS_FILES = frozenset({SETUP, TEST})


_set_handler = _signal.signal


class SoftTimeout(BaseException):
    """Raised by the per-test timer, so that a timed-out test still returns its trace."""


# The report area shared with the supervisor (an anonymous shared mapping made before the fork):
# [0:8] index of the test running now (-1: none), [8:16] when it started (time.monotonic, the same clock in
# both processes), [16:24] bytes of frames written, then the frames. Writing there instead of into a pipe
# wakes the supervisor once per program instead of twice per test.
HEADER = struct.Struct("<qdQ")
FRAMES_AT = HEADER.size


class Reporter:
    # Bound at import, before any candidate runs: a program that monkeypatches json, struct or os later
    # cannot reach the reporter through them.
    _dumps = staticmethod(json.JSONEncoder(default=str).encode)  # one encoder, not one per call as dumps makes
    _pack, _write, _exit, _now = staticmethod(struct.pack), staticmethod(os.write), staticmethod(os._exit), \
        staticmethod(time.monotonic)
    _pack_into = staticmethod(HEADER.pack_into)

    def __init__(self, shm: Any, fd: int, token: str) -> None:
        self.shm, self.fd, self.token = shm, fd, token
        self.used = 0

    def start(self, index: int) -> None:
        Reporter._pack_into(self.shm, 0, index, Reporter._now(), self.used)

    def send(self, kind: str, **payload: Any) -> None:
        body = Reporter._dumps({"token": self.token, "type": kind, **payload}).encode()
        frame = Reporter._pack(">I", len(body)) + body
        at = FRAMES_AT + self.used
        if at + len(frame) <= len(self.shm):
            self.shm[at:at + len(frame)] = frame
            self.used += len(frame)
            Reporter._pack_into(self.shm, 0, -1, 0.0, self.used)
            return
        view = memoryview(frame)  # the shared area is full (long traces): the pipe takes the rest
        while view:
            try:
                view = view[Reporter._write(self.fd, view):]
            except OSError:
                Reporter._exit(70)  # the channel is gone: the supervisor records a crash, never a pass


class CappedWriter(io.TextIOBase):
    """A text stream that keeps the first `cap` characters and counts the rest."""

    def __init__(self, cap: int, fd: int | None = None) -> None:
        self.cap, self.fd, self.parts, self.size = cap, fd, [], 0

    def write(self, s: str) -> int:
        if type(s) is not str:
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        room = self.cap - self.size
        if room > 0:
            kept = s[:room]
            if self.fd is None:
                self.parts.append(kept)
            else:
                try:
                    os.write(self.fd, kept.encode("utf-8", "replace"))
                except OSError:
                    pass
        self.size += len(s)
        return len(s)

    def writable(self) -> bool:
        return True

    def getvalue(self) -> str:
        return "".join(self.parts)


COMPILE_ERRORS = (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError)


# Compiled the one way, whether by the supervisor ahead of the fork or here: the file names are how a
# traceback tells the candidate's frames from the test's (see classify) and how the tracer finds its code.
def compile_program(program: str) -> CodeType:
    return compile(program, CANDIDATE, "exec", dont_inherit=True)


def compile_setup(setup: str) -> CodeType:
    return compile(setup, SETUP, "exec", dont_inherit=True)


def compile_test(code: str) -> CodeType:
    return compile(code, TEST, "exec", dont_inherit=True)


def compile_value(expr: str) -> CodeType:
    """A split test's part for the child: the expression whose value the supervisor compares."""
    return compile(expr, TEST, "eval", dont_inherit=True)


def _last_frame_file(tb: TracebackType | None) -> str | None:
    last = None
    while tb is not None:
        last, tb = tb.tb_frame.f_code.co_filename, tb.tb_next
    return last


def classify(exc: BaseException) -> tuple[Outcome, str, str]:
    """An exception that ended a test -> (outcome, error type, message)."""
    etype = type(exc).__name__
    try:
        message = str(exc)[:500]
    except BaseException:  # noqa: BLE001 - a hostile __str__ must not break the verdict
        message = "<unprintable>"
    if isinstance(exc, SoftTimeout):
        return Outcome.TIMEOUT, "Timeout", "the test ran past its time limit"
    if isinstance(exc, MemoryError):
        return Outcome.MEMORY_EXCEEDED, etype, message
    if type(exc) is AssertionError and _last_frame_file(exc.__traceback__) in HARNESS_FILES:
        return Outcome.WRONG_ANSWER, etype, message  # the test's own check failed on what the candidate gave
    # Anything else is an error of the program, also when it surfaces in the test's line: a missing
    # function (NameError), a wrong signature (TypeError), a None where a number was due (TypeError).
    return Outcome.RUNTIME_ERROR, etype, message


class Harness:
    """Runs a job's program and tests. ``codes`` are the program's, the setup's and each test's code objects
    when the supervisor compiled them already (None where it did not: those are compiled here)."""

    def __init__(self, job: dict[str, Any], reporter: Reporter, codes: tuple[Any, Any, Any] | None = None) -> None:
        self.job, self.reporter = job, reporter
        self.program_code, self.setup_code, self.test_codes = codes or (None, None, None)
        self.tests: list[dict[str, Any]] = job["tests"]
        self.limits: dict[str, Any] = job["limits"]
        self.trace_cfg: dict[str, Any] | None = job.get("trace")
        self.stdio = bool(self.tests) and all(t.get("kind") == "stdio" for t in self.tests)
        # The program's own prints go to the supervisor's output pipe, capped here so that a flood of
        # output costs the candidate's time, not ours.
        self.stdout = CappedWriter(self.limits["output_bytes"], fd=1)
        sys.stdout = sys.stderr = self.stdout

    def run(self, start: int) -> NoReturn:
        code = self.program_code
        if code is None:
            try:
                code = compile_program(self.job["program"])
            except COMPILE_ERRORS as e:
                self._fail_rest(start, Outcome.SYNTAX_ERROR, type(e).__name__, str(e)[:500])
        ns: dict[str, Any] = {}
        if not self.stdio:
            ns = self._load_module(code, start)
        for index in range(start, len(self.tests)):
            self.reporter.start(index)
            result = self._run_test(index, code, ns)
            self.reporter.send("test", **result)
            if result["outcome"] == Outcome.TIMEOUT.value and self.job.get("test_timeouts"):
                self._fail_rest(index + 1, Outcome.TIMEOUT, "Timeout", NOT_RUN_AFTER_TIMEOUT)
        self._finish()

    def _load_module(self, code: CodeType, start: int) -> dict[str, Any]:
        ns: dict[str, Any] = {"__name__": "__candidate__", "__builtins__": builtins}
        self.reporter.start(start)
        self._arm(start)
        try:
            exec(code, ns)
            setup = self.job.get("setup") or ""
            if setup:
                exec(self.setup_code or compile_setup(setup), ns)
        except BaseException as e:  # noqa: BLE001 - every way the program can end is a verdict
            self._disarm()
            outcome, etype, msg = classify(e)
            if outcome is Outcome.WRONG_ANSWER:  # setup failed on the program (e.g. entry point missing)
                outcome = Outcome.RUNTIME_ERROR
            self._fail_rest(start, outcome, etype, msg)
        self._disarm()
        return ns

    def _run_test(self, index: int, code: CodeType, ns: dict[str, Any]) -> dict[str, Any]:
        test = self.tests[index]
        tracer = self._tracer()
        t0 = time.perf_counter()
        result: dict[str, Any] = {"index": index, "outcome": Outcome.PASSED.value}
        captured = CappedWriter(self.limits["output_bytes"])
        kind = test.get("kind")
        try:
            if kind == "stdio":
                test_code, env = code, self._stdio_namespace(test, captured)
            else:
                test_code = self.test_codes[index] if self.test_codes else None
                test_code = test_code or (compile_value if kind == "value" else compile_test)(test["code"])
                env = ns
            self._arm(index)
            if tracer is not None:
                tracer.start()
            try:
                value = eval(test_code, env)  # a value test's code is an expression; an assert's returns None
            finally:
                if tracer is not None:
                    record = tracer.stop()
            if kind == "value":  # the supervisor compares it: this process never sees the expected value
                result["value"] = encode(value)
            self._disarm()
        except SystemExit as e:
            if test.get("kind") != "stdio" or e.code not in (None, 0):
                self._record_error(result, e)
        except BaseException as e:  # noqa: BLE001
            self._record_error(result, e)
        finally:
            self._disarm()
            sys.stdin, sys.stdout = sys.__stdin__, self.stdout
        if kind == "stdio" and result["outcome"] == Outcome.PASSED.value:
            result["stdout"] = captured.getvalue()  # compared with the expected output by the supervisor
        result["duration_s"] = time.perf_counter() - t0
        if tracer is not None:
            self._attach_trace(result, record, test)
        return result

    def _record_error(self, result: dict[str, Any], exc: BaseException) -> None:
        outcome, etype, msg = classify(exc)
        result.update(outcome=outcome.value, error_type=etype, error_message=msg)

    def _stdio_namespace(self, test: dict[str, Any], captured: CappedWriter) -> dict[str, Any]:
        sys.stdin = io.TextIOWrapper(io.BytesIO(test.get("stdin", "").encode()), encoding="utf-8")
        sys.stdout = captured
        return {"__name__": "__main__", "__builtins__": builtins}

    def _tracer(self) -> Any:
        if not self.trace_cfg:
            return None
        from eta.trace import TraceConfig, make_tracer

        cfg = {k: v for k, v in self.trace_cfg.items() if k not in ("events", "budget_lines", "writes")}
        return make_tracer(TraceConfig(**cfg), filenames=frozenset({CANDIDATE}))

    def _attach_trace(self, result: dict[str, Any], record: Any, test: dict[str, Any]) -> None:
        from eta.trace import format_trace

        result["steps"] = record.steps
        display = test.get("display") or test.get("code", "").strip() or "stdin"
        result["trace"] = format_trace(record, self.job["program"], display,
                                       result["outcome"] == Outcome.PASSED.value,
                                       budget_lines=self.trace_cfg.get("budget_lines"))
        if self.trace_cfg.get("events"):
            result["events"] = [e.to_dict() for e in record.events]
        if self.trace_cfg.get("writes"):
            from eta.trace.writes import value_writes

            result["writes"] = value_writes(record)

    def _arm(self, index: int) -> None:
        # Per test, as a candidate may have replaced the handler; the C function, as signal.signal's enum
        # conversions cost more than the rest of arming.
        _set_handler(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, test_limit(self.limits["test_timeout_s"], self.job.get("test_timeouts"), index))

    @staticmethod
    def _disarm() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)

    def _fail_rest(self, start: int, outcome: Outcome, etype: str, msg: str) -> NoReturn:
        for index in range(start, len(self.tests)):
            self.reporter.send("test", index=index, outcome=outcome.value, error_type=etype,
                               error_message=msg, steps=0 if self.trace_cfg else None)
        self._finish()

    def _finish(self) -> NoReturn:
        self.reporter.send("done", count=len(self.tests))
        os._exit(0)


# With per-test limits derived from the reference, the first test past its limit ends the program, as in
# evalplus: a program that loops on one input mostly loops on the next, and each would cost a limit.
NOT_RUN_AFTER_TIMEOUT = "not run: an earlier test ran past its time limit"


def _on_alarm(signum: int, frame: Any) -> None:
    raise SoftTimeout()
