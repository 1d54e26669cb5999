"""The learned reward's watch (eta.rl.monitor): the rule on synthetic GRPO log histories."""

from __future__ import annotations

import math
import random

import pytest

from eta.rl import monitor
from eta.rl.monitor import LENGTH, PASSED, SCORE, STEPS, WINDOW, diverging, scan, slope, warning_line


def history(scores, passes, start=1):
    return [{"step": start + i, SCORE: s, PASSED: p, STEPS: 100.0 + i, LENGTH: 40.0 + 2 * i, "loss": 0.1}
            for i, (s, p) in enumerate(zip(scores, passes))]


def test_the_slope_and_its_t_statistic():
    assert slope([1.0, 2.0, 3.0, 4.0]) == (1.0, math.inf)
    assert slope([2.0, 2.0, 2.0]) == (0.0, 0.0)
    assert slope([4.0, 3.0, 2.0])[1] == -math.inf
    b, t = slope([0.0, 1.2, 1.8, 3.1, 3.9])
    assert b == pytest.approx(0.97) and 10 < t < 40
    assert slope([1.0, 2.0]) == (0.0, 0.0)  # too few points to say


def test_a_rising_score_over_a_flat_or_falling_pass_rate_is_flagged():
    rng = random.Random(0)
    scores = [0.1 * i + rng.gauss(0, 0.05) for i in range(WINDOW)]
    found = diverging(history(scores, [0.25] * WINDOW))
    assert found is not None and found["score_slope"] > 0 and found["pass_slope"] == 0
    assert found["step"] == WINDOW and found["from_step"] == 1 and found["pass_rate"] == 0.25
    assert found["mean_steps"] == pytest.approx(103.5) and found["mean_length"] == pytest.approx(47.0)
    assert diverging(history(scores, [0.5 - 0.03 * i for i in range(WINDOW)])) is not None


def test_a_score_that_rises_with_the_pass_rate_is_not_flagged():
    scores = [0.1 * i for i in range(WINDOW)]
    assert diverging(history(scores, [0.1 + 0.05 * i for i in range(WINDOW)])) is None


def test_a_flat_or_falling_score_is_not_flagged():
    assert diverging(history([0.3] * WINDOW, [0.2] * WINDOW)) is None
    assert diverging(history([1 - 0.1 * i for i in range(WINDOW)], [0.2] * WINDOW)) is None


def test_noise_alone_seldom_fires_the_rule():
    """A score that only wanders (no trend) over a pass rate that only wanders: the t bound keeps the
    warnings rare (a slope test at about 5% one-sided, times the pass rate's slope being <= 0)."""
    fired = 0
    for seed in range(400):
        rng = random.Random(seed)
        fired += diverging(history([rng.gauss(0, 1) for _ in range(WINDOW)],
                                   [rng.random() for _ in range(WINDOW)])) is not None
    assert fired / 400 < 0.06, fired


def test_too_few_steps_and_steps_without_the_score_are_not_read():
    scores = [0.1 * i for i in range(WINDOW)]
    assert diverging(history(scores[:WINDOW - 1], [0.2] * (WINDOW - 1))) is None
    padded = history(scores, [0.2] * WINDOW)
    padded.insert(3, {"step": 3, "train_runtime": 9.0})  # TRL's last entry, and verdict-only runs, have no score
    assert diverging(padded) is not None
    assert diverging([{"step": i, PASSED: 0.1} for i in range(20)]) is None


def test_a_replayed_history_warns_once_each_time_the_rule_starts_to_hold():
    up, down = [0.1 * i for i in range(12)], [1.1 - 0.1 * i for i in range(12)]
    logs = history([*up, *down, *[x + 0.2 for x in up]], [0.3] * 36)
    found = scan(logs)
    assert len(found) == 2 and found[0]["step"] == WINDOW and 24 < found[1]["step"] <= 24 + WINDOW
    assert monitor.summary(logs) == {"rm_watch_warnings": 2, "rm_watch_first_step": WINDOW}
    assert monitor.summary(history([0.2] * 20, [0.3] * 20)) == {"rm_watch_warnings": 0, "rm_watch_first_step": None}


def test_the_warning_is_one_line_with_the_numbers():
    line = warning_line(diverging(history([0.1 * i for i in range(WINDOW)], [0.25] * WINDOW)))
    assert "\n" not in line and line.startswith("warning: reward hacking?")
    assert "steps 1-8" in line and "+0.1000/step" in line and "25.0%" in line
    assert "mean steps executed 103.5" in line and "mean completion tokens 47.0" in line


@pytest.mark.needs_torch
def test_the_trainer_callback_says_the_warning_when_it_starts():
    pytest.importorskip("transformers")
    said: list[str] = []
    watch = monitor.callback(said.append)

    class State:
        global_step = 0

    state = State()
    for entry in history([0.1 * i for i in range(12)], [0.3] * 12):
        state.global_step = entry["step"]
        watch.on_log(None, state, None, logs={k: v for k, v in entry.items() if k != "step"})
        watch.on_log(None, state, None, logs={"train_runtime": 1.0})  # no score: ignored
    assert len(said) == 1 and "steps 1-8" in said[0]
