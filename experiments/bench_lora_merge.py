"""A trained LoRA policy, unmerged against merged: scoring completions (the KL and held-out pair passes of
every trained arm's evaluation) and sampling (its held-out samples), on the CPU, side by side.

The policy is SmolLM2 with the model config's LoRA adapter (every target module, r = 16) whose B matrices are
set to seeded noise, so that it is a moved policy (speed does not depend on the values). The completions are
the merged policy's own samples of HumanEval chat prompts, as an evaluation's are. Prints each variant's
seconds per round (alternated, ``--rounds`` of each), the largest difference in a completion's summed
log-prob between the two (float rounding only: the same function), and the load.

    .venv/bin/python experiments/bench_lora_merge.py                 # 16 prompts x 4 samples, 2 rounds
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def moved_policy(model_name: str, seed: int) -> tuple[object, object]:
    import torch
    from peft import get_peft_model

    from eta.models import load_model, model_config
    from eta.train.settings import lora_config

    cfg = model_config(model_name)
    model, tokenizer = load_model(cfg)
    policy = get_peft_model(model, lora_config(cfg["lora"])).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.01)
    return policy, tokenizer


def timed(fn) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2_135m")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=192)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from bench_sample import chat_prompts  # the sampler bench's HumanEval chat prompts (this script's folder)

    from eta.sample import sample
    from eta.tasks.prompts import CHAT_STOPS
    from eta.train.drift import completion_logps, merged_copy

    policy, tokenizer = moved_policy(args.model, args.seed)
    merged = merged_copy(policy)
    prompts = chat_prompts(tokenizer, args.prompts)
    kw = dict(n=args.n, temperature=0.8, top_p=0.95, max_new_tokens=args.max_new_tokens, stop=list(CHAT_STOPS),
              seed=args.seed, batch_size=64, dtype="bfloat16")
    print(f"model={args.model} threads={torch.get_num_threads()} load_avg={os.getloadavg()[0]:.1f} "
          f"prompts={len(prompts)} n={args.n} sampler bfloat16", flush=True)
    gens = sample(merged, tokenizer, prompts, **kw)
    rows = [(p, g.text) for p, row in zip(prompts, gens) for g in row]
    ps, cs = [p for p, _ in rows], [c for _, c in rows]
    scored: dict[str, list] = {}
    for r in range(args.rounds):
        for name, model in (("unmerged", policy), ("merged", merged)):
            scored[name], seconds = timed(lambda: completion_logps(model, tokenizer, ps, cs))
            print(f"round {r}: scoring {len(rows)} completions, {name}: {seconds:.1f} s "
                  f"(load_avg {os.getloadavg()[0]:.1f})", flush=True)
    gap = max(abs(a - b) for (a, _), (b, _) in zip(scored["unmerged"], scored["merged"]))
    print(f"largest |log-prob difference| of a completion, unmerged vs merged: {gap:.2e} nats", flush=True)
    for r in range(args.rounds):
        for name, model in (("unmerged", policy), ("merged", merged)):
            out, seconds = timed(lambda: sample(model, tokenizer, prompts, **kw))
            tokens = sum(g.num_tokens for row in out for g in row)
            print(f"round {r}: sampling, {name}: {tokens} tokens in {seconds:.1f} s = {tokens / seconds:.0f} tok/s "
                  f"(load_avg {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
