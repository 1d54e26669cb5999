"""GRPO step time on this machine: TRL's own generation against eta's sampler (``method.rollout=trl|eta``),
and the share of a step spent executing rollouts and scoring them.

    .venv/bin/python experiments/bench_grpo_step.py                         # SmolLM2, synthetic, shaped
    .venv/bin/python experiments/bench_grpo_step.py --reward rm --steps 6   # ETA-RM (trains the RM first)
    .venv/bin/python experiments/bench_grpo_step.py --model tiny --steps 2 --problems 2 --max-new-tokens 16  # check it runs

For each rollout backend it runs ``run.py``'s pipeline in-process (stages up to train; ``--reward rm``
samples, executes and pairs first and trains the reward model, none of which is timed) into a fresh
folder, and times inside ``GRPOTrainer``: the whole ``train()``, every call of ``_generate`` (rollouts:
TRL's ``generate()`` or eta's sampler through ``rollout_func``) and of ``_calculate_rewards`` (the reward
functions: executing each batch in the sandbox, then the verdict rewards or the reward model's forward).
It prints, per backend: seconds per optimizer step, generation seconds per step, execution + reward
seconds per step and their share of the step (the goal is under 10%), and completion lengths (TRL's
generate() runs past the answer's stop strings, eta's sampler does not, so equal settings give unequal
work). Timings under load are meaningless: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from eta.config import register

    register()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = hydra_compose("config", overrides=overrides)
    GlobalHydra.instance().clear()
    return cfg


class Timers:
    """Wall-clock totals of GRPOTrainer's train(), _generate() and _calculate_rewards()."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def install(self) -> None:
        from trl import GRPOTrainer

        for name in ("train", "_generate", "_calculate_rewards"):
            original = getattr(GRPOTrainer, name)
            setattr(GRPOTrainer, name, self._timed(name, original))

    def _timed(self, name: str, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - t0
                self.calls[name] = self.calls.get(name, 0) + 1

        return wrapper

    def reset(self) -> None:
        self.totals.clear()
        self.calls.clear()


def run_one(rollout: str, args: argparse.Namespace, timers: Timers) -> dict:
    from eta.pipeline import run

    out = Path(tempfile.mkdtemp(prefix=f"bench-grpo-{rollout}-"))
    overrides = [f"model={args.model}", "method=grpo", f"method.reward={args.reward}", f"method.rollout={rollout}",
                 f"method.max_steps={args.steps}", "logger=none", f"dataset={args.dataset}",
                 f"dataset.limit={args.problems}", f"sampler.max_new_tokens={args.max_new_tokens}",
                 "stages=[sample,execute,prefer,train]", "eval.base=false", "+method.disable_tqdm=true",
                 "prefer.include_reference=true", *args.override]
    timers.reset()
    run(compose(overrides), out)
    state = json.loads((out / "train" / "trainer_state.json").read_text())
    logs = [e for e in state["log_history"] if "step_time" in e]
    steps = state["global_step"]
    total = timers.totals.get("train", 0.0)
    generate = timers.totals.get("_generate", 0.0)
    reward = timers.totals.get("_calculate_rewards", 0.0)
    execute = sum(e.get("time/execute_s", 0.0) for e in logs)  # logged once per generation batch
    return {"rollout": rollout, "steps": steps, "s_per_step": total / max(1, steps),
            "generate_s_per_step": generate / max(1, steps), "reward_s_per_step": reward / max(1, steps),
            "reward_share": reward / total if total else None, "execute_s_logged": execute,
            "median_step_time_logged": statistics.median(e["step_time"] for e in logs) if logs else None,
            "mean_completion_tokens": statistics.mean(e["completions/mean_length"] for e in logs) if logs else None,
            "generate_calls": timers.calls.get("_generate", 0), "run_dir": str(out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2_135m")
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--reward", default="shaped")
    parser.add_argument("--rollouts", default="trl,eta", help="backends to time, comma-separated")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--problems", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--override", action="append", default=[], help="another Hydra override (repeatable)")
    args = parser.parse_args()
    timers = Timers()
    timers.install()
    results = [run_one(r, args, timers) for r in args.rollouts.split(",")]
    print(f"\nGRPO, {args.model}, {args.dataset} ({args.problems} problems), reward={args.reward}, "
          f"{args.steps} steps, max_new_tokens={args.max_new_tokens}")
    print(f"{'rollout':8} {'s/step':>8} {'gen s/step':>11} {'exec+reward s/step':>19} {'share':>7} {'tokens':>7}")
    for r in results:
        share = f"{100 * r['reward_share']:.1f}%" if r["reward_share"] is not None else "-"
        tokens = f"{r['mean_completion_tokens']:.0f}" if r["mean_completion_tokens"] is not None else "-"
        print(f"{r['rollout']:8} {r['s_per_step']:8.2f} {r['generate_s_per_step']:11.2f} "
              f"{r['reward_s_per_step']:19.3f} {share:>7} {tokens:>7}")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
