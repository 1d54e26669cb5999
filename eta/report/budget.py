"""What each arm of a comparison trains on, in rollouts, pairs and tokens, from its composed config: the
budget table of docs/comparison.md (``python -m eta.report.budget comparison comparison_cpu comparison_dpo_cpu``;
tests/test_budget.py checks that the file holds what this prints and that the budgets match).

Counted per seed, before anything runs, so every figure is an upper bound where sampling decides (a problem
with fewer distinct samples gives fewer pairs; a completion that stops early has fewer tokens):

* **steps x per step = examples**: optimizer steps and examples per step (DPO: pairs, SFT: reference
  answers, GRPO: rollouts), the same for every trained arm (``compare.budget``);
* **rollouts**: programs sampled from a policy and executed to make the arm's training signal: a DPO arm's
  pairs (and a reward model's) come from the base samples, ``sampler.n`` per training problem; GRPO samples
  its own, one per example; a GRPO arm against a reward model uses both;
* **pairs/problem**: at most, under ``prefer.composition`` (matched: ``pass_fail_pairs`` +
  ``fail_fail_pairs``, the latter only for a heuristic that orders failing programs);
* **generated tokens**: rollouts x the sampler's ``max_new_tokens``; **trained completion tokens**: examples x
  the completion tokens each example holds (DPO: chosen and rejected; GRPO: one rollout), at most.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

EXAMPLE = {"dpo": "pairs", "sft": "answers", "grpo": "rollouts"}


@dataclass(frozen=True)
class Budget:
    arm: str
    label: str
    method: str
    steps: int  # 0: the arm trains no policy (base, repair)
    per_step: int
    rollouts: int
    pairs_per_problem: int | None  # None: the arm trains on no pairs
    generated_tokens: int
    trained_tokens: int | None  # completion tokens at most; None: not sampled (SFT's references), or no training

    @property
    def examples(self) -> int:
        return self.steps * self.per_step


def _pairs_per_problem(cfg: Mapping[str, Any]) -> int:
    """At most, over every split of the problem's samples into passing and failing ones."""
    prefer, heuristic = cfg.get("prefer") or {}, cfg["heuristic"]
    n = int(cfg["sampler"]["n"]) + bool(prefer.get("include_reference"))
    orders_failing = any(c != "passed" for c in heuristic["criteria"])
    matched = prefer.get("composition", "free") == "matched"
    cap = None if matched else heuristic.get("max_pairs_per_problem")  # free: the heuristic's cap on all it decides
    pass_fail = int(prefer["pass_fail_pairs"]) if matched else n * n
    fail_fail = (int(prefer["fail_fail_pairs"]) if matched else n * n) * orders_failing
    most = max(min(pass_fail, p * (n - p)) + min(fail_fail, (n - p) * (n - p - 1) // 2) for p in range(n + 1))
    return most if cap is None else min(most, int(cap))


def arm_budget(arm: str, cfg: Mapping[str, Any]) -> Budget:
    """The budget of one arm from its resolved config (a plain dict: ``OmegaConf.to_container(resolve=True)``)."""
    method = cfg["method"]
    name = str(method["name"])
    problems = cfg["dataset"].get("limit")
    if problems is None:
        raise ValueError(f"arm {arm}: dataset.limit is null; the budget needs the number of training problems")
    new_tokens = int(cfg["sampler"]["max_new_tokens"])
    trains = name in EXAMPLE
    steps = int(method["max_steps"]) if trains else 0
    per_step = int(method["per_device_train_batch_size"]) * int(method["gradient_accumulation_steps"]) if trains else 0
    uses_rm = name == "grpo" and "rm" in str(method.get("reward"))
    base_samples = int(cfg["sampler"]["n"]) * int(problems) if name == "dpo" or uses_rm else 0
    online = steps * per_step if name == "grpo" else 0
    rollouts = base_samples + online
    pairs = _pairs_per_problem(cfg) if name == "dpo" or uses_rm else None
    completion = {"dpo": 2 * new_tokens, "grpo": int(method.get("max_completion_length") or new_tokens)}.get(name)
    trained = steps * per_step * completion if completion else None
    return Budget(arm, str(cfg.get("label") or arm), name, steps, per_step, rollouts, pairs,
                  rollouts * new_tokens, trained)


def _n(x: int | None) -> str:
    return "-" if x is None else f"{x:,}"


def table(budgets: Sequence[Budget]) -> str:
    """The markdown table of docs/comparison.md."""
    out = ["| arm | method | steps x per step = examples | rollouts | pairs/problem | generated tokens | "
           "trained completion tokens |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for b in budgets:
        examples = f"{b.steps} x {b.per_step} = {b.examples} {EXAMPLE[b.method]}" if b.steps else "-"
        out.append(f"| {b.label} | {b.method} | {examples} | {_n(b.rollouts)} | {_n(b.pairs_per_problem)} | "
                   f"{_n(b.generated_tokens)} | {_n(b.trained_tokens)} |")
    return "\n".join(out) + "\n"


def experiment_budgets(experiment: str, *overrides: str) -> list[Budget]:
    """Every arm of ``experiments/experiment/<experiment>.yaml`` (its sweep's ``arm`` list), composed."""
    import os
    from pathlib import Path

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from eta.config import register

    root = Path(__file__).resolve().parents[2]
    os.environ.setdefault("ETA_ROOT", str(root))
    register()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(root / "conf"), version_base="1.3"):
            first = compose("config", [f"experiment={experiment}", *overrides], return_hydra_config=True)
            arms = str(first.hydra.sweeper.params.arm).split(",")
            out = []
            for arm in arms:
                cfg = compose("config", [f"experiment={experiment}", f"arm={arm}", *overrides])
                out.append(arm_budget(arm, OmegaConf.to_container(cfg, resolve=True)))
            return out
    finally:
        GlobalHydra.instance().clear()


def markdown(budgets: Mapping[str, Sequence[Budget]]) -> str:
    """One table per experiment, each under a line naming it (the block docs/comparison.md holds)."""
    return "\n".join(f"`experiment={e}`, per seed:\n\n" + table(b) for e, b in budgets.items())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eta.report.budget", description=__doc__.split("\n\n")[0])
    parser.add_argument("experiments", nargs="+", help="experiment names, e.g. comparison comparison_cpu")
    args = parser.parse_args(argv)
    sys.stdout.write(markdown({e: experiment_budgets(e) for e in args.experiments}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
