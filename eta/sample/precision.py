"""What the local sampler computes in: ``sampler.dtype`` null (the model's own), float32, bfloat16, or auto.

``auto`` samples from a bfloat16 copy of a float32 policy where the CPU multiplies bfloat16 natively
(AVX512-BF16 or AMX), and from the policy as it is elsewhere. Measured on `make run`'s held-out problems
(docs/results.md, "bf16 sampling"): the same pass@1 and completion lengths within their intervals, at
1.6-1.9x less CPU. Without native bf16 a bfloat16 matmul is emulated and slower than float32, hence the
check. The choice depends on the machine, so a run records the resolved dtype, not ``auto``
(eta.pipeline.fingerprint), and says it in one line.
"""

from __future__ import annotations

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
