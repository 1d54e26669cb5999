"""Shared fixtures, in the manner of lightning-hydra-template's tests/conftest.py: the config composed once per
session (each test gets its own copy), the smoke config of ``experiment=smoke``, and the sandbox executor of a
module. Standard library at import time: the tracer and sandbox tests also run on a bare Python 3.12."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.register_assert_rewrite("helpers")

import helpers  # noqa: E402  (tests/ is on sys.path: pytest puts a rootdir-less test folder there)


@pytest.fixture(scope="session")
def compose() -> Callable[..., Any]:
    """``compose(*overrides)``: eta's config with Hydra overrides, each set composed once per session."""
    pytest.importorskip("hydra")
    return helpers.compose


@pytest.fixture
def cfg(compose: Callable[..., Any]) -> Any:
    """The default config (``python run.py``), this test's own copy."""
    return compose()


@pytest.fixture
def smoke_cfg(compose: Callable[..., Any]) -> Any:
    """``experiment=smoke``: the tiny in-process model on 4 HumanEval problems, this test's own copy."""
    return compose(*helpers.SMOKE)


@pytest.fixture(scope="module")
def executor(request: pytest.FixtureRequest) -> Iterator[Any]:
    """One sandbox executor for a test module, with the module's ``LIMITS`` and ``WORKERS`` (default 1):
    starting fork servers costs more than most tests in those modules."""
    from eta.execute import Executor, Limits

    limits = getattr(request.module, "LIMITS", Limits())
    with Executor(workers=getattr(request.module, "WORKERS", 1), limits=limits) as ex:
        yield ex
