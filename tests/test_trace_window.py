"""The window of a failing test's trace around its first divergence from the reference (eta.trace.window,
what ``feedback=trace`` shows a repair prompt): the divergent line and the differing value marked, padding
never shown as the divergence, the exception window without a reference, the budget, repeated blocks.

Standard library only: traced in-process (they run on 3.11 and on a bare 3.12)."""

from __future__ import annotations

from eta.trace.divergence import sequence
from eta.trace.liveness import analyze
from eta.trace.run import load, trace_call
from eta.trace.window import FIRST, MAX_LINE, divergence_window
from eta.trace.writes import value_writes

REFERENCE = """\
def scale_all(xs, k):
    out = []
    for x in xs:
        y = x * k
        out.append(y)
    return out
"""
BUGGY = REFERENCE.replace("y = x * k", "y = x + k")  # line 4
# The same bug after padding that computes nothing the result depends on: a dead list, a dead value that
# is one of the reference's (50, out of order), and a dead loop before the bug.
PADDED = """\
def scale_all(xs, k):
    out = []
    junk = [99]
    spare = 50
    for x in xs:
        for _ in range(3):
            pad = x * 7
        y = x + k
        out.append(y)
    return out
"""
CALL = "scale_all([2, 5], 10)"


def events(source: str, call: str = CALL) -> list:
    record, _, _ = trace_call(load(source), call)
    return record.events


def reference_values(call: str = CALL) -> list[str]:
    record, _, _ = trace_call(load(REFERENCE), call)
    return sequence(value_writes(record), analyze(REFERENCE, "scale_all")).values


def window(source: str, reference: list[str] | None = None, budget: int = 40, **kw: str):
    return divergence_window(events(source), source, "scale_all", reference, budget, **kw)


def marked(lines: list[str]) -> list[str]:
    return [line for line in lines if line.endswith(FIRST)]


def test_the_window_marks_the_divergent_line_and_the_value_the_reference_computes():
    w = window(BUGGY, reference_values())
    assert w.summary == ("First difference from a correct solution: line 4 (`y = x + k`) computes y = 12 where "
                         "a correct solution computes 20 next.")
    assert marked(w.lines) == ["    y = 12   # reference: 20" + FIRST]
    block = w.lines.index(marked(w.lines)[0]) - 1
    assert w.lines[block] == "[L2-4] out = [], x = 2"  # the block that line 4 ends, with the state before it
    assert w.lines[block + 2] == "[L5] out = [12] (not in the reference)"  # a later value the reference never has
    assert w.lines[0] == "[L1] call scale_all: xs = [2, 5], k = 10"
    assert w.lines[-1] == "[L6] return [12, 15]"  # the test's end is always shown


def test_padding_is_never_shown_as_the_divergence():
    w = window(PADDED, reference_values())
    assert marked(w.lines) == ["    y = 12   # reference: 20" + FIRST]
    assert w.summary.startswith("First difference from a correct solution: line 8 (`y = x + k`) computes y = 12")
    text = "\n".join(w.lines)
    assert "spare = 50" in text and "pad = 14" in text  # shown, as the execution ran them, but not marked
    assert not any("(not in the reference)" in line for line in w.lines if "pad" in line or "junk" in line)


def test_without_a_reference_the_window_is_the_exception_s_and_says_so():
    raising = REFERENCE.replace("y = x * k", "y = k // (x - 5)")
    w = window(raising, None, no_reference="its task has no reference solution")
    assert w.summary == ("No reference solution to compare with (its task has no reference solution): "
                         "the trace around where it raised.")
    assert w.lines[-1] == '[L4] exception: ZeroDivisionError("integer division or modulo by zero")'
    assert "# reference" not in "\n".join(w.lines)
    ended = window(BUGGY, None)
    assert ended.summary == "No reference solution to compare with: the end of its trace."
    assert ended.lines[-1] == "[L6] return [12, 15]"


def test_a_program_that_stops_early_is_told_what_the_reference_computes_next():
    stops = REFERENCE.replace("    return out", "        return out\n")  # returns after the first item
    w = window(stops, reference_values())
    assert w.summary == ("It computes the same values as a correct solution up to line 6 (`return out`), then "
                         "stops; a correct solution computes 5 next.")
    assert w.lines[-1] == "[L6] return [20]   # reference: 5 next" and not marked(w.lines)


def test_the_window_fits_its_budget_and_shows_a_repeated_block_once():
    source = "def scale_all(xs, k):\n    n = 0\n    for i in range(200):\n        n += 1\n    return n * k + xs[0]\n"
    w = window(source, reference_values(), budget=8)
    assert len(w.lines) <= 8 and all(len(line) <= MAX_LINE for line in w.lines)
    assert any(line.startswith("... the same block ") and "more times: i = " in line for line in w.lines)
    assert w.lines[-1].startswith("[L5] return ")
    long_budget = window(source, reference_values(), budget=40)
    assert len(long_budget.lines) < 20  # 200 iterations, told in one line


def test_a_trace_too_long_for_the_budget_keeps_the_divergence_and_the_end():
    calls = "scale_all(list(range(40)), 3)"
    buggy = REFERENCE.replace("y = x * k", "y = x * k if x < 30 else x + 1000")
    whole = divergence_window(events(buggy, calls), buggy, "scale_all", reference_values(calls), 40)
    assert marked(whole.lines) == ["    y = 1030   # reference: 90" + FIRST]
    assert any(line.startswith("... the same block 28 more times: x = 2 ... 29, y = 6 ... 87") for line in whole.lines)
    cut = divergence_window(events(buggy, calls), buggy, "scale_all", reference_values(calls), 7)
    assert len(cut.lines) <= 7 and marked(cut.lines) == marked(whole.lines)
    assert cut.lines[0].startswith("... ") and "earlier blocks omitted, computing the same values" in cut.lines[0]
    assert "later block" in cut.lines[-2] and cut.lines[-1] == whole.lines[-1]
    assert cut.lines[-1].startswith("[L6] return [0, 3, 6")
