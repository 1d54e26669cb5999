"""The text the reward model reads: the problem, the code, a window of the first failing test's execution
trace and the harness's verdict, fitted to the backbone's window in the backbone's own tokens.

::

    Problem:
    <prompt>
    Code:
    | def f(x):
    |     return x
    Execution:
    Test Case: f(1)                          (the first failing test; a passing program: its first test)
    Execution Trace:
    ... 12 earlier trace lines not shown ...
    [L2] line: x=1
    >>> diverges from the reference here
    [L3] line: x=1, y=2
    ... 7 later trace lines not shown ...
    Test Result: FAIL
    ... traces of 3 more tests not shown ...
    Result: wrong_answer (0/4 tests passed)

The problem and the code are kept whole; the trace gets what is left of the window (``Fit``: the
tokenizer and ``max_length``), centred on the first failing test's divergence from the reference
(``ExecutionResult.divergence``: the event of its divergent line that wrote the value the reference did
not), or on its exception when no divergence was measured (no reference, or a crash before any test),
else on its last event (the wrong return value); when all of that test's trace fits, the other tests'
traces follow, failing ones first, each whole, while they fit. When the problem and the code alone overflow the window,
the problem's middle is cut first (one log line); the code is cut only when it alone overflows. The
no-trace variant is the same text without the ``Execution:`` part.

Only the program's code is written by the policy, and every line of it starts with ``| ``; a trace line is
one event (eta.trace.text keeps each on one line, values quoted and bounded by saferepr), and its
``Test Result:`` line is restated here from the harness's verdict on that test. So no line that starts
with ``Result:``, ``Test Result:``, ``>>>`` or ``[L`` can come from the program's own strings.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eta.execute.outcome import Outcome
from eta.execute.result import ExecutionResult, TestResult
from eta.trace.text import one_line, restate

CODE_MARK = "| "
DIVERGES = ">>> diverges from the reference here"
# A model trained on inputs of another layout is stale (eta_rm.json records this): bump it when the text changes.
LAYOUT = "centred-v1"
MAX_HEADER_CHARS = 300  # a test's call can be long (a big literal): its header line is cut, never the window
_EVENT = re.compile(r"\s*\[L(\d+)\] (call|line|return|exception)")
_log = logging.getLogger(__name__)
_said: set[str] = set()


@dataclass(frozen=True)
class Fit:
    """The backbone's window: its tokenizer, and the tokens one input may take (special tokens included)."""

    tokenizer: Any
    max_length: int

    def count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def counts(self, lines: Sequence[str]) -> list[int]:
        if not lines:
            return []
        return [len(ids) for ids in self.tokenizer(list(lines), add_special_tokens=False)["input_ids"]]

    def room(self) -> int:
        """Tokens left for the text: the window less the special tokens the tokenizer and the scorer add
        (BERT's [CLS] and [SEP]; the EOS that ``eta.rm.scorer.encode`` appends)."""
        specials = len(self.tokenizer("")["input_ids"])
        return self.max_length - specials - (self.tokenizer.eos_token_id is not None)


def as_execution(execution: "ExecutionResult | Mapping[str, Any] | None") -> ExecutionResult | None:
    if execution is None or isinstance(execution, ExecutionResult):
        return execution
    return ExecutionResult.from_dict(dict(execution))


def rm_input(prompt: str, code: str, execution: "ExecutionResult | Mapping[str, Any] | None", fit: Fit, *,
             with_trace: bool = True) -> str:
    """The reward model's input for one program, at most ``fit.max_length`` tokens once encoded."""
    result = as_execution(execution)
    problem = prompt.rstrip("\n")
    code_lines = [CODE_MARK + one_line(line) for line in code.rstrip("\n").split("\n")]
    verdict = result_line(result)
    room = fit.room()

    def text(problem_: str, code_: list[str], trace: list[str]) -> str:
        middle = ["Execution:", *trace] if with_trace else []
        return "\n".join(["Problem:", problem_, "Code:", *code_, *middle, verdict])

    bare = text(problem, code_lines, ["(no room for the trace)"])
    over = fit.count(bare) - room
    if over > 0:
        problem, code_lines = _shorten(fit, problem, code_lines, over)
        return text(problem, code_lines, ["(no room for the trace)"])
    if not with_trace:
        return text(problem, code_lines, [])
    spare = room - fit.count(text(problem, code_lines, []))
    for _ in range(4):  # tokens of joined lines may differ a little from the sum of the lines': check, refit
        out = text(problem, code_lines, trace_window(result, fit, spare))
        excess = fit.count(out) - room
        if excess <= 0:
            return out
        spare -= excess
    return bare


def result_line(result: ExecutionResult | None) -> str:
    """The verdict, from the harness's outcome and test counts alone (never a message the program wrote)."""
    if result is None:
        return "Result: not executed"
    total = max(result.tests_total, len(result.tests))
    # a reference solution (prefer.include_reference) is passing by construction, never executed: no test
    # results, and its count must read as a sampled passing program's does
    passed = total if result.passed else result.tests_passed
    return f"Result: {result.outcome.value} ({passed}/{total} tests passed)"


def _say_once(kind: str, message: str) -> None:
    if kind not in _said:
        _said.add(kind)
        _log.warning("%s (said once per process)", message)


def _shorten(fit: Fit, problem: str, code_lines: list[str], over: int) -> tuple[str, list[str]]:
    """Problem and code cut to fit: the problem's middle first, the code's middle only past that."""
    need = fit.count(problem)
    if need > over + 20:
        _say_once("problem", f"eta.rm: a problem and its code overflow the reward model's {fit.max_length}-token "
                             "window: the problem's middle is cut, the code and the verdict are kept whole")
        return _cut_middle(fit, problem, need - over - 20, "problem"), code_lines
    _say_once("code", f"eta.rm: a program alone overflows the reward model's {fit.max_length}-token window: "
                      "the problem is left out and the code's middle is cut")
    marker = "(problem left out: no room)"
    over -= need - fit.count(marker)
    kept = list(code_lines)
    costs = fit.counts(kept)
    while over > 0 and len(kept) > 2:
        i = len(kept) // 2
        over -= costs.pop(i) + 1
        kept.pop(i)
    dropped = len(code_lines) - len(kept)
    return marker, kept[:len(kept) // 2] + [f"... {dropped} code lines not shown ..."] + kept[len(kept) // 2:]


def _cut_middle(fit: Fit, text: str, budget: int, what: str) -> str:
    """`text` with its middle characters replaced by a note, to at most `budget` tokens."""
    keep = len(text)
    while True:
        out = f"{text[:keep // 2]}\n... ({what} shortened) ...\n{text[len(text) - keep // 2:]}"
        n = fit.count(out)
        if n <= budget or keep == 0:
            return out
        keep = max(0, min(keep - 2, int(keep * budget / n)))


def shown_tests(result: ExecutionResult | None) -> list[TestResult]:
    """The traced tests in the order the input shows them: the failing ones by index, then the passing."""
    traced = [t for t in (result.tests if result else []) if t.trace is not None]
    return [t for t in traced if t.outcome is not Outcome.PASSED] + [t for t in traced if t.outcome is Outcome.PASSED]


def _trace_text(test: TestResult) -> list[str] | None:
    try:
        text = restate(test.trace or "", test.outcome is Outcome.PASSED)
    except ValueError:  # not a format_trace text: show none of it rather than lines of unknown origin
        return None
    lines = [one_line(line) for line in text.split("\n")]
    return [line[:MAX_HEADER_CHARS] for line in lines[:2]] + lines[2:]


def trace_window(result: ExecutionResult | None, fit: Fit, room: int) -> list[str]:
    """The trace lines that fit in `room` tokens: a window of the first failing test's trace (a passing
    program: its first test's) centred on its divergence or exception; when all of it fits, the next tests'
    traces whole, while they fit."""
    texts = [(t, x) for t in shown_tests(result) if (x := _trace_text(t)) is not None]
    if not texts:
        return ["(no trace)"]
    room -= fit.count(f"... traces of {len(texts)} more tests not shown ...") + 1
    (test, lines), rest = texts[0], texts[1:]
    out, room, whole = _window(lines, _entry(result, test.index), fit, room)
    shown = 1
    for _, more in rest if whole else []:
        cost = sum(fit.counts(more)) + len(more)
        if cost > room:
            break
        out, room, shown = out + more, room - cost, shown + 1
    if shown < len(texts):
        out.append(f"... traces of {len(texts) - shown} more tests not shown ...")
    return out


def _window(lines: list[str], entry: Mapping[str, Any] | None, fit: Fit, room: int) -> tuple[list[str], int, bool]:
    """(the lines of one test's trace that fit in `room` tokens, the room left, whether all of it fits)."""
    header, body, tail = lines[:2], lines[2:-1], lines[-1:]
    room -= sum(fit.counts(header + tail)) + len(header) + len(tail)
    if not body:  # a test that ran none of the program's lines
        return header + tail, max(room, 0), room >= 0
    centre, located = centre_of(body, entry)
    costs = [c + 1 for c in fit.counts(body)]  # + the line break
    if located:
        room -= fit.count(DIVERGES) + 1
    marks = fit.count(f"... {len(body)} earlier trace lines not shown ...") + 1
    if sum(costs) > room:
        room -= 2 * marks
    if room < costs[centre]:
        return header + ["(no room for the trace)"] + tail, max(room, 0), False
    lo, hi = centre, centre + 1
    room -= costs[centre]
    grew = True
    while grew:
        grew = False
        if hi < len(body) and costs[hi] <= room:
            room, hi, grew = room - costs[hi], hi + 1, True
        if lo > 0 and costs[lo - 1] <= room:
            room, lo, grew = room - costs[lo - 1], lo - 1, True
    shown = body[lo:centre] + ([DIVERGES] if located else []) + body[centre:hi]
    before = [f"... {lo} earlier trace lines not shown ..."] if lo else []
    after = [f"... {len(body) - hi} later trace lines not shown ..."] if hi < len(body) else []
    whole = not before and not after
    return header + before + shown + after + tail, room, whole


def _entry(result: ExecutionResult | None, index: int) -> Mapping[str, Any] | None:
    divergence = result.divergence if result else None
    for entry in (divergence or {}).get("tests", []):
        if entry.get("index") == index:
            return entry
    return None


def centre_of(body: Sequence[str], entry: Mapping[str, Any] | None) -> tuple[int, bool]:
    """(index of the event the window centres on, whether it is the located divergence).

    A divergence names the candidate line that wrote the first value the reference did not (``got``) or,
    with ``got`` None, the line where the test ended. An event shows the state *before* its line runs, so
    the value a line wrote appears in the event after it: the centre is the first event of that line whose
    next event shows ``got``, else the line's first event (its last, for an ending line). Without a
    divergence (or when its line is not among the events the stored trace kept): the exception, else the
    last event."""
    numbers = [int(m.group(1)) if (m := _EVENT.match(line)) else None for line in body]
    line, got = (entry.get("line"), entry.get("got")) if entry else (None, None)
    at = [i for i, n in enumerate(numbers) if n is not None and n == line]
    if at and got is not None:
        shows = re.compile(rf"(=|: ){re.escape(got)}(,|\s|$)")  # a state's `name=got` or a `return: got`
        for i in at:
            if i + 1 < len(body) and shows.search(body[i + 1]):
                return i, True
        return at[0], True
    exception = next((i for i, text in enumerate(body) if "EXCEPTION:" in text or "] exception:" in text), None)
    if at:
        return (exception if exception is not None and exception >= at[0] else at[-1]), True
    if exception is not None:
        return exception, False
    return max(0, len(body) - 1), False
