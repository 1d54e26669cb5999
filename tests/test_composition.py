"""Matched pair composition (eta/prefer/composition.py): every DPO arm of a comparison trains on the same
pass/fail pairs, and every arm that orders failing programs on the same fail/fail pairs, which differ only in
orientation; the random control is seeded."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from helpers import record

from eta.prefer import build_pairs, load_heuristic

CONF = Path(__file__).resolve().parents[1] / "conf" / "heuristic"
HEURISTICS = {name: load_heuristic(CONF / f"{name}.yaml") for name in ("binary", "verdict", "random", "eta")}
MATCHED = {"composition": "matched", "pass_fail_pairs": 8, "fail_fail_pairs": 4, "seed": 0}


def failing(task: str, sid: int, outcome: str, tests_passed: int, f1: float) -> dict:
    """A failing sample with a divergence from its reference (f1 of the values both wrote)."""
    r = record(task, sid, outcome, tests_passed=tests_passed)
    r["divergence"] = {"score": f1, "f1": f1, "tests": [{"index": 0, "steps": 5, "reference_steps": 10}]}
    return r


def samples(task: str, n_pass: int, n_fail: int, seed: int) -> list[dict]:
    """A problem's samples: ``n_pass`` passing, ``n_fail`` failing ones of mixed classes, tests and divergence."""
    rng = random.Random(seed)
    out = [record(task, i, "passed", tests_passed=4) for i in range(n_pass)]
    for i in range(n_pass, n_pass + n_fail):
        outcome = rng.choice(["wrong_answer", "wrong_answer", "runtime_error"])
        out.append(failing(task, i, outcome, rng.randrange(4), rng.choice([0.1, 0.3, 0.5, 0.7, 0.9])))
    return out


TASKS = {f"T/{i}": f"def f{i}():\n" for i in range(6)}
RECORDS = [r for i, t in enumerate(TASKS) for r in samples(t, n_pass=i % 3, n_fail=8 - i % 3, seed=i)]


def by_arm(records=RECORDS, composition=MATCHED) -> dict[str, list]:
    return {name: build_pairs(records, h, TASKS, composition) for name, h in HEURISTICS.items()}


def ids(pairs, fail_fail: bool) -> list[tuple]:
    """(task, chosen, rejected) of the pass/fail pairs, or the unordered fail/fail pairs."""
    if fail_fail:
        return sorted((p.task_id, *sorted((p.chosen_sample_id, p.rejected_sample_id)))
                      for p in pairs if p.criterion != "passed")
    return sorted((p.task_id, p.chosen_sample_id, p.rejected_sample_id) for p in pairs if p.criterion == "passed")


def test_one_passing_sample_of_eight_free_composition_dilutes_the_pass_fail_pairs_and_matched_does_not():
    # the case: 8 samples, one passes, a cap of 8 pairs
    records = samples("T/0", n_pass=1, n_fail=7, seed=3)
    free = {n: build_pairs(records, h, TASKS) for n, h in HEURISTICS.items()}
    assert len(ids(free["binary"], False)) == 7 and len(ids(free["eta"], False)) < 7
    matched = by_arm(records)
    assert {len(ids(pairs, False)) for pairs in matched.values()} == {7}


def test_every_arm_gets_the_same_pass_fail_pairs():
    arms = by_arm()
    shared = ids(arms["binary"], False)
    assert shared and all(ids(pairs, False) == shared for pairs in arms.values())
    for pairs in arms.values():  # the passing sample is chosen in every one
        assert all(p.chosen_outcome.value == "passed" for p in pairs if p.criterion == "passed")
    per_task = {t: sum(1 for p in arms["eta"] if p.task_id == t and p.criterion == "passed") for t in TASKS}
    assert max(per_task.values()) == MATCHED["pass_fail_pairs"]  # the cap holds where there are more


def test_the_trace_arms_share_their_fail_fail_pairs_and_differ_only_in_orientation():
    arms = by_arm()
    assert not ids(arms["binary"], True)  # a binary heuristic cannot order failing programs: none
    shared = ids(arms["eta"], True)
    assert len(shared) == MATCHED["fail_fail_pairs"] * len(TASKS)
    assert ids(arms["verdict"], True) == shared and ids(arms["random"], True) == shared
    assert len(arms["eta"]) == len(arms["verdict"]) == len(arms["random"])
    orient = {n: {(p.task_id, frozenset((p.chosen_sample_id, p.rejected_sample_id))): p for p in arms[n]
                  if p.criterion != "passed"} for n in ("eta", "verdict", "random")}
    flipped = [k for k in orient["eta"] if orient["eta"][k].chosen_sample_id != orient["verdict"][k].chosen_sample_id]
    assert flipped, "the trace decides some pair the verdict orders otherwise"
    for key, eta_pair in orient["eta"].items():
        verdict_pair = orient["verdict"][key]
        if verdict_pair.criterion == "error_class":  # ETA's hierarchy starts with the verdict's error class
            assert (eta_pair.chosen_sample_id, eta_pair.criterion) == (verdict_pair.chosen_sample_id, "error_class")
        if eta_pair.criterion == "tie" and verdict_pair.criterion == "tie":  # the same coin in every arm
            assert eta_pair.chosen_sample_id == verdict_pair.chosen_sample_id
    assert {p.criterion for p in orient["random"].values()} == {"random"}


def test_ties_are_kept_and_oriented_by_a_seeded_coin():
    records = [failing("T/0", i, "wrong_answer", 2, 0.5) for i in range(4)]  # every criterion ties
    pairs = build_pairs(records, HEURISTICS["eta"], TASKS, MATCHED)
    assert len(pairs) == MATCHED["fail_fail_pairs"] and {p.criterion for p in pairs} == {"tie"}
    assert pairs == build_pairs(records, HEURISTICS["eta"], TASKS, MATCHED)
    assert build_pairs(records, HEURISTICS["eta"], TASKS) == []  # free composition drops ties, as before


def test_the_random_control_is_seeded():
    from dataclasses import replace

    control = HEURISTICS["random"]
    again = by_arm()["random"]
    assert again == build_pairs(RECORDS, control, TASKS, MATCHED)
    key = lambda p: (p.task_id, p.chosen_sample_id, p.rejected_sample_id)  # noqa: E731
    shuffled = build_pairs(list(reversed(RECORDS)), control, TASKS, MATCHED)
    assert sorted(map(key, shuffled)) == sorted(map(key, again))  # the input's order changes nothing
    orientations = {tuple((p.chosen_sample_id, p.rejected_sample_id) for p in
                          build_pairs(RECORDS, replace(control, seed=s), TASKS, MATCHED)) for s in range(6)}
    assert len(orientations) > 1  # its seed, not the input, orders the failing programs
    same_set = {tuple(ids(build_pairs(RECORDS, replace(control, seed=s), TASKS, MATCHED), True)) for s in range(6)}
    assert len(same_set) == 1  # ... without changing which pairs are made


def test_the_composition_seed_draws_the_pairs_for_every_arm_alike():
    other = {**MATCHED, "seed": 7}
    first, second = by_arm(), by_arm(composition=other)
    assert ids(first["eta"], True) != ids(second["eta"], True)  # another draw of the fail/fail pairs ...
    assert all(ids(second[n], False) == ids(second["binary"], False) for n in second)  # ... shared by every arm
    assert all(ids(second[n], True) == ids(second["eta"], True) for n in ("verdict", "random"))


def test_matched_composition_needs_passed_first():
    from eta.prefer import HeuristicConfig

    odd = HeuristicConfig.from_mapping({"name": "odd", "criteria": ["error_class", "passed"]})
    with pytest.raises(ValueError, match="prefer.composition=matched: heuristic 'odd' must list 'passed' first"):
        build_pairs(RECORDS, odd, TASKS, MATCHED)
    with pytest.raises(ValueError, match="prefer.fail_fail_pairs"):
        build_pairs(RECORDS, HEURISTICS["eta"], TASKS, {**MATCHED, "fail_fail_pairs": -1})


def test_the_comparison_config_refuses_a_heuristic_without_passed_first(compose):
    from eta.config import parse
    from eta.errors import ConfigError

    cfg = compose("experiment=comparison", "arm=eta_dpo", "heuristic.criteria=[error_class,passed]")
    with pytest.raises(ConfigError, match="prefer.composition=matched"):
        parse(cfg)


CONTESTED = {**MATCHED, "contested": {n: {"name": n, "criteria": list(HEURISTICS[n].criteria)} for n in ("eta", "verdict")}}


def _orientations(pairs) -> dict:
    return {(p.task_id, frozenset((p.chosen_sample_id, p.rejected_sample_id))): p.chosen_sample_id
            for p in pairs if p.criterion != "passed"}


def test_contested_pairs_are_those_the_trace_and_the_verdict_orient_differently_and_every_arm_shares_them():
    from eta.prefer.composition import contested, orientation

    plain, narrowed = by_arm(), by_arm(composition=CONTESTED)
    assert all(ids(narrowed[n], False) == ids(plain[n], False) for n in plain)  # pass/fail pairs untouched
    shared = ids(narrowed["eta"], True)
    assert shared and all(ids(narrowed[n], True) == shared for n in ("verdict", "random"))
    assert not ids(narrowed["binary"], True)
    eta_o, verdict_o = _orientations(narrowed["eta"]), _orientations(narrowed["verdict"])
    differ = sum(eta_o[k] != verdict_o[k] for k in eta_o)
    # every contested pair is one the verdict orders the other way or leaves to a coin: it differs in about
    # half of the coin pairs and in all the others, far more often than in the unrestricted draw
    plain_eta, plain_verdict = _orientations(plain["eta"]), _orientations(plain["verdict"])
    plain_differ = sum(plain_eta[k] != plain_verdict[k] for k in plain_eta)
    assert differ / len(eta_o) > plain_differ / len(plain_eta)
    criteria = {n: HEURISTICS[n].make_criteria() for n in ("eta", "verdict")}
    by_sid = {(r["task_id"], r["sample_id"]): r for r in RECORDS}
    for task, a, b in shared:  # each drawn pair really is contested, and none left out is
        ra, rb = by_sid[(task, a)], by_sid[(task, b)]
        assert orientation(ra, rb, criteria["eta"]) != orientation(ra, rb, criteria["verdict"])
    n_contested = {}
    for t in TASKS:
        failing = [r for r in RECORDS if r["task_id"] == t and r["outcome"] != "passed"]
        n_contested[t] = sum(contested(x, y, list(criteria.items()))
                             for i, x in enumerate(failing) for y in failing[i + 1:])
    for t in TASKS:  # the cap, else all of them
        assert sum(1 for k in shared if k[0] == t) == min(n_contested[t], MATCHED["fail_fail_pairs"])


def test_contested_needs_matched_composition_and_two_heuristics(compose):
    from eta.config import parse
    from eta.errors import ConfigError

    with pytest.raises(ValueError, match="prefer.contested: needs prefer.composition=matched"):
        build_pairs(RECORDS, HEURISTICS["eta"], TASKS, {**CONTESTED, "composition": "free"})
    with pytest.raises(ValueError, match="prefer.contested: 'eta' alone"):
        build_pairs(RECORDS, HEURISTICS["eta"], TASKS, {**MATCHED, "contested": {"eta": CONTESTED["contested"]["eta"]}})
    cfg = compose("+heuristic@prefer.contested.eta=eta", "+heuristic@prefer.contested.verdict=verdict")
    with pytest.raises(ConfigError, match="prefer.contested: needs prefer.composition=matched"):
        parse(cfg)
    parsed = parse(compose("experiment=comparison", "arm=eta_dpo", "+heuristic@prefer.contested.eta=eta",
                           "+heuristic@prefer.contested.verdict=verdict"))
    assert sorted(parsed.prefer.contested) == ["eta", "verdict"]
    assert [c.value for c in parsed.prefer.contested["verdict"].criteria][0] == "passed"


def test_the_dpo_contrast_experiment_draws_contested_pairs_for_its_two_arms(compose):
    from eta.config import parse

    for arm, heuristic in (("dpo_verdict", "verdict"), ("eta_dpo", "eta")):
        cfg = compose("experiment=comparison_dpo_cpu", f"arm={arm}")
        parsed = parse(cfg)
        assert parsed.prefer.composition.value == "matched" and sorted(parsed.prefer.contested) == ["eta", "verdict"]
        assert parsed.heuristic.name == heuristic and cfg.method.max_steps == 24 and cfg.dataset.limit == 48
        assert cfg.dataset.eval_limit == 174 and cfg.eval.n == 8  # 3 problems of each of the 58 test families
    import yaml

    text = yaml.safe_load((Path(__file__).parents[1] / "experiments" / "experiment" / "comparison_dpo_cpu.yaml").read_text())
    assert text["hydra"]["sweeper"]["params"]["arm"].split(",") == ["base", "dpo_verdict", "eta_dpo"]
