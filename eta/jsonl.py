"""JSON-lines files, read with errors that name the file and the line (samples, execution records)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator


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


def read_rows(path: Path) -> list[Any]:
    """Every complete line of a JSON-lines file that a killed writer may have left torn at its end; a
    missing file is empty. A torn line is skipped: its work is redone by whoever wrote it."""
    if not path.exists():
        return []
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def write_rows(path: Path, rows: Iterable[Any], append: bool = False) -> None:
    """One JSON value a line; with ``append`` after what the file holds."""
    with path.open("a" if append else "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
