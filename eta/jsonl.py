"""JSON-lines files, read with errors that name the file and the line (samples, execution records)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator


def read_lines(path: Path, error: type[Exception] = ValueError) -> Iterator[tuple[str, Any]]:
    """``(where, value)`` for each non-blank line, ``where`` being ``path:line`` for the caller's own
    messages; a line that is not JSON raises ``error`` naming that place."""
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                raise error(f"{where}: not valid JSON ({e.msg})") from None
            yield where, value
