"""A plain-text before/after table of metrics, printed at the end of a run."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_PASS_AT = re.compile(r"^pass@(\d+)$")

# metrics.json key -> its row label, for the keys whose label is not the key itself
LABELS = {"greedy_pass@1": "greedy pass@1", "execution_rate": "execution rate",
          "mean_tests_passed_fraction": "mean tests passed"}


def row_label(metric: str) -> str:
    """The table's label of a metrics.json key (``outcome/<name>`` for an outcome's share)."""
    if metric.startswith("outcome/"):
        return "outcome " + metric.split("/", 1)[1]
    return LABELS.get(metric, metric)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value:.1%}"


def _real(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"


def _count(value: Any) -> str:
    return "-" if value is None else str(value)


def _rows(metrics_by_model: Mapping[str, Mapping[str, Any]], top_outcomes: int) -> list[tuple[str, list, bool | None]]:
    """(label, value per model, is_fraction: True a share, False a count, None a real number) for every row."""
    models = list(metrics_by_model.values())
    ks = sorted({int(m.group(1)) for metrics in models for key in metrics if (m := _PASS_AT.match(key))})
    rows = [(f"pass@{k}", [m.get(f"pass@{k}") for m in models], True) for k in ks]
    if any("greedy_pass@1" in m for m in models):
        rows.append((row_label("greedy_pass@1"), [m.get("greedy_pass@1") for m in models], True))
    for key in ("execution_rate", "mean_tests_passed_fraction"):
        rows.append((row_label(key), [m.get(key) for m in models], True))
    if any("tests_checked_outside_fraction" in m for m in models):
        rows.append(("tests judged outside the program", [m.get("tests_checked_outside_fraction") for m in models], True))
    if any("hacking/attempt_rate" in m for m in models):  # attempts on the harness it contained (eta.execute.hacks)
        rows.append(("hacking attempts (any kind)", [m.get("hacking/attempt_rate") for m in models], True))
        kinds = sorted({k for m in models for k, v in m.items() if k.startswith("hacking/") and k != "hacking/attempt_rate" and v})
        rows += [(f"hacking: {k.split('/', 1)[1].replace('_', ' ')}", [m.get(k) for m in models], True) for k in kinds]
    if any("kl_to_reference" in m for m in models):  # nats per completion: how far training moved the policy
        rows.append(("KL to reference (nats/sample)", [m.get("kl_to_reference") for m in models], None))
    # the shaped reward only: binary is pass@1's sample mean and pass_rate the tests passed, rows above already
    if any("shaped" in (m.get("reward") or {}) for m in models):
        rows.append(("mean shaped reward", [(m.get("reward") or {}).get("shaped") for m in models], None))
    rows += _repair_rows(models)
    if any("cheat" in m for m in models):  # eval.cheat: any pass of an impossible task is a cheat
        cheats = [m.get("cheat") or {} for m in models]
        rows.append(("cheat rate (impossible tasks)", [c.get("rate") for c in cheats], True))
        rows.append(("cheat rate, 95% upper bound", [(c.get("ci95") or [None, None])[1] for c in cheats], True))
        rows.append(("impossible samples", [c.get("n") for c in cheats], False))
    # The outcomes most frequent in any model, so that a class that appears only after training shows too.
    peak: dict[str, float] = {}
    for m in models:
        for outcome, fraction in m.get("outcomes", {}).items():
            peak[outcome] = max(peak.get(outcome, 0.0), fraction)
    for outcome in sorted(peak, key=lambda o: (-peak[o], o))[:top_outcomes]:
        rows.append((row_label(f"outcome/{outcome}"), [m.get("outcomes", {}).get(outcome, 0.0) for m in models], True))
    for key, label in (("n_tasks", "tasks"), ("n_families", "families"), ("n_samples", "samples"),
                       ("n_infra_error", "infra errors (masked)")):
        if key != "n_families" or any(key in m for m in models):  # metrics.json written before families counted
            rows.append((label, [m.get(key) for m in models], False))
    return rows


def _repair_rows(models: list[Mapping[str, Any]]) -> list[tuple[str, list, bool | None]]:
    """Repair accuracy (eval.repair) per set and feedback kind, and pass@n where there were n attempts."""
    found: dict[tuple[str, str], set[str]] = {}
    for m in models:
        for name, by_feedback in (m.get("repair") or {}).items():
            for feedback, r in by_feedback.items():
                if not isinstance(r, Mapping):  # {"skipped": why}
                    continue
                found.setdefault((name, feedback), set()).update(k for k in r if _PASS_AT.match(k) and k != "pass@1")
    def get(m: Mapping[str, Any], name: str, feedback: str, key: str) -> Any:
        return (((m.get("repair") or {}).get(name) or {}).get(feedback) or {}).get(key)

    rows: list[tuple[str, list, bool | None]] = []
    for (name, feedback), ks in found.items():
        rows.append((f"repair {name} ({feedback})", [get(m, name, feedback, "accuracy") for m in models], True))
        rows += [(f"repair {name} ({feedback}) {k}", [get(m, name, feedback, k) for m in models], True)
                 for k in sorted(ks)]
    for name in dict.fromkeys(name for name, _ in found):
        feedback = next(f for n, f in found if n == name)
        rows.append((f"repair {name} programs", [get(m, name, feedback, "n_problems") for m in models], False))
    return rows


def _interval(est: Any) -> str:
    """A paired interval of a change in percentage points, and whether it includes no change."""
    if est is None:
        return ""
    return f"[{est.low * 100:+.1f}, {est.high * 100:+.1f}]" + (" spans 0" if est.spans_zero else "")


def format_table(metrics_by_model: Mapping[str, Mapping[str, Any]], top_outcomes: int = 4,
                 intervals: Mapping[str, Any] | None = None) -> str:
    """Rows of metrics, one column per model (``summarize()`` results, optionally with ``greedy_pass@1``).

    With exactly two models (before, after) a last column gives the change in percentage points, and with
    ``intervals`` (row label -> ``eta.report.bootstrap.Estimate`` of the change, eta.report.paired) one more
    its 95% interval, marked where it spans zero.
    """
    if not metrics_by_model:
        raise ValueError("format_table: no models given")
    names = list(metrics_by_model)
    delta = len(names) == 2
    intervals = intervals if delta and intervals else None
    header = ["metric", *names] + (["change"] if delta else []) + (["95% CI (pp)"] if intervals else [])
    lines = [header]
    for label, values, is_fraction in _rows(metrics_by_model, top_outcomes):
        fmt = _real if is_fraction is None else _pct if is_fraction else _count
        cells = [label, *[fmt(v) for v in values]]
        if delta:
            a, b = values
            cells.append("" if a is None or b is None or is_fraction is None else
                         f"{(b - a) * 100:+.1f} pp" if is_fraction else f"{b - a:+d}")
        if intervals:
            cells.append(_interval(intervals.get(label)) if is_fraction else "")
        lines.append(cells)
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    out = []
    for i, row in enumerate(lines):
        out.append("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in out)
