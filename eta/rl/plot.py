"""The per-step GRPO plot of a run (plots/grpo.png): rewards, the rollouts' steps and length, groups with no
signal, KL, rollout outcomes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _series(log_history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[int], list[float]]:
    pairs = [(e.get("step", i), e[key]) for i, e in enumerate(log_history) if isinstance(e.get(key), (int, float))]
    return [s for s, _ in pairs], [v for _, v in pairs]


Series = dict[str, tuple[list[int], list[float]]]  # label -> (steps, values)


def grpo_panels(log_history: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[tuple[str, Series]]:
    """What plots/grpo.png draws: (title, series) per panel, each series a logged key per step."""
    outcomes = sorted({k for e in log_history for k in e if k.startswith("rollouts/")})
    panels = [("mean reward per function", [f"rewards/{n}/mean" for n in names]),
              ("steps executed (mean per rollout)", ["exec/mean_steps", "exec/rel_steps"]),
              ("completion length (mean tokens)", ["completions/mean_length"]),
              ("share of groups with equal rewards", ["frac_reward_zero_std"]),
              ("KL to the reference", ["kl"]),
              ("rollout outcomes", outcomes)]
    out = []
    for title, keys in panels:
        series: Series = {}
        for key in keys:
            steps, values = _series(log_history, key)
            if values and (title != "rollout outcomes" or any(values)):
                series[key.split("/")[-2 if key.endswith("/mean") else -1]] = (steps, values)
        out.append((title, series))
    return out


def plot_grpo(log_history: Sequence[Mapping[str, Any]], names: Sequence[str], path: str | Path) -> Path | None:
    """Six panels from the trainer's log history; None when it logged no GRPO step. The reward, the
    rollouts' steps and their length sit side by side: a policy that pads raises the raw steps and the
    length while the reward climbs (the relative steps, a share of the reference's, on the right axis,
    are what padding does not move)."""
    if not _series(log_history, "frac_reward_zero_std")[1]:
        return None
    from matplotlib.figure import Figure  # a bare figure (Agg canvas): no pyplot, no global backend

    fig = Figure(figsize=(18, 8), layout="constrained")
    for ax, (title, series) in zip(fig.subplots(2, 3).flatten(), grpo_panels(log_history, names)):
        for label, (steps, values) in series.items():
            on = ax
            if label == "rel_steps":  # a share, on its own scale beside the raw count
                on = ax.twinx()
                on.set_ylim(0, 1.05)
            on.plot(steps, values, marker="o" if len(values) < 30 else None, label=label,
                    **({"color": "tab:red", "linestyle": "--"} if on is not ax else {}))
            if on is not ax:
                on.legend(frameon=False, fontsize=8, loc="lower right")
        ax.set_title(title)
        ax.set_xlabel("step")
        if ax.lines:
            ax.legend(frameon=False, fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path
