"""What the local sampler computes in: ``sampler.dtype`` null (the model's own), float32, bfloat16, or auto.

``auto`` samples from a bfloat16 copy of a float32 policy where the CPU multiplies bfloat16 natively
(AVX512-BF16 or AMX), and from the policy as it is elsewhere. Measured on `make run`'s held-out problems
(docs/results.md, "bf16 sampling"): the same pass@1 and completion lengths within their intervals, at
1.6-1.9x less CPU. Without native bf16 a bfloat16 matmul is emulated and slower than float32, hence the
check. The choice depends on the machine, so a run records the resolved dtype, not ``auto``
(eta.pipeline.fingerprint), and says it in one line. GRPO's rollouts (``method.rollout=eta``) are sampled in
the same resolved dtype, from a copy that ``copy_in`` refreshes from the policy before each generation.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

AUTO = "auto"


def native_bf16() -> str | None:
    """The CPU feature that multiplies bfloat16 natively (``amx`` or ``avx512_bf16``), or None."""
    import torch

    cpu = getattr(torch, "cpu", None)
    for name, check in (("amx", "_is_amx_tile_supported"), ("avx512_bf16", "_is_avx512_bf16_supported")):
        probe = getattr(cpu, check, None)
        if probe is not None and probe():
            return name
    return None


def resolve(requested: str | None, model_dtype: str) -> tuple[str | None, str]:
    """(the dtype to sample in, None for the model's own; a line that says which and why) for ``sampler.dtype``."""
    own = f"{model_dtype}, the model's dtype"
    if requested != AUTO:
        return requested, f"{requested or own} (sampler.dtype={requested or 'null'})"
    if model_dtype != "float32":
        return None, f"{own} (sampler.dtype=auto)"
    feature = native_bf16()
    if feature is None:
        return None, f"{own} (sampler.dtype=auto; this CPU has no native bfloat16: no avx512_bf16 or amx)"
    return "bfloat16", f"bfloat16 (sampler.dtype=auto; this CPU has {feature})"


def sampler_dtype(cfg: Any) -> tuple[str | None, str]:
    """The dtype the run's local sampler computes in (None: the model's own) and why: ``sampler.dtype``
    resolved against ``model.dtype``, for evaluation, sampling and GRPO's rollouts alike."""
    from eta.config import enum_text

    requested = getattr(cfg.sampler, "dtype", None)
    return resolve(None if requested is None else str(enum_text(requested)), str(enum_text(cfg.model.dtype)))


@dataclass
class _Copy:
    model: Any  # the policy's copy in ``dtype``
    dtype: str
    layout: tuple[tuple[str, tuple[int, ...]], ...]  # the policy's parameters (name, shape) it was made from
    held: list[tuple[int, int]]  # each policy parameter's (storage, version) that the copy's value came from
    refreshed: int = 0  # parameters copied over by the last call (0: the copy was current)


_COPIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # policy -> _Copy


def copy_in(model: Any, dtype: str) -> Any:
    """``model``'s copy with its parameters in ``dtype`` (buffers such as rotary frequencies stay), made once
    and then kept current: each call first copies over what the policy may have written since. That is
    every trainable parameter (a LoRA policy's adapter weights; every weight in full fine-tuning), at every
    call: an optimizer writes them in place, and a fused one (transformers' default ``adamw_torch_fused``)
    leaves the tensors' version counters as they were, so nothing cheaper tells a written one apart. A
    frozen parameter is copied when its storage or version changed (a checkpoint loaded into it). An
    evaluation samples one policy ~8 times; GRPO samples it once per generation, between optimizer steps."""
    import copy

    import torch

    target = getattr(torch, dtype)
    params = list(model.named_parameters())
    if all(p.dtype == target for _, p in params):
        return model
    layout = tuple((name, tuple(p.shape)) for name, p in params)
    state = [(p.data_ptr(), p._version) for _, p in params]
    kept = _COPIES.get(model)
    if kept is None or kept.dtype != dtype or kept.layout != layout:  # first use, or adapters added since
        clone = copy.deepcopy(model)
        for param in clone.parameters():
            param.grad = None
            param.requires_grad_(False)  # sampled under inference_mode; never trained
            param.data = param.data.to(target)
        kept = _COPIES[model] = _Copy(clone, dtype, layout, state, refreshed=len(params))
        return clone
    stale = [i for i, (seen, (_, p)) in enumerate(zip(kept.held, params)) if p.requires_grad or state[i] != seen]
    if stale:
        theirs = list(kept.model.parameters())
        with torch.no_grad():
            for i in stale:
                theirs[i].copy_(params[i][1])  # converts to the copy's dtype
        kept.held = state
    kept.refreshed = len(stale)
    return kept.model


def last_refresh(model: Any) -> int | None:
    """Parameters the last ``copy_in(model, ...)`` copied over (all of them when it made the copy), or None."""
    kept = _COPIES.get(model)
    return None if kept is None else kept.refreshed
