"""Where benchmark data comes from: the local data folder (default) or the Hugging Face hub.

Every reader here turns a missing file, an empty file or a line that does not parse into a
``TaskLoadError`` that names the file and the record, so loaders never show a raw traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

from eta.jsonl import numbered_values
from eta.tasks.errors import TaskLoadError

DATA_DIR_ENV = "ETA_DATA_DIR"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The benchmark files live beside the project, never inside it (they are not ours to commit).
DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"
SOURCES = ("local", "hf")


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder: the argument, else ``$ETA_DATA_DIR``, else ``../shared/data`` beside the project."""
    if data_dir is not None and str(data_dir).strip():
        path, origin = Path(data_dir).expanduser(), "the data_dir argument"
    elif os.environ.get(DATA_DIR_ENV, "").strip():
        path, origin = Path(os.environ[DATA_DIR_ENV]).expanduser(), f"${DATA_DIR_ENV}"
    else:
        path, origin = DEFAULT_DATA_DIR, "the default (../shared/data beside the project)"
    if not path.is_dir():
        raise TaskLoadError(
            f"benchmark data folder not found (looked in {path}, from {origin}); point elsewhere with "
            f"${DATA_DIR_ENV}=/path/to/data, the data_dir argument or the dataset config's data_dir, "
            f"or load from the Hugging Face hub with source='hf'", file=path)
    return path


def data_file(data_dir: str | os.PathLike | None, *parts: str) -> Path:
    """A file or folder inside the data folder, with an error that says where it was expected."""
    root = resolve_data_dir(data_dir)
    path = root.joinpath(*parts)
    if not path.exists():
        raise TaskLoadError(f"not found in the data folder {root} (expected {'/'.join(parts)})", file=path)
    return path


def read_text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskLoadError(f"cannot read: {exc}", file=path) from None
    if not text.strip():
        raise TaskLoadError("the file is empty", file=path)
    return text


def read_json(path: Path) -> Any:
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise TaskLoadError(f"not valid JSON: {exc}", file=path) from None


def read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, record) for each non-blank line of a JSON-lines file."""
    def bad(number: int, exc: json.JSONDecodeError) -> TaskLoadError:
        return TaskLoadError(f"not valid JSON: {exc}", file=path, record=f"line {number}")

    seen = False
    for number, value in numbered_values(read_text(path).splitlines(), bad):
        yield number, value
        seen = True
    if not seen:
        raise TaskLoadError("the file holds no records", file=path)


def field(record: Any, name: str, kind: type | tuple[type, ...], *, file: object, where: object) -> Any:
    """``record[name]``, checked to exist and to have the expected type."""
    if not isinstance(record, dict):
        raise TaskLoadError(f"expected a JSON object, found {type(record).__name__}", file=file, record=where)
    if name not in record:
        raise TaskLoadError(f"missing field {name!r}", file=file, record=where)
    value = record[name]
    if not isinstance(value, kind):
        names = "/".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise TaskLoadError(f"field {name!r} should be {names}, found {type(value).__name__}",
                            file=file, record=where)
    return value


def check_source(source: str, dataset: str) -> None:
    if source not in SOURCES:
        raise TaskLoadError(f"unknown source {source!r} for {dataset}; use one of {', '.join(SOURCES)}")


def load_hub(path: str, *, name: str | None = None, split: str,
             data_files: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Records of a Hugging Face hub dataset, for users who are online (``source='hf'``).

    ``data_files`` reads a repository's raw files (e.g. codeparrot/apps' JSON lines) instead of its
    loading script, which current `datasets` releases no longer run.
    """
    try:
        from datasets import load_dataset
    except ImportError:
        raise TaskLoadError("source='hf' needs the `datasets` package (pip install datasets)") from None
    where = f"hf://{path}" + (f" ({name})" if name else "")
    try:
        rows = load_dataset(path, name, split=split, data_files=data_files)
        return [dict(row) for row in rows]
    except Exception as exc:  # network, missing split, script datasets: all surface as one clear error
        raise TaskLoadError(f"cannot load split {split!r} from the Hugging Face hub: {type(exc).__name__}: "
                            f"{exc}; the local files are the default (source='local')", file=where) from None
