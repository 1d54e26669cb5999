"""Verdict-level rewards for online RL (GRPO): pure functions of an ExecutionResult, no torch.

Partial work (issue 11): only the per-verdict scores exist; the open-r1-shaped reward functions,
the registry/config parsing, the rm reward and the GRPO method are not written yet.
"""

from __future__ import annotations

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
