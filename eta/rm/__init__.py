"""ETA-RM's reward model: a scalar score of (problem, code, execution trace), trained with the
Bradley-Terry loss on the run's trace-ordered pairs (``eta.rm.train``), read back with :func:`load_scorer`.

Importable without torch: the heavy parts load inside the functions that need them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_scorer(path: "str | Path") -> Any:
    """The reward model saved in `path` (a folder ``eta.rm.train.train_reward_model`` returned), as a ``Scorer``."""
    from eta.rm.scorer import Scorer

    return Scorer.load(path)


__all__ = ["load_scorer"]
