"""No training: the run evaluates the base model only (``method=none``)."""

from __future__ import annotations

from typing import Any

from eta.errors import ConfigError


class NoTraining:
    needs = None
    keys: tuple[str, ...] = ()
    trains_policy = False

    def train(self, run: Any, model: Any, tokenizer: Any) -> None:
        return None


def make(cfg: Any, run_dir: Any = None) -> NoTraining:
    extra = sorted(set(cfg.method) - {"module", "name"})
    if extra:
        raise ConfigError(f"method.{extra[0]}: method=none trains nothing and takes no settings")
    return NoTraining()
