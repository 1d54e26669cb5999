"""The heuristic config (``conf/heuristic/*.yaml``): which criteria, in which order, and how to pair."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from eta.prefer.criteria import Criterion, make_criteria


class Pairing(str, Enum):
    ALL = "all"  # every pair of distinct samples that some criterion decides
    BEST_VS_WORST = "best_vs_worst"  # the best-ranked against the worst, then 2nd best vs 2nd worst, ...


@dataclass(frozen=True)
class HeuristicConfig:
    name: str
    criteria: tuple[str, ...]
    pairing: Pairing = Pairing.ALL
    max_pairs_per_problem: int | None = None  # None: no cap
    max_steps: int = 10_000
    seed: int = 0

    def __post_init__(self) -> None:
        self.make_criteria()  # validates the names and max_steps
        cap = self.max_pairs_per_problem
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ValueError(f"heuristic {self.name!r}: 'max_pairs_per_problem' must be a positive integer "
                             f"or null, got {cap!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"heuristic {self.name!r}: 'seed' must be an integer, got {self.seed!r}")

    def make_criteria(self) -> list[Criterion]:
        return make_criteria(self.criteria, self.max_steps, self.seed)

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any], source: str = "heuristic config") -> "HeuristicConfig":
        """From a dict or an OmegaConf ``DictConfig`` (Hydra's ``cfg.heuristic``)."""
        if isinstance(cfg, HeuristicConfig):
            return cfg
        if not isinstance(cfg, Mapping):
            raise ValueError(f"{source}: expected a mapping, got {type(cfg).__name__}")
        known = {"name", "criteria", "pairing", "max_pairs_per_problem", "max_steps", "seed"}
        unknown = sorted(set(cfg) - known)
        if unknown:  # a misspelt key would otherwise silently keep its default
            raise ValueError(f"{source}: unknown keys {unknown}; known keys: {sorted(known)}")
        for required in ("name", "criteria"):
            if required not in cfg:
                raise ValueError(f"{source}: missing key {required!r}")
        criteria = cfg["criteria"]
        if isinstance(criteria, str) or not hasattr(criteria, "__iter__"):
            raise ValueError(f"{source}: 'criteria' must be a list, got {criteria!r}")
        try:
            pairing = Pairing(cfg.get("pairing", "all"))
        except ValueError:
            raise ValueError(f"{source}: 'pairing' is {cfg.get('pairing')!r}, expected one of "
                             f"{[p.value for p in Pairing]}") from None
        try:
            return cls(name=str(cfg["name"]), criteria=tuple(criteria), pairing=pairing,
                       max_pairs_per_problem=cfg.get("max_pairs_per_problem"),
                       max_steps=cfg.get("max_steps", 10_000), seed=cfg.get("seed", 0))
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None


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
    return HeuristicConfig.from_mapping(data, source=str(path))
