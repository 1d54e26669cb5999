"""Sampling k completions per prompt from the current policy, fast on a CPU.

Engine choice. The policy being trained must be the one sampled (on-policy preference pairs, and the
evaluation of a trained policy), so the engine runs the HF model object itself, peft adapters included:
llama.cpp would need a GGUF export after every update, and vLLM/SGLang have no CPU wheels on PyPI
for this setup and would also need the weights handed over. ``model.generate`` is the baseline it replaces; on a
2-core CPU it wastes most of its work (measured in ``experiments/bench_sample.py``):

- it decodes every row until *all* rows end, although a chat model's answer is done at the ```` ``` ````
  that closes its code block: here each row stops at its first stop string (checked on incrementally
  decoded text every step) or eos, and leaves the batch (its KV rows are dropped);
- rows that leave are replaced by the next prompts (continuous batching): the batch stays full instead
  of draining to a few long rows;
- its KV cache appends with ``torch.cat`` (a copy of the whole cache per layer per step); ours writes in
  place into a buffer with spare room (``eta.sample.kv``);
- each prompt is prefilled once and its KV shared by its n samples; prompts are sorted by length and
  prefilled in groups of similar length, so little padding is computed; padding columns that no row
  needs any more are cropped;
- a GQA model's decode step attends with its query heads grouped per KV head instead of copying the
  KV cache once per query head (``eta.sample.attention``);
- top-p sorts only the 64 likeliest tokens unless a row's nucleus is wider.

Measured (``experiments/bench_sample.py --threads 1``, SmolLM2-135M, 8 HumanEval chat prompts, n=4,
T=0.8, top_p=0.95, 384 new tokens, 32 rows, on a 2-core box shared with other jobs): 34.4 useful
tokens/s against 5.0 for ``generate`` (6.8x); ``generate`` decoded 12288 tokens of which 4680 were useful.
Computing in bfloat16 (``dtype="bfloat16"``) gave 1.33x over float32 and 64 rows 1.4x over 32. With
2 threads while other jobs kept the box busy it fell to 8.9 tokens/s (OpenMP threads spin waiting
for a descheduled sibling): set ``threads=1`` or ``$ETA_THREADS=1`` on a shared machine.

Sampling is exact temperature/top-p sampling of the model's distribution (inverse CDF with a per-row
counter-based random number, see ``eta.sample.choose``), and greedy decoding (temperature 0) picks the
same tokens as ``generate`` with ``do_sample=False``.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Iterator

from eta.sample import precision
from eta.sample import stops as st
from eta.sample.choose import choose_tokens, row_uniforms


class FinishReason(str, Enum):
    STOP = "stop"  # a stop string appeared (it and what follows are cut from the text)
    EOS = "eos"  # the model ended its turn
    LENGTH = "length"  # max_new_tokens ran out


@dataclass(frozen=True)
class Generation:
    text: str  # the completion, cut before its first stop string
    num_tokens: int  # tokens generated up to and including the one that ended it (stop or eos)
    finish_reason: FinishReason
    token_ids: tuple[int, ...] = ()  # those num_tokens tokens


@dataclass
class _Row:
    prompt: int
    sample: int
    stream: st.StreamText = field(default_factory=st.StreamText)


@dataclass
class _Batch:
    cache: Any  # DynamicCache of GrowingLayers, [rows, heads, positions, dim]
    attn: Any  # [rows, positions] long: 1 where a row has a real token
    pos: Any  # [rows] long: position id of each row's next token
    logits: Any  # [rows, vocab]: the distribution of each row's next token
    rows: list[_Row]


@dataclass(frozen=True)
class _Params:
    temperature: float
    top_p: float
    max_new_tokens: int
    stop: tuple[str, ...]
    seed: int
    eos: frozenset[int]
    pad: int


DEFAULT_BATCH_ROWS = 64  # SmolLM2 on CPU: 64 rows gave 1.4x the tokens/s of 32 (bf16, 1 thread)
# Long prompts (repair: a program, its trace; up to ~5k tokens) bound the rows by memory, not batch_size:
PREFILL_TOKENS = 16_384  # prompts x longest prompt in one prefill: its attention grows with rows x length^2
PREFILL_PADDING = 0.75  # a prompt shorter than this share of a prefill's widest one is not padded into it
KV_TOKENS = 49_152  # rows x (positions + max_new_tokens) in the batch: SmolLM2's KV is 46 KB a position in fp32


def sample(model: Any, tokenizer: Any, prompts: Sequence[str], *, n: int, temperature: float, top_p: float,
           max_new_tokens: int, stop: Sequence[str] = (), seed: int = 0, batch_size: int | None = None,
           progress: bool = False, threads: int | None = None, dtype: str | None = None,
           on_done: Callable[[int, list[Generation]], None] | None = None) -> list[list[Generation]]:
    """``n`` completions of each prompt (already formatted, e.g. by the chat template), in prompt order.

    ``batch_size`` is the number of sequences decoded together (default 64); ``threads`` the torch threads
    (default: $ETA_THREADS, else every core this process may use; 1 is faster on a machine that other jobs keep busy,
    where threads that wait for a descheduled sibling cost more than they bring). ``dtype``
    ("bfloat16"/"float32", default: the model's own) runs a copy of the policy in that dtype, adapters
    included (bfloat16 matmuls are 2-4x faster on CPUs with AVX512-BF16); "auto" is bfloat16 for a float32
    policy where the CPU has native bfloat16, else the model's own (``eta.sample.precision``). Temperature 0
    is greedy: one completion per prompt, repeated n times. The same seed gives the same completions whatever
    ``batch_size`` (up to float rounding of batched matmuls). ``on_done(i, generations)`` is called as soon
    as all of prompt ``i``'s completions are done (so that a caller can keep them before the call returns).
    """
    _check_args(prompts, n, temperature, top_p, max_new_tokens, stop, batch_size, threads)
    import torch

    model = _in_dtype(model, dtype)
    from eta.sample.attention import grouped_decoding

    params = _Params(temperature, top_p, max_new_tokens, tuple(s for s in stop if s), seed,
                     _eos_ids(model, tokenizer), _pad_id(tokenizer))
    encoded = [_encode(tokenizer, p) for p in prompts]
    n_run = 1 if temperature == 0 else n
    rows_per_batch = batch_size or DEFAULT_BATCH_ROWS
    units = _units(encoded, n_run, rows_per_batch)
    results: list[list[Generation | None]] = [[None] * n_run for _ in prompts]
    left = [n_run] * len(prompts)
    bar = _progress_bar(progress, len(prompts) * n_run)
    with torch.inference_mode(), _eval_mode(model), _threads(threads), grouped_decoding(model):
        for row, gen in _decode(model, tokenizer, encoded, units, rows_per_batch, params):
            results[row.prompt][row.sample] = gen
            left[row.prompt] -= 1
            if bar is not None:
                bar.update(1)
            if on_done is not None and not left[row.prompt]:
                on_done(row.prompt, list(results[row.prompt]) * (n if n_run == 1 else 1))  # type: ignore[arg-type]
    if bar is not None:
        bar.close()
    return [list(r) * (n if n_run == 1 else 1) for r in results]  # type: ignore[arg-type]


def _check_args(prompts: Sequence[str], n: int, temperature: float, top_p: float, max_new_tokens: int,
                stop: Sequence[str], batch_size: int | None, threads: int | None) -> None:
    if isinstance(prompts, str):
        raise TypeError("sample: prompts must be a sequence of strings, not one string")
    bad = [i for i, p in enumerate(prompts) if not isinstance(p, str) or not p]
    if bad:
        raise ValueError(f"sample: prompt {bad[0]} is empty or not a string")
    if isinstance(stop, str):
        raise TypeError("sample: stop must be a sequence of strings, e.g. ['```'], not one string")
    for name, value, ok in (("n", n, n >= 1), ("temperature", temperature, temperature >= 0),
                            ("top_p", top_p, 0 < top_p <= 1), ("max_new_tokens", max_new_tokens,
                                                               max_new_tokens >= 1),
                            ("batch_size", batch_size, batch_size is None or batch_size >= 1),
                            ("threads", threads, threads is None or threads >= 1)):
        if not ok:
            raise ValueError(f"sample: {name}={value!r} is out of range")


def _in_dtype(model: Any, dtype: str | None) -> Any:
    """``model``, or its copy in ``dtype``, kept current with its weights (``eta.sample.precision.copy_in``)."""
    if dtype == precision.AUTO:
        dtype = precision.resolve(dtype, str(next(model.parameters()).dtype).removeprefix("torch."))[0]
    if dtype is None:
        return model
    if dtype not in ("float32", "bfloat16", "float16"):
        raise ValueError(f"sample: dtype={dtype!r} is not auto, float32, bfloat16 or float16")
    return precision.copy_in(model, dtype)


def _encode(tokenizer: Any, prompt: str) -> list[int]:
    # A chat template that writes the bos token itself must not get a second one from the tokenizer.
    bos = getattr(tokenizer, "bos_token", None)
    add = not (bos and prompt.startswith(bos))
    return tokenizer(prompt, add_special_tokens=add)["input_ids"]


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    ids: set[int] = set()
    config = getattr(model, "generation_config", None)
    for value in (getattr(config, "eos_token_id", None), tokenizer.eos_token_id):
        ids.update(value if isinstance(value, (list, tuple)) else [value] if value is not None else [])
    return frozenset(ids)


def _pad_id(tokenizer: Any) -> int:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return 0 if pad is None else pad


def _units(encoded: list[list[int]], n: int, rows: int) -> deque[tuple[int, list[int]]]:
    """(prompt, sample indices) work items, longest prompts first, each at most ``rows`` samples."""
    order = sorted(range(len(encoded)), key=lambda i: (-len(encoded[i]), i))
    units: deque[tuple[int, list[int]]] = deque()
    for i in order:
        for start in range(0, n, rows):
            units.append((i, list(range(start, min(n, start + rows)))))
    return units


def _decode(model: Any, tokenizer: Any, encoded: list[list[int]], units: deque[tuple[int, list[int]]],
            rows_per_batch: int, p: _Params) -> Iterator[tuple[_Row, Generation]]:
    """The decode loop: refill the batch when it is half empty, pick tokens, retire finished rows, step."""
    batch: _Batch | None = None
    while units or batch is not None:
        if units and (batch is None or len(batch.rows) <= rows_per_batch // 2):
            taken = _take(units, encoded, batch, rows_per_batch, p.max_new_tokens)
            if taken:
                batch = _join(batch, _prefill(model, encoded, taken, p.pad))
        assert batch is not None
        tokens = _choose(batch, p)
        finished = yield from _retire(tokenizer, batch, tokens, p)
        if finished:
            keep = [i for i in range(len(batch.rows)) if i not in finished]
            if not keep:
                batch = None
                continue
            _select(batch, keep)
            tokens = tokens[keep]
        _step(model, batch, tokens)


def _take(units: deque[tuple[int, list[int]]], encoded: list[list[int]], batch: _Batch | None, rows_per_batch: int,
          max_new_tokens: int) -> list[tuple[int, list[int]]]:
    """The next units that fit the batch: at most ``rows_per_batch`` rows, ``KV_TOKENS`` of cache once it has
    grown by ``max_new_tokens``, ``PREFILL_TOKENS`` in this prefill; an empty batch takes one unit whatever
    its size. Units come longest prompt first, so the first one taken is the widest of the prefill."""
    from eta.sample import kv

    rows, width = (0, 0) if batch is None else (len(batch.rows), kv.seq_len(batch.cache))
    taken: list[tuple[int, list[int]]] = []
    while units:
        prompt, samples = units[0]
        grown_rows, grown_width = rows + len(samples), max(width, len(encoded[prompt]))
        widest = len(encoded[taken[0][0] if taken else prompt])
        fits = (grown_rows <= rows_per_batch and grown_rows * (grown_width + max_new_tokens) <= KV_TOKENS
                and (len(taken) + 1) * widest <= PREFILL_TOKENS
                and len(encoded[prompt]) >= PREFILL_PADDING * widest)  # else it waits for a prefill of its own
        if not fits and (taken or batch is not None):
            break
        taken.append(units.popleft())
        rows, width = grown_rows, grown_width
    return taken


def _prefill(model: Any, encoded: list[list[int]], taken: list[tuple[int, list[int]]], pad: int) -> _Batch:
    """Run the prompts once (left-padded) and give each of their samples a copy of the prompt's KV."""
    import torch

    from eta.sample import kv

    seqs = [encoded[i] for i, _ in taken]
    width = max(len(s) for s in seqs)
    device = model.get_input_embeddings().weight.device
    ids = torch.tensor([[pad] * (width - len(s)) + s for s in seqs], device=device)
    attn = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs], device=device)
    cache = kv.new_cache()
    out = model(input_ids=ids, attention_mask=attn, position_ids=(attn.cumsum(-1) - 1).clamp(min=0),
                past_key_values=cache, use_cache=True, logits_to_keep=1)
    kv.check_layers(cache)
    expand = torch.tensor([j for j, (_, samples) in enumerate(taken) for _ in samples], device=device)
    if len(expand) != len(taken):
        cache.batch_select_indices(expand)
    rows = [_Row(prompt, s) for prompt, samples in taken for s in samples]
    return _Batch(cache, attn[expand], attn.sum(-1)[expand], out.logits[:, -1, :].float()[expand], rows)


def _join(old: _Batch | None, new: _Batch) -> _Batch:
    """One batch of both's rows: the one with the shorter cache gets empty positions on its left."""
    import torch

    from eta.sample import kv

    if old is None:
        return new
    a, b = kv.seq_len(old.cache), kv.seq_len(new.cache)
    for batch, missing in ((old, b - a), (new, a - b)):
        if missing > 0:
            kv.pad_left(batch.cache, missing)
            batch.attn = torch.cat([batch.attn.new_zeros((len(batch.rows), missing)), batch.attn], dim=1)
    kv.merge(old.cache, new.cache)
    return _Batch(old.cache, torch.cat([old.attn, new.attn]), torch.cat([old.pos, new.pos]),
                  torch.cat([old.logits, new.logits]), old.rows + new.rows)


def _choose(batch: _Batch, p: _Params) -> Any:
    u = None
    if p.temperature > 0:
        u = row_uniforms(p.seed, [(r.prompt, r.sample, len(r.stream.ids)) for r in batch.rows])
    return choose_tokens(batch.logits, p.temperature, p.top_p, u)


def _retire(tokenizer: Any, batch: _Batch, tokens: Any, p: _Params) -> Iterator[tuple[_Row, Generation]]:
    """Append each row's token; yield the rows that are done. Returns their batch indices."""
    for row, token in zip(batch.rows, tokens.tolist()):
        row.stream.ids.append(token)
    gained = st.advance(tokenizer, [r.stream for r in batch.rows]) if p.stop else [""] * len(batch.rows)
    finished: set[int] = set()
    for i, (row, piece) in enumerate(zip(batch.rows, gained)):
        at = st.find_stop(row.stream.text, len(piece), p.stop)
        ids = row.stream.ids
        if at >= 0:
            gen = Generation(row.stream.text[:at], len(ids), FinishReason.STOP, tuple(ids))
        elif ids[-1] in p.eos:
            gen = _finish(tokenizer, ids, ids[:-1], FinishReason.EOS, p.stop)
        elif len(ids) >= p.max_new_tokens:
            gen = _finish(tokenizer, ids, ids, FinishReason.LENGTH, p.stop)
        else:
            continue
        finished.add(i)
        yield row, gen
    return finished


def _finish(tokenizer: Any, ids: list[int], text_ids: list[int], reason: FinishReason,
            stop: tuple[str, ...]) -> Generation:
    text = tokenizer.decode(text_ids, skip_special_tokens=True)
    at = st.first_stop(text, stop)  # a stop whose last character was still pending in the stream
    if at >= 0:
        return Generation(text[:at], len(ids), FinishReason.STOP, tuple(ids))
    return Generation(text, len(ids), reason, tuple(ids))


def _select(batch: _Batch, keep: list[int]) -> None:
    """Drop the finished rows, and the padding columns on the left that no remaining row needs."""
    import torch

    from eta.sample import kv

    index = torch.tensor(keep, device=batch.attn.device)
    batch.cache.batch_select_indices(index)
    batch.attn, batch.pos, batch.logits = batch.attn[index], batch.pos[index], batch.logits[index]
    batch.rows = [batch.rows[i] for i in keep]
    unused = int(batch.attn.any(0).long().argmax())  # columns before the first real token of any row
    if unused:
        kv.crop_left(batch.cache, unused)
        batch.attn = batch.attn[:, unused:]


def _step(model: Any, batch: _Batch, tokens: Any) -> None:
    import torch

    batch.attn = torch.cat([batch.attn, batch.attn.new_ones((len(batch.rows), 1))], dim=1)
    out = model(input_ids=tokens[:, None], attention_mask=_step_mask(model, batch.attn),
                position_ids=batch.pos[:, None], past_key_values=batch.cache, use_cache=True)
    batch.pos = batch.pos + 1
    batch.logits = out.logits[:, -1, :].float()


def _step_mask(model: Any, attn: Any) -> Any:
    """The mask of a one-token step: none without padding; for SDPA, the 4D boolean mask itself.

    transformers would otherwise rebuild a 4D mask from the 2D one at every step (a noticeable share of
    a small model's step); SDPA takes a boolean [rows, 1, 1, positions] mask with True where it may attend.
    """
    if bool(attn.all()):
        return None
    if getattr(model.config, "_attn_implementation", None) in ("sdpa", "eta_sdpa"):
        return attn.bool()[:, None, None, :]
    return attn


@contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    """Sample without dropout, then give a policy in training back in training mode."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@contextmanager
def _threads(threads: int | None) -> Iterator[None]:
    """Use ``threads``, else $ETA_THREADS, else every core this process may use (torch's default can be
    lower); restore the old setting after."""
    import torch

    before = torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(threads or int(os.environ.get("ETA_THREADS") or 0) or cores)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _progress_bar(progress: bool, total: int) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="sample", unit="seq")
