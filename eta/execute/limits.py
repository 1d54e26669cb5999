"""Resource limits of one sandboxed program."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Sequence

from eta.execute.view import DEFAULT_ALLOW_PACKAGES


@dataclass(frozen=True)
class Limits:
    """Bounds on what one candidate program may use. Every field has a sane default."""

    timeout_s: float = 10.0  # wall clock for the whole program, all its tests together
    test_timeout_s: float = 3.0  # wall clock for one test
    memory_mb: int = 1024  # address space (RLIMIT_AS)
    file_size_mb: int = 16  # largest file it may write (RLIMIT_FSIZE)
    max_processes: int = 16  # processes the sandbox user may own (RLIMIT_NPROC, enforced when uid is dropped)
    output_bytes: int = 64 * 1024  # captured stdout/stderr kept; the rest is counted, then dropped
    tmpfs_mb: int = 64  # room in the writable folders (/tmp, /var/tmp, /dev/shm together) of the view
    # Packages (import names) a candidate may import beyond the standard library, with what they require;
    # the rest of site-packages is not in its view of the filesystem. Missing ones are reported, not fatal.
    allow_packages: tuple[str, ...] = DEFAULT_ALLOW_PACKAGES

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "allow_packages":
                self._check_packages(value)
            elif not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"Limits.{f.name} must be a positive number, got {value!r}")

    def _check_packages(self, value: Any) -> None:
        if not isinstance(value, (list, tuple)) or not all(isinstance(p, str) and p.isidentifier() for p in value):
            raise ValueError(f"Limits.allow_packages must be a list of top-level import names, got {value!r}")
        object.__setattr__(self, "allow_packages", tuple(value))  # a list from a config or a JSON job

    @property
    def cpu_s(self) -> int:
        # CPU time backs up the wall clock for a program that forks workers to burn CPU in parallel.
        return int(self.timeout_s) + 2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any] | None) -> "Limits":
        if not m:
            return cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(m) - known)
        if unknown:
            raise ValueError(f"unknown sandbox limit(s) {unknown}; known: {sorted(known)}")
        return cls(**dict(m))


def test_limit(fixed_s: float, per_test: Sequence[float] | None, index: int) -> float:
    """The wall-clock limit of test `index`: its own (derived from the reference's time on it, see
    eta.execute.reftimes) when the job carries one per test, else the fixed `test_timeout_s`. The
    program's `timeout_s` bounds them all, as the supervisor's program deadline."""
    if per_test and 0 <= index < len(per_test):
        return float(per_test[index])
    return float(fixed_s)
