"""Errors that mean "the input is wrong", which `run.py` prints as one line instead of a traceback."""

from __future__ import annotations


class ConfigError(ValueError):
    """A config value eta cannot run with; the message starts with the key's dotted name."""


def user_errors() -> tuple[type[Exception], ...]:
    """Every exception type whose message alone tells the user what to fix."""
    from eta.execute.batch import SampleFileError
    from eta.execute.isolation import SandboxRefused
    from eta.hosted.errors import HostedError
    from eta.models.load import ModelLoadError
    from eta.tasks.errors import TaskLoadError
    from eta.tasks.splitting import SplitError

    return ConfigError, HostedError, ModelLoadError, SampleFileError, SandboxRefused, SplitError, TaskLoadError
