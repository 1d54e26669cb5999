"""Errors that mean "the input is wrong", which `run.py` prints as one line instead of a traceback.

Every such error subclasses :class:`UserError`, wherever it is raised; this module imports nothing of eta,
so that any layer can raise one without reaching up.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input whose message alone tells the user what to fix (run.py prints it as one line)."""


class ConfigError(UserError, ValueError):
    """A config value eta cannot run with; the message starts with the key's dotted name."""
