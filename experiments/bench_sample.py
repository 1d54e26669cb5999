"""Useful tokens per second: ``eta.sample.sample`` against naive batched ``model.generate``.

Same model, same chat prompts (HumanEval problems through the tokenizer's chat template), same n,
temperature, top_p and max_new_tokens, one run each. A token is useful up to the end of the answer:
through the token that completes the first stop string (the ```` ``` ```` closing the code block) or the
eos token; everything ``generate`` decodes after that is waste. Prints tokens/s of both and the ratio, and
eta.sample's GFLOP/s as a share of the machine's matmul peak, measured in float32 and bfloat16 in the same run
(before and after sampling; the higher of the two measurements of each) against the faster of the two.

    .venv/bin/python experiments/bench_sample.py                  # SmolLM2-135M (the goal: ratio >= 5)
    .venv/bin/python experiments/bench_sample.py --model tiny     # quick smoke run
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def useful_tokens(tokenizer, ids: list[int], eos: set[int], stops: list[str]) -> int:
    """Tokens through the one that completes the first stop string, or through eos, else all of them."""
    from eta.sample.stops import first_stop

    end = next((i + 1 for i, t in enumerate(ids) if t in eos), len(ids))
    ids = ids[:end]
    text = tokenizer.decode(ids, skip_special_tokens=True)
    if first_stop(text, stops) < 0:
        return end
    lo, hi = 1, end  # the shortest prefix whose text holds a stop string
    while lo < hi:
        mid = (lo + hi) // 2
        if first_stop(tokenizer.decode(ids[:mid], skip_special_tokens=True), stops) >= 0:
            hi = mid
        else:
            lo = mid + 1
    return lo


def naive(model, tokenizer, prompts: list[str], args, stops: list[str]) -> tuple[int, int, float]:
    """Batched ``generate`` with ``num_return_sequences=n``: (useful tokens, decoded tokens, seconds)."""
    import torch

    from eta.sample.engine import _eos_ids

    eos = set(_eos_ids(model, tokenizer))
    per_call = max(1, args.batch_size // args.n)
    useful = decoded = 0
    tokenizer.padding_side = "left"
    start = time.perf_counter()
    for i in range(0, len(prompts), per_call):
        batch = tokenizer(prompts[i:i + per_call], return_tensors="pt", padding=True, add_special_tokens=False)
        torch.manual_seed(args.seed + i)
        with torch.inference_mode():
            out = model.generate(**batch, do_sample=True, temperature=args.temperature, top_p=args.top_p,
                                 max_new_tokens=args.max_new_tokens, num_return_sequences=args.n)
        new = out[:, batch["input_ids"].shape[1]:]
        decoded += new.numel()
        useful += sum(useful_tokens(tokenizer, row.tolist(), eos, stops) for row in new)
    return useful, decoded, time.perf_counter() - start


def ours(model, tokenizer, prompts: list[str], args, stops: list[str]) -> tuple[int, float, dict]:
    from eta.sample import sample

    start = time.perf_counter()
    gens = sample(model, tokenizer, prompts, n=args.n, temperature=args.temperature, top_p=args.top_p,
                  max_new_tokens=args.max_new_tokens, stop=stops, seed=args.seed, batch_size=args.batch_size,
                  threads=args.threads, dtype=args.sample_dtype)
    seconds = time.perf_counter() - start
    flat = [g for row in gens for g in row]
    reasons = {r: sum(g.finish_reason == r for g in flat) for r in ("stop", "eos", "length")}
    return sum(g.num_tokens for g in flat), seconds, reasons


def matmul_peak(dtype: str, size: int = 2048, reps: int = 5) -> float:
    """GFLOP/s of a ``size``^3 matmul in ``dtype`` on this process's threads: the best of ``reps`` (the
    machine's peak as far as a shared CPU lets one see it)."""
    import torch

    a = torch.randn(size, size).to(getattr(torch, dtype))
    b = torch.randn(size, size).to(getattr(torch, dtype))
    a @ b  # oneDNN picks and warms its kernel on the first call
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def flops_per_token(model) -> float:
    """A decoded token's matmul work: 2 flops per weight it multiplies (the tied embedding counted once, as
    the lm_head; attention over the context is left out, so the share below is a lower bound)."""
    return 2.0 * sum(p.numel() for p in model.parameters())


def report_share(useful: int, seconds: float, per_token: float, peaks: dict[str, float]) -> None:
    faster = max(peaks, key=peaks.get)
    achieved = useful / seconds * per_token / 1e9
    print(f"matmul peak (2048^3): " + ", ".join(f"{d} {g:.0f} GFLOP/s" for d, g in peaks.items())
          + f"; eta.sample {achieved:.1f} GFLOP/s ({per_token / 1e9:.2f} GFLOP/token) = "
          f"{achieved / peaks[faster]:.1%} of the {faster} peak", flush=True)


def chat_prompts(tokenizer, count: int) -> list[str]:
    """``count`` HumanEval problems spread over the benchmark, as chat prompts."""
    from eta.tasks import humaneval
    from eta.tasks.prompts import build_prompt

    tasks = humaneval.load()
    step = max(1, len(tasks) // count)
    return [build_prompt(t, "chat", tokenizer) for t in tasks[::step][:count]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2_135m", help="a conf/model name (default smollm2_135m)")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--max-new-tokens", type=int, default=384)
    parser.add_argument("--batch-size", type=int, default=32, help="rows decoded together, for both")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default=None,
                        help="the model's dtype, for both (default: the model config's)")
    parser.add_argument("--sample-dtype", choices=["float32", "bfloat16"], default="bfloat16",
                        help="the dtype eta.sample computes in (default bfloat16)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for both (default: all cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--skip-ours", action="store_true")
    args = parser.parse_args()

    import torch

    from eta.models import load_model, model_config
    from eta.tasks.prompts import CHAT_STOPS

    cfg = model_config(args.model)
    if args.dtype:
        cfg["dtype"] = args.dtype
    model, tokenizer = load_model(cfg)
    if args.threads:
        torch.set_num_threads(args.threads)
    prompts = chat_prompts(tokenizer, args.prompts)
    stops = list(CHAT_STOPS)
    print(f"model={args.model} dtype={cfg['dtype']} sample_dtype={args.sample_dtype} "
          f"threads={args.threads or torch.get_num_threads()} load_avg={os.getloadavg()[0]:.1f} prompts={len(prompts)} "
          f"n={args.n} T={args.temperature} top_p={args.top_p} max_new_tokens={args.max_new_tokens} "
          f"batch_size={args.batch_size} stop={stops!r}", flush=True)

    peaks = {d: matmul_peak(d) for d in ("float32", "bfloat16")}  # before and after: the load moves
    if not args.skip_ours:
        useful, seconds, reasons = ours(model, tokenizer, prompts, args, stops)
        print(f"eta.sample: {useful} useful tokens in {seconds:.1f}s = {useful / seconds:.1f} tok/s  "
              f"(finish: {reasons}; load_avg now {os.getloadavg()[0]:.1f})", flush=True)
        peaks = {d: max(g, matmul_peak(d)) for d, g in peaks.items()}
        report_share(useful, seconds, flops_per_token(model), peaks)
    if args.skip_naive:
        return
    n_useful, n_decoded, n_seconds = naive(model, tokenizer, prompts, args, stops)
    print(f"naive generate: {n_useful} useful tokens ({n_decoded} decoded) in {n_seconds:.1f}s = "
          f"{n_useful / n_seconds:.1f} tok/s", flush=True)
    if args.skip_ours:
        return
    print(f"ratio (useful tok/s, eta.sample / naive): {(useful / seconds) / (n_useful / n_seconds):.2f}x  "
          f"(load_avg now {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
