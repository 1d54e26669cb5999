"""Short held-out families on dictionaries, tuples, sets and 2-D lists (see the package's docstring): a
method or builtin and one stated twist."""

from __future__ import annotations

import random
from typing import Callable

from eta.tasks.synthetic_base import Instance, _names, _pair_names, _sentence, _words

_KEYS = ["apple", "pear", "plum", "kiwi", "fig", "lime", "date", "grape"]


def _dict(rng: random.Random, n: int, low: int = 0, high: int = 9) -> dict[str, int]:
    return {k: rng.randint(low, high) for k in rng.sample(_KEYS, n)}


def _grid(rng: random.Random, h: int, w: int, low: int = 0, high: int = 9) -> list[list[int]]:
    return [[rng.randint(low, high) for _ in range(w)] for _ in range(h)]


# ---- dictionaries ---------------------------------------------------------------------------------

def get_or_default(rng: random.Random) -> Instance:
    default = rng.choice([0, -1, 1, 99])
    name, a, b = _pair_names(rng, ["get_or_default", "lookup", "stock_of"],
                             [("stock", "item"), ("prices", "name"), ("table", "key")])
    body = f"    return {a}[{b}] if {b} in {a} else {default}\n"
    d = _dict(rng, 3, 2, 9)
    keys = list(d)
    missing = next(k for k in _KEYS if k not in d)
    return Instance(name, f"{a}, {b}", f"returns the value of the key `{b}` in the dictionary `{a}`, or {default} when "
                    f"`{b}` is not a key of it", body,
                    [({}, "fig"), (d, missing), (d, keys[0]), ({**d, missing: 0}, missing), (d, keys[2])])


def filter_by_value(rng: random.Random) -> Instance:
    k = rng.randint(3, 6)
    strict = rng.random() < 0.5
    op, rule = (">", f"greater than {k}") if strict else (">=", f"at least {k} ({k} included)")
    name, p = _names(rng, ["filter_by_value", "keep_large", "big_entries"], ["d", "scores", "stock"])
    body = f"    return {{key: {p}[key] for key in {p} if {p}[key] {op} {k}}}\n"
    keys = rng.sample(_KEYS, 4)
    return Instance(name, p, f"returns a new dictionary with only the entries of the dictionary `{p}` whose value is "
                    f"{rule}", body,
                    [({},), ({keys[0]: k},), ({keys[0]: k - 1, keys[1]: k + 2},), ({keys[0]: k + 1, keys[1]: 0},),
                     ({keys[0]: 1, keys[1]: k, keys[2]: k + 5, keys[3]: k - 2},)])


def merge_max(rng: random.Random) -> Instance:
    name, a, b = _pair_names(rng, ["merge_max", "combine_max", "keep_larger", "merge_larger"],
                             [("a", "b"), ("first", "second"), ("left", "right")])
    body = f"    return {{key: max({a}.get(key, 0), {b}.get(key, 0)) for key in {a} | {b}}}\n"
    k = rng.sample(_KEYS, 3)
    return Instance(name, f"{a}, {b}", f"returns a new dictionary with the keys of both dictionaries `{a}` and `{b}` "
                    "(whose values are positive); a key in both gets the larger of its two values, a key in only one "
                    "keeps its value", body,
                    [({}, {}), ({k[0]: 4}, {k[0]: 4}), ({k[0]: 2}, {k[0]: 5}), ({k[0]: 3}, {k[1]: 6}),
                     ({k[0]: 5, k[1]: 6}, {k[1]: 7, k[2]: 8})])


def dict_total(rng: random.Random) -> Instance:
    name, p = _names(rng, ["dict_total", "total_stock", "sum_values", "total_count"], ["stock", "counts", "d"])
    body = f"    return sum(list({p}.values()))\n"
    return Instance(name, p, f"returns the sum of all the values of the dictionary `{p}`, whose values are numbers "
                    "(0 for an empty dictionary)", body,
                    [({},), ({"a": 1},), ({"x": 4, "y": 0},), (_dict(rng, rng.randint(3, 5), 0, 20),)])


def shared_keys(rng: random.Random) -> Instance:
    name, a, b = _pair_names(rng, ["shared_keys", "common_key_count", "keys_in_both", "overlap_count"],
                             [("a", "b"), ("d1", "d2"), ("first", "second"), ("old", "new")])
    body = f"    return len({a}.keys() & {b}.keys())\n"
    d1, d2 = _dict(rng, 4), _dict(rng, 3)
    return Instance(name, f"{a}, {b}", f"returns how many keys the dictionaries `{a}` and `{b}` have in common (their "
                    "values do not matter)", body,
                    [({}, {"a": 1}), ({"a": 1}, {"a": 2}), ({"a": 1}, {"b": 1}), ({"a": 1, "b": 2}, {"b": 3, "c": 4}),
                     (d1, d2)])


# ---- tuples ----------------------------------------------------------------------------------------


def sort_by_second(rng: random.Random) -> Instance:
    desc = rng.random() < 0.5
    name, p = _names(rng, ["sort_by_second", "order_by_score", "sort_pairs"], ["pairs", "records", "entries"])
    extra, order = (", reverse=True", "from largest to smallest") if desc else ("", "from smallest to largest")
    body = f"    return sorted({p}, key=lambda pair: pair[1]{extra})\n"
    k = rng.sample(_KEYS, 4)
    same = [(k[0], 1), (k[1], 5), (k[2], 9)]
    if desc:
        same = same[::-1]
    return Instance(name, p, f"returns the list `{p}` of (name, number) tuples sorted by the number, {order}; tuples "
                    "with equal numbers keep their order", body,
                    [([],), (same,), ([(k[1], 4), (k[0], 4)],), ([(k[0], 7), (k[1], 2), (k[2], 5)],),
                     ([(k[3], 3), (k[0], 8), (k[2], 1), (k[1], 6)],)])


def numbered(rng: random.Random) -> Instance:
    start = rng.choice([0, 1])
    name, p = _names(rng, ["numbered", "with_positions", "enumerate_items"], ["items", "words", "names"])
    body = f"    return list(enumerate({p}, start={start}))\n"
    return Instance(name, p, f"returns the list of tuples (position, item) for the items of the list `{p}`, the "
                    f"positions counted from {start}", body,
                    [([],), (["x"],), (rng.sample(_KEYS, 2),), (rng.sample(_KEYS, 4),)])


# ---- sets ------------------------------------------------------------------------------------------


def distinct_words(rng: random.Random) -> Instance:
    name, p = _names(rng, ["distinct_words", "unique_word_count", "vocabulary_size"], ["text", "sentence", "s"])
    body = f"    return len(set({p}.lower().split()))\n"
    w = _words(rng)
    return Instance(name, p, f"returns how many different words the string `{p}` holds (words are separated by "
                    "spaces; upper and lower case count as the same word)", body,
                    [("",), (w,), (f"{w} {w.upper()}",), (f"{w} {w.capitalize()} data",), (_sentence(rng),)])


# ---- grids -----------------------------------------------------------------------------------------


def flatten(rng: random.Random) -> Instance:
    name, p = _names(rng, ["flatten", "flat_list", "all_values"], ["grid", "matrix", "rows"])
    body = f"    return [x for row in {p} for x in row]\n"
    return Instance(name, p, f"returns one list with all the numbers of the matrix `{p}` (a list of rows, which may "
                    "have different lengths or be empty), row by row", body,
                    [([],), ([[], [3]],), ([[1, 2], [3]],), (_grid(rng, 3, 2),)])


def grid_max(rng: random.Random) -> Instance:
    small = rng.random() < 0.5
    how, word = ("min", "smallest") if small else ("max", "largest")
    name, p = _names(rng, [f"grid_{how}", f"{word}_in_grid", f"{how}_cell"], ["grid", "matrix", "board"])
    body = f"    return {how}(map({how}, {p}))\n"
    return Instance(name, p, f"returns the {word} number in the matrix `{p}` (a list of non-empty rows, the numbers "
                    "may be negative)", body,
                    [([[rng.randint(-9, 9)]],), ([[-3], [-7]],), ([[1, 5], [4, 2]],), (_grid(rng, 3, 3, -9, 9),)])


def any_negative(rng: random.Random) -> Instance:
    neg = rng.random() < 0.5
    how, op, word = ("min", "<", "negative (below 0)") if neg else ("max", ">", "positive (above 0)")
    name, p = _names(rng, [f"any_{'negative' if neg else 'positive'}", "has_sign", "grid_has"],
                     ["grid", "matrix", "rows"])
    body = f"    return any({how}(row) {op} 0 for row in {p} if row)\n"
    h, w = rng.randint(2, 3), rng.randint(2, 4)
    g = _grid(rng, h, w, -5, 5)
    return Instance(name, p, f"returns True if some number in the 2-D list `{p}` (a list of rows) is {word}, and False "
                    "otherwise (0 is neither)", body,
                    [([],), ([[0, 0], [0]],), ([[0], [-1 if neg else 1]],), ([[1 if neg else -1]],), (g,)])


def rows_containing(rng: random.Random) -> Instance:
    k = rng.randint(0, 9)
    name, p = _names(rng, ["rows_containing", f"rows_with_{k}", "count_rows_with"], ["grid", "matrix", "rows"])
    body = f"    return len([row for row in {p} if {k} in row])\n"
    g = _grid(rng, 4, 3, 0, 9)
    g[1][2] = k
    return Instance(name, p, f"returns how many rows of the 2-D list `{p}` contain the number {k} at least once (a row "
                    f"with {k} twice counts once)", body,
                    [([],), ([[k, k], [k + 1]],), ([[k + 1], [k - 1]],), (g,)])


# (kind, makers), as eta.tasks.synthetic_easy.BY_KIND
BY_KIND: tuple[tuple[str, tuple[Callable[[random.Random], Instance], ...]], ...] = (
    ("list", (get_or_default, filter_by_value, merge_max, sort_by_second, numbered, dict_total, shared_keys)),
    ("grid", (flatten, grid_max, any_negative, rows_containing)),
    ("string", (distinct_words,)),
)
# a slip the small model makes, for the families whose references have no comparison, integer, min/max or
# and/or for tests/test_tasks_synthetic.py's mutants to flip
SLIPS: dict[str, tuple[tuple[str, str], ...]] = {
    'distinct_words': (('.lower()', ''),),
    'flatten': (('[x for row in', '[row for row in'),),
    'dict_total': (('sum(', 'len('),),
    'shared_keys': ((' & ', ' | '),),
}
