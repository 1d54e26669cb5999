"""One forward per preference pair: the pair's prompt computed once and shared by its chosen and rejected
completions (``method.share_prompt``; the prefix sharing of Wang & Hegde 2024, "Accelerating Direct
Preference Optimization with Prefix Sharing").

TRL's DPO batch holds 2B rows, [chosen_0 .. chosen_{B-1}, rejected_0 .. rejected_{B-1}], each
[prompt][completion][padding] once its collator has flushed them left; the two rows of a pair start with
the same prompt, so in eta's batches (prompts of 150-200 tokens, completions of ~50) half or more of the
tokens that the policy's forward and backward and the reference's forward compute are a prompt again.

Here each pair becomes one sequence [prompt][chosen][rejected] whose positions run 0 .. p+c-1 and then
p .. p+r-1 again, under an attention mask in which a rejected token sees the prompt and the rejected tokens
before it and never the chosen: every token computes what it computes in its own row of TRL's batch (a
single forward, so it works under gradient checkpointing, which drops any KV cache). The logits go back in
TRL's (2B, L, V) layout: the packed ones at the positions that predict a completion token, the only ones
TRL reads (log-probs, entropy, logits and accuracy metrics, the SFT term all apply ``completion_mask``);
zeros elsewhere. TRL's loss code, its metrics and eta's credit weights run unchanged.

While ``sharing(modules, completion_mask)`` is open, each module's forward (the causal LM that both TRL's
policy call and its adapter-disabled reference call reach) does this. A batch it cannot share (a pair
whose prompts differ, rows not flushed left, inputs other than ids and mask, an attention kernel that takes
no custom mask) gets the module's ordinary forward, and the reason is printed once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

KERNELS = ("sdpa", "eager")  # attention implementations that take a custom 4D mask as a plain tensor
_SAID: set[str] = set()


@dataclass
class Packed:
    """A DPO batch as one sequence per pair, and where its logits go back."""

    input_ids: Any     # (B, Lp): [prompt][chosen][rejected][pad]
    position_ids: Any  # (B, Lp): 0 .. p+c-1, then p .. p+r-1
    segments: Any      # (B, Lp): 0 prompt, 1 chosen, 2 rejected, -1 pad
    rows: Any          # (n,) for each logit TRL reads: its row in TRL's batch,
    cols: Any          # its position in that row,
    pairs: Any         # its pair,
    sources: Any       # and the packed position that computes it
    shape: tuple[int, int]  # TRL's batch: rows, positions

    @property
    def first(self) -> int:
        """The first packed position whose logits are read: the columns before it need no output layer."""
        return int(self.sources.min())

    def attention_mask(self, kernel: str, dtype: Any) -> Any:
        """(B, 1, Lp, Lp): query q sees key k <= q of the prompt or of its own completion. Padding queries
        see at least themselves, so no row of the softmax is empty (NaN), and no real query sees padding."""
        import torch

        index = torch.arange(self.input_ids.shape[1], device=self.input_ids.device)
        seg_q, seg_k = self.segments[:, :, None], self.segments[:, None, :]
        allowed = (index[:, None] >= index[None, :]) & ((seg_k == 0) | (seg_k == seg_q))
        if kernel == "sdpa":
            return allowed[:, None]
        return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill_(
            ~allowed, torch.finfo(dtype).min)[:, None]

    def narrowed(self, offsets: Any, width: int) -> Packed:
        """The same batch, its logits going back to TRL's rows cut by ``narrow`` (row r from column
        ``offsets[r]``, ``width`` columns)."""
        from dataclasses import replace

        return replace(self, cols=self.cols - offsets[self.rows], shape=(self.shape[0], width))

    def unpack(self, logits: Any) -> Any:
        """The packed logits (B, Lp - first, V) in TRL's layout (2B, L, V), zeros where TRL reads none."""
        out = logits.new_zeros((*self.shape, logits.shape[-1]))
        out[self.rows, self.cols] = logits[self.pairs, self.sources - self.first]
        return out


def pack(input_ids: Any, attention_mask: Any, completion_mask: Any) -> Packed | str:
    """The batch packed one sequence per pair, or why it cannot be."""
    import torch

    rows, width = input_ids.shape
    if rows == 0 or rows % 2:
        return f"{rows} rows are not the chosen and rejected rows of pairs"
    if completion_mask.shape != input_ids.shape:
        return f"completion_mask {tuple(completion_mask.shape)} does not lie over input_ids {tuple(input_ids.shape)}"
    n = rows // 2
    mask = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    lengths = mask.sum(1)
    index = torch.arange(width, device=input_ids.device)
    if not torch.equal(mask, index < lengths[:, None]):
        return "rows are not [tokens][padding] (TRL's collator flushes them left)"
    completion = completion_mask.bool() & mask
    starts = torch.where(completion.any(1), completion.int().argmax(1), lengths)
    if not torch.equal(completion, (index >= starts[:, None]) & mask):
        return "a row's completion is not one span after its prompt"
    p = starts[:n]
    if not torch.equal(p, starts[n:]):
        return "a pair's chosen and rejected rows have prompts of different lengths"
    if not bool(((input_ids[:n] == input_ids[n:]) | (index >= p[:, None])).all()):
        return "a pair's chosen and rejected rows have different prompts"
    if not bool(completion[:, 1:].any()):  # TRL reads the logits before each completion token but the first
        return "no completion tokens after the first position"
    return _packed(input_ids, p.tolist(), (lengths[:n] - p).tolist(), (lengths[n:] - p).tolist())


@dataclass
class Narrow:
    """A DPO batch for TRL's loss code with each row cut to [its prompt's last token][completion][padding]:
    TRL reads logits only where the next token is a completion token, but computes its log-softmax,
    entropy and their backward over every position of its (2B, L, V) logits, fp32 after accelerate's
    autocast wrapper. At eta's prompt lengths most of L is prompt; the model still runs the full batch,
    packed, and its logits go back at the narrow positions."""

    packed: Packed           # the full batch packed, logits mapped to the narrow layout
    inputs: dict[str, Any]   # the batch TRL is given instead: the same keys, narrow, and the rest unchanged


def narrow(inputs: dict[str, Any], weights: Any = None) -> tuple[Narrow, Any] | str:
    """``inputs`` narrowed (see ``Narrow``) and ``weights`` (laid out as the completion mask, padded with 1)
    with them; or why the batch cannot be packed, where TRL's ordinary batch must be used."""
    import torch

    ids, mask, completion = inputs["input_ids"], inputs.get("attention_mask"), inputs["completion_mask"]
    packed = pack(ids, mask, completion)
    if isinstance(packed, str):
        return packed
    p, c, r = ((packed.segments == k).sum(1) for k in (0, 1, 2))  # each pair's prompt, chosen, rejected
    lengths = torch.cat([p + c, p + r])  # TRL's rows: every chosen, then every rejected
    offsets = (torch.cat([p, p]) - 1).clamp(min=0)  # the prompt's last token predicts the first completion token
    width = int((lengths - offsets).max())
    index = offsets[:, None] + torch.arange(width, device=ids.device)
    kept = index < lengths[:, None]
    index = index.clamp(max=ids.shape[1] - 1)

    def cut(x: Any, fill: Any) -> Any:
        return torch.where(kept, x.gather(1, index), torch.full_like(x[:, :1], fill))

    small = {**inputs, "input_ids": cut(ids, 0), "attention_mask": kept.to((ids if mask is None else mask).dtype),
             "completion_mask": cut(completion, 0)}
    return Narrow(packed.narrowed(offsets, width), small), None if weights is None else cut(weights, 1.0)


def _packed(input_ids: Any, p: list[int], c: list[int], r: list[int]) -> Packed:
    import torch

    n, width, device = len(p), input_ids.shape[1], input_ids.device
    packed_width = max(pi + ci + ri for pi, ci, ri in zip(p, c, r))
    ids = input_ids.new_zeros((n, packed_width))
    positions = torch.zeros((n, packed_width), dtype=torch.long, device=device)
    segments = torch.full((n, packed_width), -1, dtype=torch.long, device=device)
    rows, cols, pairs, sources = [], [], [], []

    def read(row: int, pair: int, col: Any, source: Any) -> None:
        rows.append(torch.full_like(col, row)), cols.append(col)
        pairs.append(torch.full_like(col, pair)), sources.append(source)

    for i, (pi, ci, ri) in enumerate(zip(p, c, r)):
        chosen_end, end = pi + ci, pi + ci + ri
        ids[i, :chosen_end] = input_ids[i, :chosen_end]
        ids[i, chosen_end:end] = input_ids[n + i, pi:pi + ri]
        positions[i, :chosen_end] = torch.arange(chosen_end, device=device)
        positions[i, chosen_end:end] = torch.arange(pi, pi + ri, device=device)
        segments[i, :pi], segments[i, pi:chosen_end], segments[i, chosen_end:end] = 0, 1, 2
        # TRL reads position t where the next token is a completion token: t in [p - 1, p + len - 1)
        chosen = torch.arange(max(pi - 1, 0), chosen_end - 1, device=device)
        read(i, i, chosen, chosen)
        rejected = torch.arange(max(pi - 1, 0), pi + ri - 1, device=device)
        read(n + i, i, rejected, torch.where(rejected < pi, rejected, rejected + ci))  # p - 1: the prompt's own
    return Packed(ids, positions, segments, torch.cat(rows), torch.cat(cols), torch.cat(pairs), torch.cat(sources),
                  (2 * n, width))


def _say_once(reason: str) -> None:
    if reason not in _SAID:
        _SAID.add(reason)
        print(f"share_prompt: the ordinary forward for a batch: {reason} (said once)", flush=True)


def _shared_forward(module: Any, plain: Callable[..., Any], completion_mask: Any,
                    narrowed: Narrow | None = None) -> Callable[..., Any]:
    import inspect

    import torch

    kernel = getattr(module.config, "_attn_implementation", None)
    keeps_logits = "logits_to_keep" in inspect.signature(plain).parameters

    def forward(*args: Any, **kwargs: Any) -> Any:
        extra = sorted(k for k, v in kwargs.items() if v is not None and k not in
                       ("input_ids", "attention_mask", "use_cache", "return_dict", "output_router_logits"))
        input_ids = kwargs.get("input_ids")
        if args or input_ids is None or extra or kwargs.get("use_cache"):
            reason = f"the model is called with {', '.join(extra) or 'positional inputs, a cache or no input_ids'}"
        elif kernel not in KERNELS:
            reason = f"attention implementation {kernel!r} (shared prompts need one of {', '.join(KERNELS)})"
        elif narrowed is not None:
            expected = narrowed.inputs["input_ids"]  # the narrow rows alone lack their prompts
            if input_ids is not expected and not (input_ids.shape == expected.shape
                                                  and torch.equal(input_ids.to(expected.device), expected)):
                raise RuntimeError("share_prompt: a model call inside a narrowed DPO batch with other input_ids")
            packed, reason = narrowed.packed, None
        else:
            packed = pack(input_ids, kwargs.get("attention_mask"), completion_mask)
            reason = packed if isinstance(packed, str) else None
        if reason is not None:
            if narrowed is not None:
                raise RuntimeError(f"share_prompt: a narrowed DPO batch cannot take the ordinary forward: {reason}")
            _say_once(reason)
            return plain(*args, **kwargs)
        keep = {"logits_to_keep": packed.input_ids.shape[1] - packed.first} if keeps_logits else {}
        outputs = plain(**{**kwargs, **keep, "input_ids": packed.input_ids, "position_ids": packed.position_ids,
                           "attention_mask": packed.attention_mask(kernel, module.dtype), "use_cache": False})
        if not keeps_logits:
            outputs.logits = outputs.logits[:, packed.first:]
        outputs.logits = packed.unpack(outputs.logits)
        return outputs

    return forward


@contextmanager
def sharing(modules: Iterable[Any], completion_mask: Any, narrowed: Narrow | None = None) -> Iterator[None]:
    """While open, each causal LM in ``modules`` runs a DPO batch whose completions ``completion_mask``
    marks with each pair's prompt once (see the module's doc); its ordinary forward where it cannot.
    With ``narrowed``, the model is called with ``narrowed.inputs`` and runs ``narrowed.packed``."""
    patched: list[tuple[Any, Any]] = []
    try:
        for module in {id(m): m for m in modules}.values():
            patched.append((module, module.__dict__.get("forward")))
            module.forward = _shared_forward(module, module.forward, completion_mask, narrowed)
        yield
    finally:
        for module, own in reversed(patched):
            if own is None:
                del module.forward
            else:
                module.forward = own
