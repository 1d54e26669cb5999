"""The repair evaluation's settings: one dataclass for ``method=repair`` (one feedback kind) and for
``eval.repair`` (every evaluated policy, a list of feedback kinds and of controls: ``none``, the failing
program without feedback, and ``scratch``, the problem alone, each one more sampling pass)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eta.config import RepairFeedback
from eta.errors import ConfigError

FEEDBACK = tuple(f.value for f in RepairFeedback)  # the Hydra schema's kinds (eta.config): one list of them
CONTROLS = ("none", "scratch")  # scratch: the problem alone, no failing program (eta.repair.prompt.scratch_task)
SETS = ("quixbugs", "failing")


def _texts(value: Any) -> list[str]:
    values = [value] if isinstance(value, str) or not hasattr(value, "__iter__") else list(value)
    return [str(getattr(v, "value", v)) for v in values]


@dataclass
class RepairSettings:
    sets: list[str] = field(default_factory=lambda: list(SETS))
    feedback: list[str] = field(default_factory=lambda: ["trace"])
    controls: list[str] = field(default_factory=list)  # run beside the feedback, so a gain can be attributed to it
    n: int = 1  # attempts per problem: 1 is greedy; more are sampled at the sampler's temperature
    shots: int = 0  # worked examples from the training split in every prompt
    limit: int | None = None  # at most this many problems per set
    per_problem: int | None = None  # failing set: at most this many failing programs per held-out problem
    max_new_tokens: int | None = None  # null: sampler.max_new_tokens

    def __post_init__(self) -> None:  # the values are checked by the schema (eta.config.RepairEvalConf)
        self.sets, self.feedback, self.controls = _texts(self.sets), _texts(self.feedback), _texts(self.controls)

    @property
    def greedy(self) -> bool:
        return self.n == 1

    @property
    def kinds(self) -> list[str]:
        """Every prompt kind to run: the feedback kinds, then the controls not among them."""
        return list(dict.fromkeys([*self.feedback, *self.controls]))

    @classmethod
    def from_node(cls, node: Any, what: str, drop: tuple[str, ...] = ()) -> "RepairSettings":
        """From a config node, checked by its schema (``eta.config.RepairEvalConf``): a bad key or value is one
        ConfigError naming ``what.key``; a key the node leaves out keeps this class's default."""
        from eta.config import RepairEvalConf, checked, plain_dict

        given = {k: v for k, v in plain_dict(node, what).items() if k not in drop}
        conf = checked(RepairEvalConf, given, what)
        for key in given:
            if key not in cls.__dataclass_fields__:  # `enabled`: eval.repair's switch, not a setting
                raise ConfigError(f"{what}.{key}: not a key of {what}")
        return cls(**{key: getattr(conf, key) for key in given})
