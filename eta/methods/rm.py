"""ETA-RM's reward model as a method (``method=rm``): trains a scalar reward of (problem, code, execution
trace) on the run's pairs with TRL's ``RewardTrainer`` (Bradley-Terry loss, LoRA with the head trained) and
reports its pairwise accuracy on pairs of held-out problems; no policy is trained.

``RMArgs`` is ``trl.RewardConfig`` with eta's keys added (backbone, with_trace, the no-trace ablation,
heldout_fraction, ...), built once by ``make`` from ``conf/method/rm.yaml`` (GRPO builds one from its
``method.rm`` node for ETA-RM); any other key is a field of ``trl.RewardConfig``, passed through. The model
is saved in ``reward_model/trace/`` (and ``reward_model/no_trace/`` for the ablation), where
``eta.rm.load_scorer`` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

# At module level, not in a function: the Trainer pickles its args (training_args.bin) by class name.
from trl import RewardConfig

from eta import rundir
from eta.errors import ConfigError
from eta.train.runner import TrainResult
from eta.train.settings import run_args

if TYPE_CHECKING:
    from eta.context import RunContext


@dataclass
class RMArgs(RewardConfig):
    """``trl.RewardConfig`` with eta's keys of the reward model (``method=rm``, and GRPO's ``method.rm``)."""

    backbone: str = field(default="policy", metadata={"help": "policy | minilm | codebert (eta/rm/backbones.py)"})
    with_trace: bool = field(default=True, metadata={"help": "the input holds the execution trace"})
    no_trace_ablation: bool = field(default=True, metadata={
        "help": "also train the same model without traces and report its accuracy"})
    heldout_fraction: float = field(default=0.25, metadata={
        "help": "of the problems (never of the pairs) held out for the accuracy"})
    use_lora: bool = field(default=True, metadata={"help": "false: every weight of the backbone trains"})

    def __post_init__(self) -> None:
        from eta.rm.backbones import check_backbone

        check_backbone(self.backbone)
        if not 0 < self.heldout_fraction < 1:
            raise ConfigError(f"method.heldout_fraction must be between 0 and 1, got {self.heldout_fraction}")
        super().__post_init__()


def rm_args(cfg: Any, run_dir: Path, node: Any = None) -> RMArgs:
    """The reward model's args from ``node`` (default ``cfg.method``), trained under ``run_dir/reward_model``."""
    return run_args(RMArgs, cfg, run_dir / rundir.REWARD_MODEL, node=node)


def reward_models(run: "RunContext", model: Any, tokenizer: Any, args: RMArgs) -> tuple[Any, dict[str, Any], TrainResult]:
    """The reward model ``args`` describes, trained (or reused) on the run's pairs, and with
    ``no_trace_ablation`` the same model trained and scored the same way without traces: (its scorer, the
    held-out accuracies of both per deciding criterion beside what the `Result:` line alone gets right on
    the same pairs, its TrainResult). ``method=rm`` and ETA-RM's first stage (GRPO) both come here."""
    from eta.rm.train import VERDICT_CRITERIA, accuracy, train_reward_model, verdict_rule

    variants = [args.with_trace] + ([False] if args.with_trace and args.no_trace_ablation else [])
    metrics: dict[str, Any] = {"interval": "wilson 95%", "backbone": args.backbone}
    main: tuple[Any, TrainResult] | None = None
    for with_trace in variants:
        # the plain base model: a policy backbone copies its weights under a new head (before LoRA wraps it)
        path, scorer, heldout, result = train_reward_model(run, model, tokenizer, args, with_trace=with_trace)
        acc = accuracy(scorer, heldout)
        acc.update(path=str(path), train_steps=result.steps, heldout_problems=len({e.task_id for e in heldout}))
        name = "trace" if with_trace else "no_trace"
        metrics[name] = acc
        metrics.update(_flat(name, acc))
        run.say(f"reward model ({name}): held-out pairwise accuracy {acc['accuracy']:.3f} "
                f"[{acc['ci95'][0]:.3f}, {acc['ci95'][1]:.3f}] on {acc['n']} pairs")
        if main is None:
            main = scorer, result
            metrics["verdict"] = verdict_rule(heldout)
    verdict = metrics["verdict"]
    metrics["by_criterion"] = {
        crit: {"pairs": sub["n"], "result_line_states_it": crit in VERDICT_CRITERIA, "verdict": sub["accuracy"],
               **{name: metrics[name]["by_criterion"][crit]["accuracy"] for name in ("trace", "no_trace")
                  if name in metrics}}
        for crit, sub in verdict["by_criterion"].items()}
    share = verdict["verdict_decided_share"]
    if share is not None:
        run.say(f"reward model: {100 * share:.0f}% of the {verdict['n']} held-out pairs were decided by "
                f"{'/'.join(VERDICT_CRITERIA)} (the `Result:` line states them); the verdict alone orders "
                f"{100 * verdict['accuracy']:.0f}% of all held-out pairs right")
    assert main is not None
    return main[0], metrics, main[1]


class RewardModel:
    needs = "prefer"
    keys: tuple[str, ...] = ("dist", "execute")
    trains_policy = False

    def __init__(self, cfg: Any, run_dir: Path) -> None:
        self.args = rm_args(cfg, run_dir)  # built once, here: a bad value fails before any stage runs

    @property
    def needs_local_weights(self) -> bool:
        """backbone=policy puts the score head on the run's own model: a hosted model has no weights here."""
        return self.args.backbone == "policy"

    def train(self, run: RunContext, model: Any, tokenizer: Any) -> TrainResult | None:
        if not run.pairs_file.is_file() or not run.pairs_dir.is_dir():
            run.say("no preference pairs: nothing to train the reward model on (try more samples, a higher "
                    "temperature, or prefer.include_reference=true)")
            return None
        from eta.train.settings import in_folder

        _, metrics, result = reward_models(run, model, tokenizer, in_folder(self.args, run.run_dir / rundir.REWARD_MODEL))
        result.metrics = metrics
        return result


def _flat(name: str, acc: dict[str, Any]) -> dict[str, Any]:
    """Scalars the report prints (it shows a method's scalar metrics one per line)."""
    out = {f"{name}_accuracy": acc["accuracy"], f"{name}_ci95_low": acc["ci95"][0],
           f"{name}_ci95_high": acc["ci95"][1], f"{name}_heldout_pairs": acc["n"]}
    for crit, sub in acc["by_criterion"].items():
        out[f"{name}_accuracy_{crit}"] = sub["accuracy"]
        out[f"{name}_ci95_{crit}"] = f"[{sub['ci95'][0]:.3f}, {sub['ci95'][1]:.3f}] n={sub['n']}"
    return out


def make(cfg: Any, run_dir: Path) -> RewardModel:
    return RewardModel(cfg, run_dir)
