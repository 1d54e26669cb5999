from eta.execute.outcome import Outcome
from eta.execute.result import ExecutionResult
from eta import rewards


def test_verdict_rewards_and_infra_error_masked() -> None:
    ok = ExecutionResult(outcome=Outcome.PASSED, tests_total=0)
    syn = ExecutionResult(outcome=Outcome.SYNTAX_ERROR, tests_total=3)
    infra = ExecutionResult(outcome=Outcome.INFRA_ERROR, tests_total=3)
    assert rewards.binary(ok) == 1.0 and rewards.binary(syn) == 0.0
    assert rewards.shaped(syn) == -1.0 and rewards.shaped(ok) == 1.0
    assert rewards.pass_rate(syn) == 0.0
    assert all(f(infra) is None for f in (rewards.binary, rewards.shaped, rewards.pass_rate))


def test_divergence_reward_orders_failures_by_their_execution_and_padding_buys_nothing(tmp_path, monkeypatch) -> None:
    """Rollouts executed in the sandbox with value writes, against the reference's cached traced run."""
    from eta.execute import Limits, TraceOptions
    from eta.execute.reftraces import reference_traces
    from eta.rl.rollouts import RolloutExecutor
    from eta.tasks import load_tasks

    monkeypatch.setenv("ETA_CACHE_DIR", str(tmp_path))
    # sum_above: its accumulator starts at 0, so `= 1` there is a one-edit wrong answer (a training family)
    task = next(t for t in load_tasks("synthetic", split="train") if t.task_id.startswith("Synthetic/sum_above/"))
    trace, limits = TraceOptions(writes=True), Limits()
    refs = reference_traces([task], trace, limits, workers=1)
    assert refs[task.task_id] is not None
    wrong_start = task.reference.replace(" = 0\n", " = 1\n", 1)
    padded = wrong_start.replace(":\n", ":\n    for _ in range(2000):\n        pass\n", 1)
    crash = "def nothing(:\n"
    with RolloutExecutor([task], style="completion", prompts={task.task_id: ""}, workers=1, limits=limits,
                         trace=trace, references=refs) as ex:
        ex.code = lambda task_id, completion: completion
        (reward,), _ = rewards.reward_funcs("divergence", ex)
        got = reward([task.reference, wrong_start, padded, crash], task_id=[task.task_id] * 4)
    ok, wrong, pad, bad = got
    assert ok == 1.0 and bad == 0.0
    assert 0.0 < wrong < 0.5 and pad <= wrong  # a failure never reaches a pass; padding never helps
