"""The text form of a trace, for models to read.

::

    Test Case: divide(10, 0)
    Execution Trace:
    [L1] call: a=10, b=0
    [L2] line: a=10, b=0 | Condition (b == 0) is True
    [L3] line: a=10, b=0 | Returning float('inf')
    [L3] return: inf
    Test Result: PASS

One line per event, indented two spaces per call depth (up to 8 levels; a deeper call says its
depth); a call below the top level names its function. An exception raised by a line's own code is
appended to that line (``| EXCEPTION: ...``), one that arrives from a callee gets its own
``exception`` line, and a frame's exit through an exception is not repeated as a ``return``.
Generators show ``yield`` and ``resume``. ``if``/``elif``/``while`` lines tell whether their condition
held, judged from the next line that ran in that frame; ``return`` lines show the returned expression.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eta.trace.annotate import LineFacts, line_facts
from eta.trace.record import TraceEvent, TraceRecord

MAX_INDENT = 8  # deeper calls keep this indentation and say their depth

Skeleton = tuple[int, str, str, int, str, int]  # line_number, event_type, function, depth, detail, frame_id
LINE_NO, TYPE, FUNCTION, DEPTH, DETAIL, FRAME = range(6)


@dataclass
class _Item:
    index: int  # the event shown
    merged: int  # the exception event appended to it, or -1
    events: int  # trace events it stands for (an omission reports their count)


def format_trace(record: TraceRecord, source: str, test_display: str, passed: bool, *,
                 budget_lines: int | None = None) -> str:
    """The trace of one test as text; `budget_lines` caps the lines between the header and the result
    (the first and last events are kept, the ones in between counted in an ``... N events omitted ...``
    line). Only the events shown are rendered."""
    skeleton = record.skeleton()
    links, body, tail, notes, omitted, shown = _layout(record, skeleton, budget_lines)
    events = record.events_at(shown)
    facts = line_facts(source)
    lines = [_text(item, events, skeleton, links, facts) for item in body]
    if omitted is not None:
        lines.insert(omitted[0], f"... {omitted[1]} events omitted ...")
    lines += notes + [_text(item, events, skeleton, links, {}) for item in tail]
    if record.incomplete:
        lines.append(f"... trace ended early: {record.incomplete} ...")
    # A name the program chose (a class made by type(), a code object's co_name) may hold a line break;
    # one event stays one line, so that no program can write a line of its own into the trace.
    lines = [one_line(line) for line in lines]
    out = [f"Test Case: {test_display}", "Execution Trace:", *lines]
    out.append(f"Test Result: {'PASS' if passed else 'FAIL'}")
    return "\n".join(out)


def _layout(record: Any, skeleton: list[Skeleton], budget_lines: int | None) -> tuple[Any, ...]:
    """Which events a trace shows, and how: (links, body, tail, notes, omitted, shown indices)."""
    if budget_lines is not None and budget_lines < 1:
        raise ValueError(f"budget_lines must be >= 1 or None, got {budget_lines}")
    regular = min(len(skeleton), record.max_events)  # later events: errors kept past the cap
    links = _links(skeleton)
    body = _items(skeleton, links[0], 0, regular)
    tail = _items(skeleton, links[0], regular, len(skeleton))
    notes: list[str] = []
    if record.dropped:
        notes.append(f"... tracer cap of {record.max_events} events reached: {record.dropped} more events "
                     f"not recorded ({record.steps} lines executed in all) ...")
    omitted: tuple[int, int] | None = None  # (position in body, events left out)
    if budget_lines is not None:
        body, omitted = _fit(body, budget_lines - len(notes) - len(tail))
    shown = [i for item in body + tail for i in (item.index, item.merged) if i >= 0]
    return links, body, tail, notes, omitted, shown


# -- a trace sent out of the sandbox, to be rendered by the supervisor -------------------------------
# The child sends the record's skeleton and only the events the text will show; the supervisor renders
# the text, with the test's name and the verdict it decided, so that no program can write the text.

def trace_payload(record: TraceRecord, budget_lines: int | None) -> dict[str, Any]:
    skeleton = record.skeleton()
    shown = _layout(record, skeleton, budget_lines)[-1]
    return {"steps": record.steps, "dropped": record.dropped, "max_events": record.max_events,
            "incomplete": record.incomplete, "skeleton": skeleton,
            "events": [[i, e.to_dict()] for i, e in record.events_at(shown).items()]}


class SentRecord:
    """A trace record rebuilt from :func:`trace_payload`'s data, every field checked (it comes from the
    candidate's process)."""

    def __init__(self, payload: Any) -> None:
        if type(payload) is not dict:
            raise ValueError("a trace is not a mapping")
        self.steps, self.dropped, self.max_events = (_count(payload.get(k)) for k in ("steps", "dropped", "max_events"))
        incomplete = payload.get("incomplete")
        if incomplete is not None and type(incomplete) is not str:
            raise ValueError("a trace's 'incomplete' is not text")
        self.incomplete = incomplete[:200] if incomplete else None
        skeleton, events = payload.get("skeleton"), payload.get("events")
        if type(skeleton) is not list or type(events) is not list:
            raise ValueError("a trace without its skeleton or events")
        self._skeleton = [_skeleton_entry(e) for e in skeleton]
        self._events: dict[int, TraceEvent] = {}
        for entry in events:
            if type(entry) is not list or len(entry) != 2 or type(entry[0]) is not int or type(entry[1]) is not dict:
                raise ValueError("a trace event is malformed")
            self._events[entry[0]] = TraceEvent.from_dict(entry[1])

    def skeleton(self) -> list[Skeleton]:
        return self._skeleton

    def events_at(self, indices: list[int]) -> dict[int, TraceEvent]:
        missing = [i for i in indices if i not in self._events]
        if missing:
            raise ValueError(f"the trace lacks the events it shows ({missing[:3]})")
        return {i: self._events[i] for i in indices}


def _count(value: Any) -> int:
    if type(value) is not int or not 0 <= value < 2 ** 62:
        raise ValueError(f"a trace's count is {value!r}")
    return value


_KINDS = frozenset({"call", "line", "return", "exception"})


def _skeleton_entry(entry: Any) -> Skeleton:
    if (type(entry) is not list or len(entry) != 6 or type(entry[LINE_NO]) is not int or entry[TYPE] not in _KINDS
            or type(entry[FUNCTION]) is not str or type(entry[DEPTH]) is not int or entry[DEPTH] < 0
            or type(entry[DETAIL]) is not str or type(entry[FRAME]) is not int):
        raise ValueError("a trace's skeleton entry is malformed")
    return tuple(entry)  # type: ignore[return-value]


_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}


def one_line(text: str) -> str:
    """`text` with every character that ``str.splitlines`` breaks at written as its escape."""
    return text.translate(_BREAKS)


def restate(trace: str, passed: bool, display: str | None = None) -> str:
    """A trace from :func:`format_trace`, with its result line (and, given `display`, its one-line
    ``Test Case:`` header) replaced: for a test whose verdict is decided outside the process that traced
    it, which knew neither the verdict nor how the test is named."""
    head, _, result = trace.rpartition("\n")
    if not result.startswith("Test Result: "):
        raise ValueError("not a trace made by format_trace: no result line at its end")
    if display is not None:
        _, _, head = head.partition("\n")
        head = f"Test Case: {display}\n{head}"
    return f"{head}\nTest Result: {'PASS' if passed else 'FAIL'}"


def _fit(items: list[_Item], room: int) -> tuple[list[_Item], tuple[int, int] | None]:
    if len(items) <= room:
        return items, None
    keep = max(room - 1, 0)  # one line says what was left out
    head, tail = (keep + 1) // 2, keep // 2
    left_out = sum(item.events for item in items[head:len(items) - tail])
    return items[:head] + (items[-tail:] if tail else []), (head, left_out)


def _links(skeleton: list[Skeleton]) -> tuple[list[int], list[int]]:
    """For each event, the index of the next and of the previous event of the same frame activation
    (-1 for none)."""
    following, preceding = [-1] * len(skeleton), [-1] * len(skeleton)
    last: dict[int, int] = {}
    for i, event in enumerate(skeleton):
        j = last.get(event[FRAME], -1)
        if j >= 0:
            following[j], preceding[i] = i, j
        last[event[FRAME]] = i
    return following, preceding


def _items(skeleton: list[Skeleton], following: list[int], start: int, stop: int) -> list[_Item]:
    """The lines to show: an exception right after its frame's line event joins that line, and a
    frame's exit through an exception is not shown again (it counts with the line before)."""
    items: list[_Item] = []
    i = start
    while i < stop:
        kind = skeleton[i][TYPE]
        if kind == "return" and skeleton[i][DETAIL] == "unwind":
            if items:
                items[-1].events += 1
            i += 1
            continue
        nxt = i + 1
        if kind == "line" and nxt < stop and skeleton[nxt][TYPE] == "exception" and following[i] == nxt:
            items.append(_Item(i, nxt, 2))
            i += 2
            continue
        items.append(_Item(i, -1, 1))
        i += 1
    return items


def _text(item: _Item, events: dict[int, TraceEvent], skeleton: list[Skeleton],
          links: tuple[list[int], list[int]], facts: dict[int, LineFacts]) -> str:
    following, preceding = links
    event = events[item.index]
    where = f"{'  ' * min(event.depth, MAX_INDENT)}[L{event.line_number}]"
    kind = event.event_type
    if kind == "call":
        name = "resume" if event.detail == "resume" else "call"
        if event.depth > 0:
            name += f" {event.function}"
        if event.depth > MAX_INDENT:
            name += f" (depth {event.depth})"
        return _with_vars(f"{where} {name}", event)
    if kind == "line":
        text = _with_vars(f"{where} line", event)
        if item.merged >= 0:
            return text + f" | EXCEPTION: {_error(events[item.merged])}"
        fact = facts.get(event.line_number)
        note = _annotation(skeleton, following, preceding, item.index, fact if fact and fact.scope == event.function
                           else None)
        return text + f" | {note}" if note else text
    if kind == "return":
        return f"{where} {'yield' if event.detail == 'yield' else 'return'}: {event.return_value}"
    return f"{where} exception: {_error(event)}"


def _with_vars(head: str, event: TraceEvent) -> str:
    if not event.variable_states:
        return head
    return head + ": " + ", ".join([f"{name}={value}" for name, value in event.variable_states.items()])


def _error(event: TraceEvent) -> str:
    info = event.error_info or {}
    name, message = info.get("error_type", "Exception"), info.get("error_message") or ""
    if not message:
        return f"{name}()"
    message = message.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{name}("{message}")'


def _annotation(skeleton: list[Skeleton], following: list[int], preceding: list[int], i: int,
                facts: LineFacts | None) -> str:
    if facts is None:
        return ""
    before = preceding[i]
    if before >= 0 and skeleton[before][TYPE] == "line" and \
            skeleton[i][LINE_NO] < skeleton[before][LINE_NO] <= facts.header_end:
        return ""  # back on the statement's first line after its continuation lines: told already
    if facts.kind == "return":
        return f"Returning {facts.text}"
    # A condition held when the next line that ran in this frame, past the condition's own lines,
    # is inside the body it guards.
    start, j = skeleton[i][LINE_NO], following[i]
    while j >= 0 and skeleton[j][TYPE] == "line" and start <= skeleton[j][LINE_NO] <= facts.header_end:
        j = following[j]
    if j < 0 or skeleton[j][TYPE] == "exception" or skeleton[j][DETAIL]:
        return ""  # the trace ends, the condition raised, or the frame yielded: nothing to tell
    held = skeleton[j][TYPE] == "line" and facts.condition_held(skeleton[j][LINE_NO])
    return f"Condition ({facts.text}) is {held}"
