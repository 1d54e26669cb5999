"""The one error a hosted model raises: a line that says what the service answered and what to do."""

from __future__ import annotations

from eta.errors import UserError


class HostedError(UserError, RuntimeError):
    """A hosted model's request failed for good (bad key, unknown model, retries spent); one line."""
