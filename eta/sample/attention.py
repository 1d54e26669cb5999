"""SDPA attention for one-token decode steps of grouped-query models, without copying the KV cache.

Imported only by the sampler's functions (it needs torch and transformers at import time).

transformers' SDPA path expands the keys and values of a GQA model (SmolLM2: 3 KV heads for 9 query
heads) to one copy per query head whenever a mask is passed, i.e. at every step of a padded batch:
copying three times the whole cache per layer per step, which measured ~40% of a decode step on CPU.
A one-token query needs none of it: the query heads that share a KV head are laid out as if they were
query *positions* of that head ([rows, kv_heads, group, dim]), all attending to the same keys under the
same padding mask, and one SDPA call on the cache as it is gives the same result. In bfloat16 the call is
two matmuls instead (``_matmul_attention``): the CPU's SDPA kernel is slow for so few query rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "eta_sdpa"


def grouped_decode_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
                             value: torch.Tensor, attention_mask: torch.Tensor | None, dropout: float = 0.0,
                             scaling: float | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    groups = getattr(module, "num_key_value_groups", 1)
    rows, heads, q_len, dim = query.shape
    if q_len != 1 or groups == 1 or dropout or kwargs.get("position_bias") is not None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    grouped = query.reshape(rows, heads // groups, groups, dim)  # head h = kv_head * groups + g, as repeat_kv
    mask = attention_mask
    if mask is not None and mask.dim() == 4:
        mask = mask[:, :, -1:, :]  # [rows, 1, 1, positions]: broadcast over kv heads and group members
    if query.dtype == torch.float32 or query.device.type != "cpu":
        out = torch.nn.functional.scaled_dot_product_attention(grouped, key, value, attn_mask=mask, scale=scaling)
    else:
        out = _matmul_attention(grouped, key, value, mask, dim ** -0.5 if scaling is None else scaling)
    return out.reshape(rows, heads, 1, dim).transpose(1, 2).contiguous(), None


def _matmul_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None,
                      scaling: float) -> torch.Tensor:
    """Attention as two matmuls with the softmax in float32 (transformers' eager attention, grouped).

    For a few query rows in bfloat16 the CPU's flash-attention kernel ran at 2.6x the time of this (40 rows
    of 1000 positions, 1 thread: 6.3 ms against 2.4 ms a layer, 75% of a decode step); in float32 the two are
    even, and float32 keeps SDPA's exact results."""
    # key is a view of the cache's buffer (rows apart by its spare room): as the left operand a matmul reads
    # it in place, as the transposed right one the CPU's bfloat16 matmul copies it first
    scores = torch.matmul(key, query.transpose(-1, -2)).transpose(-1, -2).float().contiguous() * scaling
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    return torch.matmul(torch.softmax(scores, dim=-1).to(value.dtype).contiguous(), value)


AttentionInterface.register(NAME, grouped_decode_attention)
AttentionMaskInterface.register(NAME, sdpa_mask)


@contextmanager
def grouped_decoding(model: Any) -> Iterator[None]:
    """Within the block, a model that uses SDPA uses ``grouped_decode_attention`` instead."""
    config = model.config
    before = getattr(config, "_attn_implementation", None)
    if before != "sdpa":
        yield
        return
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = before
