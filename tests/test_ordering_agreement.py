"""experiments/ordering_agreement.py: what two heuristics do with each pair of failing programs."""

import importlib.util
from pathlib import Path

from helpers import record

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("ordering_agreement", ROOT / "experiments" / "ordering_agreement.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _failing(task_id, sample_id, tests_passed, f1, score):
    r = record(task_id, sample_id, "wrong_answer", tests_passed=tests_passed)
    r["divergence"] = {"f1": f1, "score": score, "tests": []}
    return r


def test_counts_each_kind_of_pair_and_where_the_heuristics_differ():
    tool = _tool()
    records = [
        _failing("Synthetic/a#0", 0, 3, 0.2, 0.1),  # more tests, further from the reference: opposite
        _failing("Synthetic/a#0", 1, 1, 0.9, 0.9),
        _failing("Synthetic/b#0", 0, 2, 0.5, 0.5),  # same tests: only the trace orders it
        _failing("Synthetic/b#0", 1, 2, 0.1, 0.1),
        _failing("Synthetic/c#0", 0, 3, 0.8, 0.8),  # both agree
        _failing("Synthetic/c#0", 1, 1, 0.1, 0.1),
        _failing("Synthetic/c#1", 0, 2, 0.5, 0.5),  # identical verdict and trace: both tie
        _failing("Synthetic/c#1", 1, 2, 0.5, 0.5),
        record("Synthetic/c#1", 2, "passed", tests_passed=4),  # a passing program pairs with no failing one here
    ]
    table = tool.agreement(records, tool.heuristic_criteria("verdict"), tool.heuristic_criteria("eta"))
    assert {k: table[k] for k in tool.KINDS} == {"same": 1, "opposite": 1, "only first": 0, "only second": 1,
                                               "both tie": 1}
    assert table["pairs"] == 4 and table["problems"] == 4 and table["families"] == 3
    assert table["problems_differing"] == 2 and table["families_differing"] == 2


def test_the_same_heuristic_twice_never_differs():
    tool = _tool()
    records = [_failing("Synthetic/a#0", i, i % 3, i / 10, i / 10) for i in range(5)]
    eta = tool.heuristic_criteria("eta")
    table = tool.agreement(records, eta, eta)
    assert table["opposite"] == table["only first"] == table["only second"] == 0
    assert table["same"] + table["both tie"] == table["pairs"] == 10
