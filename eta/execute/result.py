"""Verdicts: one per test, one per program."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eta.execute.outcome import Outcome


@dataclass
class TestResult:
    index: int
    outcome: Outcome
    error_type: str | None = None
    error_message: str | None = None
    steps: int | None = None  # line events executed in the candidate's code (None when not traced)
    duration_s: float = 0.0
    stdout: str | None = None  # STDIO tests: what the program printed (capped)
    trace: str | None = None  # the compact text trace, when traced
    events: list[dict[str, Any]] | None = None  # the trace's events, when asked for
    writes: dict[str, Any] | None = None  # the test's value writes (eta.trace.writes), when asked for
    # Whether the comparison that makes this test pass was made outside the candidate's process (on the
    # plain value it returned or the output it printed), so that no program could have forged the pass.
    checked_outside: bool = False

    __test__ = False  # not a pytest class

    def to_dict(self) -> dict[str, Any]:
        d = {"index": self.index, "outcome": self.outcome.value, "error_type": self.error_type,
             "error_message": self.error_message, "steps": self.steps, "duration_s": round(self.duration_s, 6),
             "checked_outside": self.checked_outside}
        for key in ("stdout", "trace", "events", "writes"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TestResult":
        return cls(index=d["index"], outcome=Outcome(d["outcome"]), error_type=d.get("error_type"),
                   error_message=d.get("error_message"), steps=d.get("steps"),
                   duration_s=d.get("duration_s", 0.0), stdout=d.get("stdout"), trace=d.get("trace"),
                   events=d.get("events"), writes=d.get("writes"), checked_outside=bool(d.get("checked_outside", False)))


@dataclass
class ExecutionResult:
    """The verdict on one program: built by the harness from its own record of each test that ran."""

    outcome: Outcome
    tests: list[TestResult] = field(default_factory=list)
    tests_total: int = 0
    error_type: str | None = None
    error_message: str | None = None
    duration_s: float = 0.0
    output: str = ""  # what the program wrote to its real stdout/stderr, capped
    output_bytes: int = 0  # how much it wrote in all
    key: Any = None  # the caller's handle (e.g. task_id and sample index)
    # Attempts on the harness the sandbox contained, by kind (eta.execute.hacks): never a pass, but counted.
    hacks: list[str] = field(default_factory=list)
    # A failing program's divergence from its task's reference (eta.trace.divergence), where one was measured.
    divergence: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED

    @property
    def tests_passed(self) -> int:
        return sum(t.outcome is Outcome.PASSED for t in self.tests)

    @property
    def steps(self) -> int | None:
        """Line events executed in the candidate, over all tests, each failing test up to its error."""
        counted = [t.steps for t in self.tests if t.steps is not None]
        return sum(counted) if counted else None

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "outcome": self.outcome.value, "tests_passed": self.tests_passed,
                "tests_total": self.tests_total, "error_type": self.error_type,
                "error_message": self.error_message, "steps": self.steps,
                "duration_s": round(self.duration_s, 6), "output": self.output,
                "output_bytes": self.output_bytes, "hacks": list(self.hacks), "tests": [t.to_dict() for t in self.tests],
                **({"divergence": self.divergence} if self.divergence is not None else {})}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ExecutionResult":
        return cls(outcome=Outcome(d["outcome"]), tests=[TestResult.from_dict(t) for t in d.get("tests", [])],
                   tests_total=d.get("tests_total", 0), error_type=d.get("error_type"),
                   error_message=d.get("error_message"), duration_s=d.get("duration_s", 0.0),
                   output=d.get("output", ""), output_bytes=d.get("output_bytes", 0), hacks=list(d.get("hacks") or []),
                   divergence=d.get("divergence"))

    @classmethod
    def infra_error(cls, message: str, tests_total: int = 0, key: Any = None) -> "ExecutionResult":
        return cls(outcome=Outcome.INFRA_ERROR, tests_total=tests_total, error_type="InfraError",
                   error_message=message, key=key)


def program_outcome(tests: list[TestResult], tests_total: int) -> tuple[Outcome, str | None, str | None]:
    """The program's verdict: passed only if every one of its tests ran and passed; else the first failure's."""
    for t in sorted(tests, key=lambda t: t.index):
        if t.outcome is not Outcome.PASSED:
            return t.outcome, t.error_type, t.error_message
    if len(tests) < tests_total:
        return Outcome.CRASHED, None, f"only {len(tests)} of {tests_total} tests reported"
    return Outcome.PASSED, None, None
