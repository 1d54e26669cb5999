"""The ``sys.monitoring`` (PEP 669) core, Python 3.12+.

Only PY_START (and the events that cannot be local: RAISE, PY_UNWIND, PY_THROW) are global; a code
object outside the target files answers its first PY_START with DISABLE and never calls back again,
and a target code object gets local LINE/JUMP/return events. The events reproduce what
``sys.settrace`` reports on the same interpreter (CPython implements settrace on these very events):
a backward jump that stays on its line is a line event, PY_THROW and PY_RESUME are 'call' events,
PY_UNWIND is a 'return', STOP_ITERATION an 'exception'. Traced frames form a stack, so a line event
finds its frame's memory without looking the frame up.
"""

from __future__ import annotations

import sys
from typing import Any

from eta.trace.capture import CONTAINER_TYPES, MISSING, prepared
from eta.trace.config import TraceConfig
from eta.trace.effects import START, UNKNOWN, code_info, effects_cache
from eta.trace.pytracer import exception_payload
from eta.trace.record import CALL, EXCEPTION, LINE, RESUME, RETURN, UNWIND, YIELD, TraceRecord

TOOL_NAME = "eta.trace"
# Ids nobody claims first, then the ones CPython names (debugger, coverage, profiler, optimizer).
TOOL_ID_ORDER = (3, 4, 0, 2, 1, 5)
# CPython 3.12's settrace handler skips a LINE event for the line it last reported in that frame
# (f_last_traced_line); 3.13's does not. Mirrored, though no program of the comparison corpus
# (eta.trace.crosscheck, HumanEval included) is reported differently either way on 3.12.1 or 3.13.0.
_SKIP_REPEATED_LINE = sys.version_info < (3, 13)


_TOO_OLD = (f"sys.monitoring needs Python 3.12+ (this is {sys.version.split()[0]})"
            if sys.version_info < (3, 12) else None)


_LAST_TARGETS: dict[int, frozenset[str]] = {}  # tool id -> the targets of this module's last run with it


def unavailable_reason(tool_id: int | None = None) -> str | None:
    """Why this core cannot run here, or None."""
    if _TOO_OLD:
        return _TOO_OLD
    mon = getattr(sys, "monitoring", None)
    if mon is None:
        return "this Python has no sys.monitoring"
    if tool_id is not None:
        owner = mon.get_tool(tool_id)
        return None if owner is None else f"sys.monitoring tool id {tool_id} is in use by {owner!r}"
    if all(mon.get_tool(i) is not None for i in TOOL_ID_ORDER):
        users = ", ".join(f"{i}: {mon.get_tool(i)!r}" for i in sorted(TOOL_ID_ORDER))
        return f"every sys.monitoring tool id is in use ({users})"
    return None


def _line_table(code: Any) -> dict[int, int | None]:
    lines: dict[int, int | None] = {}
    for start, end, line in code.co_lines():
        for offset in range(start, end, 2):
            lines[offset] = line
    return lines


class _Kit:
    """One set of callbacks and their state, reset for each run and reused by the next tracer with
    the same settings (see pytracer._Kit)."""

    __slots__ = ("callbacks", "reset", "counters", "instrumented")


_IDLE_KITS: dict[tuple, list[_Kit]] = {}


def _kit_key(config: TraceConfig, targets: frozenset[str]) -> tuple:
    return (config.max_events, config.max_value_chars, config.max_items, config.max_depth,
            config.record_variables, config.tail_errors, targets)


def _build(config: TraceConfig, targets: frozenset[str]) -> _Kit:
    """The callbacks by event, and the functions that reset and read their state."""
    mon = sys.monitoring
    E, DISABLE, getframe = mon.events, mon.DISABLE, sys._getframe
    local_events = E.PY_RESUME | E.PY_RETURN | E.PY_YIELD | E.LINE | E.JUMP | E.STOP_ITERATION
    raw: list[tuple] = []
    frames: list[tuple[str, int]] = []
    append, record, tool = raw.append, config.record_variables, -1
    limit, tail_limit = config.max_events, config.tail_errors
    instrumented: dict[int, Any] = {}  # id -> code object given local events (kept alive meanwhile)
    line_tables: dict[Any, dict[int, int | None]] = {}
    # One entry per active traced frame:
    # [frame, fid, prev, caps, last line reported, effects, where the last look was taken, calls then,
    #  whether another frame can rebind its names (cell variables)]
    stack: list[list[Any]] = []
    steps = kept = dropped = tails = 0
    calls = 0  # traced frames started or resumed so far: when it moves, a frame's next look is a full one
    # volatile[0]: a defaultdict was seen: reading a missing key changes it, so lines re-check containers
    capture, snapshot, volatile = prepared(config)
    infos, containers = effects_cache(), CONTAINER_TYPES

    def reset(new_raw: list[tuple], new_frames: list[tuple[str, int]], new_tool: int) -> None:
        nonlocal raw, frames, append, tool, instrumented, steps, kept, dropped, tails, calls
        raw, frames, append, tool, instrumented = new_raw, new_frames, new_raw.append, new_tool, {}
        steps = kept = dropped = tails = calls = 0
        stack.clear()
        volatile[0] = False

    def enter(code: Any, frame: Any, kind: int, key: int) -> None:
        nonlocal kept, dropped, calls
        calls += 1
        key_id = id(code)
        info = infos.get(key_id)
        if info is None or info[0] is not code:
            info = code_info(code)
        if key_id not in instrumented:
            instrumented[key_id] = code
            mon.set_local_events(tool, code, local_events)
        if kept >= limit:
            stack.append([frame, -1, None, None, -1, None, key, calls, True])
            dropped += 1
            return
        kept += 1
        fid = len(frames)
        frames.append((code.co_name, len(stack)))
        caps: dict[str, Any] = {}
        if record:
            prev = dict(frame.f_locals)
            if not prev:
                delta = None
            elif containers.isdisjoint(map(type, prev.values())):
                delta = prev.copy()
            else:
                delta = snapshot(prev, None, True, {}, caps)
        else:
            prev, delta = {}, None
        stack.append([frame, fid, prev, caps, -1, info[1], key, calls, info[2]])
        append((kind, frame.f_lineno, fid, delta))

    def py_start(code: Any, offset: int) -> Any:
        if code.co_filename not in targets:
            return DISABLE
        enter(code, getframe(1), CALL, START)

    def py_resume(code: Any, offset: int) -> None:
        frame = getframe(1)
        enter(code, frame, RESUME, frame.f_lasti)  # the yield's line may store the value sent in

    def py_throw(code: Any, offset: int, exc: Any) -> None:
        if code.co_filename in targets:
            frame = getframe(1)
            enter(code, frame, RESUME, frame.f_lasti)

    def line(code: Any, lineno: int) -> None:
        nonlocal steps, kept, dropped
        try:
            top = stack[-1]
        except IndexError:  # a frame that was running before start(): not ours to report
            return
        if lineno == top[4] and _SKIP_REPEATED_LINE:
            return
        top[4] = lineno
        steps += 1
        if kept >= limit:
            dropped += 1
            return
        kept += 1
        delta = None
        if record:
            frame, prev, caps = top[0], top[2], top[3]
            fx = top[5].get(top[6])
            if fx is None or (top[7] != calls and top[8]):
                delta = snapshot(frame.f_locals, None, True, prev, caps)
                top[7] = calls
            elif top[7] != calls:  # another frame ran: it may have changed containers, not names
                delta = snapshot(frame.f_locals if fx[0] else None, fx[0], True, prev, caps)
                top[7] = calls
            elif fx[2] is not None and not volatile[0]:  # the commonest: `x = ...` (pure)
                name = fx[2]
                val = frame.f_locals.get(name, MISSING)
                if prev.get(name, MISSING) is val and name not in caps:
                    pass
                elif val is not MISSING and type(val) not in containers and name not in caps:
                    prev[name] = val
                    delta = {name: val}
                else:
                    delta = snapshot(frame.f_locals, fx[0], False, prev, caps)
            elif fx[0]:
                delta = snapshot(frame.f_locals, fx[0], volatile[0] or not fx[1], prev, caps)
            elif volatile[0] or not fx[1]:
                delta = snapshot(None, (), True, prev, caps)
            top[6] = frame.f_lasti  # where this line starts running: the key to what it can change
        append((LINE, lineno, top[1], delta))

    def jump(code: Any, source: int, destination: int) -> Any:
        if destination > source:
            return DISABLE
        lines = line_tables.get(code)
        if lines is None:
            lines = line_tables[code] = _line_table(code)
        to = lines.get(destination)
        if to != lines.get(source) or to is None:
            return DISABLE  # a new line: its LINE event reports it
        if stack:
            stack[-1][4] = -1
            line(code, to)

    def leave(kind: int, value: Any) -> None:
        nonlocal kept, dropped
        if not stack:
            return
        frame, fid = stack.pop()[:2]
        if fid < 0 or kept >= limit:
            dropped += 1
            return
        kept += 1
        append((kind, frame.f_lineno, fid, value))

    def py_return(code: Any, offset: int, value: Any) -> None:
        leave(RETURN, (capture(value) if type(value) in containers else value) if kept < limit else None)

    def py_yield(code: Any, offset: int, value: Any) -> None:
        leave(YIELD, capture(value) if kept < limit else None)

    def py_unwind(code: Any, offset: int, exc: Any) -> None:
        if code.co_filename in targets and stack and stack[-1][0] is getframe(1):
            leave(UNWIND, None)

    def exception(code: Any, offset: int, exc: Any) -> None:
        nonlocal kept, dropped, tails
        if code.co_filename not in targets or not stack or stack[-1][0] is not getframe(1):
            return  # raised in untraced code
        top = stack[-1]
        top[6] = UNKNOWN  # a handler may run next: look at everything
        frame, fid = top[0], top[1]
        if fid >= 0 and kept < limit:
            kept += 1
        elif tails < tail_limit:
            tails += 1
            fid = len(frames)
            frames.append((code.co_name, len(stack) - 1))
        else:
            dropped += 1
            return
        append((EXCEPTION, frame.f_lineno, fid, exception_payload(capture, exc, exc.__traceback__)))

    callbacks = {E.PY_START: py_start, E.PY_RESUME: py_resume, E.PY_THROW: py_throw, E.LINE: line,
                 E.JUMP: jump, E.PY_RETURN: py_return, E.PY_YIELD: py_yield, E.PY_UNWIND: py_unwind,
                 E.RAISE: exception, E.STOP_ITERATION: exception}

    def counters() -> tuple[int, int]:
        return steps, dropped

    def given_local_events() -> dict[int, Any]:
        return instrumented

    kit = _Kit()
    kit.callbacks, kit.reset, kit.counters, kit.instrumented = callbacks, reset, counters, given_local_events
    return kit


class MonitoringTracer:
    """Traces with a ``sys.monitoring`` tool id, held from start() to stop()."""

    name = "monitoring"

    def __init__(self, config: TraceConfig, filenames: frozenset[str]) -> None:
        if _TOO_OLD:
            raise RuntimeError(_TOO_OLD)
        self.config = config
        self.filenames = filenames if type(filenames) is frozenset else frozenset(filenames)
        self.fallback_reason: str | None = None
        self._tool: int | None = None

    def _claim_tool(self) -> int:
        mon = sys.monitoring
        wanted = self.config.monitoring_tool_id
        order = (wanted,) if wanted is not None else TOOL_ID_ORDER
        for tool in order:
            if mon.get_tool(tool) is None:
                mon.use_tool_id(tool, TOOL_NAME)
                return tool
        raise RuntimeError(unavailable_reason(self.config.monitoring_tool_id) or "no free sys.monitoring tool id")

    def start(self) -> None:
        if self._tool is not None:
            raise RuntimeError("this tracer is already running: stop() it first")
        mon = sys.monitoring
        self._raw: list[tuple] = []
        self._frames: list[tuple[str, int]] = []
        tool = self._claim_tool()
        idle = _IDLE_KITS.get(_kit_key(self.config, self.filenames))
        self._kit = kit = idle.pop() if idle else _build(self.config, self.filenames)
        kit.reset(self._raw, self._frames, tool)
        for event, callback in kit.callbacks.items():
            mon.register_callback(tool, event, callback)
        self._tool = tool
        # A code object that answered DISABLE in an earlier run with other targets may be a target
        # now; restart_events() makes every code object re-instrument, so it is kept for that case.
        if _LAST_TARGETS.get(tool) != self.filenames:
            mon.restart_events()
            _LAST_TARGETS[tool] = self.filenames
        E = mon.events
        mon.set_events(tool, E.PY_START | E.PY_THROW | E.PY_UNWIND | E.RAISE)

    def stop(self) -> TraceRecord:
        tool, kit = self._tool, self._kit
        if tool is None:
            raise RuntimeError("this tracer was not started")
        mon = sys.monitoring
        intact = mon.get_tool(tool) == TOOL_NAME
        if intact:
            mon.set_events(tool, 0)
            for code in kit.instrumented().values():
                mon.set_local_events(tool, code, 0)
            for event, callback in kit.callbacks.items():
                intact = (mon.register_callback(tool, event, None) is callback) and intact
            mon.free_tool_id(tool)
        self._tool = None
        steps, dropped = kit.counters()
        kit.reset([], [], -1)  # let go of this run's frames and code objects
        idle = _IDLE_KITS.setdefault(_kit_key(self.config, self.filenames), [])
        if len(idle) < 4 and len(_IDLE_KITS) < 64:
            idle.append(kit)
        return TraceRecord(steps=steps, dropped=dropped, core=self.name, raw=self._raw, frames=self._frames,
                           config=self.config, filenames=self.filenames,
                           incomplete=None if intact else "the sys.monitoring tool was taken over during the test")
