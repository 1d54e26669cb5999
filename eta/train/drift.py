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


# Causal LMs whose logits are the last hidden state times ``lm_head``, nothing after it (no soft-capping or
# scaling): for them only the completion's positions go through the head.
PLAIN_HEAD = frozenset({"llama", "mistral", "qwen2", "qwen3", "starcoder2"})


def _body_and_head(model: Any) -> tuple[Any, Any] | None:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    body, head = getattr(base, "model", None), getattr(base, "lm_head", None)
    kind = getattr(getattr(base, "config", None), "model_type", None)
    return (body, head) if body is not None and head is not None and kind in PLAIN_HEAD else None


def _logps(model: Any, tokenizer: Any, rows: Sequence[tuple[list[int], int]], torch: Any,
           split: bool = True) -> list[tuple[float, int]]:
    if not rows:
        return []
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.tensor([r + [pad] * (width - len(r)) for r, _ in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r, _ in rows])
    spans = [(i, n_prompt - 1, len(r) - 1) for i, (r, n_prompt) in enumerate(rows)]  # positions predicting the completion
    parts = _body_and_head(model) if split else None
    with torch.no_grad():
        if parts is None:
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
            logps = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None])[..., 0]
            return [(float(logps[i, a:b].sum()), b - a) for i, a, b in spans]
        # the vocabulary projection and its softmax on the completion's positions only: the prompt's, most of a
        # row, were a fifth of the model's work and most of the memory traffic
        hidden = parts[0](input_ids=ids, attention_mask=mask).last_hidden_state
        picked = torch.cat([hidden[i, a:b] for i, a, b in spans])
        targets = torch.cat([ids[i, a + 1:b + 1] for i, a, b in spans])
        token_logps = torch.log_softmax(parts[1](picked).float(), -1).gather(-1, targets[:, None])[:, 0]
    sizes = [b - a for _, a, b in spans]
    return [(float(chunk.sum()), n) for chunk, n in zip(torch.split(token_logps, sizes), sizes)]


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
