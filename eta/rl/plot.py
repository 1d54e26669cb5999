"""The per-step GRPO plot of a run (plots/grpo.png): rewards, groups with no signal, KL, rollout outcomes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _series(log_history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[int], list[float]]:
    pairs = [(e.get("step", i), e[key]) for i, e in enumerate(log_history) if isinstance(e.get(key), (int, float))]
    return [s for s, _ in pairs], [v for _, v in pairs]


def plot_grpo(log_history: Sequence[Mapping[str, Any]], names: Sequence[str], path: str | Path) -> Path | None:
    """Four panels from the trainer's log history; None when it logged no GRPO step."""
    if not _series(log_history, "frac_reward_zero_std")[1]:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    panels = [("mean reward per function", [f"rewards/{n}/mean" for n in names]),
              ("share of groups with equal rewards", ["frac_reward_zero_std"]),
              ("KL to the reference", ["kl"]),
              ("rollout outcomes", sorted({k for e in log_history for k in e if k.startswith("rollouts/")}))]
    for ax, (title, keys) in zip(axes, panels):
        for key in keys:
            steps, values = _series(log_history, key)
            if values and (title != "rollout outcomes" or any(values)):
                ax.plot(steps, values, marker="o" if len(values) < 30 else None, label=key.split("/")[-2 if
                        key.endswith("/mean") else -1])
        ax.set_title(title)
        ax.set_xlabel("step")
        if ax.lines:
            ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
