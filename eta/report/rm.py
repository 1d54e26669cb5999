"""ETA-RM's reward model in the report: held-out pairwise accuracy by the criterion that decided each pair,
with traces, without them (the same model trained and scored the same way), and what the harness's verdict
alone (the `Result:` line both inputs end with) gets right on the same pairs. Reads ``metrics.json``'s
"method" as ``eta.methods.rm.reward_models`` writes it (``method=rm``; GRPO's under ``"rm"``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

COLUMNS = (("trace", "with trace"), ("no_trace", "without"), ("verdict", "verdict alone"))


def rm_metrics(method: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The reward model's metrics inside a method's: its own (``method=rm``) or GRPO's ``rm``."""
    for found in (method, method.get("rm")):
        if isinstance(found, Mapping) and isinstance(found.get("by_criterion"), Mapping):
            return found
    return None


def rm_table(method: Mapping[str, Any]) -> str | None:
    """The table, or None when the method trained no reward model."""
    rm = rm_metrics(method)
    if rm is None:
        return None
    columns = [(key, title) for key, title in COLUMNS if isinstance(rm.get(key), Mapping)]
    verdict = rm.get("verdict", {})
    lines = [f"reward model ({rm.get('backbone', '?')}): held-out pairwise accuracy by deciding criterion "
             f"({verdict.get('n', '?')} pairs; a tie counts as wrong)",
             f"{'criterion':<12} {'pairs':>5}  {'in Result:':<10}" + "".join(f" {t:>13}" for _, t in columns)]
    for crit, row in rm["by_criterion"].items():
        states = "yes" if row.get("result_line_states_it") else "no"
        lines.append(f"{crit:<12} {row.get('pairs', 0):>5}  {states:<10}"
                     + "".join(f" {_pct(row.get(key)):>13}" for key, _ in columns))
    lines.append(f"{'all':<12} {verdict.get('n', 0):>5}  {'':<10}"
                 + "".join(f" {_pct(rm[key].get('accuracy')):>13}" for key, _ in columns))
    share = verdict.get("verdict_decided_share")
    if share is not None:
        lines.append(f"{100 * share:.0f}% of these pairs were decided by passed, error_class or tests, which the "
                     "`Result:` line states (a verdict-only input can learn them); divergence and steps need the trace")
    return "\n".join(lines)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
