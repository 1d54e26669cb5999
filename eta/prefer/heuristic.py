"""The heuristic config (``conf/heuristic/*.yaml``): which criteria, in which order, and how to pair."""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path
from typing import Any

from eta.config import HeuristicConf, checked, enum_text, plain_dict
from eta.errors import ConfigError
from eta.prefer.criteria import Criterion, make_criteria


class Pairing(str, Enum):
    ALL = "all"  # every pair of distinct samples that some criterion decides
    BEST_VS_WORST = "best_vs_worst"  # the best-ranked against the worst, then 2nd best vs 2nd worst, ...


@dataclass(frozen=True)
class HeuristicConfig:
    """The heuristic as the prefer stage uses it; ``conf/heuristic/*.yaml`` is checked by its schema
    (``eta.config.HeuristicConf``), which :meth:`from_mapping` applies to a node from elsewhere too."""

    name: str
    criteria: tuple[str, ...]
    pairing: Pairing = Pairing.ALL
    max_pairs_per_problem: int | None = None  # None: no cap
    max_steps: int = 10_000
    seed: int = 0

    def make_criteria(self) -> list[Criterion]:
        return make_criteria(self.criteria, self.max_steps, self.seed)

    @classmethod
    def from_mapping(cls, node: Any, source: str = "heuristic") -> "HeuristicConfig":
        """From the run's ``heuristic`` (a ``HeuristicConf``), a dict or an OmegaConf ``DictConfig``: the schema
        checks it; a key it leaves out keeps this class's default."""
        if isinstance(node, HeuristicConfig):
            return node
        conf = checked(HeuristicConf, node, source)
        given = [f.name for f in fields(HeuristicConf)] if node is conf else list(plain_dict(node, source))
        values = {key: getattr(conf, key) for key in given}
        values["criteria"] = tuple(enum_text(c) for c in conf.criteria)
        if "pairing" in values:
            values["pairing"] = Pairing(enum_text(conf.pairing))
        return cls(**values)


def load_heuristic(path: str | Path) -> HeuristicConfig:
    """Read a ``conf/heuristic/*.yaml`` file outside Hydra (scripts, tests)."""
    import yaml  # comes with omegaconf; only this helper needs it

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({e})") from None
    if isinstance(data, dict):
        data.pop("defaults", None)  # Hydra's defaults list (the schema), not a heuristic setting
    try:
        return HeuristicConfig.from_mapping(data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
