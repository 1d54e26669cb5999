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
    """``(summed log-prob, token count)`` of each completion given its prompt."""
    import torch

    encoded = []
    for prompt, completion in zip(prompts, completions):
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        encoded.append((p + tokenizer(completion, add_special_tokens=False)["input_ids"], len(p)))
    # batches of similar length: padding to a batch's longest row was most of the work (a held-out pair's
    # chosen and rejected differ widely in length); the answers are put back in the callers' order
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
    found: dict[int, tuple[float, int]] = {}
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        for i, got in zip(batch, _logps(model, tokenizer, [encoded[i] for i in batch], torch)):
            found[i] = got
    return [found[i] for i in range(len(encoded))]


def _logps(model: Any, tokenizer: Any, rows: Sequence[tuple[list[int], int]], torch: Any) -> list[tuple[float, int]]:
    out: list[tuple[float, int]] = []
    if rows:
        width = max(len(ids) for ids, _ in rows)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        ids = torch.tensor([r + [pad] * (width - len(r)) for r, _ in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r, _ in rows])
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        logps = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None])[..., 0]
        for i, (r, n_prompt) in enumerate(rows):
            span = logps[i, n_prompt - 1: len(r) - 1]  # the positions that predict the completion's tokens
            out.append((float(span.sum()), int(span.numel())))
    return out


def kl_to_reference(policy: Any, tokenizer: Any, samples: Sequence[dict[str, Any]]) -> dict[str, float] | None:
    """The KL estimate on ``samples`` (rows with ``prompt`` and ``response``), or None without an adapter."""
    if not hasattr(policy, "disable_adapter") or not samples:
        return None
    prompts = [s["prompt"] for s in samples]
    completions = [s.get("response", s.get("completion", "")) for s in samples]
    ours = completion_logps(policy, tokenizer, prompts, completions)
    with policy.disable_adapter():
        reference = completion_logps(policy, tokenizer, prompts, completions)
    diffs = [a - b for (a, _), (b, _) in zip(ours, reference)]
    tokens = sum(n for _, n in ours)
    return {"kl_to_reference": sum(diffs) / len(diffs), "kl_to_reference_per_token": sum(diffs) / max(tokens, 1)}
