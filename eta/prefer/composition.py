"""Which pairs of a problem's samples become preference pairs, apart from how each is oriented.

``free`` (the default): each heuristic keeps the pairs it decides, under its own pairing and cap. Arms with
different heuristics then train on different pair sets: with 8 samples and a cap of 8, the full hierarchy
(which also orders failing programs) keeps 3 pass/fail pairs where the binary one keeps 7, so a
comparison of the two mixes the ordering of failing programs with a diluted pass/fail signal.

``matched`` (the comparison, ``prefer.composition=matched``): the pair set is drawn before any heuristic
looks at it, from the seed ``prefer.seed`` and the samples alone, so every arm of a seed gets the same one:

1. up to ``pass_fail_pairs`` pass/fail pairs per problem, drawn at random from every (passing, failing)
   pair; the passing sample is chosen in every arm (criterion ``passed``);
2. up to ``fail_fail_pairs`` fail/fail pairs per problem, drawn at random from every pair of failing
   samples, each oriented by the arm's heuristic (the criterion that decided it), and where every criterion
   ties, by a coin drawn from the seed and the pair (criterion ``tie``): the same coin in every arm.

With ``prefer.contested`` (two or more heuristics, by name), step 2 draws only from the failing pairs that
those heuristics do not all orient alike (one orders the pair and another does not, or they order it
opposite ways). Every arm that names the same heuristics gets the same fail/fail pairs, and on them a
trace arm and its verdict counterpart differ by construction; without it, on SmolLM2's samples, the two
orient 85% of failing pairs alike (``experiments/ordering_agreement.py``), so their contrast has little
to measure (docs/comparison.md, "The reduced scale").

A heuristic that cannot order failing programs at all (``criteria: [passed]``: DPO-binary) gets the pass/fail
pairs alone: a binary signal has nothing to say between two failing programs. Every other arm (verdict-only,
random, ETA) trains on the same pass/fail pairs and the same fail/fail pairs, which differ only in
orientation: the contrast isolates how failing programs are ordered (docs/comparison.md, "The arms").
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from eta.execute.outcome import Outcome
from eta.prefer.criteria import Criterion, compare
from eta.prefer.heuristic import HeuristicConfig
from eta.prefer.records import Record, outcome_of

Decided = tuple[Record, Record, str]  # (chosen, rejected, the criterion that decided)
TIE = "tie"  # the criterion of a matched fail/fail pair that every criterion tied on (oriented by a coin)


class Mode(str, Enum):
    FREE = "free"
    MATCHED = "matched"


@dataclass(frozen=True)
class Composition:
    mode: Mode = Mode.FREE
    pass_fail_pairs: int = 8  # matched: at most this many pass/fail pairs per problem
    fail_fail_pairs: int = 4  # matched: at most this many fail/fail pairs per problem (none for a binary heuristic)
    seed: int = 0  # matched: draws the pairs and the tie coins; not the heuristic's seed, so every arm shares it
    # matched: fail/fail pairs only where these heuristics (name, criteria) disagree; empty: from every failing pair
    contested: tuple[tuple[str, tuple[Criterion, ...]], ...] = ()

    def __post_init__(self) -> None:
        for name in ("pass_fail_pairs", "fail_fail_pairs", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or (name != "seed" and value < 0):
                kind = "an integer" if name == "seed" else "a non-negative integer"
                raise ValueError(f"prefer.{name}: {value!r} is not {kind}")
        if self.contested and self.mode is not Mode.MATCHED:
            raise ValueError("prefer.contested: needs prefer.composition=matched (it chooses the shared fail/fail pairs)")
        if len(self.contested) == 1:
            raise ValueError(f"prefer.contested: {self.contested[0][0]!r} alone; name two or more heuristics, whose "
                             "disagreements are the fail/fail pairs drawn")

    @classmethod
    def from_mapping(cls, cfg: "Composition | Mapping[str, Any] | None") -> "Composition":
        """From ``cfg.prefer`` (its other keys, include_reference and heldout, are not the composition's)."""
        if cfg is None:
            return cls()
        if isinstance(cfg, Composition):
            return cfg
        raw = cfg.get("composition", Mode.FREE.value)
        try:
            mode = Mode(getattr(raw, "value", raw))
        except ValueError:
            raise ValueError(f"prefer.composition: {raw!r}, expected one of {[m.value for m in Mode]}") from None
        return cls(mode=mode, pass_fail_pairs=cfg.get("pass_fail_pairs", 8),
                   fail_fail_pairs=cfg.get("fail_fail_pairs", 4), seed=cfg.get("seed", 0),
                   contested=_contested_criteria(cfg.get("contested") or {}))


def _contested_criteria(nodes: Mapping[str, Any]) -> tuple[tuple[str, tuple[Criterion, ...]], ...]:
    """``prefer.contested`` (name -> heuristic node) as (name, criteria), in name order so every arm agrees."""
    out = []
    for name in sorted(nodes):
        cfg = HeuristicConfig.from_mapping(nodes[name], f"prefer.contested.{name}")
        out.append((name, tuple(cfg.make_criteria())))
    return tuple(out)


def orders_failing(criteria: Sequence[Criterion]) -> bool:
    """Whether a heuristic has anything to say between two failing programs (a criterion past ``passed``)."""
    return any(c.name != "passed" for c in criteria)


def check_matched(criteria: Sequence[Criterion], heuristic: str) -> None:
    """Matched composition orients every pass/fail pair toward the passing sample: the heuristic must too."""
    if not criteria or criteria[0].name != "passed":
        raise ValueError(f"prefer.composition=matched: heuristic {heuristic!r} must list 'passed' first (its "
                         f"criteria are {[c.name for c in criteria]}), so that every arm shares the pass/fail pairs")


def _draw(candidates: list[Any], k: int, rng: random.Random) -> list[Any]:
    if len(candidates) <= k:
        return candidates
    return [candidates[i] for i in sorted(rng.sample(range(len(candidates)), k))]


def _coin(seed: int, task_id: str, a: Record, b: Record) -> bool:
    """The same coin for the same pair in every arm and process (a str seed hashes stably)."""
    return random.Random(f"{seed}:tie:{task_id}:{a['sample_id']}:{b['sample_id']}").random() < 0.5


def matched_pairs(group: Sequence[Record], task_id: str, criteria: Sequence[Criterion],
                  composition: Composition) -> list[Decided]:
    """The pairs of one problem's samples (distinct completions, in sample-id order) under matched composition."""
    passing = [r for r in group if outcome_of(r) is Outcome.PASSED]
    failing = [r for r in group if outcome_of(r) is not Outcome.PASSED]
    seed = composition.seed
    pass_fail = _draw([(p, f) for p in passing for f in failing], composition.pass_fail_pairs,
                      random.Random(f"{seed}:pass_fail:{task_id}"))
    out: list[Decided] = [(p, f, "passed") for p, f in pass_fail]
    if not orders_failing(criteria):
        return out
    candidates = [(a, b) for i, a in enumerate(failing) for b in failing[i + 1:]]
    if composition.contested:
        candidates = [(a, b) for a, b in candidates if contested(a, b, composition.contested)]
    for a, b in _draw(candidates, composition.fail_fail_pairs, random.Random(f"{seed}:fail_fail:{task_id}")):
        result = compare(a, b, criteria)
        if result is None:
            out.append((a, b, TIE) if _coin(seed, task_id, a, b) else (b, a, TIE))
        else:
            winner, name = result
            out.append((a, b, name) if winner is a else (b, a, name))
    return out


def orientation(a: Record, b: Record, criteria: Sequence[Criterion]) -> bool | None:
    """True: ``criteria`` prefer ``a``; False: ``b``; None: every criterion ties."""
    result = compare(a, b, criteria)
    return None if result is None else result[0] is a


def contested(a: Record, b: Record, heuristics: Sequence[tuple[str, Sequence[Criterion]]]) -> bool:
    """Whether the heuristics do not all orient the pair alike (a tie counts as an orientation of its own)."""
    return len({orientation(a, b, criteria) for _name, criteria in heuristics}) > 1
