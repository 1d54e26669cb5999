"""How far a trained policy moved from its reference: the KL divergence on the policy's own samples.

``KL(policy || reference) = E_{y ~ policy}[log p(y) - log q(y)]``, estimated on the completions the trained
policy drew for the held-out prompts (the evaluation samples, so no extra sampling): the mean over samples
of the summed per-token log-ratio, and the same per completion token. With LoRA the reference is the same
model with its adapter switched off (the base, or the previous round's policy in an iterative run), so
nothing is loaded twice. A policy without an adapter to switch off reports nothing rather than a guess.
The samples come from the sampler's temperature and top-p, not from the policy's own distribution, so this
is an estimate of ``E_{y ~ sampler}[log p(y) - log q(y)]``: close to the KL, and able to come out slightly
negative when the policy has barely moved (read a value near 0, of either sign, as "did not move").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def completion_logps(model: Any, tokenizer: Any, prompts: Sequence[str], completions: Sequence[str],
                     batch_size: int = 8) -> list[tuple[float, int]]:
    """``(summed log-prob, token count)`` of each completion given its prompt (prompt and completion tokenized
    apart, as the trainer does). Each distinct prompt is run once and its KV cache shared by the completions
    that follow it: the prompt is most of the tokens (make run's held-out samples: ~50 tokens after a prompt
    of ~150, several samples and pairs a prompt), and only the completion positions get the vocabulary's
    logits. A (prompt, completion) that repeats is scored once: held-out DPO pairs reuse each sample in
    several pairs (make run's 109 pairs hold 90 distinct completions for 218 sides)."""
    import torch

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    first_seen: dict[tuple[str, str], int] = {}
    same = [first_seen.setdefault((p, c), i) for i, (p, c) in enumerate(zip(prompts, completions))]
    out: list[tuple[float, int]] = [(0.0, 0)] * len(prompts)
    by_prompt: dict[str, list[int]] = {}
    for (prompt, _), i in first_seen.items():
        by_prompt.setdefault(prompt, []).append(i)
    with torch.no_grad():
        for prompt, rows in by_prompt.items():
            head = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            if not head:
                raise ValueError("completion_logps: a prompt with no tokens has no position to predict from")
            shared = model(input_ids=torch.tensor([head]), use_cache=True, logits_to_keep=1)
            first = torch.log_softmax(shared.logits[0, -1].float(), -1)  # each completion's first token
            for start in range(0, len(rows), batch_size):
                chunk = rows[start:start + batch_size]
                tails = [tokenizer(completions[i], add_special_tokens=False)["input_ids"] for i in chunk]
                for i, logp in zip(chunk, _tail_logps(model, shared.past_key_values, len(head), tails, first, pad)):
                    out[i] = logp
    return [out[i] for i in same]


def _tail_logps(model: Any, cache: Any, n_prompt: int, tails: list[list[int]], first: Any,
                pad: int) -> list[tuple[float, int]]:
    """The completions ``tails`` of one prompt (its KV in ``cache``), right-padded in one forward pass."""
    import copy

    import torch

    width = max(len(t) for t in tails)
    if width == 0:
        return [(0.0, 0)] * len(tails)
    ids = torch.tensor([t + [pad] * (width - len(t)) for t in tails])
    mask = torch.tensor([[1] * (n_prompt + len(t)) + [0] * (width - len(t)) for t in tails])
    rows = copy.deepcopy(cache)  # the next chunk needs the prompt's cache as it was
    rows.batch_repeat_interleave(len(tails))
    positions = torch.arange(n_prompt, n_prompt + width).expand(len(tails), -1)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=rows,
                   use_cache=True).logits.float()
    # position j predicts the completion's token j + 1
    logps = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None])[..., 0]
    return [(float(first[t[0]] + logps[r, :len(t) - 1].sum()), len(t)) if t else (0.0, 0)
            for r, t in enumerate(tails)]


def kl_to_reference(policy: Any, tokenizer: Any, samples: Sequence[dict[str, Any]], max_samples: int | None = None,
                    seed: int = 0, merged: Any = None) -> dict[str, float] | None:
    """The KL estimate on ``samples`` (rows with ``prompt`` and ``response``), or None without an adapter.
    ``max_samples``: a seeded draw of at most that many (``eval.kl_samples``): two scoring passes over every
    held-out sample cost more than sampling them at the comparison's 1,000+ samples an arm, and a mean of a
    few hundred is precise enough for a drift check; ``kl_samples`` says how many were scored. ``merged``: the
    caller's copy of ``policy`` with its adapter merged, if it has one (see ``policy_and_reference_logps``)."""
    if not hasattr(policy, "disable_adapter") or not samples:
        return None
    if max_samples is not None and len(samples) > max_samples:
        import random

        keep = sorted(random.Random(seed).sample(range(len(samples)), max_samples))
        samples = [samples[i] for i in keep]
    prompts = [s["prompt"] for s in samples]
    completions = [s.get("response", s.get("completion", "")) for s in samples]
    ours, reference = policy_and_reference_logps(policy, tokenizer, prompts, completions, merged=merged)
    diffs = [a - b for (a, _), (b, _) in zip(ours, reference)]
    tokens = sum(n for _, n in ours)
    return {"kl_to_reference": sum(diffs) / len(diffs), "kl_to_reference_per_token": sum(diffs) / max(tokens, 1),
            "kl_samples": len(diffs)}


def merged_copy(policy: Any) -> Any:
    """A copy of a LoRA ``policy`` with its adapter merged into the weights (the policy itself, untouched, if it
    has no adapter): the same function, without the adapter's extra matmuls at every layer. On the CPU an
    unmerged SmolLM2 policy scored completions 1.1-1.5x slower and sampled 1.15-1.3x slower
    (experiments/bench_lora_merge.py; docs/results.md 2026-12-08 "150 minutes")."""
    if not hasattr(policy, "merge_and_unload"):
        return policy
    import copy

    return copy.deepcopy(policy).merge_and_unload()


def policy_and_reference_logps(policy: Any, tokenizer: Any, prompts: Sequence[str], completions: Sequence[str],
                               batch_size: int = 8, merged: Any = None) -> tuple[list[tuple[float, int]],
                                                                                 list[tuple[float, int]]]:
    """``completion_logps`` under a LoRA ``policy`` and under its reference (the same model, adapter off).
    The policy's side is scored on ``merged`` (made here if not given): it differs from the adapter's
    own output only by float rounding (~1e-4 nats a completion, measured)."""
    merged = merged_copy(policy) if merged is None else merged
    ours = completion_logps(merged, tokenizer, prompts, completions, batch_size)
    with policy.disable_adapter():
        reference = completion_logps(policy, tokenizer, prompts, completions, batch_size)
    return ours, reference
