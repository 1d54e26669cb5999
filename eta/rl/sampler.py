"""eta's sampler inside GRPO's loop: a ``rollout_func`` for TRL's GRPOTrainer (``method.rollout=eta``).

TRL 1.13 calls ``rollout_func(prompts, trainer)`` with this process's slice of the generation batch: each
prompt already repeated once per rollout (its RepeatSampler), so one completion is returned per entry. It
must return ``prompt_ids``, ``completion_ids`` and ``logprobs`` (None: TRL computes the old policy's
log-probs itself where its loss needs them). eta's engine stops at the answer's stop strings, so the
trained tokens end where the program the reward judged ends (TRL's own generate() knows no stop strings).

Rollouts are sampled in the run's sampler dtype (``sampler.dtype``, resolved as evaluation's:
``eta.sample.precision.sampler_dtype``). Where that is bfloat16 they come from a bfloat16 copy of the
policy, refreshed from the policy's current weights at every generation (``precision.copy_in``: the
parameters an optimizer step wrote, i.e. a LoRA policy's adapter weights, kept unmerged so that a refresh
copies only them; evaluation samples a merged copy instead, made once). TRL still computes the loss's
log-probs with the policy itself, so the rollouts are slightly off-policy; docs/methods.md ("GRPO's
rollouts in bfloat16") says by how much and why that is accepted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Callable


def eta_rollout(rollouts: Any, dtype: str | None = None) -> Callable[[list[str], Any], dict[str, Any]]:
    """The rollout function, sampling with the trainer's policy (in ``dtype``: None is the policy's own) as
    the run's sampler would."""

    def rollout(prompts: list[str], trainer: Any) -> dict[str, Any]:
        from eta.tasks.prompts import stop_strings

        args = trainer.args
        model = trainer.accelerator.unwrap_model(trainer.model)
        seed = int(args.seed) + 7919 * int(trainer.state.global_step) + 104729 * trainer.accelerator.process_index
        return generate(model, trainer.processing_class, prompts, seed=seed, temperature=args.temperature,
                        top_p=args.top_p, max_new_tokens=args.max_completion_length,
                        stops=_stops(rollouts, stop_strings), dtype=dtype)

    return rollout


def generate(model: Any, tokenizer: Any, prompts: Sequence[str], *, seed: int, temperature: float, top_p: float,
             max_new_tokens: int, stops: Sequence[str], dtype: str | None) -> dict[str, Any]:
    """One completion per entry of ``prompts`` (each prompt repeated once per rollout), as TRL's
    ``rollout_func`` returns them; each distinct prompt's rollouts drawn together from its one prefill."""
    from eta.sample.engine import _encode, sample

    counts = Counter(prompts)
    by_n: dict[int, list[str]] = {}
    for p in counts:
        by_n.setdefault(counts[p], []).append(p)
    generated: dict[str, list[Any]] = {}
    was_training = model.training
    model.eval()
    try:
        for n, group in by_n.items():
            for p, gens in zip(group, sample(model, tokenizer, group, n=n, temperature=temperature, top_p=top_p,
                                             max_new_tokens=max_new_tokens, stop=list(stops), seed=seed,
                                             dtype=dtype)):
                generated[p] = list(gens)
    finally:
        model.train(was_training)
    prompt_ids, completion_ids = [], []
    for p in prompts:
        g = generated[p].pop(0)
        prompt_ids.append(_encode(tokenizer, p))
        completion_ids.append(list(g.token_ids) or [tokenizer.eos_token_id])
    return {"prompt_ids": prompt_ids, "completion_ids": completion_ids, "logprobs": None}


def _stops(rollouts: Any, stop_strings: Any) -> list[str]:
    """The stop strings of the run's answers (one style and, per benchmark, one kind of task)."""
    stops: list[str] = []
    for task in rollouts.tasks.values():
        stops += stop_strings(task, rollouts.style)
    return list(dict.fromkeys([*stops, *rollouts.extra_stops]))
