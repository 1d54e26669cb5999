"""Online RL against execution rewards (``method=grpo``): TRL's ``GRPOTrainer``, i.e. PPO's clipped
surrogate objective with a group baseline (the mean reward of the prompt's other rollouts) in place of a
value model, a KL penalty to the reference policy, LoRA. TRL 1.13 ships no PPO trainer; this is GRPO.

Every rollout is executed in the sandbox by the process's one long-lived executor (``eta.rl.rollouts``)
and scored by the reward functions ``method.reward`` names (``eta.rewards``): ``binary``, ``shaped``,
``pass_rate`` from the verdict, ``rm`` from ETA-RM's reward model on the code and its execution trace.
With ``rm`` among them the method first trains the reward model on the run's pairs (or reuses a finished
one, ``eta.rm.train``), so it needs the prefer stage: ``method=grpo method.reward=rm`` is ETA-RM in one
command. With verdict rewards only it needs no run data: it rolls out on the training problems itself.

``conf/method/grpo.yaml`` holds eta's keys (``Settings``) and the ``GRPOConfig`` fields eta sets; every
other key is a field of ``trl.GRPOConfig``, passed through. ``method.reward`` weights become
``GRPOConfig.reward_weights`` (so that one is not set directly).

Notes on TRL 1.13 (``trl/trainer/grpo_trainer.py``):

* Prompts are eta's own text prompts (``build_prompt``, chat template applied), tokenized by TRL with the
  tokenizer's special tokens; ``eta.methods.sft.trl_prompt`` drops a BOS the template already wrote, so
  the policy is rolled out from the ids it is sampled with at evaluation.
* TRL's generation (``model.generate``) knows no stop strings: a completion runs on past the answer's
  closing fence up to ``max_completion_length``. The reward reads it as eta's sampler would (cut at the
  first stop, then extracted); the tokens after the stop are still trained on. ``rollout: eta`` plugs
  eta's sampler in through ``rollout_func`` instead, which stops at the stop strings (eta.rl.sampler).
* With a LoRA ``peft_config`` the reference policy for the KL term is the model with the adapter off.
* Multi-process: every rank rolls out, executes and scores its own share of the prompts (TRL's default);
  TRL gathers the rewards for the group baselines. Each rank has its own executor and its own record
  (``train/rollouts.rank<r>.jsonl``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eta.errors import ConfigError
from eta.rewards import parse_reward
from eta.train import settings as train_settings
from eta.train.runner import TrainResult, fit, load_weights
from eta.train.settings import lora_config

if TYPE_CHECKING:
    from eta.context import RunContext

ROLLOUTS = ("trl", "eta")


@dataclass
class Settings:
    use_lora: bool = True  # false: full fine-tuning
    reward: Any = "shaped"  # a name, {name: weight, ...}, or a list (eta.rewards.parse_reward)
    rollout: str = "trl"  # trl: GRPOTrainer's own generation | eta: eta's sampler through rollout_func
    rm: dict = field(default_factory=dict)  # keys over conf/method/rm.yaml for the reward model (reward rm)

    def __post_init__(self) -> None:
        if self.rollout not in ROLLOUTS:
            raise ValueError(f"rollout must be one of {', '.join(ROLLOUTS)}, got {self.rollout!r}")

    @property
    def rewards(self) -> list[tuple[str, float]]:
        return parse_reward(self.reward)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.rewards]


class GRPO:
    keys: tuple[str, ...] = ("dist", "sampler", "execute")  # sampler.stop cuts rollouts; execute judges them
    trains_policy = True

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        if cfg.method.get("reward_weights") is not None:
            raise ConfigError("method.reward_weights: set the weights in method.reward ({shaped: 1.0, rm: 0.5})")
        # the TRL config is built once here, so that a bad value fails before any stage runs
        self.settings, _ = configure(cfg.method, Path("unused"), dist_cfg=cfg.get("dist"), seed=cfg.seed)
        # ETA-RM's reward model trains on the run's pairs: those stages come first
        self.needs: str | None = "prefer" if "rm" in self.settings.names else None
        if "rm" in self.settings.names:  # the reward model's keys fail now too, not after sampling
            from eta.rm.train import configure as rm_configure

            rm_configure(self.rm_node(None), Path("unused"), seed=cfg.seed)

    def rm_node(self, run: RunContext | None) -> Any:
        """The reward model's config: conf/method/rm.yaml (and the run's ``rm`` node), ``method.rm`` over it."""
        from omegaconf import OmegaConf

        from eta.rm.train import RM_YAML, rm_node

        node = rm_node(run) if run is not None else OmegaConf.load(RM_YAML)
        return OmegaConf.merge(node, self.settings.rm) if self.settings.rm else node

    def args(self, output_dir: Path, report_to: str = "none") -> Any:
        return configure(self.cfg.method, output_dir, dist_cfg=self.cfg.get("dist"), report_to=report_to,
                         seed=self.cfg.seed)[1]

    def train(self, run: RunContext, model: Any, tokenizer: Any) -> TrainResult | None:
        from eta.rl.rollouts import from_run

        metrics: dict[str, Any] = {"reward": " + ".join(f"{w:g}*{n}" for n, w in self.settings.rewards),
                                   "rollout": self.settings.rollout}
        scorer = None
        if "rm" in self.settings.names:
            scorer = self._reward_model(run, model, tokenizer, metrics)
            if scorer is None:
                return None
        out = run.path("train", ".keep").parent
        args = self.args(out, report_to="wandb" if run.logger else "none")
        dataset, prompts = grpo_dataset(run, tokenizer)
        from eta.train.distributed import rank

        record = out / ("rollouts.jsonl" if rank() == 0 else f"rollouts.rank{rank()}.jsonl")
        from eta.rewards import TRACED
        from eta.rl import monitor

        watch = [monitor.callback(run.say)] if scorer is not None else []  # the learned reward's score vs passes
        with from_run(run, prompts, trace=bool(TRACED & set(self.settings.names)), record=record,
                      writes="divergence" in self.settings.names) as rollouts:
            result = train_grpo(model, tokenizer, dataset, args, self.settings, rollouts, scorer=scorer,
                                lora_cfg=self.cfg.model.get("lora"), callbacks=watch)
            metrics["rollouts_executed"] = rollouts.executions
        result.metrics.update(metrics, **summary(result.log_history, self.settings.names))
        if scorer is not None:
            result.metrics.update(monitor.summary(result.log_history))
        if rank() == 0 and result.log_history:
            from eta.rl.plot import plot_grpo

            plot = plot_grpo(result.log_history, self.settings.names, run.path("plots", "grpo.png"))
            if plot is not None:
                run.say(f"GRPO per-step plot: {plot}")
                if run.logger is not None:
                    import wandb

                    run.logger.log({"plots/grpo": wandb.Image(str(plot))})
        return result

    def _reward_model(self, run: RunContext, model: Any, tokenizer: Any, metrics: dict[str, Any]) -> Any:
        """ETA-RM's first stage: the reward model trained (or reused) on the run's pairs, as a scorer."""
        from eta.rm.train import accuracy, train_reward_model

        if not (run.run_dir / "pairs.jsonl").is_file() or not run.pairs_dir.is_dir():
            run.say("method.reward=rm: no preference pairs to train the reward model on (try more samples, a "
                    "higher temperature, or prefer.include_reference=true)")
            return None
        node = self.rm_node(run)
        # the plain base model: the reward model copies its weights under a new head (before LoRA wraps it)
        path, scorer, heldout, result = train_reward_model(run, model, tokenizer, node, with_trace=True)
        acc = accuracy(scorer, heldout)
        metrics.update(rm_path=str(path), rm_train_steps=result.steps, rm_heldout_pairs=acc["n"],
                       rm_accuracy=acc["accuracy"], rm_ci95_low=acc["ci95"][0], rm_ci95_high=acc["ci95"][1])
        run.say(f"reward model: held-out pairwise accuracy {acc['accuracy']} on {acc['n']} pairs; "
                f"GRPO scores rollouts with {path}")
        return scorer


def make(cfg: Any) -> GRPO:
    return GRPO(cfg)


def configure(node: Any, output_dir: str | Path, *, dist_cfg: Any = None, report_to: str = "none",
              seed: int | None = None) -> tuple[Settings, Any]:
    """eta's settings and TRL's ``GRPOConfig`` (with the rewards' weights) from a method node."""
    from trl import GRPOConfig

    settings, passed = train_settings.split_settings(node, Settings, GRPOConfig)
    settings.rewards  # a bad reward fails here, in one line naming the known ones
    if seed is not None:
        passed.setdefault("seed", seed)
    passed["reward_weights"] = [w for _, w in settings.rewards]
    return settings, train_settings.trl_args(GRPOConfig, passed, output_dir, dist_cfg=dist_cfg, report_to=report_to)


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


def train_grpo(model: Any, tokenizer: Any, dataset: Any, args: Any, settings: Settings, rollouts: Any, *,
               scorer: Any = None, lora_cfg: Any = None, resume: bool = True,
               callbacks: list[Any] | tuple[Any, ...] = ()) -> TrainResult:
    """Train ``model`` with GRPO on ``dataset``'s prompts into ``args.output_dir``, rewards from ``rollouts``
    (a RolloutExecutor); a finished run there is loaded, an interrupted one continued."""
    from eta.rewards import reward_funcs

    funcs, _ = reward_funcs(settings.reward, rollouts, scorer)

    def build() -> Any:
        import os

        from transformers import set_seed
        from trl import GRPOTrainer

        set_seed(args.seed)  # the LoRA A matrices are drawn inside GRPOTrainer.__init__, before Trainer seeds
        rollout_func = None
        if settings.rollout == "eta":
            from eta.rl.sampler import eta_rollout

            os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is marked experimental
            rollout_func = eta_rollout(rollouts)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return GRPOTrainer(model=model, reward_funcs=funcs, args=args, train_dataset=dataset,
                           processing_class=tokenizer, rollout_func=rollout_func, callbacks=list(callbacks) or None,
                           peft_config=lora_config(lora_cfg) if settings.use_lora else None)

    return fit(build, args.output_dir, load=lambda path: load_weights(model, path), resume=resume)


SUMMARY_KEYS = ("reward", "frac_reward_zero_std", "kl", "time/execute_s", "step_time")


def summary(log_history: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """First and last logged values of the per-step GRPO metrics, for metrics.json and the report."""
    keys = [*SUMMARY_KEYS, *(f"rewards/{n}/mean" for n in names), "rollouts/passed", "exec/mean_steps",
            "completions/mean_length"]
    out: dict[str, Any] = {}
    for key in keys:
        values = [e[key] for e in log_history if isinstance(e.get(key), (int, float))]
        if values:
            name = key.replace("/", "_")
            out[f"grpo_{name}_first"], out[f"grpo_{name}_last"] = values[0], values[-1]
    return out
