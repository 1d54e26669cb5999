"""JSON-lines files, read with errors that name the file and the line (samples, execution records)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator


def numbered_values(lines: Iterable[str], on_error: Callable[[int, json.JSONDecodeError], Exception]) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` for each non-blank line; a line that is not JSON raises ``on_error(n, e)``."""
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as e:
            raise on_error(lineno, e) from None


def read_lines(path: Path, error: type[Exception] = ValueError) -> Iterator[tuple[str, Any]]:
    """``(where, value)`` for each non-blank line, ``where`` being ``path:line`` for the caller's own
    messages; a line that is not JSON raises ``error`` naming that place."""
    with path.open(encoding="utf-8") as f:
        for lineno, value in numbered_values(f, lambda n, e: error(f"{path}:{n}: not valid JSON ({e.msg})")):
            yield f"{path}:{lineno}", value


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
