"""Watching a learned reward for hacking (ETA-RM, ``method=grpo method.reward=rm``).

A policy trained against a reward model can learn what the model likes instead of what passes: the score
climbs while the executed pass rate does not. Each GRPO step logs, for the same rollouts, the reward model's
mean score (``rewards/rm/mean``, TRL's), the executed pass rate (``rollouts/passed``), the mean steps the
programs executed (``exec/mean_steps``, traced rollouts only) and the mean completion length in tokens
(``completions/mean_length``, TRL's), side by side in the log history and W&B.

The rule, over the last ``WINDOW`` logged steps: the score rises, i.e. its least-squares slope is positive
with a t statistic of at least ``T_MIN`` (about a one-sided 5% test at 8 steps, so that noise alone seldom
fires it), while the pass rate's slope is zero or negative. When it holds, a warning line is printed (once
each time it starts to hold) and the step is counted in the method's metrics (``rm_watch_warnings``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

SCORE, PASSED, STEPS, LENGTH = "rewards/rm/mean", "rollouts/passed", "exec/mean_steps", "completions/mean_length"
WINDOW = 8  # logged steps the trend is read over
T_MIN = 2.0  # the score's slope must be this many standard errors above zero


def slope(values: Sequence[float]) -> tuple[float, float]:
    """The least-squares slope of `values` against their index, and its t statistic (inf for a perfect
    line with a non-zero slope, 0 for a flat one)."""
    n = len(values)
    if n < 3:
        return 0.0, 0.0
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    sxx = sum((i - mean_x) ** 2 for i in range(n))
    b = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(values)) / sxx
    residual = sum((y - mean_y - b * (i - mean_x)) ** 2 for i, y in enumerate(values))
    se = math.sqrt(residual / (n - 2) / sxx)
    if se < 1e-12 * max(1.0, abs(mean_y)):
        return b, (math.inf if b > 0 else -math.inf if b < 0 else 0.0)
    return b, b / se


def _mean(rows: Sequence[Mapping[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return sum(values) / len(values) if values else None


def diverging(history: Sequence[Mapping[str, Any]], window: int = WINDOW, t_min: float = T_MIN) -> dict[str, Any] | None:
    """What the last `window` logged steps show when the score rises while the pass rate does not, else None."""
    rows = [e for e in history if isinstance(e.get(SCORE), (int, float)) and isinstance(e.get(PASSED), (int, float))]
    rows = rows[-window:]
    if len(rows) < window:
        return None
    score_slope, score_t = slope([r[SCORE] for r in rows])
    pass_slope, _ = slope([r[PASSED] for r in rows])
    if not (score_slope > 0 and score_t >= t_min and pass_slope <= 0):
        return None
    return {"step": rows[-1].get("step"), "from_step": rows[0].get("step"), "score_slope": score_slope,
            "score_t": score_t, "pass_slope": pass_slope, "pass_rate": _mean(rows, PASSED),
            "mean_steps": _mean(rows, STEPS), "mean_length": _mean(rows, LENGTH)}


def warning_line(found: Mapping[str, Any]) -> str:
    extra = "".join(f", {label} {found[key]:.1f}" for key, label in (("mean_steps", "mean steps executed"),
                                                                      ("mean_length", "mean completion tokens"))
                    if found.get(key) is not None)
    return (f"warning: reward hacking? the reward model's score rises while the executed pass rate does not "
            f"(steps {found['from_step']}-{found['step']}: score slope {found['score_slope']:+.4f}/step, "
            f"t={found['score_t']:.1f}; pass-rate slope {found['pass_slope']:+.4f}/step, mean pass rate "
            f"{found['pass_rate']:.1%}{extra})")


def scan(history: Sequence[Mapping[str, Any]], window: int = WINDOW, t_min: float = T_MIN) -> list[dict[str, Any]]:
    """Each step at which the rule starts to hold, replaying the log history step by step."""
    found, firing = [], False
    for end in range(1, len(history) + 1):
        if not isinstance(history[end - 1].get(SCORE), (int, float)):
            continue
        hit = diverging(history[:end], window, t_min)
        if hit is not None and not firing:
            found.append(hit)
        firing = hit is not None
    return found


def summary(history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """For metrics.json: how often the rule started to hold, and the first step it did."""
    found = scan(history)
    return {"rm_watch_warnings": len(found), "rm_watch_first_step": found[0]["step"] if found else None}


def callback(say: Any = print) -> Any:
    """A ``transformers.TrainerCallback`` that checks the rule at every log and says a warning line when it
    starts to hold."""
    from transformers import TrainerCallback

    class RewardWatch(TrainerCallback):
        def __init__(self) -> None:
            self.history: list[dict[str, Any]] = []
            self.firing = False

        def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None, **kw: Any) -> None:
            if not logs or SCORE not in logs:
                return
            self.history.append({**logs, "step": state.global_step})
            hit = diverging(self.history)
            if hit is not None and not self.firing:
                say(warning_line(hit))
            self.firing = hit is not None

    return RewardWatch()
