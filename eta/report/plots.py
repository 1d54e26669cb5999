"""PNG figures for a run's report: pass@k per model, outcomes before vs after, the training loss.

Figures are drawn on a bare ``matplotlib.figure.Figure`` (Agg canvas), never through pyplot, so plotting
changes no global backend and works in headless runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eta.execute.outcome import Outcome

_PASS_AT = re.compile(r"^pass@(\d+)$")


def new_figure(width: float = 7.0, height: float = 4.0):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=120)
    return path


def _grouped_bars(ax: Any, groups: Sequence[str], series: Mapping[str, Sequence[float | None]],
                  percent: bool = True) -> None:
    """Bars of each series side by side within each group, labelled with their values."""
    width = 0.8 / max(len(series), 1)
    for i, (label, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        heights = [v if v is not None else 0.0 for v in values]
        bars = ax.bar(xs, heights, width, label=label)
        texts = ["n/a" if v is None else f"{v:.1%}" if percent else f"{v:g}" for v in values]
        ax.bar_label(bars, labels=texts, fontsize=8, padding=2)
    ax.set_xticks(range(len(groups)), groups)
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)


def plot_pass_at_k(metrics_by_model: Mapping[str, Mapping[str, Any]], path: str | Path) -> Path:
    """Grouped bars of pass@k (and greedy pass@1 where a model has ``greedy_pass@1``) per model."""
    if not metrics_by_model:
        raise ValueError("plot_pass_at_k: no models given")
    ks = sorted({int(m.group(1)) for metrics in metrics_by_model.values() for key in metrics
                 if (m := _PASS_AT.match(key))})
    keys = [f"pass@{k}" for k in ks]
    if any("greedy_pass@1" in metrics for metrics in metrics_by_model.values()):
        keys.append("greedy_pass@1")
    if not keys:
        raise ValueError("plot_pass_at_k: no 'pass@k' metrics in any model's metrics")
    fig = new_figure()
    ax = fig.add_subplot()
    series = {model: [metrics.get(key) for key in keys] for model, metrics in metrics_by_model.items()}
    _grouped_bars(ax, [k.replace("_", " ") for k in keys], series)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("fraction of tasks solved")
    ax.set_title("pass@k")
    return save_figure(fig, path)


def _outcome_fractions(metrics: Mapping[str, Any], which: str) -> Mapping[str, float]:
    if "outcomes" in metrics:  # a summarize() result
        return metrics["outcomes"]
    bad = [key for key in metrics if key not in {o.value for o in Outcome}]
    if bad:
        raise ValueError(f"plot_outcomes: {which} is neither a summarize() result nor outcome fractions "
                         f"(unknown keys {bad})")
    return metrics


def plot_outcomes(before: Mapping[str, Any], after: Mapping[str, Any], path: str | Path,
                  labels: tuple[str, str] = ("before", "after")) -> Path:
    """Grouped bars of outcome frequencies before vs after training.

    ``before``/``after`` are ``summarize()`` results (their ``outcomes``) or plain {outcome: fraction} maps.
    """
    fb, fa = _outcome_fractions(before, labels[0]), _outcome_fractions(after, labels[1])
    shown = [o.value for o in Outcome if o is not Outcome.INFRA_ERROR and (fb.get(o.value) or fa.get(o.value))]
    if not shown:
        raise ValueError("plot_outcomes: no outcomes to plot")
    fig = new_figure(8.0, 4.0)
    ax = fig.add_subplot()
    series = {labels[0]: [fb.get(o, 0.0) for o in shown], labels[1]: [fa.get(o, 0.0) for o in shown]}
    _grouped_bars(ax, [o.replace("_", "\n") for o in shown], series)
    ax.set_ylim(0, max(max(v) for v in series.values()) * 1.15)
    ax.set_ylabel("fraction of samples")
    ax.set_title("outcomes of the samples")
    return save_figure(fig, path)


def _series(log_history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for i, entry in enumerate(log_history):
        if isinstance(entry.get(key), (int, float)):
            xs.append(entry.get("step", i))
            ys.append(float(entry[key]))
    return xs, ys


def plot_loss(log_history: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Training (and eval) loss from a HF Trainer's ``state.log_history``; DPO reward margins and
    accuracies, when logged, in a second panel."""
    steps, loss = _series(log_history, "loss")
    if not loss:
        raise ValueError("plot_loss: no entry of log_history has a 'loss' (was logging_steps larger than the run?)")
    rewards = [k for k in ("rewards/margins", "rewards/accuracies") if _series(log_history, k)[1]]
    fig = new_figure(7.0 + 4.0 * bool(rewards), 4.0)
    axes = fig.subplots(1, 2) if rewards else [fig.add_subplot()]
    ax = axes[0]
    ax.plot(steps, loss, marker="o" if len(loss) < 30 else None, label="train loss")
    eval_steps, eval_loss = _series(log_history, "eval_loss")
    if eval_loss:
        ax.plot(eval_steps, eval_loss, marker="s", label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("training loss")
    ax.legend(frameon=False)
    for key in rewards:
        axes[1].plot(*_series(log_history, key), label=key)
    if rewards:
        axes[1].set_xlabel("step")
        axes[1].set_title("DPO rewards")
        axes[1].legend(frameon=False)
    return save_figure(fig, path)


ROUND_METRICS = ("pass@1", "greedy_pass@1", "execution_rate", "mean_tests_passed_fraction")


def round_values(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The plotted scalars of one round's (or the base's) metrics: ROUND_METRICS, then the repair accuracy
    of each repair set and feedback kind (``repair <set> (<feedback>)``) where eval.repair ran."""
    out = {k: float(metrics[k]) for k in ROUND_METRICS if isinstance(metrics.get(k), (int, float))}
    for name, by_feedback in sorted((metrics.get("repair") or {}).items()):
        for feedback, m in sorted((by_feedback or {}).items()):
            if isinstance(m, Mapping) and isinstance(m.get("accuracy"), (int, float)):
                out[f"repair {name} ({feedback})"] = float(m["accuracy"])
    return out


def plot_rounds(base: Mapping[str, Any] | None, rounds: Mapping[str, Mapping[str, Any]], path: str | Path) -> Path:
    """Every scalar evaluation metric against the round (round 0: the base policy), one panel each."""
    points = ([(0, round_values(base))] if base else []) + sorted((int(r), round_values(m)) for r, m in rounds.items())
    names = list(dict.fromkeys(k for _, m in points[1 if base else 0:] for k in m))
    if not names:
        raise ValueError("plot_rounds: no round has any of " + ", ".join(ROUND_METRICS) + " or a repair accuracy")
    fig = new_figure(3.2 * len(names), 3.4)
    for ax, name in zip(fig.subplots(1, len(names), squeeze=False)[0], names):
        xs = [r for r, m in points if name in m]
        ax.plot(xs, [m[name] for r, m in points if name in m], marker="o")
        ax.set_xticks(xs)
        ax.set_xlabel("round (0 = base)")
        ax.set_title(name)
    return save_figure(fig, path)
