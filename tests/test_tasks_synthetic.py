"""The synthetic suite: seeded, split by family, references that pass their own tests."""

from __future__ import annotations

import ast
import itertools
import signal

import pytest

from eta.tasks import CompletionMode, TaskLoadError, load_tasks
from eta.tasks import synthetic, synthetic_easy, synthetic_short


def _run_in_process(task, program: str) -> list[bool]:
    # The suite's code is our own and tiny: running it here keeps this test fast.
    namespace: dict = {}
    exec(program, namespace)
    verdicts = []
    for test in task.tests:
        try:
            exec(test.code, namespace)
            verdicts.append(True)
        except AssertionError:
            verdicts.append(False)
    return verdicts


def test_same_seed_same_tasks_other_seed_other_tasks():
    first, again = load_tasks("synthetic", split="all"), load_tasks("synthetic", split="all")
    assert first == again
    other = load_tasks("synthetic", split="all", seed=1)
    assert [t.task_id for t in other] != [] and [t.tests for t in other] != [t.tests for t in first]


def test_three_splits_by_family_with_every_kind_on_each():
    sides = {name: load_tasks("synthetic", split=name) for name in ("train", "validation", "test")}
    families = {name: {t.metadata["family"] for t in tasks} for name, tasks in sides.items()}
    assert families["test"] == synthetic.TEST_FAMILIES and families["validation"] == synthetic.VALIDATION_FAMILIES
    for a, b in itertools.combinations(families.values(), 2):
        assert not a & b
    assert set().union(*families.values()) == {f.name for f in synthetic.FAMILIES}
    for name, tasks in sides.items():
        assert {"list", "grid", "string", "arithmetic"} == {t.metadata["kind"] for t in tasks}, name
        assert all(t.split == name for t in tasks)
    assert len(families["train"]) >= 25 and len(families["test"]) >= 10 and len(families["validation"]) >= 10
    assert len(load_tasks("synthetic")) == len(sides["test"])  # test by default
    assert len(load_tasks("synthetic", split="all")) == sum(map(len, sides.values()))


def test_each_task_states_the_function_and_has_three_to_six_tests():
    for task in load_tasks("synthetic", split="all"):
        assert task.task_id.startswith(f"Synthetic/{task.metadata['family']}/")
        assert task.completion_mode is CompletionMode.FULL and task.dataset == "synthetic"
        assert f"`{task.entry_point}(" in task.instruction
        assert task.reference.startswith(task.metadata["signature"])
        assert 3 <= len(task.tests) <= 6
        assert task.metadata["example_test"] in [t.code for t in task.tests]
        assert any(isinstance(node, (ast.For, ast.While, ast.If)) for node in ast.walk(ast.parse(task.reference))) \
            or task.metadata["family"] in ("shout", "divisible", *synthetic_easy.FAMILY_NAMES,
                                          *synthetic_short.FAMILY_NAMES)


def test_instances_within_a_family_differ():
    tasks = load_tasks("synthetic", split="all", per_family=10)
    for family in synthetic.FAMILIES:
        prompts = [t.instruction for t in tasks if t.metadata["family"] == family.name]
        assert len(prompts) == len(set(prompts)) >= 6, family.name


def test_references_pass_and_wrong_answers_fail():
    for task in load_tasks("synthetic", split="all"):
        assert all(_run_in_process(task, task.reference)), task.task_id
        wrong = f"def {task.entry_point}(*args):\n    return None\n"
        assert not all(_run_in_process(task, wrong)), task.task_id


def test_options_are_checked():
    assert {t.metadata["family"] for t in load_tasks("synthetic", split="all", families=["fizz"])} == {"fizz"}
    assert len(load_tasks("synthetic", per_family=2)) == 2 * len(synthetic.TEST_FAMILIES)
    with pytest.raises(TaskLoadError, match="unknown synthetic families: nope"):
        load_tasks("synthetic", families=["nope"])
    with pytest.raises(TaskLoadError, match="no split 'dev'; use one of test, validation, train, all"):
        load_tasks("synthetic", split="dev")
    with pytest.raises(TaskLoadError, match="generated, not downloaded"):
        load_tasks("synthetic", source="hf")


_FLIP = {ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Lt: ast.LtE, ast.LtE: ast.Lt}
_SWAP = {"max": "min", "min": "max"}


# Slips of the families whose references have no integer, comparison, min/max or and/or to mutate: a
# wrong answer the small model writes (a split on one space, a forgotten case fold, sets for multisets, a
# lost sign, the wrong case method, keys unsorted, a case fold too many, a forgotten "seen" update, a
# doubling for a square, a difference for a sum, only the first pairs kept); each is (old, new) replacements.
_SLIPS = {"word_total": ((".split()", ".split(' ')"),), "word_lengths": ((".split()", ".split(' ')"),),
          "is_vowel": ((".lower()", ""),), "is_anagram": (("sorted(", "set("),),
          "parse_ints": (("int(x)", "abs(int(x))"),), "join_numbers": (("str(x)", "str(abs(x))"),),
          "shout": ((".upper()", ".title()"),), "sorted_keys": (("sorted(", "list("),),
          "char_codes": (("ord(ch)", "ord(ch.lower())"),), "dedupe": (("seen.add(x)", "pass"),),
          "square_each": (("x * x", "x * 2"),), "add_lists": (("x + y", "x - y"),),
          "make_dict": (("dict(zip(", "dict(list(zip("), ("))\n", "))[:2])\n"))} | synthetic_short.SLIPS


def _mutants(source: str, family: str = "") -> list[str]:
    """The small model's plausible slips, one at a time: ``>`` for ``>=`` (and back), every integer literal
    off by one (a loop bound, an initial value, an index, a slice step), ``min`` for ``max`` (and back),
    ``or`` for ``and`` (and back), and the family's own slip in ``_SLIPS``."""
    out = []
    if family in _SLIPS and all(old in source for old, _ in _SLIPS[family]):
        slip = source
        for old, new in _SLIPS[family]:
            slip = slip.replace(old, new)
        out.append(slip)
    count = sum(1 for _ in ast.walk(ast.parse(source)))
    for i in range(count):
        for delta in (-1, 1):
            tree = ast.parse(source)
            node = list(ast.walk(tree))[i]
            if isinstance(node, ast.Compare) and type(node.ops[0]) in _FLIP and delta == 1:
                node.ops[0] = _FLIP[type(node.ops[0])]()
            elif isinstance(node, ast.Constant) and type(node.value) is int:
                node.value += delta
            elif isinstance(node, ast.Name) and node.id in _SWAP and delta == 1:
                node.id = _SWAP[node.id]
            elif isinstance(node, ast.BoolOp) and delta == 1:
                node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            else:
                continue
            out.append(ast.unparse(tree))
    return out


def _outcome(task, program: str) -> str:
    """'wrong' (every test fails, nothing raised), 'partial' (some tests fail, not all), 'passes', or 'other'
    (raised or ran past 50 ms)."""
    def stop(*_):
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    try:
        verdicts = _run_in_process(task, program)
    except Exception:  # a crash or a hang: not the wrong answers this suite is built to produce
        return "other"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return "passes" if all(verdicts) else "partial" if any(verdicts) else "wrong"


def test_held_out_tests_catch_off_by_one_and_comparison_slips_as_wrong_answers():
    held_out = synthetic.TEST_FAMILIES | synthetic.VALIDATION_FAMILIES
    tally: dict[str, dict[str, int]] = {}
    for task in load_tasks("synthetic", split="all", per_family=3, families=sorted(held_out)):
        counts = tally.setdefault(task.metadata["family"], {"wrong": 0, "passes": 0, "other": 0})
        for program in _mutants(task.reference, task.metadata["family"]):
            outcome = _outcome(task, program)
            counts["wrong" if outcome == "partial" else outcome] += 1
    wrong = sum(c["wrong"] for c in tally.values())
    survived = sum(c["passes"] for c in tally.values())
    # most slips that run are caught (a survivor is often equivalent: `<` for `<=` after an `==` test) ...
    assert wrong >= 4 * survived and wrong > 100
    # ... and in nearly every family some slip is a wrong answer, not a crash: the case a trace can explain
    assert sum(c["wrong"] > 0 for c in tally.values()) >= 0.85 * len(held_out)


def test_each_held_out_family_has_a_slip_that_fails_some_tests_and_passes_others():
    # Partial credit: an edge-case test catches the slip and the ordinary cases do not, so a wrong answer
    # earns some tests (the signal a trace can refine), not none.
    for family in sorted(synthetic.TEST_FAMILIES | synthetic.VALIDATION_FAMILIES):
        tasks = load_tasks("synthetic", split="all", per_family=4, families=[family])
        assert any(_outcome(task, program) == "partial" for task in tasks
                   for program in _mutants(task.reference, family)), family
