"""Sampling k completions per problem from the current policy (``sample``), fast on a CPU.

``sample(model, tokenizer, prompts, ...)`` is the sampler protocol every stage and method uses: a local
transformers model goes to eta's engine (``eta.sample.engine``); a policy object that samples itself
(one with a ``sample_prompts`` method: a hosted model, ``eta.hosted``) gets the same arguments and
returns the same ``Generation`` lists. Inside ``with journal_to(path):`` such a policy keeps each reply
in ``path`` as it arrives, so that a killed run asks again only for what it did not get.

Importing this package is cheap: torch and transformers are imported by the functions that need them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from eta.rundir import JOURNAL_SUFFIX  # samples.jsonl's journal is samples.requests.jsonl
from eta.sample.engine import FinishReason, Generation

_JOURNAL: ContextVar[Path | None] = ContextVar("eta_sample_journal", default=None)


def sample(model: Any, tokenizer: Any, prompts: Sequence[str], **kwargs: Any) -> list[list[Generation]]:
    """``n`` completions of each prompt, in prompt order (the arguments of ``eta.sample.engine.sample``)."""
    own = getattr(model, "sample_prompts", None)
    if own is not None:
        kwargs.setdefault("journal", _JOURNAL.get())
        return own(prompts, **kwargs)
    from eta.sample.engine import sample as local

    kwargs.pop("journal", None)
    return local(model, tokenizer, prompts, **kwargs)


@contextmanager
def journal_to(path: Path | None) -> Iterator[None]:
    """Where a self-sampling policy keeps its replies during the block (the local engine keeps none)."""
    token = _JOURNAL.set(path)
    try:
        yield
    finally:
        _JOURNAL.reset(token)


__all__ = ["JOURNAL_SUFFIX", "FinishReason", "Generation", "journal_to", "sample"]
