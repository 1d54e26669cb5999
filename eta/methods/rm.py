"""ETA-RM's reward model as a method (``method=rm``): trains a scalar reward of (problem, code, execution
trace) on the run's pairs with TRL's ``RewardTrainer`` (Bradley-Terry loss, LoRA with the head trained) and
reports its pairwise accuracy on pairs of held-out problems; no policy is trained.

``conf/method/rm.yaml`` holds eta's keys (``Settings`` in eta/rm/train.py: backbone, with_trace, the
no-trace ablation, heldout_fraction, ...) and the ``RewardConfig`` fields eta sets; any other key is a
field of ``trl.RewardConfig``, passed through. The model is saved in ``reward_model/trace/`` (and
``reward_model/no_trace/`` for the ablation), where ``eta.rm.load_scorer`` reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from eta.train.runner import TrainResult

if TYPE_CHECKING:
    from eta.context import RunContext


class RewardModel:
    needs = "prefer"
    keys: tuple[str, ...] = ("dist", "execute")
    trains_policy = False

    def __init__(self, cfg: Any) -> None:
        from eta.rm.train import configure

        self.cfg = cfg
        self.settings, _ = configure(cfg.method, Path("unused"), dist_cfg=cfg.get("dist"), seed=cfg.seed)

    @property
    def needs_local_weights(self) -> bool:
        """backbone=policy puts the score head on the run's own model: a hosted model has no weights here."""
        return self.settings.backbone == "policy"

    def train(self, run: RunContext, model: Any, tokenizer: Any) -> TrainResult | None:
        from eta.rm.train import accuracy, train_reward_model

        if not (run.run_dir / "pairs.jsonl").is_file() or not run.pairs_dir.is_dir():
            run.say("no preference pairs: nothing to train the reward model on (try more samples, a higher "
                    "temperature, or prefer.include_reference=true)")
            return None
        variants = [self.settings.with_trace] + ([False] if self.settings.with_trace and
                                                 self.settings.no_trace_ablation else [])
        metrics: dict[str, Any] = {"interval": "wilson 95%", "backbone": self.settings.backbone}
        main = None
        for with_trace in variants:
            path, scorer, heldout, result = train_reward_model(run, model, tokenizer, self.cfg.method,
                                                               with_trace=with_trace)
            acc = accuracy(scorer, heldout)
            acc.update(path=str(path), train_steps=result.steps,
                       heldout_problems=len({e.task_id for e in heldout}))
            name = "trace" if with_trace else "no_trace"
            metrics[name] = acc
            metrics.update(_flat(name, acc))
            run.say(f"reward model ({name}): held-out pairwise accuracy {acc['accuracy']:.3f} "
                    f"[{acc['ci95'][0]:.3f}, {acc['ci95'][1]:.3f}] on {acc['n']} pairs")
            main = main or result
        main.metrics = metrics
        return main


def _flat(name: str, acc: dict[str, Any]) -> dict[str, Any]:
    """Scalars the report prints (it shows a method's scalar metrics one per line)."""
    out = {f"{name}_accuracy": acc["accuracy"], f"{name}_ci95_low": acc["ci95"][0],
           f"{name}_ci95_high": acc["ci95"][1], f"{name}_heldout_pairs": acc["n"]}
    for crit, sub in acc["by_criterion"].items():
        out[f"{name}_accuracy_{crit}"] = sub["accuracy"]
        out[f"{name}_ci95_{crit}"] = f"[{sub['ci95'][0]:.3f}, {sub['ci95'][1]:.3f}] n={sub['n']}"
    return out


def make(cfg: Any) -> RewardModel:
    return RewardModel(cfg)
