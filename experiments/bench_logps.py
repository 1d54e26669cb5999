#!/usr/bin/env python
"""Completion log-probs (the KL to the reference and the held-out pairs' implicit rewards read them) both
ways on the same samples, side by side in one process: the old padded batch of prompt + completion, full
vocabulary logits at every position, against ``eta.train.drift.completion_logps`` (each prompt run once, its
KV shared by its completions). Prints seconds (wall and CPU) of each and the largest difference in nats.

    python experiments/bench_logps.py outputs/runs/X/eval/base/sampled_samples.jsonl            # the base
    python experiments/bench_logps.py outputs/runs/X/eval/base/sampled_samples.jsonl --adapter outputs/runs/X/train
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("ETA_ROOT", str(Path(__file__).resolve().parents[1]))


def padded(model, tokenizer, prompts, completions, batch_size: int = 8) -> list[tuple[float, int]]:
    """The old way (eta/train/drift.py before issue 28's change): prompt + completion, padded, every position."""
    import torch

    out = []
    for start in range(0, len(prompts), batch_size):
        rows = []
        for prompt, completion in zip(prompts[start:start + batch_size], completions[start:start + batch_size]):
            p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            c = tokenizer(completion, add_special_tokens=False)["input_ids"]
            rows.append((p + c, len(p)))
        width = max(len(ids) for ids, _ in rows)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        ids = torch.tensor([r + [pad] * (width - len(r)) for r, _ in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r, _ in rows])
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        logps = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None])[..., 0]
        for i, (r, n_prompt) in enumerate(rows):
            span = logps[i, n_prompt - 1: len(r) - 1]
            out.append((float(span.sum()), int(span.numel())))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("samples", type=Path, help="a samples file (prompt, response per line)")
    parser.add_argument("--adapter", type=Path, help="a LoRA adapter folder (a run's train/) to score with")
    parser.add_argument("--model", default="smollm2_135m")
    args = parser.parse_args()
    from eta.models import load_model
    from eta.train.drift import completion_logps

    model, tokenizer = load_model(args.model)
    if args.adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(args.adapter))
    model.eval()
    rows = [json.loads(line) for line in args.samples.read_text().splitlines() if line.strip()]
    prompts, completions = [r["prompt"] for r in rows], [r.get("response", r.get("completion", "")) for r in rows]
    print(f"{len(rows)} samples, {len(set(prompts))} prompts; load_avg {os.getloadavg()[0]:.1f}", flush=True)
    results = {}
    for name, fn in (("shared prompt", completion_logps), ("padded (old)", padded)):
        start, cpu = time.perf_counter(), time.process_time()
        results[name] = fn(model, tokenizer, prompts, completions)
        print(f"{name}: {time.perf_counter() - start:.1f} s wall, {time.process_time() - cpu:.1f} s CPU; "
              f"load_avg {os.getloadavg()[0]:.1f}", flush=True)
    a, b = results.values()
    assert [n for _, n in a] == [n for _, n in b], "token counts differ"
    diffs = [abs(x - y) for (x, _), (y, _) in zip(a, b)]
    print(f"largest difference {max(diffs):.2e} nats (mean |logp| {sum(abs(x) for x, _ in b) / len(b):.1f})")


if __name__ == "__main__":
    main()
