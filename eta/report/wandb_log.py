"""Logging a run's metrics, figures and example tables to Weights & Biases."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from eta.prefer.pairs import Pair
from eta.prefer.records import Record


def flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Nested metrics as ``a/b/c`` keys, numbers only (counts and fractions; a list of numbers, such as an
    interval, as ``a/0``, ``a/1``; strings skipped)."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, name))
        elif isinstance(value, (list, tuple)):
            flat.update(flatten_metrics({str(i): v for i, v in enumerate(value)}, name))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = value
    return flat


def pair_rows(pairs: Iterable[Pair]) -> list[dict[str, Any]]:
    return [pair.to_dict() for pair in pairs]


def sample_rows(records: Iterable[Record], max_trace_chars: int = 4000) -> list[dict[str, Any]]:
    """One row per sample with its outcome and the traces of its tests (long traces cut, marked so)."""
    rows = []
    for r in records:
        traces = [f"# test {t.get('index')}: {t.get('outcome')}\n{t['trace']}"
                  for t in r.get("tests") or [] if t.get("trace")]
        trace = "\n\n".join(traces)
        if len(trace) > max_trace_chars:
            trace = trace[:max_trace_chars] + f"\n... [{len(trace) - max_trace_chars} more characters]"
        rows.append({"task_id": r.get("task_id"), "sample_id": r.get("sample_id"), "outcome": r.get("outcome"),
                     "tests_passed": r.get("tests_passed"), "tests_total": r.get("tests_total"),
                     "error_type": r.get("error_type"), "steps": r.get("steps"),
                     "completion": r.get("completion"), "trace": trace})
    return rows


def _table(wandb: Any, rows: Sequence[Mapping[str, Any]]) -> Any:
    columns: list[str] = []
    for row in rows:  # the union of keys, in first-seen order
        columns.extend(k for k in row if k not in columns)
    # Sample ids may mix int and str across datasets; anything not a scalar becomes its text.
    data = [[_cell(row.get(c)) for c in columns] for row in rows]
    return wandb.Table(columns=columns, data=data, allow_mixed_types=True)


def _cell(value: Any) -> Any:
    return value if value is None or isinstance(value, (int, float, str)) else str(value)


def log_to_wandb(run: Any, metrics: Mapping[str, Any], images: Mapping[str, str | Path] | None = None,
                 tables: Mapping[str, Sequence[Mapping[str, Any]] | Sequence[Pair]] | None = None,
                 step: int | None = None) -> dict[str, Any]:
    """Log metrics (nested dicts flattened), PNG images and tables of rows (or of ``Pair``s) in one call.

    Returns what was logged, for the caller's own records.
    """
    import wandb

    payload: dict[str, Any] = dict(flatten_metrics(metrics))
    for name, path in (images or {}).items():
        if not Path(path).is_file():
            raise ValueError(f"log_to_wandb: image {name!r}: no file at {path}")
        payload[name] = wandb.Image(str(path))
    for name, rows in (tables or {}).items():
        rows = [row.to_dict() if isinstance(row, Pair) else row for row in rows]
        payload[name] = _table(wandb, rows)
    run.log(payload, step=step)
    return payload
