"""Rewards for online RL (``method=grpo``): per-verdict scores (pure functions of an ExecutionResult), and
the registry of reward functions in open-r1's shape that ``method.reward`` picks by name. No torch here.

``method.reward`` is a name (``shaped``), a mapping of names to weights (``{shaped: 1.0, rm: 0.5}``) or a
list of names and one-entry mappings; the weights become ``GRPOConfig.reward_weights`` (TRL sums the
weighted rewards, then normalizes in each group). A name is one of :data:`REWARDS` or a dotted path to a
user's own verdict reward, ``pkg.module:function`` or ``pkg.module.function``: a function of an
``ExecutionResult`` (with its trace) returning a float, or None to mask the rollout, as :func:`binary`.
The spec is parsed once (:func:`parse_reward`, by ``eta.methods.grpo.GRPOArgs``) into :class:`Reward` objects.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from eta.errors import ConfigError
from eta.execute.outcome import Outcome
from eta.execute.result import ExecutionResult

# CodeRL's values. A timeout, memory overrun or crash is the program's own runtime failure,
# so it gets the runtime-error value rather than being masked.
SHAPED: dict[Outcome, float] = {
    Outcome.SYNTAX_ERROR: -1.0,
    Outcome.RUNTIME_ERROR: -0.6,
    Outcome.TIMEOUT: -0.6,
    Outcome.MEMORY_EXCEEDED: -0.6,
    Outcome.CRASHED: -0.6,
    Outcome.WRONG_ANSWER: -0.3,
    Outcome.PASSED: 1.0,
}


def binary(result: ExecutionResult) -> float | None:
    """1 if every test passes, else 0; None (masked) when the harness itself failed."""
    if result.outcome is Outcome.INFRA_ERROR:
        return None
    return 1.0 if result.passed else 0.0


def shaped(result: ExecutionResult) -> float | None:
    if result.outcome is Outcome.INFRA_ERROR:
        return None
    return SHAPED[result.outcome]


def pass_rate(result: ExecutionResult) -> float | None:
    """Share of tests passed (RLTF-style); a program that never reached its tests scores 0."""
    if result.outcome is Outcome.INFRA_ERROR:
        return None
    if result.tests_total <= 0:
        return 0.0
    return result.tests_passed / result.tests_total


# -- reward functions for GRPO, open-r1's shape ------------------------------------------------------
# A reward function is ``fn(completions, **kwargs) -> list[float | None]``: TRL's GRPOTrainer calls it with
# the batch's completions and the dataset's other columns (here ``task_id``) as keyword lists, plus
# ``prompts``, ``trainer_state`` and ``log_metric``. None masks a rollout (TRL turns it into NaN; a rollout
# every function masks gets no advantage). Each is made by a small factory from the objects it reads: the
# process's one RolloutExecutor (eta.rl.rollouts) and, for ``rm``, the trained reward model's scorer.

def divergence(result: ExecutionResult) -> float | None:
    """1 for a pass; a failing program earns half the F1 of the values its execution shares with the
    reference's (eta.trace.divergence: reproduced against wrong values, averaged over the tests, padding
    counting nothing), so that no failure reaches a pass; where no reference was compared (APPS offline
    has none), half its share of tests passed."""
    if result.outcome is Outcome.INFRA_ERROR:
        return None
    if result.passed:
        return 1.0
    found = result.divergence
    if not found or "f1" not in found:
        return 0.5 * (pass_rate(result) or 0.0)
    return 0.5 * float(found["f1"])


VERDICTS: dict[str, Callable[[ExecutionResult], float | None]] = {
    "binary": binary, "shaped": shaped, "pass_rate": pass_rate, "divergence": divergence}
REWARDS = ("binary", "divergence", "pass_rate", "rm", "shaped")  # every built-in name `method.reward` may use
TRACED = ("rm", "divergence")  # built-in rewards that read the execution trace


class Reward(NamedTuple):
    """One reward function of a spec: its name (built-in, or a dotted path) and its weight."""

    name: str
    weight: float

    @property
    def label(self) -> str:
        """The name TRL logs it under (``rewards/<label>/mean``): a dotted path's function name."""
        return self.name.replace(":", ".").rsplit(".", 1)[-1]

    @property
    def reads_trace(self) -> bool:
        """Whether its rollouts are traced: ``rm``, and a user's reward (which may read the trace)."""
        return self.name in TRACED or self.name not in REWARDS


def mean_rewards(records: list[Mapping[str, Any]]) -> dict[str, float]:
    """The mean of every verdict reward over execution records (infra errors masked): what a policy's held-out
    samples would have earned from the very functions GRPO calls, so an RL run's reward is read before (base)
    and after (trained) training on prompts it never trained on. ``rm`` needs the reward model and is not here."""
    from eta.prefer.records import usable

    kept, _ = usable(list(records))
    results = [ExecutionResult.from_dict(dict(r)) for r in kept]
    out: dict[str, float] = {}
    for name, verdict in VERDICTS.items():
        values = [v for v in map(verdict, results) if v is not None]
        if values:
            out[name] = sum(values) / len(values)
    return out


def parse_reward(spec: Any, what: str = "method.reward") -> list[Reward]:
    """The :class:`Reward` objects of a spec: a name (``shaped``), a mapping of names to weights
    (``{shaped: 1.0, rm: 0.5}``), or a list whose items are names (weight 1) or one-entry mappings. A
    dotted path is imported now, so that a bad one fails before any stage runs."""
    if isinstance(spec, str):
        items: list[tuple[Any, Any]] = [(spec, 1.0)]
    elif isinstance(spec, Mapping):
        items = list(spec.items())
    elif isinstance(spec, (list, tuple)):
        items = []
        for entry in spec:
            if isinstance(entry, Mapping):
                items += list(entry.items())
            else:
                items.append((entry, 1.0))
    else:
        raise ConfigError(f"{what}: expected a reward name, a mapping of names to weights or a list, got {spec!r}")
    if not items:
        raise ConfigError(f"{what}: names no reward; known rewards: {', '.join(REWARDS)}")
    out: list[Reward] = []
    for name, weight in items:
        if not isinstance(name, str) or (name not in REWARDS and not _is_path(name)):
            raise ConfigError(f"{what}: unknown reward {name!r}; known rewards: {', '.join(REWARDS)} "
                              f"(or a dotted path, pkg.module:function)")
        if name not in REWARDS:
            user_verdict(name, what)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight != weight:
            raise ConfigError(f"{what}: the weight of {name!r} must be a number, got {weight!r}")
        reward = Reward(name, float(weight))
        if reward.label in (r.label for r in out):
            raise ConfigError(f"{what}: reward {reward.label!r} is named twice")
        out.append(reward)
    return out


def _is_path(name: str) -> bool:
    return "." in name or ":" in name


def user_verdict(path: str, what: str = "method.reward") -> Callable[[ExecutionResult], float | None]:
    """The function a dotted path names: ``pkg.module:function`` or ``pkg.module.function``."""
    module_name, _, attr = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(f"{what}: cannot import {module_name!r} for reward {path!r} ({e})") from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise ConfigError(f"{what}: {module_name} has no function {attr!r} (reward {path!r})")
    return function


def verdict_reward(name: str, rollouts: Any, score: Callable[[ExecutionResult], float | None] | None = None
                   ) -> Callable[..., list[float | None]]:
    """The reward ``name`` (binary, shaped, pass_rate, or ``score``: a user's) of each completion's verdict,
    executed once per batch by ``rollouts`` however many functions read it."""
    score = score or VERDICTS[name]

    def reward(completions: list[Any], task_id: list[str], **kwargs: Any) -> list[float | None]:
        results = rollouts.results(task_id, completions, **_context(kwargs))
        return rollouts.received(name, [score(r) for r in results])

    reward.__name__ = name  # TRL logs rewards/<__name__>/mean
    return reward


def rm_reward(rollouts: Any, scorer: Any) -> Callable[..., list[float | None]]:
    """ETA-RM: the trained reward model's score of (problem, code, execution trace) for each rollout, the
    input built exactly as the model was trained on (eta.rm.text); an infra_error is masked."""

    def rm(completions: list[Any], task_id: list[str], **kwargs: Any) -> list[float | None]:
        import time

        results = rollouts.results(task_id, completions, **_context(kwargs))
        programs = [(t, rollouts.code(t, c)) for t, c in zip(task_id, completions)]
        # each distinct program of the batch once (a group often repeats one): the forward is the cost
        todo = list(dict.fromkeys(p for p, r in zip(programs, results) if r.outcome is not Outcome.INFRA_ERROR))
        first = {p: programs.index(p) for p in todo}
        t0 = time.perf_counter()
        scores = scorer.score([rollouts.prompt(t) for t, _ in todo], [code for _, code in todo],
                              [results[first[p]] for p in todo])
        rollouts.metric(kwargs, "time/rm_score_s", time.perf_counter() - t0)
        by_program = dict(zip(todo, scores))
        out: list[float | None] = [None if r.outcome is Outcome.INFRA_ERROR else float(by_program[p])
                                   for p, r in zip(programs, results)]
        return rollouts.received("rm", out)

    return rm


def reward_funcs(rewards: Sequence[Reward] | Any, rollouts: Any, scorer: Any = None
                 ) -> tuple[list[Callable[..., Any]], list[float]]:
    """The reward functions and their weights (GRPOConfig.reward_weights) of parsed rewards (or a spec)."""
    if not (isinstance(rewards, (list, tuple)) and rewards and all(isinstance(r, Reward) for r in rewards)):
        rewards = parse_reward(rewards)
    funcs, weights = [], []
    for reward in rewards:
        if reward.name == "rm":
            if scorer is None:
                raise ConfigError("method.reward=rm needs the trained reward model's scorer")
            funcs.append(rm_reward(rollouts, scorer))
        elif reward.name in VERDICTS:
            funcs.append(verdict_reward(reward.name, rollouts))
        else:
            funcs.append(verdict_reward(reward.label, rollouts, user_verdict(reward.name)))
        weights.append(reward.weight)
    return funcs, weights


def _context(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    state = kwargs.get("trainer_state")
    return {"step": getattr(state, "global_step", None), "log_metric": kwargs.get("log_metric")}
