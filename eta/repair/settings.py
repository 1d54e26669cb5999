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

    def __post_init__(self) -> None:
        self.sets, self.feedback, self.controls = _texts(self.sets), _texts(self.feedback), _texts(self.controls)
        for what, values, known, empty in (("sets", self.sets, SETS, False), ("feedback", self.feedback, FEEDBACK, False),
                                           ("controls", self.controls, CONTROLS, True)):
            bad = [v for v in values if v not in known]
            if bad or not (values or empty):
                raise ValueError(f"{what} must be {'zero' if empty else 'one'} or more of {', '.join(known)}, "
                                 f"got {values}")
        if self.n < 1 or self.shots < 0:
            raise ValueError(f"n must be >= 1 and shots >= 0, got n={self.n}, shots={self.shots}")
        for key in ("limit", "per_problem", "max_new_tokens"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1 or null, got {getattr(self, key)}")

    @property
    def greedy(self) -> bool:
        return self.n == 1

    @property
    def kinds(self) -> list[str]:
        """Every prompt kind to run: the feedback kinds, then the controls not among them."""
        return list(dict.fromkeys([*self.feedback, *self.controls]))

    @classmethod
    def from_node(cls, node: Any, what: str, drop: tuple[str, ...] = ()) -> "RepairSettings":
        """From a config node; a bad key or value is one ConfigError naming ``what.key``."""
        from eta.config import plain_dict

        given = {k: v for k, v in plain_dict(node, what).items() if k not in drop}
        known = set(cls.__dataclass_fields__)
        for key in given:
            if key not in known:
                raise ConfigError(f"{what}.{key}: not a repair setting; known: {', '.join(sorted(known | set(drop)))}")
        try:
            return cls(**given)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{what}: {e}") from None
