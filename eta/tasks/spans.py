"""Where a line of an executed program sits in the model's answer it was extracted from: the character
span that token-level credit (``method.credit=divergence``: GRPO's in ``eta.rl.credit``, DPO's) turns into
the answer's tokens (``eta.train.tokens.token_span``).

The executed program is not the answer: the answer is cut at its first stop string, its code is picked
from a fence (chat) or follows the task's prompt (HumanEval's append mode), and demo code is dropped
(``eta.tasks.extract``). Lines are kept verbatim or only re-indented, so a program line is found in the
answer by its stripped text, inside the answer's copy of the code where the code appears whole. A text
repeated on several lines is told apart by its order: the program's copies that come from outside the
answer (the prompt, a completion header) come first, so the program's k-th copy among the answer's is
the answer's (k - those outside)-th. A line from outside the answer (the prompt's ``def``) has no span.
"""

from __future__ import annotations

import re


def _line_spans(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """(start, end, stripped text) of each non-blank line of ``text[start:end]``, the span without its
    indentation and trailing blanks."""
    out = []
    for m in re.finditer(r"[^\n]+", text[start:end]):
        stripped = m.group().strip()
        if stripped:
            lead = len(m.group()) - len(m.group().lstrip())
            s = start + m.start() + lead
            out.append((s, s + len(stripped), stripped))
    return out


def line_span(program: str, line: int, answer: str, code: str | None = None) -> tuple[int, int] | None:
    """The character span in ``answer`` of line ``line`` (1-based) of ``program``, the program executed for
    it (``code`` its part taken from the answer); None where the line is blank, out of range or not the
    answer's own."""
    lines = program.splitlines()
    if not 1 <= line <= len(lines) or not lines[line - 1].strip():
        return None
    target = lines[line - 1].strip()
    region = (0, len(answer))
    if code and code.strip():
        at = answer.find(code.strip())
        if at >= 0:
            region = (at, at + len(code.strip()))
    hits = [(s, e) for s, e, t in _line_spans(answer, *region) if t == target]
    if not hits:  # re-joined (`def f(x): return x` read as its body): the text inside a line
        hits = [(m.start(), m.end()) for m in re.finditer(re.escape(target), answer[region[0]:region[1]])]
        hits = [(region[0] + s, region[0] + e) for s, e in hits]
    # the program's copies from outside the answer come first; the answer's own that extraction dropped
    # (demo code) come after its definitions
    outside = max(0, sum(t.strip() == target for t in lines) - len(hits))
    k = sum(t.strip() == target for t in lines[:line - 1]) - outside
    return hits[k] if 0 <= k < len(hits) else None
