"""What the supervisor makes of one child: its frames read as they come, its tests timed by the
supervisor's clock, and each test's outcome decided here from raw data the child can no longer rewrite.

The trust boundary. A child writes one byte into its result pipe once its sandbox is up and before the
candidate's first line (:data:`eta.execute.zygote.ISOLATED`); the candidate holds no read end, so it cannot
take that byte back. Before it, an end is the harness's failure (``infra_error``); after it, every exit
status, every malformed frame and every error in reading the child's data is the program's
(``HarnessTampering``, a crash: a failure everywhere, never masked).

Frames are read from the shared report area as they are written (the supervisor wakes every
:data:`POLL_S` while a child runs) and never read again, so rewriting one later changes nothing. They must
come in the harness's order: ``loaded``, then one ``test`` frame per test, in order, each after its
``site`` frames (a whole test's assertions) and any ``alarm``; then ``done``. A frame out of that order,
for a test another child ran, with a field of the wrong type or range, is tampering.

Timing. The test running now is the first one without its frame. Its start lies between the last look
that had not yet seen the previous test's frame (``lo``) and the look that saw it (``hi``); the child is
killed at ``lo + limit + GRACE_S`` and the test is a timeout when, at ``hi + limit``, its frame has still not
come, whatever the child reports afterwards: stopping its own timer, rewriting the header, or catching the
harness's timeout in a bare ``except:`` changes nothing (the alarm is also announced in a frame before it
raises, and an announced alarm is a timeout).
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from eta.execute.outcome import Outcome
from eta.execute.sites import Site, judge

POLL_S = 0.05  # how often a running child's frames are read (the slack of a test's start)
GRACE_S = 0.5  # the hard kill follows the test's limit by this much, so that its own timer fires first
MAX_FRAME = 64 * 1024 * 1024
COMPILE_ERROR_TYPES = frozenset({"SyntaxError", "IndentationError", "TabError", "ValueError", "OverflowError",
                                 "RecursionError", "MemoryError"})
LOAD = "load"
ISOLATED = b"I"  # eta.execute.zygote.ISOLATED (not imported: the zygote module imports the harness)


class Tampered(Exception):
    """The child's data broke the protocol: the program's failure."""


def tampered(why: str) -> tuple[Outcome, str, str]:
    return Outcome.CRASHED, "HarnessTampering", f"{why}: the program interfered with its harness"


class FrameReader:
    """Parses the child's length-prefixed JSON frames; anything else, or a frame without the program's
    token, raises Tampered."""

    def __init__(self, token: str) -> None:
        self.token, self.buf = token, bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self.buf += data
        frames = []
        while len(self.buf) >= 4:
            (size,) = struct.unpack(">I", self.buf[:4])
            if size > MAX_FRAME:
                raise Tampered("an oversized frame")
            if len(self.buf) < 4 + size:
                break
            body, self.buf = bytes(self.buf[4:4 + size]), self.buf[4 + size:]
            try:
                frame = json.loads(body)
            except (ValueError, RecursionError, MemoryError) as e:  # UnicodeDecodeError is a ValueError
                raise Tampered(f"a frame that is not JSON ({type(e).__name__})") from None
            if type(frame) is not dict or frame.pop("token", None) != self.token:
                raise Tampered("a frame without the program's token")
            frames.append(frame)
        return frames


class Phase:
    """One step of a child (loading the program, or one test), timed by the supervisor's clock."""

    __slots__ = ("key", "limit", "lo", "hi", "seen", "before_seen", "ran_out")

    def __init__(self, key: Any, limit: float) -> None:
        self.key, self.limit = key, limit
        self.lo = self.hi = 0.0  # bounds of its start
        self.seen: float | None = None  # the look that found its frame
        self.before_seen = 0.0  # the look before that
        self.ran_out: float | None = None  # the look at which its limit had passed without its frame


class ChildLog:
    """Everything one child reported, as the supervisor read it."""

    def __init__(self, token: str, start: int, total: int, loads: bool, limit_of: Any, sites: list[int | None],
                 t_start: float, t_forked: float) -> None:
        self.reader, self.start, self.total, self.sites = FrameReader(token), start, total, sites
        self.phases = ([Phase(LOAD, limit_of(start))] if loads else []) + [Phase(i, limit_of(i)) for i in range(start, total)]
        self.cur = 0
        if self.phases:
            self.phases[0].lo, self.phases[0].hi = t_start, t_forked
        self.last_look = t_forked
        self.isolated = False
        self.pending_pipe = b""
        self.frames = 0  # position in the stream, for ordering alarms and sites
        self.results: dict[int, dict[str, Any]] = {}
        self.site_records: dict[int, list[dict[str, Any]]] = {}
        self.alarms: dict[Any, int] = {}  # phase key -> stream position
        self.load_error: dict[str, Any] | None = None
        self.done = False
        self.tamper: str | None = None
        self.killed: str | None = None  # why the supervisor killed the child ("test", "program", "tamper")
        self.offset = 0  # bytes of the shared area read

    # -- reading ----------------------------------------------------------------------------------
    def look(self, now: float, used: int, area: Any, room: int, pipe: bytes = b"") -> None:
        """Read what the child wrote since the last look: the shared area up to `used`, then the pipe."""
        if pipe and not self.isolated:  # the harness's first byte, whatever the program did after it
            self.isolated, pipe = pipe[:1] == ISOLATED, pipe[1:]
        if self.tamper is None:
            try:
                # A count below what was read is a header caught mid-write (struct zero-fills it first): nothing
                # new yet. Frames already read are never read again, whatever the child writes over them.
                if not 0 <= used <= room:
                    raise Tampered("the report area's count was rewritten")
                data = bytes(area[self.offset:used]) if used > self.offset else b""
                self.offset = max(self.offset, used)
                for frame in self.reader.feed(data) + self.reader.feed(pipe):
                    self._take(frame, now)
            except Tampered as e:
                self.tamper = str(e)
            except Exception as e:  # noqa: BLE001 - whatever reading the child's data raises is its doing
                self.tamper = f"frames that could not be read ({type(e).__name__})"
        self.last_look = now

    def _take(self, frame: dict[str, Any], now: float) -> None:
        kind = frame.pop("type", None)
        self.frames += 1
        if self.done:
            raise Tampered("a frame after the harness's last one")
        phase = self.phases[self.cur] if self.cur < len(self.phases) else None
        if kind == "site":
            test = frame.get("test")
            if phase is None or type(test) is not int or phase.key != test or type(frame.get("site")) is not int \
                    or type(frame.get("ops")) is not list:
                raise Tampered("an assertion's record out of place")
            count = self.sites[test - self.start] if 0 <= test - self.start < len(self.sites) else None
            if count is None or not 0 <= frame["site"] < count:
                raise Tampered("a record of an assertion that does not exist")
            frame["at"] = (self.frames, now)
            self.site_records.setdefault(test, []).append(frame)
        elif kind == "alarm":
            index = frame.get("index")
            if phase is None or index != (self.start if phase.key == LOAD else phase.key):
                raise Tampered("an alarm for a test not running")
            self.alarms.setdefault(phase.key, self.frames)
        elif kind == "loaded":
            if phase is None or phase.key != LOAD:
                raise Tampered("the program loaded twice")
            self._advance(now)
        elif kind == "load_error":
            if self.cur != 0 or phase is None or self.results:
                raise Tampered("a load error after the program loaded")
            self.load_error = _raw_error(frame)
            self.cur = len(self.phases)  # nothing more runs
        elif kind == "test":
            index = frame.get("index")
            if phase is None or phase.key != index or type(index) is not int:
                raise Tampered(f"a result for test {str(index)[:20]} out of order or not this child's to report")
            self.results[index] = frame
            self._advance(now)
        elif kind == "done":
            self.done = True
        else:
            raise Tampered(f"a frame of unknown type {str(kind)[:20]!r}")

    def _advance(self, now: float) -> None:
        phase = self.phases[self.cur]
        phase.seen, phase.before_seen = now, self.last_look
        self.cur += 1
        if self.cur < len(self.phases):
            self.phases[self.cur].lo, self.phases[self.cur].hi = self.last_look, now

    # -- timing -----------------------------------------------------------------------------------
    def running(self) -> Phase | None:
        return self.phases[self.cur] if self.cur < len(self.phases) and not self.done else None

    def check(self, now: float) -> tuple[bool, float]:
        """(whether to kill the child for its running test's time, the time of the next look)."""
        phase = self.running()
        if phase is None:
            return False, now + POLL_S
        if phase.ran_out is None and now >= phase.hi + phase.limit:
            phase.ran_out = now
        if now >= phase.lo + phase.limit + GRACE_S:
            return True, now
        due = [now + POLL_S, phase.lo + phase.limit + GRACE_S]
        if phase.ran_out is None:
            due.append(phase.hi + phase.limit)
        return False, min(due)

    def phase_of(self, index: Any) -> Phase | None:
        for phase in self.phases:
            if phase.key == index:
                return phase
        return None

    def current_test(self) -> int | None:
        """The test the child was on when it ended (its load counts as its first test's)."""
        phase = self.running()
        if phase is None:
            return None
        return self.start if phase.key == LOAD else phase.key

    def out_of_time(self, index: int) -> bool:
        """Whether test `index` (or the load before it) ran past its limit by the supervisor's clock, or
        its alarm went off."""
        keys = [index, LOAD] if index == self.start else [index]
        return any(k in self.alarms or ((p := self.phase_of(k)) is not None and p.ran_out is not None) for k in keys)

    def timeout_caught(self) -> bool:
        """Whether the program caught the harness's timeout and went on: a test (or the load) whose alarm
        went off ended in anything but that timeout, or had to be killed."""
        for key in self.alarms:
            if key == LOAD:
                if self.phases[0].seen is not None:  # it loaded after all
                    return True
                continue
            frame = self.results.get(key)
            if frame is not None and (frame.get("status") == "ok" or frame.get("error_type") != "SoftTimeout"):
                return True
        phase = self.running()
        return self.killed == "test" and phase is not None and phase.key in self.alarms

    def measured(self, index: int, claimed: Any) -> float:
        """The test's duration: the child's figure, held within what the supervisor's clock allows."""
        phase = self.phase_of(index)
        value = float(claimed) if type(claimed) is float and math.isfinite(claimed) and claimed >= 0 else 0.0
        if phase is None or phase.seen is None:
            return value
        return min(max(value, phase.before_seen - phase.hi), phase.seen - phase.lo)


def _raw_error(frame: dict[str, Any]) -> dict[str, Any]:
    """A reported exception's raw data, each field checked."""
    etype, message = frame.get("error_type"), frame.get("error_message")
    if type(etype) is not str or type(message) is not str or type(frame.get("builtin")) is not bool \
            or type(frame.get("compile")) is not bool:
        raise Tampered("an exception's report is malformed")
    return {"error_type": etype[:100], "error_message": message[:500], "builtin": frame["builtin"],
            "compile": frame["compile"]}


def classify(raw: dict[str, Any], out_of_time: bool) -> tuple[Outcome, str, str]:
    """An exception that ended a test or the program's loading -> (outcome, error type, message), decided
    here: the child only says what was raised. No exception of the child is a wrong answer: the test's
    own checks are made in the supervisor (eta.execute.checks, eta.execute.sites)."""
    if out_of_time:
        return Outcome.TIMEOUT, "Timeout", "the test ran past its time limit"
    etype, message = raw["error_type"], raw["error_message"]
    if raw["compile"] and etype in COMPILE_ERROR_TYPES:
        return Outcome.SYNTAX_ERROR, etype, message
    if etype == "MemoryError" and raw["builtin"]:
        return Outcome.MEMORY_EXCEEDED, etype, message
    return Outcome.RUNTIME_ERROR, etype, message


def test_frame(log: ChildLog, index: int, traced: bool, sites: list[Site] | None = None) -> dict[str, Any] | None:
    """Test `index`'s frame as :func:`eta.execute.checks.final_result` takes it, its outcome decided from
    the child's raw data, its assertions' operands (`sites`: a whole test's) and the supervisor's clock;
    None when this child has nothing on it. Whatever the child's data makes fail here is the program's."""
    try:
        return _test_frame(log, index, traced, sites)
    except Tampered as e:
        verdict = tampered(str(e))
    except Exception as e:  # noqa: BLE001 - never the harness's failure: the data came from the program
        verdict = tampered(f"a result that could not be judged ({type(e).__name__})")
    return {"index": index, "outcome": verdict[0].value, "error_type": verdict[1], "error_message": verdict[2]}


def _test_frame(log: ChildLog, index: int, traced: bool, sites: list[Site] | None) -> dict[str, Any] | None:
    out_of_time = log.out_of_time(index)
    if log.load_error is not None:
        outcome, etype, msg = classify(log.load_error, out_of_time)
        return {"index": index, "outcome": outcome.value, "error_type": etype, "error_message": msg,
                "steps": 0 if traced else None}
    frame = log.results.get(index)
    failed = _failed_assertion(log, index, sites) if sites else None
    if frame is None and failed is None:
        if out_of_time and index == log.current_test():
            return {"index": index, "outcome": Outcome.TIMEOUT.value, "error_type": "Timeout",
                    "error_message": "the test ran past its time limit"}
        return None
    frame = frame or {}
    _check_fields(frame)
    result: dict[str, Any] = {"index": index, "duration_s": log.measured(index, frame.get("duration_s")),
                              "steps": _steps(frame)}
    for key in ("stdout", "trace", "writes"):
        if key in frame:
            result[key] = frame[key]
    if "events" in frame:  # rebuilt field by field: a malformed event raises, and is the program's doing
        from eta.trace.record import TraceEvent

        result["events"] = [TraceEvent.from_dict(e).to_dict() for e in frame["events"]]
    if "value" in frame:
        result["value"] = frame["value"]
    status = frame.get("status")
    if failed is not None:  # the test stopped there, as it would have in-process, before any later event
        outcome, etype, msg = failed
    elif status == "ok":
        outcome, etype, msg = (Outcome.TIMEOUT, "Timeout", "the test ran past its time limit") if out_of_time \
            else (Outcome.PASSED, None, None)
        if outcome is Outcome.PASSED and sites:
            reported = {r["site"] for r in log.site_records.get(index, ())}
            if any(site.required and k not in reported for k, site in enumerate(sites)):
                outcome, etype, msg = tampered("an assertion of the test was never reported")
    else:
        outcome, etype, msg = classify(_raw_error(frame), out_of_time)
    result.update(outcome=outcome.value, error_type=etype, error_message=msg)
    return result


def _writes_ok(v: Any) -> bool:
    """A test's value writes as eta.trace.writes.value_writes makes them (what the divergence reads)."""
    if type(v) is not dict or not set(v) <= {"writes", "lines", "complete"}:
        return False
    writes, lines = v.get("writes", []), v.get("lines", [])
    return (type(writes) is list and type(lines) is list and type(v.get("complete", True)) is bool
            and all(type(w) is list and len(w) == 4 and type(w[0]) is int and type(w[1]) is str
                    and type(w[2]) is str and (w[3] is None or type(w[3]) is str) for w in writes)
            and all(type(x) is list and len(x) == 2 and type(x[0]) is int and type(x[1]) is int for x in lines))


# Every field a test's frame may carry, with the check its value must pass; any other field is forged.
_TEST_FIELDS: dict[str, Any] = {
    "index": lambda v: type(v) is int, "status": lambda v: v in ("ok", "error"),
    "duration_s": lambda v: type(v) is float and math.isfinite(v) and v >= 0,
    "steps": lambda v: type(v) is int and 0 <= v < 2 ** 62, "stdout": lambda v: type(v) is str,
    "trace": lambda v: type(v) is dict, "events": lambda v: type(v) is list and all(type(e) is dict for e in v),
    "value": lambda v: True,  # decoded, and checked so, by the test's check
    "error_type": lambda v: type(v) is str, "error_message": lambda v: type(v) is str,
    "builtin": lambda v: type(v) is bool, "compile": lambda v: type(v) is bool,
    "writes": _writes_ok,
}


def _check_fields(frame: dict[str, Any]) -> None:
    for key, value in frame.items():
        check = _TEST_FIELDS.get(key)
        if check is None or not check(value):
            raise Tampered(f"a test's report has a malformed field {str(key)[:40]!r}")


def _steps(frame: dict[str, Any] | None) -> int | None:
    steps = frame.get("steps") if frame else None
    return steps if type(steps) is int and 0 <= steps < 2 ** 62 else None


def _failed_assertion(log: ChildLog, index: int, sites: list[Site]) -> tuple[Outcome, str, str] | None:
    """The verdict of the first of the test's assertions that did not hold, if it came before the test's
    time ran out (by the stream's order for the alarm, by the supervisor's looks for its clock)."""
    phase, alarm = log.phase_of(index), log.alarms.get(index)
    for record in log.site_records.get(index, ()):
        position, seen = record["at"]
        if (alarm is not None and position > alarm) or (phase is not None and phase.ran_out is not None
                                                        and seen > phase.ran_out):
            return None
        try:
            held, got = judge(sites[record["site"]], record["ops"], record.get("truth"))
        except (TypeError, ValueError, ArithmeticError) as e:  # what the same comparison raises in-process
            return Outcome.RUNTIME_ERROR, type(e).__name__, str(e)[:500]
        except Exception as e:  # noqa: BLE001 - operands that break the comparison: the program's doing
            return tampered(f"an assertion's operands could not be compared ({type(e).__name__})")
        if not held:
            return Outcome.WRONG_ANSWER, "AssertionError", got
    return None
