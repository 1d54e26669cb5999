"""Token-level credit's last step (``method.credit=divergence``): a character span of a completion's text
as the span of the tokens it was decoded from.

The tokens are the ones the loss is computed on: for GRPO exactly those the policy generated, which a new
tokenization of their text may split otherwise (a model can sample a non-canonical tokenization), so the
span is read from their own decoding, not from an offset mapping of the text re-tokenized. How far the decoding of the first i tokens reaches into the
text is monotone in i, so two binary searches find the span: O(log n) decodes. A token that decodes to
part of a character (byte-level BPE) reaches only as far as the text they agree on.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from os.path import commonprefix
from typing import Any


def token_span(tokenizer: Any, ids: Sequence[int], start: int, end: int, text: str | None = None
               ) -> tuple[int, int] | None:
    """The tokens ``[s, e)`` of ``ids`` whose decoded characters overlap ``text[start:end]`` (``text``: the
    decoding of ``ids`` without special tokens, as TRL decodes completions); None for an empty span."""
    if end <= start or not ids:
        return None
    if text is None:
        text = tokenizer.decode(list(ids), skip_special_tokens=True)
    decoded: dict[int, str] = {}

    def prefix(i: int) -> str:
        if i not in decoded:
            decoded[i] = tokenizer.decode(list(ids[:i]), skip_special_tokens=True) if i else ""
        return decoded[i]

    def reach(i: int) -> int:  # characters of `text` the first i tokens decode to
        return len(commonprefix([prefix(i), text]))

    n = len(ids)
    s = bisect_left(range(n), True, key=lambda i: reach(i + 1) > start)  # the token that completes `start`
    while s > 0 and len(prefix(s)) > reach(s):  # the tokens before it that hold the first bytes of that character
        s -= 1
    e = bisect_left(range(s, n + 1), True, key=lambda i: reach(i) >= end) + s  # the first token reaching `end`
    e = min(e, n)
    return (s, e) if s < e else None
