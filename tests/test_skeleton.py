"""The skeleton-similarity measure, and the synthetic splits it keeps apart: no held-out (test or validation)
family has the skeleton of a family in another split."""

from __future__ import annotations

import functools
import itertools

import pytest

from eta.tasks import load_tasks
from eta.tasks import synthetic, synthetic_short
from eta.tasks.skeleton import closest, similarity, skeleton

THRESHOLD = 0.8

COUNT_VALUE = ("def count_value(nums):\n    count = 0\n    for x in nums:\n        if x == 3:\n            count += 1\n"
               "    return count\n")
COUNT_LETTER = "def count_a(s):\n    n = 0\n    for ch in s:\n        if ch == 'a':\n            n += 1\n    return n\n"
BALANCED = ("def balanced(s):\n    depth = 0\n    for ch in s:\n        if ch == '(':\n            depth += 1\n"
            "        elif ch == ')':\n            depth -= 1\n            if depth < 0:\n                return False\n"
            "    return depth == 0\n")


def test_names_and_constants_do_not_count_the_shape_does():
    assert skeleton(COUNT_VALUE) == skeleton(COUNT_LETTER)  # count_letter is count_value, renamed
    assert similarity(skeleton(COUNT_VALUE), skeleton(COUNT_LETTER)) == 1.0
    sk = skeleton(COUNT_VALUE)
    assert sk[:4] == ("INDENT", "V0", "=", "CONST") and "P0" in sk and "count" not in sk and "3" not in sk
    # builtins and attributes are part of the shape; a comment or a blank line is not
    assert "len" in skeleton("def f(xs):\n    return len(xs)\n")
    assert "append" in skeleton("def f(xs):\n    out = []\n    out.append(xs)\n    return out\n")
    assert skeleton("def f(x):\n    # why\n\n    return x\n") == skeleton("def g(y):\n    return y\n")
    # an f-string is one constant (Python 3.12 tokenizes its parts); code after the function is not its body
    assert skeleton("def f(x):\n    return f'a{x}b' + str(x)\n\ny = 2\n") == \
        ("INDENT", "return", "CONST", "+", "str", "(", "P0", ")", "NEWLINE")


def test_a_different_program_scores_low_and_the_measure_is_symmetric():
    a, b = skeleton(COUNT_VALUE), skeleton(BALANCED)
    assert similarity(a, b) == similarity(b, a) < THRESHOLD
    # one changed operator in a short program stays well above the threshold
    assert similarity(a, skeleton(COUNT_VALUE.replace("==", ">="))) > 0.9
    assert closest([a], [b, a]) == 1.0 and closest([a], []) == 0.0
    with pytest.raises(ValueError, match="no function"):
        skeleton("x = 1\n")


@functools.cache
def _skeletons() -> dict[str, set]:
    # every structural variant of each family appears among its instances at a few seeds
    out: dict[str, set] = {}
    for seed in (0, 1):
        for task in load_tasks("synthetic", split="all", seed=seed, per_family=10):
            out.setdefault(task.metadata["family"], set()).add(skeleton(task.reference))
    return out


def test_no_family_is_within_the_threshold_of_a_family_in_another_split():
    skeletons = _skeletons()
    split = {f.name: synthetic.family_split(f.name) for f in synthetic.FAMILIES}
    too_close = [(a, b, round(closest(skeletons[a], skeletons[b]), 3))
                 for a, b in itertools.combinations(sorted(skeletons), 2)
                 if split[a] != split[b] and closest(skeletons[a], skeletons[b]) >= THRESHOLD]
    assert too_close == []
    # the measure does see the near-duplicates this replaced: they now share the training split
    assert closest(skeletons["count_letter"], skeletons["count_value"]) >= THRESHOLD
    assert split["count_letter"] == split["count_value"] == "train"


def test_the_short_test_families_are_distinct_from_each_other_and_from_every_other_test_family():
    # They widen the test split so that a comparison resamples independent families: two of them sharing a
    # skeleton would be one family counted twice.
    skeletons = _skeletons()
    short = set(synthetic_short.FAMILY_NAMES)
    assert short <= synthetic.TEST_FAMILIES
    too_close = [(a, b, round(closest(skeletons[a], skeletons[b]), 3))
                 for a, b in itertools.combinations(sorted(synthetic.TEST_FAMILIES), 2)
                 if (a in short or b in short) and closest(skeletons[a], skeletons[b]) >= THRESHOLD]
    assert too_close == []
