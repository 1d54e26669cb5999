"""The harness inside the sandboxed child: run the program, then its tests one by one, and report.

Reports are length-prefixed JSON frames in a shared memory area (and a private pipe when that is full),
each carrying a per-program token that the
supervisor chose: a candidate that writes into the pipe, closes it, exits early or prints look-alike text
cannot produce a frame the supervisor accepts, so it can never turn into a pass. The child decides no
verdict: it sends raw data (a test's value, its output, the name of the exception that ended it, each
assertion's operands, the trace's events, when its alarm went off) and the supervisor classifies, times and
renders (:mod:`eta.execute.verdicts`), since anything in this process is the candidate's to rewrite.
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
from types import CodeType
from typing import Any, NoReturn

from eta.execute.limits import test_limit
from eta.execute.sites import SITE_FN, holds, local_truth
from eta.execute.values import decode, encode

CANDIDATE, SETUP, TEST = "<candidate>", "<setup>", "<test>"


_set_handler = _signal.signal


class SoftTimeout(BaseException):
    """Raised by the per-test timer, so that a timed-out test still returns its trace."""


# The report area shared with the supervisor (an anonymous shared mapping made before the fork):
# [0:8] index of the test running now (-1: none), [8:16] when it started (time.monotonic), [16:24] bytes of
# frames written, then the frames. Writing there instead of into a pipe wakes the supervisor once per
# program instead of twice per test. The supervisor reads only the count and the frames (the rest is the
# candidate's to rewrite, like all of this process: it times tests by its own clock).
HEADER = struct.Struct("<qdQ")
FRAMES_AT = HEADER.size


class Reporter:
    # Bound at import, before any candidate runs: a program that monkeypatches json, struct or os later
    # cannot reach the reporter through them.
    _dumps = staticmethod(json.JSONEncoder(default=str).encode)  # one encoder, not one per call as dumps makes
    _pack, _write_fd, _exit, _now = staticmethod(struct.pack), staticmethod(os.write), staticmethod(os._exit), \
        staticmethod(time.monotonic)
    _pack_into = staticmethod(HEADER.pack_into)

    def __init__(self, shm: Any, fd: int, token: str) -> None:
        self.shm, self.fd, self.token = shm, fd, token
        self.used = 0
        self.busy, self.deferred = False, None  # a frame the alarm sent while another was being written

    def start(self, index: int) -> None:
        Reporter._pack_into(self.shm, 0, index, Reporter._now(), self.used)

    def send(self, kind: str, **payload: Any) -> None:
        if self.busy:  # called from the alarm's handler in the middle of a frame: it goes right after it
            self.deferred = (kind, payload)
            return
        self.busy = True
        try:
            self._write(Reporter._dumps({"token": self.token, "type": kind, **payload}).encode())
        finally:
            self.busy = False
        if self.deferred is not None:
            kind, payload = self.deferred
            self.deferred = None
            self.send(kind, **payload)

    def _write(self, body: bytes) -> None:
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
                view = view[Reporter._write_fd(self.fd, view):]
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
# traceback tells the candidate's frames from the test's and how the tracer finds its code.
def compile_program(program: str) -> CodeType:
    return compile(program, CANDIDATE, "exec", dont_inherit=True)


def compile_setup(setup: str) -> CodeType:
    return compile(setup, SETUP, "exec", dont_inherit=True)


def compile_test(code: str) -> CodeType:
    return compile(code, TEST, "exec", dont_inherit=True)


def compile_value(expr: str) -> CodeType:
    """A split test's part for the child: the expression whose value the supervisor compares."""
    return compile(expr, TEST, "eval", dont_inherit=True)


def raw_error(exc: BaseException, *, compiling: bool = False) -> dict[str, Any]:
    """What the supervisor classifies a test's exception from: its type's name, whether that type is the
    builtin one of that name, its message, and whether compiling raised it."""
    t = type(exc)
    try:
        message = str(exc)[:500]
    except BaseException:  # noqa: BLE001 - a hostile __str__ must not break the report
        message = "<unprintable>"
    return {"status": "error", "error_type": t.__name__, "error_message": message,
            "builtin": t.__module__ == "builtins", "compile": compiling}


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
        self.index, self.fired = -1, False  # the test whose timer is armed; whether it went off
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
                self._load_failed(raw_error(e, compiling=True))
        ns: dict[str, Any] = {}
        if not self.stdio:
            ns = self._load_module(code, start)
        for index in range(start, len(self.tests)):
            self.reporter.start(index)
            result = self._run_test(index, code, ns)
            self.reporter.send("test", **result)
            if self.fired and self.job.get("test_timeouts"):
                break  # the supervisor rules the rest not run (see NOT_RUN_AFTER_TIMEOUT)
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
            self._load_failed(raw_error(e))
        self._disarm()
        self.reporter.send("loaded")
        return ns

    def _run_test(self, index: int, code: CodeType, ns: dict[str, Any]) -> dict[str, Any]:
        test = self.tests[index]
        tracer = self._tracer()
        t0 = time.perf_counter()
        result: dict[str, Any] = {"index": index, "status": "ok"}
        captured = CappedWriter(self.limits["output_bytes"])
        kind = test.get("kind")
        try:
            if kind == "stdio":
                test_code, env = code, self._stdio_namespace(test, captured)
            else:
                test_code = self.test_codes[index] if self.test_codes else None
                test_code = test_code or (compile_value if kind == "value" else compile_test)(test["code"])
                env = ns
                if test.get("sites") is not None:
                    ns[SITE_FN] = self._site
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
                result.update(raw_error(e))
        except BaseException as e:  # noqa: BLE001
            result.update(raw_error(e))
        finally:
            self._disarm()
            sys.stdin, sys.stdout = sys.__stdin__, self.stdout
        if kind == "stdio" and result["status"] == "ok":
            result["stdout"] = captured.getvalue()  # compared with the expected output by the supervisor
        result["duration_s"] = time.perf_counter() - t0
        if tracer is not None:
            self._attach_trace(result, record)
        return result

    def _site(self, site: int, *operands: Any) -> None:
        """An assertion of a whole test (see eta.execute.sites): its operands go out as plain data; the
        assertion fails here too when this process can tell, so that the test stops where it would."""
        spec = self.tests[self.index]["sites"][site]
        encoded = [encode(x) for x in operands]
        frame: dict[str, Any] = {"test": self.index, "site": site, "ops": encoded}
        verdict: bool | None = None
        if any(type(e) is dict and ("unsupported" in e or "too_big" in e) for e in encoded):
            if not spec["holes"]:
                verdict = frame["truth"] = local_truth(spec, operands)
        elif not spec["holes"]:  # the supervisor holds no constant of it: decide on the plain values
            verdict = holds(spec, [decode(e) for e in encoded])
        self.reporter.send("site", **frame)
        if verdict is False:
            raise AssertionError()

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

    def _attach_trace(self, result: dict[str, Any], record: Any) -> None:
        """The trace's data; its text is rendered by the supervisor (eta.trace.text.SentRecord)."""
        from eta.trace.text import trace_payload

        result["steps"] = record.steps
        result["trace"] = trace_payload(record, self.trace_cfg.get("budget_lines"))
        if self.trace_cfg.get("events"):
            result["events"] = [e.to_dict() for e in record.events]
        if self.trace_cfg.get("writes"):
            from eta.trace.writes import value_writes

            result["writes"] = value_writes(record)

    def _arm(self, index: int) -> None:
        # Per test, as a candidate may have replaced the handler; the C function, as signal.signal's enum
        # conversions cost more than the rest of arming.
        self.index, self.fired = index, False
        _set_handler(signal.SIGALRM, self._on_alarm)
        signal.setitimer(signal.ITIMER_REAL, test_limit(self.limits["test_timeout_s"], self.job.get("test_timeouts"), index))

    def _on_alarm(self, signum: int, frame: Any) -> None:
        # Told at once, before the program can catch what is raised: the supervisor judges the test a
        # timeout whatever the program does with the exception.
        self.fired = True
        self.reporter.send("alarm", index=self.index)
        raise SoftTimeout()

    @staticmethod
    def _disarm() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)

    def _load_failed(self, error: dict[str, Any]) -> NoReturn:
        """The program (or the setup) did not load: every test left ends that way (the supervisor says so)."""
        self.reporter.send("load_error", **error)
        self._finish()

    def _finish(self) -> NoReturn:
        self.reporter.send("done", count=len(self.tests))
        os._exit(0)


# With per-test limits derived from the reference, the first test past its limit ends the program, as in
# evalplus: a program that loops on one input mostly loops on the next, and each would cost a limit.
NOT_RUN_AFTER_TIMEOUT = "not run: an earlier test ran past its time limit"
