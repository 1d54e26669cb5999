"""Token-level credit from the divergence (issue 27 §3): which characters of a trained text a failing
program's divergent line is, which of the preferred program correspond to it, and which tokens those are.

Three steps, each usable alone (DPO's ``method.credit=divergence`` uses all three; GRPO's may share the
last two):

* ``divergent_span``: the divergence record (``eta.execute.reftraces``) names the line of the *executed
  program* (``task.program(code)``) that first wrote a value the reference does not write next. The policy
  is trained on its *response*, from which the code was extracted (``eta.tasks.extract``: fences dropped,
  a HumanEval body re-indented, demo lines removed), so the line is found in the response by its text:
  the k-th line of the program whose stripped text is the divergent line's is the k-th such line of the
  response, copies from outside the response (the prompt that an appended completion follows) counted
  out: that line is not the model's and holds no span (``eta.tasks.spans.line_span``, GRPO's finder too). The span runs from the line's first non-blank character to its end.
  Padding cannot move it: a padded program's divergent line is a live write (``eta.trace.liveness``
  drops what padding writes), and lines that padding adds are counted in both texts alike.
* ``counterpart_span``: the chosen program's line that corresponds to the rejected one, by a line diff
  of the two responses (``difflib``, on stripped lines): where the divergent line is common to both, the
  same line of the chosen; where it sits in a hunk the chosen rewrote, the chosen line of that hunk most
  like it (similarity >= ``COUNTERPART_MIN``); where the chosen has nothing like it (another program
  altogether, as a reference solution often is), none. The chosen program's own divergence, if it fails
  too, is not used: it marks where the chosen is wrong, not what it does better.
* ``token_weights``: character spans to per-token weights through the tokenizer's offset mapping, on the
  completion's tokens exactly as TRL's ``DPOTrainer`` makes them (prompt + completion tokenized together,
  the prompt's tokens cut off): ``weight`` on each token that overlaps a span, 1 elsewhere.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Span = tuple[int, int]  # [start, end) characters of a text
COUNTERPART_MIN = 0.5  # difflib ratio under which a rewritten hunk's lines are not the divergent line's counterpart


def _lines(text: str) -> list[tuple[int, str]]:
    """(offset, line without its newline) of each line of ``text``."""
    out, at = [], 0
    for line in text.splitlines(keepends=True):
        out.append((at, line.rstrip("\r\n")))
        at += len(line)
    return out


def _line_span(offset: int, line: str) -> Span | None:
    body = line.strip()
    if not body:
        return None
    start = offset + len(line) - len(line.lstrip())
    return start, start + len(body)


def divergent_span(response: str, program: str, line: int | None, code_start: int = 0) -> Span | None:
    """The span of ``response`` that holds line ``line`` (1-based) of ``program``, whose first
    ``code_start`` characters are not the model's (an appended completion's prompt); None where the line
    is not the model's, is blank, or cannot be found in the response. The line is found as GRPO's credit
    finds it (``eta.tasks.spans.line_span``: one finder for both)."""
    from eta.tasks.spans import line_span

    lines = _lines(program)
    if line is None or not 1 <= line <= len(lines) or lines[line - 1][0] < code_start:
        return None
    return line_span(program, line, response)


def counterpart_span(rejected: str, span: Span | None, chosen: str) -> Span | None:
    """The line of ``chosen`` that corresponds to the line of ``rejected`` holding ``span``."""
    if span is None:
        return None
    rej, cho = _lines(rejected), _lines(chosen)
    i = next((k for k, (o, t) in enumerate(rej) if o <= span[0] < o + len(t) + 1), None)
    if i is None:
        return None
    matcher = difflib.SequenceMatcher(None, [t.strip() for _, t in rej], [t.strip() for _, t in cho], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if not i1 <= i < i2:
            continue
        if tag == "equal":
            return _line_span(*cho[j1 + i - i1])
        if tag == "replace":
            target = rej[i][1].strip()
            ratio, j = max((difflib.SequenceMatcher(None, target, cho[j][1].strip()).ratio(), j) for j in range(j1, j2))
            return _line_span(*cho[j]) if ratio >= COUNTERPART_MIN else None
        return None  # deleted: the chosen has no such line
    return None


def pair_spans(pair: Any, records: Mapping[tuple[str, str], Mapping[str, Any]],
               tasks: Mapping[str, Any]) -> tuple[Span | None, Span | None]:
    """(chosen span, rejected span) of a preference pair (``eta.prefer.Pair``, trained on its responses),
    from the rejected program's execution record (``records[(task_id, str(sample_id))]``, its
    ``divergence.line``: the first failing test's) and its task (``tasks[task_id]``)."""
    record, task = records.get((pair.task_id, str(pair.rejected_sample_id))), tasks.get(pair.task_id)
    divergence = (record or {}).get("divergence") or {}
    if task is None or divergence.get("line") is None:
        return None, None  # passing, no reference (APPS), failed before its tests, or unreadable
    code = record.get("code", record["completion"])  # executions.jsonl: "completion" is the executed code
    rejected = divergent_span(pair.rejected, task.program(code), divergence["line"], len(task.program("")))
    return counterpart_span(pair.rejected, rejected, pair.chosen), rejected


def token_weights(offsets: Sequence[Sequence[int]], spans: Iterable[Span | None], weight: float) -> list[float]:
    """``weight`` for each token (``offsets``: its [start, end) characters) that overlaps one of ``spans``,
    1.0 for the others."""
    spans = [s for s in spans if s is not None]
    return [weight if any(a < e and b > s for s, e in spans) else 1.0 for a, b in offsets]


def completion_weights(tokenizer: Any, prompt: str, completion: str, completion_ids: Sequence[int],
                       span: Span | None, weight: float) -> list[float] | None:
    """Per-token weights of ``completion_ids`` (TRL's tokens of ``completion`` after ``prompt``) with
    ``span`` (characters of ``completion``) weighted; None where the tokenizer gives no offsets or its
    tokens are not TRL's (the pair then keeps uniform weights)."""
    if span is None:
        return [1.0] * len(completion_ids)
    try:
        enc = tokenizer(text=prompt + completion, return_offsets_mapping=True)
    except (NotImplementedError, ValueError, TypeError):  # a slow tokenizer has no offset mapping
        return None
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    cut = len(tokenizer(text=prompt)["input_ids"])  # TRL cuts the prompt's own token count off
    if list(ids[cut:]) != list(completion_ids):
        return None
    base = len(prompt)
    return token_weights(offsets[cut:], [(span[0] + base, span[1] + base)], weight)
