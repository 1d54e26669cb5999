"""The one error a loader raises for bad benchmark input: it names the file, the record and the problem."""

from __future__ import annotations

import os

from eta.errors import UserError


class TaskLoadError(UserError, ValueError):
    """A benchmark could not be loaded: a missing file or folder, or a malformed record.

    The message reads ``<file>: <record>: <problem>`` so that a researcher can open the file at the
    record without a traceback; ``file``, ``record`` and ``problem`` are also kept as attributes.
    """

    def __init__(self, problem: str, *, file: str | os.PathLike | None = None, record: object = None):
        self.file = str(file) if file is not None else None
        self.record = record
        self.problem = problem
        where = [part for part in (self.file, None if record is None else f"record {record}") if part]
        super().__init__(": ".join([*where, problem]))
