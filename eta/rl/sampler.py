"""eta's sampler inside GRPO's loop: a ``rollout_func`` for TRL's GRPOTrainer (``method.rollout=eta``).

TRL 1.13 calls ``rollout_func(prompts, trainer)`` with this process's slice of the generation batch: each
prompt already repeated once per rollout (its RepeatSampler), so one completion is returned per entry. It
must return ``prompt_ids``, ``completion_ids`` and ``logprobs`` (None: TRL computes the old policy's
log-probs itself where its loss needs them). eta's engine stops at the answer's stop strings, so the
trained tokens end where the program the reward judged ends (TRL's own generate() knows no stop strings).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable


def eta_rollout(rollouts: Any) -> Callable[[list[str], Any], dict[str, Any]]:
    """The rollout function, sampling with the trainer's policy as the run's sampler would."""

    def rollout(prompts: list[str], trainer: Any) -> dict[str, Any]:
        from eta.sample.engine import _encode, sample
        from eta.tasks.prompts import stop_strings

        args, tokenizer = trainer.args, trainer.processing_class
        model = trainer.accelerator.unwrap_model(trainer.model)
        counts = Counter(prompts)
        order = list(counts)
        stops = _stops(rollouts, stop_strings)
        was_training = model.training
        model.eval()
        try:
            seed = int(args.seed) + 7919 * int(trainer.state.global_step) + 104729 * trainer.accelerator.process_index
            by_n: dict[int, list[str]] = {}
            for p in order:
                by_n.setdefault(counts[p], []).append(p)
            generated: dict[str, list[Any]] = {}
            for n, group in by_n.items():
                for p, gens in zip(group, sample(model, tokenizer, group, n=n, temperature=args.temperature,
                                                 top_p=args.top_p, max_new_tokens=args.max_completion_length,
                                                 stop=stops, seed=seed)):
                    generated[p] = list(gens)
        finally:
            model.train(was_training)
        prompt_ids, completion_ids = [], []
        for p in prompts:
            g = generated[p].pop(0)
            prompt_ids.append(_encode(tokenizer, p))
            completion_ids.append(list(g.token_ids) or [tokenizer.eos_token_id])
        return {"prompt_ids": prompt_ids, "completion_ids": completion_ids, "logprobs": None}

    return rollout


def _stops(rollouts: Any, stop_strings: Any) -> list[str]:
    """The stop strings of the run's answers (one style and, per benchmark, one kind of task)."""
    stops: list[str] = []
    for task in rollouts.tasks.values():
        stops += stop_strings(task, rollouts.style)
    return list(dict.fromkeys([*stops, *rollouts.extra_stops]))
