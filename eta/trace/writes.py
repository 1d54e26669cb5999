"""What a traced test wrote: each new value-state, with the line that produced it (the raw material of
`eta.trace.divergence`, compact enough to travel from the sandbox's child with every test's verdict).

A *write* is ``[line, function, name, value]``: a variable whose rendered value differs from the one its
frame showed at the previous event (``name`` the variable's), a call's arguments (at the ``def`` line), a
return or yield (``name`` is `RETURN`), or an exception raised in the frame (`RAISE`, ``value`` its type).
A line event shows the state *before* its line runs, so what changed since the frame's previous line event
was written by that previous line: that is the line a write names. Values are the tracer's bounded
renderings, so two programs that compute the same value write the same string whatever they call it.

``lines`` counts the line events of each line of the candidate (within the tracer's event cap): what the
repaired ``steps`` criterion counts, after dropping the lines that compute nothing the result depends on.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterator, Sequence

from eta.trace.record import TraceEvent, TraceRecord

RETURN, RAISE = "<return>", "<raise>"


def value_writes(record: TraceRecord) -> dict[str, Any]:
    """``{"writes": [[line, function, name, value], ...], "lines": [[line, count], ...], "complete": bool}``
    of one test's record; ``complete`` is False when the event cap or an early end cut the trace."""
    events = record.events
    lines = Counter(e.line_number for e in events if e.event_type == "line")
    return {"writes": [write for _, write in attributed_writes(events)], "lines": sorted(lines.items()),
            "complete": not record.dropped and not record.incomplete}


def attributed_writes(events: Sequence[TraceEvent]) -> Iterator[tuple[int, list[Any]]]:
    """Each write of ``events`` with the index of the event that made it: for a changed variable, the
    frame's previous line (or call) event; for a call's arguments, a return or a raise, that event itself
    (``eta.trace.window`` shows each write in the block of the line that made it)."""
    state: dict[int, dict[str, str]] = {}  # frame id -> what it showed at its last call or line event
    last: dict[int, tuple[int, int]] = {}  # frame id -> (line, event index) of that event
    for i, e in enumerate(events):
        fid = e.frame_id
        kind = e.event_type
        if kind == "line":
            before = state.get(fid, {})
            writer, at = last.get(fid, (e.line_number, i))
            for name, value in e.variable_states.items():
                if before.get(name) != value:
                    yield at, [writer, e.function, name, value]
            state[fid], last[fid] = e.variable_states, (e.line_number, i)
        elif kind == "call":
            if e.detail != "resume":  # a resumed generator's variables were written before it yielded
                for name, value in e.variable_states.items():
                    yield i, [e.line_number, e.function, name, value]
            state[fid], last[fid] = e.variable_states, (e.line_number, i)
        elif kind == "return":
            if e.detail != "unwind":
                yield i, [e.line_number, e.function, RETURN, e.return_value]
        elif kind == "exception":
            yield i, [e.line_number, e.function, RAISE, (e.error_info or {}).get("error_type", "Exception")]
