"""Rewards for online RL (``method=grpo``): per-verdict scores (pure functions of an ExecutionResult), and
the registry of reward functions in open-r1's shape that ``method.reward`` picks by name. No torch here.

``method.reward`` is a name (``shaped``), a mapping of names to weights (``{shaped: 1.0, rm: 0.5}``) or a
list of names and one-entry mappings; the weights become ``GRPOConfig.reward_weights`` (TRL sums the
weighted rewards, then normalizes in each group).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

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
REWARDS = ("binary", "divergence", "pass_rate", "rm", "shaped")  # every name `method.reward` may use
TRACED = frozenset({"rm", "divergence"})  # the rewards that read the rollouts' traces


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


def parse_reward(spec: Any, what: str = "method.reward") -> list[tuple[str, float]]:
    """``[(name, weight), ...]`` from a reward spec: a name (``shaped``), a mapping of names to weights
    (``{shaped: 1.0, rm: 0.5}``), or a list whose items are names (weight 1) or one-entry mappings."""
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
    out: list[tuple[str, float]] = []
    for name, weight in items:
        if name not in REWARDS:
            raise ConfigError(f"{what}: unknown reward {name!r}; known rewards: {', '.join(REWARDS)}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight != weight:
            raise ConfigError(f"{what}: the weight of {name!r} must be a number, got {weight!r}")
        if name in (n for n, _ in out):
            raise ConfigError(f"{what}: reward {name!r} is named twice")
        out.append((str(name), float(weight)))
    return out


def verdict_reward(name: str, rollouts: Any) -> Callable[..., list[float | None]]:
    """The reward ``name`` (binary, shaped, pass_rate) of each completion's verdict, executed once per
    batch by ``rollouts`` however many functions read it."""
    score = VERDICTS[name]

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


def reward_funcs(spec: Any, rollouts: Any, scorer: Any = None) -> tuple[list[Callable[..., Any]], list[float]]:
    """The reward functions and their weights (GRPOConfig.reward_weights) a spec names."""
    funcs, weights = [], []
    for name, weight in parse_reward(spec):
        if name == "rm":
            if scorer is None:
                raise ConfigError("method.reward=rm needs the trained reward model's scorer")
            funcs.append(rm_reward(rollouts, scorer))
        else:
            funcs.append(verdict_reward(name, rollouts))
        weights.append(weight)
    return funcs, weights


def _context(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    state = kwargs.get("trainer_state")
    return {"step": getattr(state, "global_step", None), "log_metric": kwargs.get("log_metric")}
