"""Sandboxed execution of candidate programs against their tests (standard library only).

The names below are imported on first use, so that the fork server (``python -m eta.execute.server``)
loads only what a child needs: a smaller server image is cheaper to fork.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "Limits": "eta.execute.limits", "Outcome": "eta.execute.outcome", "ExecutionResult": "eta.execute.result",
    "TestResult": "eta.execute.result", "Executor": "eta.execute.pool", "Job": "eta.execute.pool",
    "TraceOptions": "eta.execute.pool", "execute": "eta.execute.pool", "execute_tasks": "eta.execute.pool",
    "SandboxRefused": "eta.execute.isolation",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'eta.execute' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
