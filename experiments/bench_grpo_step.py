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
    args = parser.parse_args()
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
