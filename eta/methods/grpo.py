"""Online RL against execution rewards (``method=grpo``): TRL's ``GRPOTrainer``, i.e. PPO's clipped
surrogate objective with a group baseline (the mean reward of the prompt's other rollouts) in place of a
value model, a KL penalty to the reference policy, LoRA. TRL 1.13 ships no PPO trainer; this is GRPO.

Every rollout is executed in the sandbox by the process's one long-lived executor (``eta.rl.rollouts``)
and scored by the reward functions ``method.reward`` names (``eta.rewards``): ``binary``, ``shaped``,
``pass_rate`` from the verdict, ``rm`` from ETA-RM's reward model on the code and its execution trace.
With ``rm`` among them the method first trains the reward model on the run's pairs (or reuses a finished
one, ``eta.rm.train``), so it needs the prefer stage: ``method=grpo method.reward=rm`` is ETA-RM in one
command. With verdict rewards only it needs no run data: it rolls out on the training problems itself.

``GRPOArgs`` is ``trl.GRPOConfig`` with eta's keys added (``use_lora``, ``reward``, ``rollout``, ``rm``,
``credit``: EGCA's token-level credit, ``eta.rl.credit``; ``scale_rewards: auto`` resolves TRL's),
built once by ``make`` from ``conf/method/grpo.yaml`` with the run's ``train/`` folder; every other key is a
field of ``trl.GRPOConfig``, passed through. ``method.reward`` is parsed once (``GRPOArgs.rewards``); its
weights become ``reward_weights`` (so that one is not set directly). ``method.rm`` is
``conf/method/rm.yaml``, composed under it by Hydra (the YAML's defaults list), with ``rm: {...}`` over it.

Notes on TRL 1.13 (``trl/trainer/grpo_trainer.py``):

* Prompts are eta's own text prompts (``build_prompt``, chat template applied), tokenized by TRL with the
  tokenizer's special tokens; ``eta.methods.sft.trl_prompt`` drops a BOS the template already wrote, so
  the policy is rolled out from the ids it is sampled with at evaluation.
* TRL's generation (``model.generate``) knows no stop strings: a completion runs on past the answer's
  closing fence up to ``max_completion_length``. The reward reads it as eta's sampler would (cut at the
  first stop, then extracted); the tokens after the stop are still trained on. ``rollout: eta`` plugs
  eta's sampler in through ``rollout_func`` instead, which stops at the stop strings (eta.rl.sampler), in
  the run's ``sampler.dtype`` as evaluation resolves it: from a bfloat16 copy of the policy, refreshed
  before each generation, where that is bfloat16 (docs/methods.md, "GRPO's rollouts in bfloat16").
* With a LoRA ``peft_config`` the reference policy for the KL term is the model with the adapter off.
* Multi-process: every rank rolls out, executes and scores its own share of the prompts (TRL's default);
  TRL gathers the rewards for the group baselines. Each rank has its own executor and its own record
  (``train/rollouts.rank<r>.jsonl``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

# At module level, not in a function: the Trainer pickles its args (training_args.bin) by class name.
from trl import GRPOConfig

from eta import rundir
from eta.errors import ConfigError
from eta.rewards import Reward, parse_reward
from eta.train.runner import TrainResult, fit, load_weights
from eta.train.settings import in_folder, lora_config, run_args

if TYPE_CHECKING:
    from eta.context import RunContext

ROLLOUTS = ("trl", "eta")


@dataclass
class GRPOArgs(GRPOConfig):
    """``trl.GRPOConfig`` with eta's keys of ``method=grpo``; ``rewards`` is ``reward`` parsed."""

    use_lora: bool = field(default=True, metadata={"help": "false: full fine-tuning"})
    reward: Any = field(default="shaped", metadata={
        "help": "a name, {name: weight, ...}, or a list (eta.rewards.parse_reward); a dotted path for one's own"})
    rollout: str = field(default="trl", metadata={
        "help": "trl: GRPOTrainer's own generation | eta: eta's sampler through rollout_func"})
    rm: dict = field(default_factory=dict, metadata={
        "help": "the reward model's settings (reward rm): conf/method/rm.yaml, composed under method.rm"})
    credit: str = field(default="none", metadata={
        "help": "none: every token gets its rollout's advantage | divergence: a failing rollout's only the "
                "tokens of the line where it diverged from the reference (EGCA; eta.rl.credit)"})
    scale_rewards: Any = field(default="auto", metadata={
        "help": "TRL's group | batch | none (true/false); auto: none with a learned reward (rm; Dr. GRPO), "
                "else group"})

    def __post_init__(self) -> None:
        from eta.config import Credit

        if self.rollout not in ROLLOUTS:
            raise ConfigError(f"method.rollout must be one of {', '.join(ROLLOUTS)}, got {self.rollout!r}")
        if self.credit not in {c.value for c in Credit}:
            raise ConfigError(f"method.credit must be one of {', '.join(c.value for c in Credit)}, got {self.credit!r}")
        self.rewards: list[Reward] = parse_reward(self.reward)
        if self.scale_rewards == "auto":
            # Dividing by the group's std makes a learned reward's small, noisy differences full-size
            # advantages (Dr. GRPO, arXiv 2503.20783); a verdict reward's steps are real, keep TRL's default.
            self.scale_rewards = "none" if self.uses_rm else "group"
        if self.scale_rewards not in (True, False, "group", "batch", "none"):
            raise ConfigError(f"method.scale_rewards must be one of auto, group, batch, none, got {self.scale_rewards!r}")
        if self.reward_weights is not None:  # one source for the weights
            raise ConfigError("method.reward_weights: set the weights in method.reward ({shaped: 1.0, rm: 0.5})")
        self.reward_weights = [r.weight for r in self.rewards]
        super().__post_init__()

    @property
    def names(self) -> list[str]:
        """The rewards as TRL logs them (``rewards/<name>/mean``)."""
        return [r.label for r in self.rewards]

    @property
    def uses_rm(self) -> bool:
        return any(r.name == "rm" for r in self.rewards)


class GRPO:
    keys: tuple[str, ...] = ("dist", "sampler", "execute")  # sampler.stop cuts rollouts; execute judges them
    trains_policy = True

    def __init__(self, cfg: Any, run_dir: Path) -> None:
        from eta.methods.rm import rm_args

        # built once, here: a bad value (the reward model's too) fails before any stage runs
        self.args = run_args(GRPOArgs, cfg, run_dir / rundir.TRAIN)
        self.peft = lora_config(cfg.model.lora) if self.args.use_lora else None
        # ETA-RM's reward model trains on the run's pairs: those stages come first
        self.needs: str | None = "prefer" if self.args.uses_rm else None
        self.rm_args = rm_args(cfg, run_dir, node=self.args.rm) if self.args.uses_rm else None

    def train(self, run: RunContext, model: Any, tokenizer: Any) -> TrainResult | None:
        from eta.rl.rollouts import from_run
        from eta.train.distributed import rank

        metrics: dict[str, Any] = {"reward": " + ".join(f"{r.weight:g}*{r.name}" for r in self.args.rewards),
                                   "rollout": self.args.rollout}
        scorer = None
        if self.rm_args is not None:
            scorer = self._reward_model(run, model, tokenizer, metrics)
            if scorer is None:
                return None
        args = in_folder(self.args, run.train_dir)
        dataset, prompts = grpo_dataset(run, tokenizer)
        out = Path(args.output_dir)
        record = out / rundir.rollouts_file(rank())
        from eta.rl import monitor

        # traced whenever the run traces (execute.trace): each step logs the rollouts' steps beside the reward,
        # raw and relative to the reference's run (eta.rl.rollouts.step_metrics), which credit reads too
        # and the reward model's trace window is centred on the divergence: its rollouts measure it as its pairs did
        writes = (bool(run.cfg.execute.trace) or "divergence" in args.names or args.credit == "divergence"
                  or (scorer is not None and self.rm_args.with_trace))
        traced = writes or any(r.reads_trace for r in args.rewards)
        watch = [monitor.callback(run.say)] if scorer is not None else []  # the learned reward's score vs passes
        dtype = rollout_dtype(run, args)
        metrics["rollout_dtype"] = dtype or str(next(model.parameters()).dtype).removeprefix("torch.")
        with from_run(run, prompts, trace=traced, record=record, writes=writes) as rollouts:
            result = train_grpo(model, tokenizer, dataset, args, rollouts, self.peft, scorer=scorer, callbacks=watch,
                                sampler_dtype=dtype)
            metrics["rollouts_executed"] = rollouts.executions
        result.metrics.update(metrics, **summary(result.log_history, args.names))
        if scorer is not None:
            result.metrics.update(monitor.summary(result.log_history))
        if rank() == 0 and result.log_history:
            from eta.rl.plot import plot_grpo

            plot = plot_grpo(result.log_history, args.names, run.path(rundir.PLOTS, "grpo.png"))
            if plot is not None:
                run.say(f"GRPO per-step plot: {plot}")
                if run.logger is not None:
                    import wandb

                    run.logger.log({"plots/grpo": wandb.Image(str(plot))})
        return result

    def _reward_model(self, run: RunContext, model: Any, tokenizer: Any, metrics: dict[str, Any]) -> Any:
        """ETA-RM's first stage: the reward model trained (or reused) on the run's pairs, as a scorer, with
        its no-trace ablation (``method.rm.no_trace_ablation``); ``method.rm.with_trace=false`` makes the
        scorer itself the no-trace model (the arm that isolates the trace)."""
        from eta.methods.rm import reward_models

        if not run.pairs_file.is_file() or not run.pairs_dir.is_dir():
            run.say("method.reward=rm: no preference pairs to train the reward model on (try more samples, a "
                    "higher temperature, or prefer.include_reference=true)")
            return None
        scorer, rm, _ = reward_models(run, model, tokenizer, in_folder(self.rm_args, run.run_dir / rundir.REWARD_MODEL))
        main = rm["trace" if self.rm_args.with_trace else "no_trace"]
        metrics.update(rm=rm, rm_path=main["path"], rm_train_steps=main["train_steps"], rm_heldout_pairs=main["n"],
                       rm_accuracy=main["accuracy"], rm_ci95_low=main["ci95"][0], rm_ci95_high=main["ci95"][1])
        run.say(f"GRPO scores rollouts with {main['path']}")
        return scorer


def rollout_dtype(run: RunContext, args: GRPOArgs) -> str | None:
    """The dtype eta's sampler rolls out in (None: the policy's own), said in one line: the run's
    ``sampler.dtype`` as evaluation resolves it (``eta.sample.precision``); TRL's generate() keeps the policy's."""
    from eta.sample.precision import sampler_dtype

    if args.rollout != "eta":
        run.say("GRPO rollouts: TRL's generate() in the policy's dtype (sampler.dtype applies to method.rollout=eta)")
        return None
    dtype, line = sampler_dtype(run.cfg)
    run.say(f"GRPO rollouts: eta's sampler in {line}"
            + (", from a copy of the policy refreshed before each generation" if dtype else ""))
    return dtype


def make(cfg: Any, run_dir: Path) -> GRPO:
    return GRPO(cfg, run_dir)


def grpo_dataset(run: RunContext, tokenizer: Any) -> tuple[Any, dict[str, str]]:
    """The training problems as GRPO prompts (``prompt``, ``task_id``), and each task's prompt as sampled."""
    from datasets import Dataset

    from eta.methods.sft import trl_prompt
    from eta.tasks.prompts import build_prompt

    if not run.train_tasks:
        raise ConfigError("method=grpo: the run has no training problems to roll out on")
    prompts = {t.task_id: build_prompt(t, run.style, tokenizer) for t in run.train_tasks}
    rows = [{"prompt": trl_prompt(p, tokenizer), "task_id": tid} for tid, p in prompts.items()]
    return Dataset.from_list(rows), prompts


def train_grpo(model: Any, tokenizer: Any, dataset: Any, args: GRPOArgs, rollouts: Any, peft: Any = None, *,
               scorer: Any = None, resume: bool = True, callbacks: list[Any] | tuple[Any, ...] = (),
               sampler_dtype: str | None = None) -> TrainResult:
    """Train ``model`` with GRPO on ``dataset``'s prompts into ``args.output_dir``, rewards from ``rollouts``
    (a RolloutExecutor), LoRA when ``peft`` is given; a finished run there is loaded, an interrupted one
    continued. ``sampler_dtype``: what eta's sampler rolls out in (``rollout: eta``; None: the policy's dtype)."""
    from eta.rewards import reward_funcs

    funcs, _ = reward_funcs(args.rewards, rollouts, scorer)

    def build() -> Any:
        import os

        from transformers import set_seed
        from trl import GRPOTrainer

        from eta.rl.credit import credit_trainer

        trainer = credit_trainer(rollouts) if args.credit == "divergence" else GRPOTrainer
        set_seed(args.seed)  # the LoRA A matrices are drawn inside GRPOTrainer.__init__, before Trainer seeds
        rollout_func = None
        if args.rollout == "eta":
            from eta.rl.sampler import eta_rollout

            os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is marked experimental
            rollout_func = eta_rollout(rollouts, sampler_dtype)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return trainer(model=model, reward_funcs=funcs, args=args, train_dataset=dataset, processing_class=tokenizer,
                       rollout_func=rollout_func, callbacks=list(callbacks) or None, peft_config=peft)

    return fit(build, args, load=lambda path: load_weights(model, path), resume=resume)


SUMMARY_KEYS = ("reward", "frac_reward_zero_std", "kl", "time/execute_s", "step_time")


def summary(log_history: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """First and last logged values of the per-step GRPO metrics, for metrics.json and the report."""
    keys = [*SUMMARY_KEYS, *(f"rewards/{n}/mean" for n in names), "rollouts/passed", "exec/mean_steps",
            "exec/rel_steps", "completions/mean_length", "credit/located", "credit/span_tokens"]
    out: dict[str, Any] = {}
    for key in keys:
        values = [e[key] for e in log_history if isinstance(e.get(key), (int, float))]
        if values:
            name = key.replace("/", "_")
            out[f"grpo_{name}_first"], out[f"grpo_{name}_last"] = values[0], values[-1]
    return out
