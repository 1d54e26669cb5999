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
