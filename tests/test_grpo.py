"""method=grpo: the reward registry, one execution per rollout, LoRA moves, the trainer's rewards are the
executed verdicts', ETA-RM end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_py

from eta import rewards
from eta.errors import ConfigError
from eta.execute.outcome import Outcome
from eta.execute.result import ExecutionResult, TestResult
from eta.tasks.schema import CompletionMode, Task, TestCase


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- the registry --------------------------------------------------------------------------------------

def test_a_reward_spec_is_a_name_a_mapping_or_a_list():
    assert rewards.parse_reward("shaped") == [("shaped", 1.0)]
    assert rewards.parse_reward({"shaped": 1.0, "rm": 0.5}) == [("shaped", 1.0), ("rm", 0.5)]
    assert rewards.parse_reward(["binary", {"pass_rate": 2}]) == [("binary", 1.0), ("pass_rate", 2.0)]


@pytest.mark.parametrize("spec, message", [
    ("nope", "method.reward: unknown reward 'nope'; known rewards: binary, divergence, pass_rate, rm, shaped"),
    ({"shaped": "high"}, "the weight of 'shaped' must be a number"),
    (["shaped", "shaped"], "reward 'shaped' is named twice"),
    ([], "names no reward"),
    (3, "expected a reward name"),
])
def test_a_bad_reward_spec_fails_in_one_line(spec, message):
    with pytest.raises(ConfigError) as e:
        rewards.parse_reward(spec)
    assert message in str(e.value) and "\n" not in str(e.value)


class FakeExecutor:
    """The RolloutExecutor's interface over given verdicts; counts how often a batch is executed."""

    def __init__(self, verdicts):
        from eta.rl.rollouts import RolloutExecutor

        self.inner = RolloutExecutor([], style="chat", prompts={})
        self.verdicts, self.calls = verdicts, 0

        def execute(task_ids, codes):
            self.calls += 1
            return [self.verdicts[c] for c in codes]

        self.inner._execute = execute
        self.inner.code = lambda task_id, completion: completion

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_every_function_reads_one_execution_of_the_batch_and_infra_errors_are_masked():
    half = [TestResult(0, Outcome.PASSED), TestResult(1, Outcome.WRONG_ANSWER)]
    verdicts = {"ok": ExecutionResult(outcome=Outcome.PASSED, tests_total=2, tests=[TestResult(i, Outcome.PASSED)
                                                                                     for i in range(2)]),
                "half": ExecutionResult(outcome=Outcome.WRONG_ANSWER, tests_total=2, tests=half),
                "bad": ExecutionResult(outcome=Outcome.SYNTAX_ERROR, tests_total=2, hacks=["early_exit"]),
                "infra": ExecutionResult(outcome=Outcome.INFRA_ERROR, tests_total=2)}
    ex = FakeExecutor(verdicts)
    funcs, weights = rewards.reward_funcs({"shaped": 1.0, "binary": 0.5, "pass_rate": 1.0}, ex)
    assert [f.__name__ for f in funcs] == ["shaped", "binary", "pass_rate"] and weights == [1.0, 0.5, 1.0]
    logged = {}
    batch = dict(completions=["ok", "half", "bad", "infra"], task_id=["T"] * 4, log_metric=logged.__setitem__)
    got = [f(**batch) for f in funcs]
    assert ex.calls == 1  # three functions, one execution
    assert got == [[1.0, -0.3, -1.0, None], [1.0, 0.0, 0.0, None], [1.0, 0.5, 0.0, None]]
    assert logged["rollouts/passed"] == 0.25 and logged["rollouts/infra_error"] == 0.25
    # attempts on the harness, per step, over the judged rollouts (eta.execute.hacks)
    assert logged["hacking/attempt_rate"] == pytest.approx(1 / 3) and logged["hacking/early_exit"] == pytest.approx(1 / 3)
    funcs[0](**dict(batch, completions=["bad", "ok", "ok"]))
    assert ex.calls == 2  # a new batch is executed again


def test_the_rm_reward_scores_code_and_verdict_and_masks_infra_errors():
    class Scorer:
        seen = []

        def score(self, prompts, codes, executions):
            self.seen += codes
            return [float(len(c)) + (e.outcome is Outcome.PASSED) for c, e in zip(codes, executions)]

    verdicts = {"ok": ExecutionResult(outcome=Outcome.PASSED, tests_total=1),
                "infra": ExecutionResult(outcome=Outcome.INFRA_ERROR, tests_total=1)}
    ex = FakeExecutor(verdicts)
    ex.inner.prompts = {"T": "write f"}
    scorer = Scorer()
    (rm,), _ = rewards.reward_funcs("rm", ex, scorer)
    assert rm(completions=["ok", "infra", "ok"], task_id=["T", "T", "T"]) == [3.0, None, 3.0]
    assert scorer.seen == ["ok"]  # a repeated program is scored once, an infra error never
    with pytest.raises(ConfigError):
        rewards.reward_funcs("rm", ex, None)


def test_a_users_reward_by_dotted_path_scores_each_verdict(tmp_path, monkeypatch):
    (tmp_path / "my_rewards.py").write_text("def tests_left(result):\n"
                                            "    return float(result.tests_total - result.tests_passed)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    verdicts = {"ok": ExecutionResult(outcome=Outcome.PASSED, tests_total=2,
                                      tests=[TestResult(i, Outcome.PASSED) for i in range(2)]),
                "bad": ExecutionResult(outcome=Outcome.WRONG_ANSWER, tests_total=2,
                                       tests=[TestResult(i, Outcome.WRONG_ANSWER) for i in range(2)])}
    for spec in ("my_rewards:tests_left", "my_rewards.tests_left"):
        parsed = rewards.parse_reward([{spec: 0.5}, "shaped"])
        assert parsed == [(spec, 0.5), ("shaped", 1.0)] and parsed[0].label == "tests_left" and parsed[0].reads_trace
        ex = FakeExecutor(verdicts)
        funcs, weights = rewards.reward_funcs(parsed, ex)
        assert [f.__name__ for f in funcs] == ["tests_left", "shaped"] and weights == [0.5, 1.0]
        assert funcs[0](completions=["ok", "bad"], task_id=["T", "T"]) == [0.0, 2.0]
        assert funcs[1](completions=["ok", "bad"], task_id=["T", "T"]) == [1.0, -0.3] and ex.calls == 1
    for spec, message in (("my_rewards:nope", "my_rewards has no function 'nope'"),
                          ("no_such_pkg.rewards:f", "cannot import 'no_such_pkg.rewards'")):
        with pytest.raises(ConfigError, match=message):
            rewards.parse_reward(spec)
    with pytest.raises(ConfigError, match="reward 'tests_left' is named twice"):
        rewards.parse_reward(["my_rewards:tests_left", "my_rewards.tests_left"])


def test_grpo_args_parse_the_reward_once_with_a_dotted_path(tmp_path, monkeypatch, compose):
    pytest.importorskip("trl")
    from eta.methods import load_method

    (tmp_path / "my_rewards.py").write_text("def tests_left(result):\n    return 0.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    args = load_method(compose(GRPO, "method.reward={shaped: 1.0, my_rewards.tests_left: 0.25}"), tmp_path).args
    assert args.rewards == [("shaped", 1.0), ("my_rewards.tests_left", 0.25)] and args.names == ["shaped", "tests_left"]
    assert args.reward_weights == [1.0, 0.25] and args.output_dir == str(tmp_path.resolve() / "train")


# -- the method's config ---------------------------------------------------------------------------------

GRPO = "method=grpo"


def test_grpo_config_composes_with_a_kl_anchor_and_the_needs_follow_the_reward(compose):
    pytest.importorskip("trl")
    from eta.methods import load_method
    cfg = compose(GRPO)
    method = load_method(cfg)
    assert method.needs is None and method.trains_policy and "execute" in method.keys
    args = method.args
    assert args.beta > 0 and args.temperature == cfg.sampler.temperature and args.reward_weights == [1.0]
    assert load_method(compose(GRPO, "method.reward=rm")).needs == "prefer"  # ETA-RM trains on the pairs first
    args = load_method(compose(GRPO, "+method.reward={shaped:1.0,rm:0.5}")).args
    assert args.reward_weights == [1.0, 0.5]


@pytest.mark.parametrize("override, message", [
    ("method.reward=nope", "method.reward: unknown reward 'nope'; known rewards: binary, divergence, pass_rate, rm, shaped"),
    ("method.rollout=vllm", "rollout must be one of trl, eta"),
    ("+method.reward_weights=[1.0]", "method.reward_weights: set the weights in method.reward"),
    ("+method.bta=0.1", "method.bta: not a key of method 'grpo' nor a field of trl.GRPOConfig"),
    ("method.reward=rm +method.rm.max_stps=3", "method.max_stps: not a key of method 'rm'"),
])
def test_a_bad_grpo_setting_fails_in_one_line(compose, override, message):
    pytest.importorskip("trl")
    from eta.methods import load_method

    with pytest.raises(ConfigError) as e:
        load_method(compose(GRPO, *override.split()))
    assert message in str(e.value) and "\n" not in str(e.value)


# -- training (tiny model, in process) --------------------------------------------------------------------

def lottery_tasks(n=2):
    """Programs whose verdict a random one-token completion decides (a new top-level line): a digit or a
    blank passes, a letter is a NameError, a stray byte a syntax error; so a random policy's groups differ."""
    return [Task(task_id=f"L/{i}", prompt=f"def f():\n    return {i + 1}\n", reference="",
                 tests=(TestCase(code=f"assert f() == {i + 1}"),), entry_point="f",
                 completion_mode=CompletionMode.APPEND, dataset="lottery") for i in range(n)]


@pytest.fixture
def grpo_run(tmp_path, compose):
    pytest.importorskip("trl")
    from eta.context import RunContext

    cfg = compose(GRPO, "model=tiny", "logger=none", "dataset.prompt_style=completion", "dataset.test_time_floor_s=null",
                  "method.max_steps=3", "method.learning_rate=0.05", "method.max_completion_length=1",
                  "method.temperature=1.5", "method.bf16=false", "method.per_device_train_batch_size=4",
                  "method.gradient_accumulation_steps=1", "method.num_generations=4", "+method.disable_tqdm=true",
                  "method.warmup_steps=0", "execute.workers=1")
    return RunContext(cfg=cfg, run_dir=tmp_path, train_tasks=lottery_tasks())


def test_grpo_moves_lora_and_the_trainer_gets_the_executed_verdicts_rewards(grpo_run):
    import torch

    from eta.execute.pool import Executor, Job
    from eta.methods import load_method
    from eta.models.load import load_model

    model, tokenizer = load_model(dict(grpo_run.cfg.model))
    result = load_method(grpo_run.cfg).train(grpo_run, model, tokenizer)
    assert result.steps == 3
    lora_b = [p for n, p in result.model.named_parameters() if "lora_B" in n]
    assert lora_b and any(torch.count_nonzero(p) > 0 for p in lora_b)  # B starts at zero: it moved

    record = rows(grpo_run.run_dir / "train" / "rollouts.jsonl")
    assert len(record) == 3 * 4 and {r["task_id"] for r in record} <= {"L/0", "L/1"}
    tasks = {t.task_id: t for t in grpo_run.train_tasks}
    with Executor(workers=1) as ex:  # the verdicts again, from scratch
        again = ex.map([Job.for_task(tasks[r["task_id"]], r["code"]) for r in record])
    for row, verdict in zip(record, again):
        assert row["outcome"] == verdict.outcome.value
        assert row["rewards"]["shaped"] == rewards.SHAPED[verdict.outcome]  # what the function returned
    # and what TRL logged as the reward it received, step by step
    logged = [e for e in result.log_history if "rewards/shaped/mean" in e]
    assert len(logged) == 3
    for entry, step in zip(logged, range(3)):
        values = [r["rewards"]["shaped"] for r in record if r["step"] == step]
        assert entry["rewards/shaped/mean"] == pytest.approx(sum(values) / len(values), abs=1e-6)
        assert {"frac_reward_zero_std", "kl", "rollouts/passed", "rollouts/syntax_error", "time/execute_s",
                "hacking/attempt_rate"} <= set(entry)
        shares = sum(v for k, v in entry.items() if k.startswith("rollouts/"))
        assert shares == pytest.approx(1.0)
    assert len({r["outcome"] for r in record}) > 1  # the lottery gave the groups a signal
    assert result.metrics["rollouts_executed"] <= len(record)
    assert (grpo_run.run_dir / "plots" / "grpo.png").is_file()


def test_eta_sampler_as_the_rollout_function(grpo_run):
    from eta.methods import load_method
    from eta.models.load import load_model

    cfg = grpo_run.cfg
    cfg.method.rollout = "eta"
    cfg.method.max_steps = 1
    model, tokenizer = load_model(dict(cfg.model))
    result = load_method(cfg).train(grpo_run, model, tokenizer)
    assert result.steps == 1 and result.metrics["rollout"] == "eta"
    record = rows(grpo_run.run_dir / "train" / "rollouts.jsonl")
    assert len(record) == 4 and len({r["task_id"] for r in record}) == 1  # one prompt, its 4 rollouts
    assert all(r["rewards"]["shaped"] == rewards.SHAPED[Outcome(r["outcome"])] for r in record)


# -- rollouts in the sampler's dtype (eta.rl.sampler, eta.sample.precision) ---------------------------------

def spy_rollouts(monkeypatch) -> list[tuple[list[str], dict, dict]]:
    """Each generation's (prompts, settings, what the trainer received) from eta's rollout function."""
    import eta.rl.sampler as rollout_sampler

    calls: list = []
    original = rollout_sampler.generate

    def spy(model, tokenizer, prompts, **kwargs):
        out = original(model, tokenizer, prompts, **kwargs)
        calls.append((list(prompts), kwargs, out))
        return out

    monkeypatch.setattr(rollout_sampler, "generate", spy)
    return calls


@pytest.mark.parametrize("dtype", ["null", "bfloat16"])
def test_the_first_rollouts_are_the_samplers_draws_from_the_policy_in_the_runs_dtype(grpo_run, monkeypatch, dtype):
    """sampler.dtype=null: eta's sampler on the policy itself with the step's seed, as before the bf16 copy
    (no copy is made); bfloat16: the same draws from the policy's bfloat16 copy. At the first step the
    LoRA B matrices are zero, so the policy computes exactly what the base model does."""
    from eta.methods import load_method
    from eta.models.load import load_model
    from eta.sample import precision, sample

    cfg = grpo_run.cfg
    cfg.method.rollout, cfg.method.max_steps, cfg.method.max_completion_length = "eta", 1, 6
    cfg.sampler.dtype = None if dtype == "null" else dtype
    calls, said = spy_rollouts(monkeypatch), []
    grpo_run.say = said.append
    model, tokenizer = load_model(dict(cfg.model))
    result = load_method(cfg).train(grpo_run, model, tokenizer)
    assert result.metrics["rollout_dtype"] == ("float32" if dtype == "null" else dtype)
    assert any(line.startswith("GRPO rollouts: eta's sampler in ") and f"sampler.dtype={dtype}" in line
               for line in said)
    (prompts, kw, out), = calls
    assert len(set(prompts)) == 1 and len(prompts) == 4  # one prompt, its 4 rollouts
    base, _ = load_model(dict(cfg.model))
    drawn = sample(base, tokenizer, prompts[:1], n=4, temperature=kw["temperature"], top_p=kw["top_p"],
                   max_new_tokens=6, stop=kw["stops"], seed=kw["seed"], dtype=kw["dtype"])[0]
    assert out["completion_ids"] == [list(g.token_ids) or [tokenizer.eos_token_id] for g in drawn]
    if dtype == "null":
        assert kw["dtype"] is None and precision.last_refresh(result.model) is None  # the policy itself
        other = sample(base, tokenizer, prompts[:1], n=4, temperature=kw["temperature"], top_p=kw["top_p"],
                       max_new_tokens=6, stop=kw["stops"], seed=kw["seed"], dtype="bfloat16")[0]
        assert [g.token_ids for g in other] != [g.token_ids for g in drawn]  # the dtypes draw apart here


def test_the_bf16_copy_follows_the_policy_through_a_fused_optimizer_step():
    """A fused AdamW step (transformers' default optimizer) writes the adapter in place without bumping
    the tensors' versions: the copy keeps its outputs until it is refreshed, then computes what a fresh
    bfloat16 copy of the stepped policy does, having copied the adapter weights only."""
    import copy

    import torch
    from peft import get_peft_model

    from eta.models.tiny import build_tiny_model
    from eta.sample import precision
    from eta.train.settings import lora_config

    base, tokenizer = build_tiny_model(seed=2)
    policy = get_peft_model(base, lora_config({"r": 4, "alpha": 8, "dropout": 0.0,
                                               "target_modules": ["q_proj", "v_proj"]}))
    ids = torch.tensor([tokenizer("def f():\n    return")["input_ids"]])

    def logits(model):
        with torch.no_grad():
            return model(input_ids=ids).logits.float()

    bf16 = precision.copy_in(policy, "bfloat16")
    before = logits(bf16)
    trainable = [p for p in policy.parameters() if p.requires_grad]
    gen = torch.Generator().manual_seed(0)
    for p in trainable:
        p.grad = torch.randn(p.shape, generator=gen)
    versions = [p._version for p in trainable]
    torch.optim.AdamW(trainable, lr=0.1, fused=True).step()
    assert [p._version for p in trainable] == versions  # why the copy cannot wait for a version to change
    assert torch.equal(logits(bf16), before)  # not refreshed yet: the policy as it was
    fresh = copy.deepcopy(policy)
    for p in fresh.parameters():
        p.data = p.data.to(torch.bfloat16)
    expected = logits(fresh)
    assert not torch.equal(expected, before)  # the step moved the bfloat16 policy's outputs
    assert precision.copy_in(policy, "bfloat16") is bf16
    assert precision.last_refresh(policy) == len(trainable) < len(list(policy.parameters()))  # the adapter only
    assert torch.equal(logits(bf16), expected)
    assert all(torch.equal(a, b.to(torch.bfloat16)) for a, b in zip(bf16.parameters(), policy.parameters()))


def test_grpo_trains_with_bf16_rollouts_refreshed_at_every_generation(grpo_run, monkeypatch):
    import torch

    from eta.methods import load_method
    from eta.models.load import load_model
    from eta.sample import precision

    cfg = grpo_run.cfg
    cfg.method.rollout, cfg.sampler.dtype = "eta", "bfloat16"
    refreshed, original = [], precision.copy_in

    def spy(model, dtype):
        out = original(model, dtype)
        refreshed.append(precision.last_refresh(model))
        return out

    monkeypatch.setattr(precision, "copy_in", spy)
    model, tokenizer = load_model(dict(cfg.model))
    result = load_method(cfg).train(grpo_run, model, tokenizer)
    assert result.steps == 3 and result.metrics["rollout_dtype"] == "bfloat16"
    lora_b = [p for n, p in result.model.named_parameters() if "lora_B" in n]
    assert lora_b and any(torch.count_nonzero(p) > 0 for p in lora_b)  # B starts at zero: it moved
    trainable = sum(p.requires_grad for p in result.model.parameters())
    everything = len(list(result.model.parameters()))
    assert refreshed == [everything, trainable, trainable]  # made once, then the adapter before each generation
    bf16 = original(result.model, "bfloat16")
    assert all(torch.equal(a, b.to(torch.bfloat16)) for a, b in zip(bf16.parameters(), result.model.parameters()))


@pytest.mark.parametrize("native, chosen", [("amx", "bfloat16"), (None, None)])
def test_grpo_records_the_rollout_dtype_it_resolved(compose, tmp_path, monkeypatch, native, chosen):
    """The train stage's keys hold sampler.dtype as this machine resolved it, as evaluation's do: a resumed
    run on a CPU that resolves auto otherwise trains again."""
    import eta.sample.precision as precision
    from eta.context import RunContext
    from eta.methods import load_method
    from eta.pipeline.fingerprint import plan

    monkeypatch.setattr(precision, "native_bf16", lambda: native)
    keys = {}
    for dtype in ("auto", chosen or "null"):
        cfg = compose(GRPO, "model=tiny", "logger=none", f"sampler.dtype={dtype}")
        ctx = RunContext(cfg=cfg, run_dir=tmp_path / dtype, train_tasks=lottery_tasks())
        keys[dtype] = next(s.keys for s in plan(ctx, load_method(cfg)) if s.name == "train")
    assert keys["auto"] == keys[chosen or "null"] and keys["auto"].get("sampler.dtype") == chosen


# -- end to end ---------------------------------------------------------------------------------------------

FAST = ("model=tiny", "dataset.limit=4", "logger=none", "sampler.max_new_tokens=8", "eval.n=2", "eval.ks=[1,2]",
        "eval.greedy=false", "method.max_steps=2", "method.num_generations=2", "method.per_device_train_batch_size=2",
        "method.gradient_accumulation_steps=1")


@pytest.mark.slow  # run.py in a new process
def test_run_py_grpo_shaped_writes_the_trained_policys_evaluation(tmp_path):
    pytest.importorskip("trl")
    run_dir = tmp_path / "run"
    done = run_py(*FAST, "method=grpo", "method.reward=shaped", f"hydra.run.dir={run_dir}")
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {"base", "trained", "method"} <= set(metrics) and "pass@1" in metrics["trained"]
    assert metrics["method"]["reward"] == "1*shaped" and metrics["method"]["rollouts_executed"] >= 1
    assert (run_dir / "train" / "adapter_model.safetensors").is_file()
    assert not (run_dir / "samples.jsonl").exists()  # it rolls out itself: no sample stage
    state = json.loads((run_dir / "train" / "trainer_state.json").read_text())
    assert any("frac_reward_zero_std" in e and "rollouts/passed" in e for e in state["log_history"])


@pytest.mark.slow  # run.py in a new process
def test_run_py_unknown_reward_fails_in_one_line(tmp_path):
    done = run_py(*FAST, "method=grpo", "method.reward=nope", f"hydra.run.dir={tmp_path / 'run'}")
    assert done.returncode != 0
    assert "unknown reward 'nope'; known rewards: binary, divergence, pass_rate, rm, shaped" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow  # 25 s here
def test_run_py_eta_rm_trains_the_reward_model_then_scores_rollouts_with_it(tmp_path, compose):
    pytest.importorskip("trl")
    run_dir = tmp_path / "run"
    done = run_py(*FAST, "method=grpo", "method.reward=rm", "sampler.n=2", "prefer.include_reference=true",
                  "+method.rm={max_steps: 2, per_device_train_batch_size: 2}", f"hydra.run.dir={run_dir}")
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "trained" in metrics and metrics["method"]["rm_heldout_pairs"] >= 1
    # the watch on the learned reward: its score beside the executed pass rate, steps and lengths, per step
    state = json.loads((run_dir / "train" / "trainer_state.json").read_text())
    logged = [e for e in state["log_history"] if "rewards/rm/mean" in e]
    assert logged and all({"rollouts/passed", "exec/mean_steps", "completions/mean_length"} <= set(e) for e in logged)
    assert metrics["method"]["rm_watch_warnings"] == 0  # two steps: fewer than the rule's window
    assert (run_dir / "reward_model" / "trace" / "eta_rm.json").is_file()
    record = rows(run_dir / "train" / "rollouts.jsonl")
    assert record and all(isinstance(r["rewards"]["rm"], float) for r in record if r["outcome"] != "infra_error")
    # the scores the trainer got are the saved reward model's on the code and its traced execution
    from eta.execute.batch import Sample, execute_samples
    from eta.execute.pool import TraceOptions
    from eta.context import load_splits
    from eta.rm import load_scorer

    cfg = compose(GRPO, *FAST[:2])
    tasks = {t.task_id: t for t in load_splits(cfg)[0]}
    scorer = load_scorer(run_dir / "reward_model" / "trace")
    prompts = {r["task_id"]: r["prompt"] for r in rows(run_dir / "samples.jsonl")}
    some = record[:4]
    # traced with value writes, as the rollouts were: the input's trace window centres on the divergence
    trace = TraceOptions(max_events=cfg.execute.max_events, budget_lines=cfg.execute.budget_lines, writes=True)
    executions = execute_samples([Sample(r["task_id"], r["code"], i, {}) for i, r in enumerate(some)], tasks,
                                 tmp_path / "again.jsonl", workers=1, trace=trace, progress=False)
    scores = scorer.score([prompts[r["task_id"]] for r in some], [r["code"] for r in some], executions)
    assert [r["rewards"]["rm"] for r in some] == pytest.approx(scores, abs=1e-4)


@pytest.mark.slow  # 40 s here
def test_two_process_launch_each_rank_rolls_out_and_executes_its_share(tmp_path):
    """TRL's default, kept: every rank generates, executes (its own executor) and scores its slice of each
    generation batch; the group baselines see the gathered rewards. Rank 0 alone evaluates."""
    pytest.importorskip("trl")
    run_dir = tmp_path / "run"
    done = run_py(*FAST, "method=grpo", "method.reward=shaped", f"hydra.run.dir={run_dir}", processes=2,
                  OMP_NUM_THREADS="1")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rank 0] trained 2 steps" in done.stdout and "rank 1] trained 2 steps" in done.stdout
    assert "rank 1] metrics" not in done.stdout
    ranks = [rows(run_dir / "train" / "rollouts.jsonl"), rows(run_dir / "train" / "rollouts.rank1.jsonl")]
    assert all(len(r) == 2 * 2 for r in ranks)  # 2 steps x (2 prompts x 2 rollouts) / 2 ranks each
    for step in (0, 1):  # the two ranks' shares make whole groups: each prompt's 2 rollouts
        counts = {}
        for r in ranks[0] + ranks[1]:
            if r["step"] == step:
                counts[r["task_id"]] = counts.get(r["task_id"], 0) + 1
        assert sorted(counts.values()) == [2, 2]
    assert {"base", "trained", "method"} <= set(json.loads((run_dir / "metrics.json").read_text()))


@pytest.mark.parametrize("arm, label, reward, needs", [("grpo_binary", "GRPO-binary", "binary", None),
                                                      ("eta_rm", "ETA-RM", "rm", "prefer")])
def test_the_comparison_arms_compose_under_the_shared_budget(compose, arm, label, reward, needs):
    pytest.importorskip("trl")
    from eta.methods import load_method

    cfg = compose(GRPO, "experiment=comparison", f"arm={arm}")
    assert cfg.label == label and cfg.method.reward == reward and cfg.method.max_steps == cfg.compare.budget.max_steps
    assert load_method(cfg).needs == needs


@pytest.mark.slow  # ~60 s here
def test_two_process_eta_rm_every_rank_scores_with_the_saved_reward_model(tmp_path, compose):
    """ETA-RM under a 2-process launch: both ranks train the reward model (one DDP run, rank 0 saves it), then
    each rank scores its share of the rollouts with it; the recorded rewards are the saved scorer's."""
    pytest.importorskip("trl")
    run_dir = tmp_path / "run"
    done = run_py(*FAST, "method=grpo", "method.reward=rm", "sampler.n=2", "prefer.include_reference=true",
                  "+method.rm={max_steps: 2, per_device_train_batch_size: 2}", f"hydra.run.dir={run_dir}",
                  processes=2, OMP_NUM_THREADS="1")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rank 0] trained 2 steps" in done.stdout and "rank 1] trained 2 steps" in done.stdout
    path = run_dir / "reward_model" / "trace"
    assert sum(f"GRPO scores rollouts with {path}" in line for line in done.stdout.splitlines()) == 2
    record = rows(run_dir / "train" / "rollouts.jsonl") + rows(run_dir / "train" / "rollouts.rank1.jsonl")
    scored = [r for r in record if r["outcome"] != "infra_error"]
    assert len(record) == 2 * 2 * 2 and scored  # 2 steps x 2 prompts x 2 rollouts, split over the ranks
    from eta.execute.batch import Sample, execute_samples
    from eta.execute.pool import TraceOptions
    from eta.context import load_splits
    from eta.rm import load_scorer

    cfg = compose(GRPO, *FAST[:2])
    tasks = {t.task_id: t for t in load_splits(cfg)[0]}
    scorer = load_scorer(path)
    prompts = {r["task_id"]: r["prompt"] for r in rows(run_dir / "samples.jsonl")}
    # traced with value writes, as the rollouts were: the input's trace window centres on the divergence
    trace = TraceOptions(max_events=cfg.execute.max_events, budget_lines=cfg.execute.budget_lines, writes=True)
    executions = execute_samples([Sample(r["task_id"], r["code"], i, {}) for i, r in enumerate(scored)], tasks,
                                 tmp_path / "again.jsonl", workers=1, trace=trace, progress=False)
    scores = scorer.score([prompts[r["task_id"]] for r in scored], [r["code"] for r in scored], executions)
    assert [r["rewards"]["rm"] for r in scored] == pytest.approx(scores, abs=1e-4)
    assert {"base", "trained", "method"} <= set(json.loads((run_dir / "metrics.json").read_text()))


def test_mean_rewards_of_held_out_records_follow_the_verdict_functions():
    from eta.execute.outcome import Outcome
    from eta.rewards import SHAPED, mean_rewards

    recs = [{"task_id": "a", "sample_id": 0, "completion": "x", "outcome": "passed", "passed": True, "tests_passed": 3, "tests_total": 3,
             "tests": [{"index": i, "outcome": "passed"} for i in range(3)]},
            {"task_id": "a", "sample_id": 1, "completion": "x", "outcome": "wrong_answer", "passed": False, "tests_passed": 1,
             "tests_total": 4, "tests": [{"index": i, "outcome": "passed" if i == 0 else "wrong_answer"}
                                         for i in range(4)]},
            {"task_id": "b", "sample_id": 0, "completion": "x", "outcome": "syntax_error", "passed": False, "tests_passed": 0,
             "tests_total": 0},
            {"task_id": "b", "sample_id": 1, "completion": "x", "outcome": "infra_error", "passed": False}]  # masked
    got = mean_rewards(recs)
    assert got["binary"] == pytest.approx(1 / 3)
    assert got["shaped"] == pytest.approx((SHAPED[Outcome.PASSED] + SHAPED[Outcome.WRONG_ANSWER]
                                           + SHAPED[Outcome.SYNTAX_ERROR]) / 3)
    assert got["pass_rate"] == pytest.approx((1 + 0.25 + 0) / 3)
    assert mean_rewards([recs[-1]]) == {}


@pytest.mark.slow  # 26 s here (load 12 on 2 cores)
def test_the_divergence_reward_trains_grpo_against_the_references_run(grpo_run, monkeypatch):
    """method.reward=divergence end to end on the tiny model: the references are traced once (cached), each
    rollout is scored from its own execution's divergence, and what the trainer received is the reward's."""
    from dataclasses import replace

    from omegaconf import OmegaConf

    from eta.execute.pool import Executor, Job, TraceOptions
    from eta.execute.reftraces import attach, reference_traces
    from eta.methods import load_method
    from eta.models.load import load_model

    monkeypatch.setenv("ETA_CACHE_DIR", str(grpo_run.run_dir / "cache"))
    tasks = [replace(t, reference=t.prompt) for t in grpo_run.train_tasks]  # the prompt is a whole solution
    cfg = OmegaConf.merge(grpo_run.cfg, {"method": {"reward": "divergence", "max_steps": 2}})
    run = replace(grpo_run, cfg=cfg, train_tasks=tasks)
    model, tokenizer = load_model(dict(cfg.model))
    result = load_method(cfg).train(run, model, tokenizer)
    assert result.steps == 2
    record = rows(run.run_dir / "train" / "rollouts.jsonl")
    assert len(record) == 2 * 4 and any(e for e in result.log_history if "rewards/divergence/mean" in e)
    assert list((run.run_dir / "cache" / "ref_traces").glob("*.json"))  # the references' traced runs
    by_id = {t.task_id: t for t in tasks}
    trace = TraceOptions(max_events=cfg.execute.max_events, budget_lines=cfg.execute.budget_lines, writes=True)
    refs = reference_traces(tasks, trace)
    with Executor(workers=1, trace=trace) as ex:  # the rewards again, from scratch
        again = ex.map([Job.for_task(by_id[r["task_id"]], r["code"]) for r in record])
    for row, verdict in zip(record, again):
        attach(verdict, by_id[row["task_id"]], row["code"], refs[row["task_id"]])
        assert row["rewards"]["divergence"] == pytest.approx(rewards.divergence(verdict))
        assert (row["rewards"]["divergence"] == 1.0) == (row["outcome"] == "passed")
