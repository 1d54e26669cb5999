"""GRPO step time on this machine: TRL's own generation against eta's sampler (``method.rollout=trl|eta``),
and the share of a step spent executing rollouts and scoring them.

    .venv/bin/python experiments/bench_grpo_step.py                         # SmolLM2, synthetic, shaped
    .venv/bin/python experiments/bench_grpo_step.py --reward rm --steps 6   # ETA-RM (trains the RM first)
    .venv/bin/python experiments/bench_grpo_step.py --model tiny --steps 2 --problems 2 --max-new-tokens 16  # check it runs

For each rollout backend it runs ``run.py``'s pipeline in-process (stages up to train; ``--reward rm``
samples, executes and pairs first and trains the reward model, none of which is timed) into a fresh
folder, and times inside ``GRPOTrainer``: the whole ``train()``, every call of ``_generate`` (rollouts:
TRL's ``generate()`` or eta's sampler through ``rollout_func``) and of ``_calculate_rewards`` (the reward
functions: executing each batch in the sandbox, then the verdict rewards or the reward model's forward).
It prints, per backend: seconds per optimizer step, generation seconds per step, execution + reward
seconds per step and their share of the step (the goal is under 10%), and completion lengths (TRL's
generate() runs past the answer's stop strings, eta's sampler does not, so equal settings give unequal
work). Timings under load are meaningless: run it on a quiet machine.

It also reports what tracing the rollouts against their references adds to a step (every run with
``execute.trace``, the default: the steps logged beside the reward, the divergence reward, and the token
credit of ``--credit divergence``), as a share of the step (issue 27's goal: at most 10%; EGCA reports 18%):
the tracer's cost (after the run, each step's distinct programs executed again untraced and traced with
value writes, alternating, on one executor pair), the alignment with the reference's run
(``eta.execute.reftraces.attach``, timed in the run) and the credit's spans (``eta.rl.credit.credit_spans``,
timed in the run). The references' own traced runs are a one-time cost per task (cached; timed into a
fresh cache here) and are reported apart.

    .venv/bin/python experiments/bench_grpo_step.py --rollouts eta --credit divergence --steps 3 --problems 4

``--rollout-dtypes`` times only the step's rollout generation (``method.rollout=eta``), at GRPO's
generation batch (``per_device_train_batch_size`` x ``gradient_accumulation_steps`` completions,
``num_generations`` per prompt), with the policy as the trainer holds it (LoRA; under accelerate's bf16
autocast where ``method.bf16`` stays on, i.e. on a CPU with native bf16) against its bfloat16 copy
(``sampler.dtype=bfloat16``, refreshed from the policy before each generation), alternating in one process.
Before each pair of generations one fused AdamW step on random gradients writes the adapter in place, as
the trainer's optimizer step does, so every bf16 generation pays its refresh; the refresh is timed apart.
It also reports how far the copy's per-token log-probabilities of its own rollouts lie from the policy's
(what TRL's loss computes them with): the rollouts' off-policy gap.

    .venv/bin/python experiments/bench_grpo_step.py --rollout-dtypes --reps 6              # SmolLM2
    .venv/bin/python experiments/bench_grpo_step.py --rollout-dtypes --model tiny --reps 2  # check it runs
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from eta.config import register

    register()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = hydra_compose("config", overrides=overrides)
    GlobalHydra.instance().clear()
    return cfg


class Timers:
    """Wall-clock totals of GRPOTrainer's train(), _generate() and _calculate_rewards(), of the alignment
    with the reference (attach), the credit's spans and the references' traced runs; the executor of the
    last run (its tasks, limits and trace options, to execute its rollouts again)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.rollouts = None

    def install(self) -> None:
        from trl import GRPOTrainer

        import eta.execute.reftraces as reftraces
        import eta.rl.credit as credit
        import eta.rl.rollouts as rollouts

        for name in ("train", "_generate", "_calculate_rewards"):
            original = getattr(GRPOTrainer, name)
            setattr(GRPOTrainer, name, self._timed(name, original))
        # looked up in their modules at each call (rollouts.py and credit.py import nothing of them by name)
        for module, name in ((reftraces, "attach"), (reftraces, "reference_traces"), (credit, "credit_spans")):
            setattr(module, name, self._timed(name, getattr(module, name)))
        from_run = rollouts.from_run

        def keep(*args, **kwargs):
            self.rollouts = from_run(*args, **kwargs)
            return self.rollouts

        rollouts.from_run = keep

    def _timed(self, name: str, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - t0
                self.calls[name] = self.calls.get(name, 0) + 1

        return wrapper

    def reset(self) -> None:
        self.totals.clear()
        self.calls.clear()


def tracing_cost(rollouts, rows: list[dict]) -> dict:
    """Seconds to execute each step's distinct rollouts untraced and traced with value writes (as the run
    did, alignment not included), the two alternating step by step on executors started beforehand."""
    from eta.execute.pool import Executor, Job

    by_step: dict = {}
    for r in rows:
        by_step.setdefault(r["step"], {})[(r["task_id"], r["code"])] = None
    totals = {"untraced": 0.0, "traced": 0.0}
    with Executor(workers=rollouts.workers, limits=rollouts.limits) as plain, \
            Executor(workers=rollouts.workers, limits=rollouts.limits, trace=rollouts.trace) as traced:
        warm = [Job.for_task(t, t.reference or "pass\n") for t in list(rollouts.tasks.values())[:2]]
        plain.map(warm), traced.map(warm)  # the fork servers up before any timing
        for i, programs in enumerate(by_step.values()):
            jobs = [Job.for_task(rollouts.tasks[t], c, key=k, test_timeouts=rollouts.test_timeouts.get(t))
                    for k, (t, c) in enumerate(programs)]
            order = [("untraced", plain), ("traced", traced)]
            for name, ex in order if i % 2 == 0 else order[::-1]:
                t0 = time.perf_counter()
                ex.map(jobs)
                totals[name] += time.perf_counter() - t0
    return totals


def run_one(rollout: str, args: argparse.Namespace, timers: Timers) -> dict:
    import os

    from eta.pipeline import run

    out = Path(tempfile.mkdtemp(prefix=f"bench-grpo-{rollout}-"))
    os.environ["ETA_CACHE_DIR"] = str(out / "cache")  # the references traced now: their one-time cost
    overrides = [f"model={args.model}", "method=grpo", f"method.reward={args.reward}", f"method.rollout={rollout}",
                 f"method.max_steps={args.steps}", "logger=none", f"dataset={args.dataset}",
                 f"dataset.limit={args.problems}", f"sampler.max_new_tokens={args.max_new_tokens}",
                 f"stages=[{args.stages}]", "eval.base=false", "+method.disable_tqdm=true",
                 "prefer.include_reference=true", f"method.credit={args.credit}", *args.override]
    timers.reset()
    run(compose(overrides), out)
    state = json.loads((out / "train" / "trainer_state.json").read_text())
    logs = [e for e in state["log_history"] if "step_time" in e]
    steps = state["global_step"]
    total = timers.totals.get("train", 0.0)
    generate = timers.totals.get("_generate", 0.0)
    reward = timers.totals.get("_calculate_rewards", 0.0)
    execute = sum(e.get("time/execute_s", 0.0) for e in logs)  # logged once per generation batch
    rows = [json.loads(line) for line in (out / "train" / "rollouts.jsonl").read_text().splitlines() if line]
    replay = tracing_cost(timers.rollouts, rows) if timers.rollouts is not None and timers.rollouts.trace else None
    added = None
    if replay is not None and total:
        seconds = (replay["traced"] - replay["untraced"] + timers.totals.get("attach", 0.0)
                   + timers.totals.get("credit_spans", 0.0))
        added = {"tracer_s": replay["traced"] - replay["untraced"], "untraced_exec_s": replay["untraced"],
                 "align_s": timers.totals.get("attach", 0.0), "credit_spans_s": timers.totals.get("credit_spans", 0.0),
                 "added_s_per_step": seconds / max(1, steps), "share": seconds / total,
                 "reference_traces_s_once": timers.totals.get("reference_traces", 0.0)}
    credit = [e for e in logs if isinstance(e.get("credit/located"), (int, float))]
    return {"rollout": rollout, "steps": steps, "s_per_step": total / max(1, steps), "trace_added": added,
            "credit_located": statistics.mean(e["credit/located"] for e in credit) if credit else None,
            "generate_s_per_step": generate / max(1, steps), "reward_s_per_step": reward / max(1, steps),
            "reward_share": reward / total if total else None, "execute_s_logged": execute,
            "median_step_time_logged": statistics.median(e["step_time"] for e in logs) if logs else None,
            "mean_completion_tokens": statistics.mean(e["completions/mean_length"] for e in logs) if logs else None,
            "generate_calls": timers.calls.get("_generate", 0), "run_dir": str(out)}


def rollout_dtypes(args: argparse.Namespace) -> dict:
    """Rollout generation at GRPO's batch, the policy in its own dtype against its refreshed bf16 copy."""
    import os
    import types

    import torch

    import eta.sample.precision as precision
    from eta.config import parse, plain_dict
    from eta.context import RunContext, load_splits
    from eta.methods import load_method
    from eta.methods.grpo import grpo_dataset
    from eta.models import load_model
    from eta.rl.sampler import _stops, generate
    from eta.tasks.prompts import stop_strings

    out = Path(tempfile.mkdtemp(prefix="bench-grpo-dtypes-"))
    conf = parse(compose([f"model={args.model}", "method=grpo", "method.rollout=eta", "logger=none",
                          f"dataset={args.dataset}", f"dataset.limit={args.problems}",
                          f"sampler.max_new_tokens={args.max_new_tokens}", *args.override]))
    grpo = load_method(conf, out)
    g = grpo.args
    run = RunContext(cfg=conf, run_dir=out)
    run.train_tasks, _ = load_splits(conf)
    model, tokenizer = load_model(plain_dict(conf.model, "model"))
    policy = model
    if grpo.peft is not None:
        from peft import get_peft_model

        policy = get_peft_model(model, grpo.peft)
    if g.bf16:  # the trainer's accelerator wraps the policy's forward in bf16 autocast (it samples through it)
        from accelerate import Accelerator

        policy = Accelerator(cpu=True, mixed_precision="bf16").prepare_model(policy)
    dataset, _ = grpo_dataset(run, tokenizer)
    prompts = list(dataset["prompt"])
    rows = g.per_device_train_batch_size * g.gradient_accumulation_steps
    per_batch = max(1, rows // g.num_generations)
    stops = _stops(types.SimpleNamespace(tasks={t.task_id: t for t in run.train_tasks}, style=run.style,
                                         extra_stops=list(conf.sampler.stop)), stop_strings)
    trainable = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=g.learning_rate, fused=True)
    refresh: list[float] = []
    copy_in = precision.copy_in

    def timed_copy(m, dtype):
        t0 = time.perf_counter()
        try:
            return copy_in(m, dtype)
        finally:
            refresh.append(time.perf_counter() - t0)

    precision.copy_in = timed_copy
    gen = torch.Generator().manual_seed(0)
    kinds = {"policy": None, "bf16 copy": "bfloat16"}
    seconds: dict[str, list[float]] = {k: [] for k in kinds}
    tokens: dict[str, list[int]] = {k: [] for k in kinds}
    last: dict = {}

    def roll(i: int, dtype: str | None) -> tuple[float, dict]:
        batch = [p for j in range(per_batch) for p in [prompts[(i * per_batch + j) % len(prompts)]] * g.num_generations]
        t0 = time.perf_counter()
        result = generate(policy, tokenizer, batch, seed=g.seed + i, temperature=g.temperature, top_p=g.top_p,
                          max_new_tokens=g.max_completion_length, stops=stops, dtype=dtype)
        return time.perf_counter() - t0, result

    t0 = time.perf_counter()
    roll(0, "bfloat16")  # warm both paths; the first bf16 call makes the copy
    made = refresh[0]
    roll(0, None)
    refresh.clear()
    print(f"warm-up {time.perf_counter() - t0:.1f} s (the bf16 copy made in {made:.3f} s)", flush=True)
    for i in range(1, args.reps + 1):
        for p in trainable:  # an optimizer step between generations, as in training
            p.grad = torch.randn(p.shape, generator=gen) * 1e-2
        optimizer.step()
        order = list(kinds) if i % 2 else list(kinds)[::-1]
        for kind in order:
            s, result = roll(i, kinds[kind])
            seconds[kind].append(s)
            tokens[kind].append(sum(len(c) for c in result["completion_ids"]))
            last[kind] = result
    precision.copy_in = copy_in
    gap = offpolicy_gap(policy, precision.copy_in(policy, "bfloat16"), last["bf16 copy"], g.temperature)
    report = {"model": args.model, "rows": rows, "prompts_per_generation": per_batch, "reps": args.reps,
              "policy_autocast_bf16": bool(g.bf16), "threads": torch.get_num_threads(),
              "eta_threads": os.environ.get("ETA_THREADS"), "copy_made_s": made,
              "refresh_s": statistics.mean(refresh) if refresh else None, "offpolicy": gap}
    for kind in kinds:
        report[kind] = {"s_per_generation": statistics.mean(seconds[kind]), "tokens": sum(tokens[kind]),
                        "tok_per_s": sum(tokens[kind]) / sum(seconds[kind])}
    return report


def offpolicy_gap(policy, copy, rollouts: dict, temperature: float) -> dict:
    """Per-token log-probabilities of the copy's rollouts under the copy (which drew them) and under the
    policy (with which TRL's loss computes them), at the sampling temperature: their mean difference (an
    estimate of KL(copy || policy) per token) and the largest."""
    import torch

    diffs = []
    for prompt_ids, completion_ids in zip(rollouts["prompt_ids"], rollouts["completion_ids"]):
        ids = torch.tensor([prompt_ids + completion_ids])
        where = torch.arange(len(prompt_ids) - 1, ids.shape[1] - 1)
        logps = []
        for model in (copy, policy):
            was = model.training
            model.eval()
            with torch.no_grad():
                logits = model(input_ids=ids).logits[0, where].float() / temperature
            model.train(was)
            logps.append(torch.log_softmax(logits, -1).gather(-1, torch.tensor(completion_ids)[:, None])[:, 0])
        diffs.append(logps[0] - logps[1])
    d = torch.cat(diffs)
    return {"tokens": d.numel(), "kl_copy_policy_per_token": d.mean().item(), "mean_abs": d.abs().mean().item(),
            "max_abs": d.abs().max().item()}


def print_dtypes(r: dict) -> None:
    import subprocess

    cpu = subprocess.run(["grep", "-o", "-m1", "-E", "avx512_bf16|amx_bf16", "/proc/cpuinfo"], capture_output=True,
                         text=True).stdout.strip() or "no native bf16 (AVX2 or older)"
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else "?"
    policy = "fp32 weights" + (" under bf16 autocast (method.bf16)" if r["policy_autocast_bf16"] else "")
    print(f"\nGRPO rollout generation, {r['model']}: {r['rows']} rollouts ({r['prompts_per_generation']} prompts), "
          f"{r['reps']} generations each, alternating; CPU {cpu}; load {' '.join(load)}; torch threads {r['threads']}")
    print(f"{'rollouts from':62} {'s/generation':>13} {'tokens':>7} {'tok/s':>7}")
    for kind, label in (("policy", f"the policy ({policy})"), ("bf16 copy", "its bf16 copy (sampler.dtype)")):
        x = r[kind]
        print(f"{label:62} {x['s_per_generation']:13.3f} {x['tokens']:7d} {x['tok_per_s']:7.1f}")
    ratio = r["bf16 copy"]["tok_per_s"] / r["policy"]["tok_per_s"]
    refresh = r["refresh_s"] or 0.0
    print(f"bf16 copy / policy: {ratio:.2f}x tok/s; the copy's refresh {1e3 * refresh:.2f} ms a generation = "
          f"{100 * refresh / r['bf16 copy']['s_per_generation']:.2f}% of it (made once in {r['copy_made_s']:.2f} s)")
    o = r["offpolicy"]
    print(f"off-policy gap over {o['tokens']} rollout tokens: mean log p_copy - log p_policy "
          f"{o['kl_copy_policy_per_token']:+.5f} nats/token (KL estimate), mean |diff| {o['mean_abs']:.5f}, "
          f"max {o['max_abs']:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2_135m")
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--reward", default="shaped")
    parser.add_argument("--rollouts", default="trl,eta", help="backends to time, comma-separated")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--problems", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--credit", default="none", help="method.credit: none | divergence")
    parser.add_argument("--stages", default="sample,execute,prefer,train",
                        help="the run's stages (a verdict reward needs only train)")
    parser.add_argument("--override", action="append", default=[], help="another Hydra override (repeatable)")
    parser.add_argument("--rollout-dtypes", action="store_true",
                        help="time rollout generation only: the policy against its refreshed bf16 copy")
    parser.add_argument("--reps", type=int, default=6, help="--rollout-dtypes: generations per dtype")
    args = parser.parse_args()
    if args.rollout_dtypes:
        report = rollout_dtypes(args)
        print_dtypes(report)
        print(json.dumps(report, indent=2))
        return
    timers = Timers()
    timers.install()
    results = [run_one(r, args, timers) for r in args.rollouts.split(",")]
    print(f"\nGRPO, {args.model}, {args.dataset} ({args.problems} problems), reward={args.reward}, credit={args.credit}, "
          f"{args.steps} steps, max_new_tokens={args.max_new_tokens}")
    print(f"{'rollout':8} {'s/step':>8} {'gen s/step':>11} {'exec+reward s/step':>19} {'share':>7} {'tokens':>7}")
    for r in results:
        share = f"{100 * r['reward_share']:.1f}%" if r["reward_share"] is not None else "-"
        tokens = f"{r['mean_completion_tokens']:.0f}" if r["mean_completion_tokens"] is not None else "-"
        print(f"{r['rollout']:8} {r['s_per_step']:8.2f} {r['generate_s_per_step']:11.2f} "
              f"{r['reward_s_per_step']:19.3f} {share:>7} {tokens:>7}")
    for r in results:
        a = r["trace_added"]
        if a is not None:
            print(f"{r['rollout']}: tracing against the references adds {a['added_s_per_step']:.3f} s/step = "
                  f"{100 * a['share']:.1f}% of the step (tracer {a['tracer_s']:.2f} s over untraced "
                  f"{a['untraced_exec_s']:.2f} s, alignment {a['align_s']:.3f} s, credit spans "
                  f"{a['credit_spans_s']:.3f} s, in all); the references' traced runs {a['reference_traces_s_once']:.2f} s "
                  f"once (goal <= 10%; EGCA 18%)")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
