"""DPO step time of SmolLM2-135M with LoRA on this machine: bf16 autocast vs fp32, precompute vs not; and
(``--floor``) a step's time against its FLOP floor.

    .venv/bin/python experiments/bench_dpo_step.py [--pairs 16] [--batch 4] [--tokens 300]
    .venv/bin/python experiments/bench_dpo_step.py --floor [--pairs 8] [--batch 4] [--share] [--model NAME]

``--floor`` (issue 28): trains ``--pairs`` MBPP pairs at their natural lengths (chosen: a task's reference,
rejected: the next task's, so lengths differ as sampled programs' do) with conf/method/dpo.yaml's settings
(LoRA, bf16 where the CPU has it natively, in-step reference), and per optimizer step counts the batch's
real (non-pad) tokens and the tokens it computes (padded), and the step's FLOP floor at the real count:

* linear layers, per real token: policy forward 2N, the backward of activations 2N (LoRA: the frozen
  weights get no gradient; the adapters' own are < 1% and not counted), reference forward 2N (adapter off):
  6N, N the base model's parameters (SmolLM2's embedding is tied to its output layer: counted once, as the
  output matmul; the embedding lookup is free);
* attention, per sequence of L real tokens: 2 * n_layer * L^2 * d per forward (Q.K^T and A.V, Kaplan et al.'s
  2 * n_layer * n_ctx * d per token), its backward twice that: 4 forwards' worth in all;

divided by the matmul peak measured in the same run (2048^3, training's dtype, the same threads). It prints
each step's share of that floor, the padding's share of the computed tokens (the most any padding-free
batching could save), and what TRL 1.13 does with ``padding_free`` (read in dpo_trainer.py: it warns and
falls back to padding) and packing (DPOConfig has none).

``--floor --narrow``: both steps shared, TRL given the full rows (the old step) or rows cut to
[prompt's last token][completion] (``eta.train.shared_prompt.narrow``, the default), alternated the same way.

``--floor --share``: eta's own padding-free step, ``method.share_prompt`` (eta.train.shared_prompt: each
pair one packed sequence, its prompt computed once), against the ordinary step on the same batches in one
training run: every batch twice in a row, once each way, the order alternating from batch to batch (ABBA),
so both see the same weights' cost, the same lengths and the same machine load. It prints each step's mode,
the tokens it computes, its share of the floor above (the ordinary step's work, the same for both), the
median per-batch ratio ordinary / shared (how many times closer to that floor sharing brings the step;
issue 28 makes it the default at >= 1.3x), and the floor at the tokens a shared step computes.

Trains ``--pairs`` MBPP-derived preference pairs of about ``--tokens`` tokens each (prompt + completion)
for one epoch with ``eta.methods.dpo.train_dpo`` in each setting, times every optimizer step with a
callback, and prints seconds per step (median, first step excluded as warm-up), the reference-log-prob
precompute time, and the bf16/fp32 speed ratio. It also prints how far reference log-probs drift with
precision and batch composition, which decides whether precomputing them is sound under bf16.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from eta.train.settings import build_args, lora_config  # noqa: E402
MBPP = Path(os.environ.get("ETA_DATA_DIR") or ROOT.parent / "shared" / "data") / "mbpp" / "sanitized-mbpp.json"


def chat_prompt(tokenizer, task: dict) -> str:
    """An MBPP task with its tests, in the chat template."""
    content = task["prompt"] + "\n" + "\n".join(task["test_list"])
    return tokenizer.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                         add_generation_prompt=True)


def build_pairs(tokenizer, n: int, tokens: int):
    """Prompt = an MBPP task in the chat template; chosen = its code (padded out with further solutions to
    reach ``tokens``); rejected = the same with its returns broken, so both sides are code of equal length."""
    from datasets import Dataset

    records = json.loads(MBPP.read_text())
    rows = []
    for i in range(n):
        task = records[i]
        prompt = chat_prompt(tokenizer, task)
        budget = tokens - len(tokenizer(prompt)["input_ids"])
        code, j = task["code"], i + 1
        while len(tokenizer(code)["input_ids"]) < budget:
            code += "\n\n" + records[j % len(records)]["code"]
            j += 1
        rows.append({"prompt": prompt, "chosen": code, "rejected": code.replace("return", "return None and")})
    return Dataset.from_list(rows)


def timed_run(model_cfg, dataset, bf16: bool, precompute: bool, batch: int):
    from transformers import TrainerCallback

    from eta.methods import dpo
    from eta.models.load import load_model

    stamps: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            stamps.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kw):
            stamps[-1] = time.perf_counter() - stamps[-1]

    model, tokenizer = load_model(model_cfg)
    cfg = {"name": "dpo", "learning_rate": 5e-5, "per_device_train_batch_size": batch, "num_train_epochs": 1,
           "bf16": bf16, "precompute_ref_log_probs": precompute, "save_steps": 10_000, "logging_steps": 1,
           "disable_tqdm": True, "max_length": 1024}
    with tempfile.TemporaryDirectory() as out:
        args = build_args(dpo.DPOArgs, cfg, out)
        t0 = time.perf_counter()
        trainer = dpo._trainer_class()(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                                       peft_config=lora_config(model_cfg["lora"]))
        init_s = time.perf_counter() - t0
        trainer.add_callback(StepTimer())
        trainer.train()
    first = trainer.state.log_history[0]
    return {"bf16": bf16, "precompute": precompute, "init_s": init_s, "steps_s": stamps,
            "step_median_s": statistics.median(stamps[1:] or stamps),
            "step1_loss": first.get("loss"), "step1_reward_chosen": first.get("rewards/chosen")}


def ref_logp_drift(model_cfg, dataset, batch: int) -> dict[str, float]:
    """Summed completion log-probs of the reference as TRL precomputes them (fp32, outside autocast), as
    eta.methods.dpo precomputes them (autocast, fp32 logits: what training's forward gives), and the latter
    with the batches formed differently (as shuffled training batches are): max |difference| in nats."""
    from trl.trainer.dpo_trainer import DPOTrainer

    from eta.methods import dpo
    from eta.models.load import load_model

    model, tokenizer = load_model(model_cfg)
    with tempfile.TemporaryDirectory() as out:
        args = build_args(dpo.DPOArgs, {"name": "dpo", "learning_rate": 1e-5, "per_device_train_batch_size": batch,
                                        "precompute_ref_log_probs": False, "disable_tqdm": True}, out)
        trainer = DPOTrainer(model=model, args=args, train_dataset=dataset,
                             processing_class=tokenizer, peft_config=lora_config(model_cfg["lora"]))
    rows = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    as_trained = dpo._AutocastFp32Logits(trainer.model, trainer.accelerator)

    def logps(order, model):
        out = {}
        for k in range(0, len(order), batch):
            idx = order[k:k + batch]
            chosen, _ = trainer.compute_ref_log_probs(model, trainer.data_collator([rows[i] for i in idx]))
            out.update({i: float(v) for i, v in zip(idx, chosen.float())})
        return out

    order = list(range(len(rows)))
    trl_fp32, ours, ours_regrouped = logps(order, trainer.model), logps(order, as_trained), \
        logps(order[1:] + order[:1], as_trained)  # shifted by one: every batch holds other pairs
    return {"trl_fp32_vs_bf16_training": max(abs(trl_fp32[i] - ours[i]) for i in order),
            "bf16_vs_bf16_other_batches": max(abs(ours[i] - ours_regrouped[i]) for i in order),
            "mean_abs_logp": statistics.mean(abs(v) for v in trl_fp32.values())}


def interleaved_ratio(model_cfg, sequences: int, tokens: int, reps: int) -> tuple[list[float], list[float]]:
    """fp32 and bf16-autocast steps alternated on one LoRA model (LoRA forward + backward + AdamW step +
    the no-grad reference forward with the adapter off), so that both see the same machine load."""
    import torch
    from peft import get_peft_model

    from eta.models.load import load_model

    model, _ = load_model(model_cfg)
    model = get_peft_model(model, lora_config(model_cfg["lora"])).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    ids = torch.randint(0, model.config.vocab_size, (sequences, tokens), generator=torch.Generator().manual_seed(0))

    def step(bf16: bool) -> float:
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=ids, use_cache=False).logits
        torch.log_softmax(logits.float(), -1)[..., 0].mean().backward()
        opt.step()
        opt.zero_grad()
        with torch.no_grad(), model.disable_adapter(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            model(input_ids=ids, use_cache=False)
        return time.perf_counter() - t

    step(False), step(True)  # warm-up
    fp32, bf16 = [], []
    for _ in range(reps):
        fp32.append(step(False))
        bf16.append(step(True))
    return fp32, bf16

def natural_pairs(tokenizer, n: int):
    """MBPP pairs at their natural lengths: chosen = task i's reference, rejected = task i+1's."""
    from datasets import Dataset

    records = json.loads(MBPP.read_text())
    rows = []
    for i in range(n):
        task = records[i]
        prompt = chat_prompt(tokenizer, task)
        rows.append({"prompt": prompt, "chosen": f"```python\n{task['code']}\n```",
                     "rejected": f"```python\n{records[i + 1]['code']}\n```"})
    return Dataset.from_list(rows)


def step_flops(n_params: int, n_layer: int, d: int, lengths: list[int]) -> float:
    """The FLOP floor of one LoRA DPO step over sequences of these real lengths (see the module's doc)."""
    return 6 * n_params * sum(lengths) + 4 * sum(2 * n_layer * length ** 2 * d for length in lengths)


def shared_step_flops(n_params: int, n_layer: int, d: int, pairs: list[tuple[int, int, int]]) -> float:
    """The floor of a shared-prompt step over pairs of (prompt, chosen, rejected) real lengths: linear layers
    at the unique tokens; attention by each token's context, as ``step_flops`` counts it (prompt tokens see
    the prompt, a completion's tokens the prompt and that completion)."""
    linear = 6 * n_params * sum(p + c + r for p, c, r in pairs)
    return linear + 4 * sum(2 * n_layer * d * (p * p + c * (p + c) + r * (p + r)) for p, c, r in pairs)


def alternated(pairs: int, batch: int):
    """The sample order of ``--share`` (every full batch twice in a row) and whether step s is shared
    (the first of a batch's two steps ordinary on even batches, shared on odd ones)."""
    order = [i for k in range(pairs // batch) for i in [*range(k * batch, (k + 1) * batch)] * 2]
    return order, lambda step: (step % 2 == 1) == ((step // 2) % 2 == 0)


def floor_report(model_cfg, pairs: int, batch: int, share: bool = False, checkpointing: bool = True,
                 narrow: bool = False) -> None:
    import torch
    from omegaconf import OmegaConf
    from transformers import TrainerCallback

    from eta.methods import dpo
    from eta.models.load import load_model
    from eta.train.settings import cpu_has_native_bf16

    model, tokenizer = load_model(model_cfg)
    config = model.config
    n_params = sum(p.numel() for p in model.parameters())  # tied embedding counted once
    dataset = natural_pairs(tokenizer, pairs)
    shipped = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "method" / "dpo.yaml"))
    keep = ("beta", "loss_type", "learning_rate", "max_length", "bf16", "precompute_ref_log_probs")
    cfg = {"name": "dpo", **{k: shipped[k] for k in keep}, "per_device_train_batch_size": batch,
           "gradient_accumulation_steps": 1, "num_train_epochs": 1, "save_steps": 10_000, "logging_steps": 1,
           "disable_tqdm": True, "gradient_checkpointing": checkpointing}
    if share:
        order, is_shared = alternated(pairs, batch)
        if not order:
            raise SystemExit(f"--share needs at least one full batch: --pairs {pairs} < --batch {batch}")
        dataset = dataset.select(order)
        cfg["train_sampling_strategy"] = "sequential"
    bf16 = bool(cfg["bf16"]) and cpu_has_native_bf16()
    from bench_sample import matmul_peak  # experiments/: this script's own folder

    peak = matmul_peak("bfloat16" if bf16 else "float32")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {model_cfg['name']} "
          f"N = {n_params / 1e6:.1f}M, "
          f"{config.num_hidden_layers} layers, d = {config.hidden_size}; gradient checkpointing "
          f"{'on' if checkpointing else 'off'}; training dtype "
          f"{'bf16 autocast' if bf16 else 'fp32'}; {2048}^3 matmul peak {peak:.0f} GFLOP/s", flush=True)
    with tempfile.TemporaryDirectory() as out:  # what TRL makes of padding_free (on the tiny model: it only asks)
        from eta.models.tiny import build_tiny_model

        tiny, tiny_tok = build_tiny_model()
        args = build_args(dpo.DPOArgs, {**cfg, "padding_free": True, "bf16": False}, out)
        probe = dpo._trainer_class()(model=tiny, args=args, train_dataset=natural_pairs(tiny_tok, 2),
                                     processing_class=tiny_tok, peft_config=lora_config(model_cfg["lora"]))
        print(f"TRL padding_free=True -> trainer.padding_free = {probe.padding_free} (TRL 1.13 falls back to "
              f"padding); DPOConfig has a packing field: {hasattr(args, 'packing')}", flush=True)
    stamps: list[float] = []
    batches: list[tuple[list[int], int]] = []  # per step: real lengths, computed (padded) tokens
    packs: list[tuple[list[tuple[int, int, int]], int]] = []  # per step, shared: (p, c, r) a pair, packed tokens

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            if narrow:  # every step shared; TRL reads full rows or rows cut to their completions
                dpo.NARROW_ROWS = is_shared(len(stamps))
            elif share:
                args.share_prompt = is_shared(len(stamps))
            stamps.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kw):
            stamps[-1] = time.perf_counter() - stamps[-1]

    with tempfile.TemporaryDirectory() as out:
        args = build_args(dpo.DPOArgs, cfg, out)
        trainer = dpo._trainer_class()(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                                       peft_config=lora_config(model_cfg["lora"]))
        collate = trainer.data_collator

        def counting(examples):
            out = collate(examples)
            batches.append((out["attention_mask"].sum(1).tolist(), out["attention_mask"].numel()))
            if share:
                packs.append(packed_sizes(out))
            return out

        trainer.data_collator = counting
        trainer.add_callback(StepTimer())
        trainer.train()
    if share:
        labels = ("full rows", "narrowed") if narrow else ("ordinary", "shared")
        shared_report(stamps, batches, packs, is_shared, peak, n_params, config, labels, narrow)
        return
    shares = []
    for i, (step_s, (lengths, computed)) in enumerate(zip(stamps, batches)):
        flops = step_flops(n_params, config.num_hidden_layers, config.hidden_size, lengths)
        floor_s = flops / (peak * 1e9)
        real = sum(lengths)
        if i:  # the first step warms up
            shares.append(floor_s / step_s)
        print(f"step {i + 1}: {step_s:6.2f}s  {len(lengths)} sequences, real tokens {real}, computed {computed} "
              f"(padding {1 - real / computed:.0%})  floor {flops / 1e12:.2f} TFLOP = {floor_s:.2f}s at the peak "
              f"-> {floor_s / step_s:.1%} of the floor's speed{'  (warm-up)' if i == 0 else ''}", flush=True)
    pads = [computed / sum(lengths) for lengths, computed in batches]
    print(f"median share of the FLOP floor (steps after the first): {statistics.median(shares or [0]):.1%}; "
          f"computed / real tokens: median {statistics.median(pads):.2f}x, max {max(pads):.2f}x (the most a "
          f"padding-free batch could bring the step closer to the floor, were the step's time all in those tokens)")


def packed_sizes(batch) -> tuple[list[tuple[int, int, int]], int]:
    """(prompt, chosen, rejected) real lengths of each pair of a TRL batch, and the tokens its packed batch
    computes (pairs x the longest packed sequence)."""
    from eta.train.shared_prompt import pack

    packed = pack(batch["input_ids"], batch["attention_mask"], batch["completion_mask"])
    if isinstance(packed, str):
        raise SystemExit(f"--share: this batch cannot be shared: {packed}")
    segments = packed.segments
    sizes = [tuple(int((row == k).sum()) for k in (0, 1, 2)) for row in segments]
    return sizes, segments.numel()


def shared_report(stamps, batches, packs, is_shared, peak: float, n_params: int, config,
                  labels: tuple[str, str] = ("ordinary", "shared"), narrow: bool = False) -> None:
    """Each step of ``--floor --share`` against the floor, and the per-batch ordinary / shared ratio (with
    ``--narrow``: both shared, TRL reading full rows / rows cut to their completions)."""
    layers, d = config.num_hidden_layers, config.hidden_size
    by_batch: dict[int, dict[bool, float]] = {}
    for i, (step_s, (lengths, computed), (pairs, packed)) in enumerate(zip(stamps, batches, packs)):
        shared = is_shared(i)
        floor_s = step_flops(n_params, layers, d, lengths) / (peak * 1e9)
        own_s = shared_step_flops(n_params, layers, d, pairs) / (peak * 1e9) if shared or narrow else floor_s
        by_batch.setdefault(i // 2, {})[shared] = step_s
        print(f"step {i + 1} (batch {i // 2 + 1}, {labels[shared]:9}): {step_s:6.2f}s  real "
              f"tokens {sum(lengths)}, computed {packed if shared or narrow else computed}  floor {floor_s:.2f}s -> "
              f"{floor_s / step_s:.1%} of the floor's speed; floor at its unique tokens {own_s:.2f}s"
              f"{'  (warm-up)' if i < 2 else ''}", flush=True)
    timed = [b for k, b in by_batch.items() if k and len(b) == 2]  # the first batch warms up
    if not timed:
        print("no timed batch after the warm-up: raise --pairs")
        return
    ratios = [b[False] / b[True] for b in timed]
    ordinary, shared = (statistics.median(b[s] for b in timed) for s in (False, True))
    verdict = "meets" if statistics.median(ratios) >= 1.3 else "misses"
    print(f"{len(timed)} batches after the warm-up: {labels[0]} step median {ordinary:.2f}s, {labels[1]} "
          f"{shared:.2f}s; {labels[0]} / {labels[1]} per batch: median {statistics.median(ratios):.2f}x (min "
          f"{min(ratios):.2f}, max {max(ratios):.2f}); sums {sum(b[False] for b in timed):.1f}s / "
          f"{sum(b[True] for b in timed):.1f}s" + ("" if narrow else f": {verdict} issue 28's 1.3x"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--skip-drift", action="store_true")
    parser.add_argument("--floor", action="store_true", help="a step's time against its FLOP floor (see the doc)")
    parser.add_argument("--share", action="store_true",
                        help="with --floor: ordinary and shared-prompt steps alternated on the same batches")
    parser.add_argument("--narrow", action="store_true",
                        help="with --floor --share: every step shared, TRL reading full rows or rows cut to "
                             "their completions, alternated on the same batches")
    parser.add_argument("--no-checkpointing", action="store_true",
                        help="with --floor: gradient checkpointing off (dpo.yaml leaves TRL's default, on)")
    parser.add_argument("--model", default="smollm2_135m", help="a conf/model name (tiny: to try the bench)")
    parser.add_argument("--interleaved", type=int, default=0, metavar="REPS",
                        help="only time REPS alternated fp32/bf16 steps of 2*batch sequences (fair under load)")
    args = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch

    from eta.models.load import load_model, model_config

    model_cfg = model_config(args.model)
    if args.share and not args.floor:
        parser.error("--share goes with --floor")
    if args.floor:
        floor_report(model_cfg, args.pairs, args.batch, args.share or args.narrow, not args.no_checkpointing,
                     args.narrow)
        return
    if args.interleaved:
        fp32, bf16 = interleaved_ratio(model_cfg, 2 * args.batch, args.tokens, args.interleaved)
        print(f"interleaved, {2 * args.batch} sequences x {args.tokens} tokens: fp32 {[round(x, 1) for x in fp32]}s, "
              f"bf16 {[round(x, 1) for x in bf16]}s; fp32/bf16 median ratio "
              f"{statistics.median(fp32) / statistics.median(bf16):.2f}")
        return
    _, tokenizer = load_model(model_cfg)
    dataset = build_pairs(tokenizer, args.pairs, args.tokens)
    lengths = [len(tokenizer(r["prompt"] + r["chosen"])["input_ids"]) for r in dataset]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.pairs} pairs, batch {args.batch}, "
          f"prompt+chosen tokens min/median/max {min(lengths)}/{statistics.median(lengths)}/{max(lengths)}")
    results = []
    for bf16 in (False, True):
        for precompute in (False, True):
            r = timed_run(model_cfg, dataset, bf16, precompute, args.batch)
            results.append(r)
            print(f"bf16={bf16!s:5} precompute={precompute!s:5} init {r['init_s']:6.1f}s  step median "
                  f"{r['step_median_s']:6.1f}s  steps {[round(s, 1) for s in r['steps_s']]}  "
                  f"step-1 loss {r['step1_loss']:.4f} reward/chosen {r['step1_reward_chosen']:+.4f}", flush=True)
    by = {(r["bf16"], r["precompute"]): r for r in results}
    for pre in (False, True):
        ratio = by[(False, pre)]["step_median_s"] / by[(True, pre)]["step_median_s"]
        print(f"precompute={pre}: fp32 step / bf16 step = {ratio:.2f}")
    for bf16 in (False, True):
        total = {p: by[(bf16, p)]["init_s"] + sum(by[(bf16, p)]["steps_s"]) for p in (False, True)}
        print(f"bf16={bf16}: one epoch incl. init, no precompute {total[False]:.1f}s vs precompute {total[True]:.1f}s")
    if not args.skip_drift:
        drift = ref_logp_drift(model_cfg, dataset, args.batch)
        print("reference log-prob drift (nats, summed over the completion): " +
              ", ".join(f"{k} {v:.3f}" for k, v in drift.items()))


if __name__ == "__main__":
    main()
