"""Short held-out families on lists of numbers and of strings, and a few on 2-D lists (see the package's
docstring): each a beginner's one-to-three-liner with one twist stated in the prompt."""

from __future__ import annotations

import random
from typing import Callable

from eta.tasks.synthetic_base import Instance, _ints, _names

_LISTP = ["nums", "values", "numbers", "xs"]
_FRUIT = ["apple", "banana", "cherry", "grape", "lemon", "mango", "peach", "plum", "kiwi", "melon"]


def _distinct(rng: random.Random, n: int, low: int = 1, high: int = 30) -> list[int]:
    return rng.sample(range(low, high), n)


# ---- lists of numbers ------------------------------------------------------------------------------


def positions_of(rng: random.Random) -> Instance:
    k = rng.randint(0, 9)
    name, p = _names(rng, [f"positions_of_{k}", "positions", "all_indexes", "where_is"], ["nums", "values", "items"])
    body = f"    return [i for i, x in enumerate({p}) if x == {k}]\n"
    other = [x for x in range(10) if x != k]
    return Instance(name, p, f"returns the list of all the indexes (counting from 0) at which the number {k} "
                    f"appears in the list `{p}` ([] if it does not appear)", body,
                    [([],), (rng.sample(other, 3),), ([k],), ([k] + rng.sample(other, 2) + [k, k],),
                     (rng.sample(other, 2) + [k] + rng.sample(other, 2) + [k],)])


def all_positive(rng: random.Random) -> Instance:
    strict = rng.random() < 0.5
    op, word = (">", "positive (greater than 0)") if strict else (">=", "non-negative (0 or more)")
    name, p = _names(rng, ["all_positive" if strict else "all_non_negative", "check_all", "every_one_ok",
                           "no_bad_values"], ["nums", "values", "readings"])
    body = f"    return all(x {op} 0 for x in {p})\n"
    return Instance(name, p, f"returns True if every number of the list `{p}` is {word}, and False otherwise "
                    "(True for an empty list)", body,
                    [([],), ([4, 0, 2],), ([3, -1],), ([rng.randint(1, 9) for _ in range(4)],)])


def has_duplicates(rng: random.Random) -> Instance:
    name, p = _names(rng, ["has_duplicates", "any_repeats", "contains_duplicate", "has_repeat"],
                     ["nums", "values", "ids"])
    body = f"    return len(set({p})) < len({p})\n"
    xs = _distinct(rng, 5)
    return Instance(name, p, f"returns True if some number appears more than once in the list `{p}`, and False "
                    "otherwise (False for an empty list)", body,
                    [([],), ([7],), ([2, 2],), (xs,), (xs[:3] + [xs[1]] + xs[3:],)])


def index_of_best(rng: random.Random) -> Instance:
    big = rng.random() < 0.5
    how, word = ("max", "largest") if big else ("min", "smallest")
    name, p = _names(rng, [f"where_is_{how}", f"{word}_position", f"find_{word}"], ["nums", "values", "scores"])
    body = f"    return {p}.index({how}({p}))\n"
    top = 20 if big else -5
    return Instance(name, p, f"returns the index of the {word} number of the non-empty list `{p}`; when it "
                    "appears several times, the index of its first appearance", body,
                    [([7],), ([3, top],), ([top, 1, top, 2],), ([4, top, 0, top, 6],), (rng.sample(range(0, 19), 6),)])


def square_total(rng: random.Random) -> Instance:
    name, p = _names(rng, ["sum_of_squares", "square_total", "squares_sum", "total_squared"], _LISTP)
    body = f"    return sum([x ** 2 for x in {p}])\n"
    return Instance(name, p, f"returns the sum of the squares of the numbers in the list `{p}` (negative numbers "
                    "too: -3 adds 9; 0 for an empty list)", body,
                    [([],), ([1],), ([-3, 2],), ([0, 1, 1],), (_ints(rng, -5, 9, (3, 5)),)])


def count_multiples_of(rng: random.Random) -> Instance:
    k = rng.randint(2, 6)
    name, p = _names(rng, [f"count_multiples_of_{k}", "count_multiples", f"how_many_div_{k}", "multiple_count"],
                     _LISTP)
    body = f"    return [x % {k} for x in {p}].count(0)\n"
    return Instance(name, p, f"returns how many numbers in the list `{p}` are divisible by {k} (0 and negative "
                    f"multiples like -{k} count too)", body,
                    [([],), ([0, 1],), ([-k, k + 1],), ([k, 2 * k, k - 1, 3 * k + 1],), (_ints(rng, 1, 30, (4, 6)),)])


def all_equal(rng: random.Random) -> Instance:
    name, p = _names(rng, ["all_equal", "all_same", "is_uniform", "same_values"], _LISTP)
    body = f"    return {p} == {p}[:1] * len({p})\n"
    a = rng.randint(1, 9)
    return Instance(name, p, f"returns True if all the numbers in the list `{p}` are equal, and False otherwise "
                    "(True for an empty list and for a list of one number)", body,
                    [([],), ([a],), ([a, a, a],), ([a, a, a + 1],), ([a, a + 2, a],)])


def abs_total(rng: random.Random) -> Instance:
    name, p = _names(rng, ["abs_total", "sum_of_abs", "total_distance", "magnitude_sum"], _LISTP)
    body = f"    return sum(x if x > 0 else -x for x in {p})\n"
    return Instance(name, p, f"returns the sum of the absolute values of the numbers in the list `{p}` (-4 adds 4; "
                    "0 for an empty list)", body,
                    [([],), ([3, 5],), ([-4],), ([2, -7, 1],), (_ints(rng, -9, 9, (4, 6)),)])


def max_magnitude(rng: random.Random) -> Instance:
    name, p = _names(rng, ["max_magnitude", "largest_absolute", "biggest_size", "max_abs"], _LISTP)
    body = f"    return max(abs(min({p})), abs(max({p}))) if {p} else 0\n"
    return Instance(name, p, f"returns the largest absolute value among the numbers of the list `{p}` (-9 has "
                    "absolute value 9; 0 for an empty list)", body,
                    [([],), ([2, 5],), ([3, -8, 4],), ([-1, -6],), (_ints(rng, -9, 9, (4, 6)),)])


def even_squares(rng: random.Random) -> Instance:
    odd = rng.random() < 0.5
    word, test = ("odd", "x % 2 == 1") if odd else ("even", "x % 2 == 0")
    name, p = _names(rng, [f"{word}_squares", f"square_{word}s", f"squares_of_{word}"], _LISTP)
    body = f"    return [x ** 2 for x in {p} if {test}]\n"
    return Instance(name, p, f"returns the list of the squares of the {word} numbers of the list `{p}`, in order "
                    f"(the other numbers are left out; negative numbers can be {word} too)", body,
                    [([],), ([1, 2, 3, 4],), ([-3, -2],), (_ints(rng, -5, 9, (4, 6)),)])


# ---- lists of strings -------------------------------------------------------------------------------


def non_blank(rng: random.Random) -> Instance:
    name, p = _names(rng, ["non_blank", "clean_lines", "drop_blanks", "tidy_strings"], ["lines", "rows", "entries"])
    body = f"    return [s.strip() for s in {p} if s.strip()]\n"
    words = rng.sample(_FRUIT, 3)
    return Instance(name, p, f"returns the strings of the list `{p}` with spaces removed from both ends, leaving "
                    "out the strings that are empty or only spaces", body,
                    [([],), (["", "  "],), ([" a ", "b"],), ([words[0], "   ", " " + words[1], words[2] + "  ", ""],)])


# ---- 2-D lists -------------------------------------------------------------------------------------


def best_row(rng: random.Random) -> Instance:
    big = rng.random() < 0.5
    how, word = ("max", "largest") if big else ("min", "smallest")
    name, p = _names(rng, [f"{how}_row_sum", f"{word}_row_total", f"{word}_row_sum"], ["grid", "matrix", "rows"])
    body = f"    return {how}(map(sum, {p}), default=0)\n"
    return Instance(name, p, f"returns the {word} of the row sums of the matrix `{p}` (a list of rows); row sums "
                    "may be negative, and an empty matrix gives 0", body,
                    [([],), ([[-4, -5]],), ([[1, 2], [3, 0], [-2, -1]],), ([[-9, 2], [-5, -5], [-1, -1]],),
                     ([_ints(rng, -9, 9, (3, 3)) for _ in range(3)],)])


# (kind, makers), as eta.tasks.synthetic_easy.BY_KIND
BY_KIND: tuple[tuple[str, tuple[Callable[[random.Random], Instance], ...]], ...] = (
    ("list", (positions_of, all_positive, has_duplicates, index_of_best, non_blank, square_total,
              count_multiples_of, all_equal, abs_total, max_magnitude, even_squares)),
    ("grid", (best_row,)),
)
# a slip the small model makes, for the families whose references have no comparison, integer, min/max or
# and/or for tests/test_tasks_synthetic.py's mutants to flip
SLIPS: dict[str, tuple[tuple[str, str], ...]] = {
    'non_blank': (('if s.strip()', 'if s'),),
    'all_equal': (('[:1]', '[:2]'),),
    'abs_total': (('else -x', 'else x'),),
    'max_magnitude': (('abs(min(', '(min('),),
}
