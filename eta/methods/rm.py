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
    budget_lines: int | None = field(default=None, metadata={
        "help": "trace lines in the input over all tests; None: execute.budget_lines"})
    use_lora: bool = field(default=True, metadata={"help": "false: every weight of the backbone trains"})

    def __post_init__(self) -> None:
        from eta.rm.backbones import check_backbone

        check_backbone(self.backbone)
        if not 0 < self.heldout_fraction < 1:
            raise ConfigError(f"method.heldout_fraction must be between 0 and 1, got {self.heldout_fraction}")
        super().__post_init__()


def rm_args(cfg: Any, run_dir: Path, node: Any = None) -> RMArgs:
    """The reward model's args from ``node`` (default ``cfg.method``), trained under ``run_dir/reward_model``,
    its trace budget the run's ``execute.budget_lines`` unless it sets one."""
    args = run_args(RMArgs, cfg, run_dir / rundir.REWARD_MODEL, node=node)
    if args.budget_lines is None:
        args.budget_lines = int(cfg.execute.budget_lines)
    return args


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
        from eta.rm.train import accuracy, train_reward_model

        if not run.pairs_file.is_file() or not run.pairs_dir.is_dir():
            run.say("no preference pairs: nothing to train the reward model on (try more samples, a higher "
                    "temperature, or prefer.include_reference=true)")
            return None
        from eta.train.settings import in_folder

        args = in_folder(self.args, run.run_dir / rundir.REWARD_MODEL)
        variants = [args.with_trace] + ([False] if args.with_trace and args.no_trace_ablation else [])
        metrics: dict[str, Any] = {"interval": "wilson 95%", "backbone": args.backbone}
        main = None
        for with_trace in variants:
            path, scorer, heldout, result = train_reward_model(run, model, tokenizer, args, with_trace=with_trace)
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


def make(cfg: Any, run_dir: Path) -> RewardModel:
    return RewardModel(cfg, run_dir)
