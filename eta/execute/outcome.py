"""The one outcome taxonomy that every stage shares (execution, preferences, rewards, metrics)."""

from __future__ import annotations

from enum import Enum


class Outcome(str, Enum):
    """What happened when a program ran against a test (or against all its tests).

    A ``str`` enum so that it serialises to its value in JSON and compares equal to it.
    """

    PASSED = "passed"
    WRONG_ANSWER = "wrong_answer"  # an assertion of the test failed, or the output did not match
    RUNTIME_ERROR = "runtime_error"  # the program raised (error_type says which exception)
    SYNTAX_ERROR = "syntax_error"  # the program does not compile
    TIMEOUT = "timeout"  # wall clock or CPU time ran out
    MEMORY_EXCEEDED = "memory_exceeded"
    CRASHED = "crashed"  # killed by a signal, or exited before its tests finished
    INFRA_ERROR = "infra_error"  # the harness failed, not the program: mask it, never score it

    @property
    def executed(self) -> bool:
        """Whether the program compiled and ran to the end of every test without an error of its own."""
        return self in (Outcome.PASSED, Outcome.WRONG_ANSWER)


# When a program's tests end differently, the program's outcome is the first failing test's;
# this order only decides among whole-program verdicts that are not tied to one test.
FAILURE_ORDER: tuple[Outcome, ...] = (
    Outcome.INFRA_ERROR,
    Outcome.SYNTAX_ERROR,
    Outcome.CRASHED,
    Outcome.MEMORY_EXCEEDED,
    Outcome.TIMEOUT,
    Outcome.RUNTIME_ERROR,
    Outcome.WRONG_ANSWER,
    Outcome.PASSED,
)
