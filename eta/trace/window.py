"""The window of one failing test's trace around where it first differs from the reference solution's
execution: what ``feedback=trace`` shows a repair prompt (``eta.repair.prompt``), LDB-style (Zhong et al.,
arXiv 2402.16906): the execution cut into blocks, each with the values it computed, so that a model can
check them block by block, and the values that differ from the reference's marked::

    First difference from a correct solution: line 8 (`sorted_arr.extend([i] * count)`) computes
    sorted_arr = [0, 0, 0] where a correct solution computes [1] next.
    [L1] call bucketsort: arr = [3, 11, 2, 9, 1, 5], k = 12
    [L2-4] x = 3, counts = [0, 0, 0, 1, 0, 0, 0, 0, ...(+4)]
    ...
    [L3,6-8] sorted_arr = [], count = 3, i = 0
        sorted_arr = [0, 0, 0]   # reference: [1]   <- first difference
    [L7-8] count = 11, i = 1, sorted_arr = [0, 0, 0, 1, 1, 1, 1, 1, ...(+6)] (not in the reference)

A *block* is a run of line events of one frame whose line numbers rise (``[L3,6-8]``: lines 3, 6, 7 and
8 ran, in that order): a loop's next iteration, a call, a return or an exception starts another. Each
write (``eta.trace.writes``: a variable whose value changed, a call's arguments, a return) belongs to
the block of the line that made it; a block shows the state it leaves, each name it wrote with its last
value (``name = value``). A block repeated with the same lines and names
(a loop that only counts, a recursion that makes no progress) is shown once, then one line that says how
many times more and the range of its values.

The first difference is where ``eta.trace.divergence`` puts the divergence (the first live value after
the last reference value met in order), with one difference: a write that cannot matter to the result
(``eta.trace.liveness``) may still meet the reference's next value, so that a bug that leaves a
computation dead does not make that computation look wrong; a dead write never is the difference, so
padding is never shown as one. It is marked ``# reference: <the value the reference computes next>`` on a
line of its own, and a later live value the reference never computes ``(not in the reference)``. Without a
reference (the offline APPS subset, a reference that fails its tests) the window is centred on the
exception, or on the end of the test, and says so.

Bounded: at most ``budget_lines`` lines of at most ``MAX_LINE`` characters, and a summary of at most
``SUMMARY`` (so at most that many tokens for a byte-level tokenizer, and far fewer in practice); the test's
last block (its return or exception) is always shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from eta.trace.divergence import canonical
from eta.trace.liveness import Liveness, analyze
from eta.trace.record import TraceEvent
from eta.trace.text import one_line
from eta.trace.writes import RAISE, RETURN, attributed_writes

MAX_LINE = 160  # characters of one window line (values are already bounded by the tracer: 80 characters)
MAX_INDENT = 8
MAX_SOURCE = 80  # characters of a source line quoted in the summary
SUMMARY = 2 * MAX_LINE  # characters of the summary sentence (two values and a source line fit)
REPEATS = 3  # a block pattern seen this many times in a row or more is shown once, then counted
FIRST = "   <- first difference"
ABSENT = " (not in the reference)"  # after a value, inline: one line per block whatever it marks


@dataclass
class Block:
    """One unit of the trace: a call, a block of lines, a return or an exception."""

    kind: str  # "call" | "lines" | "return" | "exception"
    depth: int
    function: str
    lines: list[int]
    writes: list[int] = field(default_factory=list)  # positions in the test's writes
    text: str = ""  # a call's label, a return's kind, an exception's type and message
    note: str = ""  # at the end of its first line: what the reference computes next, where the candidate stopped


@dataclass(frozen=True)
class Window:
    summary: str  # one sentence: where the first difference is, or why there is no comparison
    lines: list[str]  # the blocks shown, with the omission lines


def divergence_window(events: Sequence[TraceEvent], source: str, entry_point: str | None,
                      reference: list[str] | None, budget_lines: int, *, no_reference: str = "") -> Window:
    """The window of one failing test's trace (``events``, of ``source``) against the reference's value
    sequence on the same test (``eta.execute.reftraces``; None: no reference, ``no_reference`` says why),
    at most ``budget_lines`` lines."""
    if budget_lines < 3:
        raise ValueError(f"budget_lines must be >= 3 for a window, got {budget_lines}")
    if not events:
        return Window("(no trace: the test did not run under the tracer)", [])
    found = list(attributed_writes(events))
    writes = [w for _, w in found]
    live = analyze(source, entry_point) if reference is not None else None
    expected, first = first_difference(writes, live, reference) if reference is not None else (None, None)
    # the block of the line that made the first difference ends with it: what follows is seen after the mark
    units, of = blocks(events, found[first][0] if first is not None else -1)
    if not units:
        return Window("(no trace: the test did not run under the tracer)", [])
    for at, (event, write) in enumerate(found):
        unit = units[of[event]] if of[event] >= 0 else None
        if unit is not None and (unit.kind in ("call", "lines") or (unit.kind == "return" and write[2] == RETURN)):
            unit.writes.append(at)
    marks: dict[int, str] = {}
    if reference is None:
        centre, summary = _fallback(units, no_reference)
    else:
        centre, summary = _compare(units, of, found, live, reference, (expected, first), marks, source)
    groups, centre = _collapse(units, writes, marks, centre)
    summary = one_line(summary)
    summary = summary if len(summary) <= SUMMARY else summary[:SUMMARY - 3] + "..."
    return Window(summary, _fit(groups, centre, budget_lines, FIRST in "".join(marks.values())))


def blocks(events: Sequence[TraceEvent], split: int = -1) -> tuple[list[Block], list[int]]:
    """The blocks of a test's events, and for each event the block it belongs to (-1: not shown); the
    block of event ``split`` ends with it."""
    out: list[Block] = []
    of = [-1] * len(events)
    open_block: dict[int, int] = {}  # frame id -> its block that the next line may extend
    for i, e in enumerate(events):
        kind, fid = e.event_type, e.frame_id
        if kind == "line":
            b = open_block.get(fid, -1)
            if b < 0 or b != len(out) - 1 or e.line_number <= out[b].lines[-1]:
                out.append(Block("lines", e.depth, e.function, [e.line_number]))
                b = open_block[fid] = len(out) - 1
            else:
                out[b].lines.append(e.line_number)
            of[i] = b
            if i == split:
                open_block.pop(fid)
            continue
        if kind == "return" and e.detail == "unwind":
            continue  # the exit through an exception: the exception is shown
        if kind == "call":
            out.append(Block("call", e.depth, e.function, [e.line_number],
                             text="resume" if e.detail == "resume" else "call"))
        elif kind == "return":
            out.append(Block("return", e.depth, e.function, [e.line_number],
                             text="yield" if e.detail == "yield" else "return"))
        else:
            out.append(Block("exception", e.depth, e.function, [e.line_number], text=f"exception: {_error(e)}"))
        open_block.pop(fid, None)
        of[i] = len(out) - 1
    return out, of


def _error(event: TraceEvent) -> str:
    info = event.error_info or {}
    name, message = info.get("error_type", "Exception"), one_line(str(info.get("error_message") or ""))
    return f'{name}("{message[:MAX_LINE // 2]}")' if message else f"{name}()"


def _fallback(units: list[Block], why: str) -> tuple[int, str]:
    raised = [i for i, u in enumerate(units) if u.kind == "exception"]
    reason = f"No reference solution to compare with{f' ({why})' if why else ''}"
    if raised:
        return raised[0], f"{reason}: the trace around where it raised."
    return len(units) - 1, f"{reason}: the end of its trace."


def first_difference(writes: list[list[Any]], live: Liveness | None,
                     reference: list[str]) -> tuple[str | None, int | None]:
    """The reference's value the candidate should have written next (None: it wrote them all), and the
    position in ``writes`` of the first difference: the first live value after the last value met in order
    (None: it wrote nothing more). ``eta.trace.divergence.align``'s alignment, except that a dead write may
    meet the reference's next value (see the module's doc)."""
    known = set(reference)
    order: list[tuple[int, str, bool]] = []  # (position, canonical value, live) of each distinct value
    seen: set[str] = set()
    for at, (line, function, name, value) in enumerate(writes):
        if name == RAISE or value is None or (v := canonical(value)) in seen:
            continue
        seen.add(v)
        order.append((at, v, live is None or live.keeps(function, name, line)))
    k, last = 0, -1
    for i, (_, v, is_live) in enumerate(order):
        if k == len(reference):
            break
        if v == reference[k]:
            k, last = k + 1, i
        elif is_live and v in known:
            break  # a value of the reference's, but not the next one
    after = next((at for at, _, is_live in order[last + 1:] if is_live), None)
    return (reference[k] if k < len(reference) else None), after


def _compare(units: list[Block], of: list[int], found: list[tuple[int, list[Any]]], live: Liveness | None,
             reference: list[str], difference: tuple[str | None, int | None], marks: dict[int, str],
             source: str) -> tuple[int, str]:
    """Mark the first difference (``first_difference``'s) and the later values the reference never
    computes; the block to centre on and the sentence that says where it is."""
    writes = [w for _, w in found]
    expected, first = difference
    if first is None:  # it wrote every value it shares with the reference, then ended (raised, returned)
        end = len(units) - 1
        if expected is None:  # nothing to point at: the window starts at the beginning
            return 0, ("It computes every value a correct solution computes, in order; what differs is not a "
                       "value it computes (a repeated or missing step, or the order of its output).")
        line = units[end].lines[0]
        units[end].note = f"   # reference: {expected} next"
        return end, (f"It computes the same values as a correct solution up to line {line}{_quote(source, line)}, "
                     f"then stops; a correct solution computes {expected} next.")
    line, _, name, value = writes[first]
    marks[first] = (f"   # reference: {expected}" if expected is not None else "   # reference: nothing more") + FIRST
    known = set(reference)
    for at in range(first + 1, len(writes)):
        w_line, function, w_name, w_value = writes[at]
        if (w_name not in (RAISE, RETURN) and w_value is not None
                and (live is None or live.keeps(function, w_name, w_line)) and canonical(w_value) not in known):
            marks[at] = ABSENT
    shown = "returns" if name == RETURN else f"computes {name} ="
    instead = f"where a correct solution computes {expected} next" if expected is not None \
        else "after every value a correct solution computes"
    return of[found[first][0]], (f"First difference from a correct solution: line {line}{_quote(source, line)} "
                                 f"{shown} {value} {instead}.")


def _quote(source: str, line: int) -> str:
    lines = source.splitlines()
    text = " ".join(lines[line - 1].split()) if 0 < line <= len(lines) else ""
    if not text:
        return ""
    return f" (`{text if len(text) <= MAX_SOURCE else text[:MAX_SOURCE - 3] + '...'}`)"


def _render(unit: Block, writes: list[list[Any]], marks: dict[int, str]) -> list[str]:
    """A block's lines: its head with the values it leaves (each name's last), then the first difference on a
    line of its own."""
    pad = "  " * min(unit.depth, MAX_INDENT)
    where = f"{pad}[L{_span(unit.lines)}]"
    if unit.kind == "exception":
        return [_cut(f"{where} {unit.text}{unit.note}")]
    if unit.kind == "return":
        value = next((writes[at][3] for at in unit.writes), "None")
        return [_cut(f"{where} {unit.text} {value}{''.join(marks.get(at, '') for at in unit.writes)}{unit.note}")]
    final = {writes[at][2]: at for at in unit.writes}  # the block's state at its end: each name's last value
    shown = [at for at in unit.writes if final[writes[at][2]] == at or marks.get(at, ABSENT) != ABSENT]
    values = [(at, f"{writes[at][2]} = {writes[at][3]}" + (ABSENT if marks.get(at) == ABSENT else "")) for at in shown]
    head = where if unit.kind == "lines" else f"{where} {unit.text} {unit.function}" + (":" if values else "")
    if unit.kind == "call" and unit.depth > MAX_INDENT:
        head = head.replace(f" {unit.function}", f" {unit.function} (depth {unit.depth})", 1)
    plain = ", ".join(v for at, v in values if marks.get(at, ABSENT) == ABSENT)
    out = [_cut((f"{head} {plain}" if plain else head) + unit.note)]
    return out + [_cut(f"{pad}    {v}{marks[at]}") for at, v in values if marks.get(at, ABSENT) != ABSENT]


def _span(lines: list[int]) -> str:
    """Line numbers as runs: 4-5,7."""
    runs: list[list[int]] = []
    for n in lines:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def _cut(line: str) -> str:
    line = one_line(line)
    if len(line) <= MAX_LINE:
        return line
    # the mark survives the cut (a return's, whose value comes before it, is all of its tail)
    mark = line[line.index("   # reference: "):] if "   # reference: " in line else ""
    mark = mark if len(mark) < MAX_LINE // 2 else FIRST if mark.endswith(FIRST) else ""
    return line[:MAX_LINE - len(mark) - 3] + "..." + mark


def _shape(unit: Block, writes: list[list[Any]]) -> tuple[Any, ...]:
    return unit.kind, unit.function, tuple(unit.lines), unit.text, tuple(writes[at][2] for at in unit.writes)


def _collapse(units: list[Block], writes: list[list[Any]], marks: dict[int, str],
              centre: int) -> tuple[list[list[str]], int]:
    """Each block's lines, a pattern of one or two blocks repeated ``REPEATS`` times or more in a row shown
    once and then counted (never one with the first difference); and the group that holds ``centre``."""
    shapes = [_shape(u, writes) for u in units]
    keep = [not any(at in marks and marks[at] != ABSENT for at in u.writes) for u in units]
    groups: list[list[str]] = []
    where = 0
    i = 0
    while i < len(units):
        period, times = _repeats(shapes, keep, i)
        if times >= REPEATS:
            stop = i + period * times
            groups += [_render(u, writes, marks) for u in units[i:i + period]]
            if i <= centre < stop:
                where = len(groups) - 1
            groups.append([_again(units[i + period:stop], writes, period, times - 1)])
            i = stop
            continue
        if i == centre:
            where = len(groups)
        groups.append(_render(units[i], writes, marks))
        i += 1
    return groups, where


def _repeats(shapes: list[tuple[Any, ...]], keep: list[bool], i: int) -> tuple[int, int]:
    """The shortest period (1 or 2) of the blocks from ``i`` on, and how many times it repeats."""
    best = (1, 1)
    for period in (1, 2):
        pattern = shapes[i:i + period]
        if len(pattern) < period or not all(keep[i:i + period]):
            continue
        times = 1
        while (shapes[i + times * period:i + (times + 1) * period] == pattern
               and all(keep[i + times * period:i + (times + 1) * period])):
            times += 1
        if times >= REPEATS:
            return period, times
    return best


def _again(units: list[Block], writes: list[list[Any]], period: int, times: int) -> str:
    """One line for the repetitions of a pattern: how many, and each name's first and last value."""
    pad = "  " * min(units[0].depth, MAX_INDENT)
    first: dict[str, str] = {}
    last: dict[str, str] = {}
    for u in units:
        for at in u.writes:
            name, value = writes[at][2], writes[at][3]
            first.setdefault(name, value)
            last[name] = value
    ranges = ", ".join(f"{'return' if n == RETURN else n} = {v}" + (f" ... {last[n]}" if last[n] != v else "")
                       for n, v in first.items())
    what = "the same block" if period == 1 else f"the same {period} blocks"
    return _cut(f"{pad}... {what} {times} more times" + (f": {ranges}" if ranges else "") + " ...")


def _blocks(n: int, which: str) -> str:
    return f"{n} {which} block{'s' if n != 1 else ''}"


def _fit(groups: list[list[str]], centre: int, budget: int, compared: bool) -> list[str]:
    """The groups around ``centre`` that fit ``budget`` lines with the omission lines, the last group
    always among them; up to a third of the room before the centre, the rest after, then before again."""
    last = len(groups) - 1
    room = budget - 2 - (len(groups[last]) if centre != last else 0)  # two omission lines at most
    lo = hi = centre
    used = len(groups[centre])
    ahead = used + max(0, room - used) // 3
    for limit in (ahead, room):
        while lo > 0 and used + len(groups[lo - 1]) <= limit:
            lo -= 1
            used += len(groups[lo])
        while limit == ahead and hi < last - 1 and used + len(groups[hi + 1]) <= room:
            hi += 1
            used += len(groups[hi])
    if lo == 1 and len(groups[0]) == 1:  # no shorter than the line that would say it is omitted
        lo = 0
    if hi == last - 2 and len(groups[last - 1]) == 1:
        hi = last - 1
    out: list[str] = []
    if lo > 0:
        agree = ", computing the same values as a correct solution" if compared else ""
        out.append(f"... {_blocks(lo, 'earlier')} omitted{agree} ...")
    for g in groups[lo:hi + 1]:
        out += g
    if hi < last:
        if hi < last - 1:
            out.append(f"... {_blocks(last - 1 - hi, 'later')} omitted ...")
        out += groups[last]
    if len(out) > budget:  # the centre and the last group alone are longer than the budget
        out = out[:budget - 1] + [out[-1]]
    return out
