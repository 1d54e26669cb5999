"""Simpler synthetic families, with new skeletons, for a small model to solve sometimes.

The structured families of ``eta.tasks.synthetic`` were written so that a slip is a wrong answer, but
SmolLM2-135M-Instruct solved almost none of the held-out ones (sampled pass@1 1.4%): a comparison on them
sits at the floor. These are simpler (one loop or none, one idea, a prompt that states the rule and its
edge case), most of them textbook tasks with a twist: a tie, an inclusive bound, an even length, a case
rule, overlapping matches. Their tests hold the edge case that catches the twist beside ordinary cases that
a near-miss still passes, so a wrong answer fails some tests, not all (partial credit, where a trace can
help). SmolLM2 solves some of them (min_max, max_of_three, squares, ...: the held-out families) and never
solves most of the others (fizzbuzz, grade, snake_to_camel, ...: training families); docs/datasets.md has the
rates. Every reference's skeleton is below 0.8 similarity to every training family's
(``eta.tasks.skeleton``; tests/test_skeleton.py).
"""

from __future__ import annotations

import random
from typing import Callable

from eta.tasks.synthetic_base import Instance, _ints, _names, _pair_names, _sentence, _words

def _digits_but(k: int) -> list[int]:
    """The digits 0-9 other than ``k``: list entries that are never the one searched for."""
    return [x for x in range(10) if x != k]


_POOL = ["apple", "banana", "cherry", "hello", "world", "data", "loop", "queue", "python"]  # no palindromes


def middle(rng: random.Random) -> Instance:
    second = rng.random() < 0.5
    index, which = ("len({p}) // 2", "second") if second else ("(len({p}) - 1) // 2", "first")
    name, p = _names(rng, ["middle", "middle_element", "center_value"], ["nums", "values", "items"])
    body = f"    return {p}[{index.format(p=p)}]\n"

    def distinct(n: int) -> list[int]:
        return rng.sample(range(1, 30), n)
    return Instance(name, p, f"returns the middle number of the non-empty list `{p}`; when the length is even "
                    f"there are two middle numbers, return the {which} of them", body,
                    [(distinct(1),), (distinct(2),), (distinct(3),), (distinct(4),), (distinct(rng.choice([5, 7])),),
                     (distinct(6),)])


def neighbour_diffs(rng: random.Random) -> Instance:
    name, p = _names(rng, ["differences", "neighbour_diffs", "steps_between", "gaps"], ["nums", "values", "readings"])
    body = f"    return [{p}[i + 1] - {p}[i] for i in range(len({p}) - 1)]\n"
    return Instance(name, p, f"returns the list of differences between neighbours in the list `{p}`: "
                    f"{p}[1] - {p}[0], then {p}[2] - {p}[1], and so on ([] when it has fewer than two numbers)",
                    body, [([],), ([rng.randint(1, 9)],), ([3, 8],), (_ints(rng, 0, 20, (4, 6)),)])


def fizzbuzz(rng: random.Random) -> Instance:
    a, b = rng.choice([(3, 5), (2, 3), (3, 4), (2, 5), (4, 5)])
    name, p = _names(rng, ["fizzbuzz", "fizz_buzz", "fizzbuzz_list"], ["n", "count", "limit"])
    body = (f"    result = []\n    for i in range(1, {p} + 1):\n        if i % {a} == 0 and i % {b} == 0:\n"
            f"            result.append('FizzBuzz')\n        elif i % {a} == 0:\n            result.append('Fizz')\n"
            f"        elif i % {b} == 0:\n            result.append('Buzz')\n        else:\n"
            f"            result.append(str(i))\n    return result\n")
    return Instance(name, p, f"returns a list of strings for the numbers 1 to `{p}` (both included): 'FizzBuzz' "
                    f"for a number divisible by both {a} and {b}, 'Fizz' for one divisible by {a} only, 'Buzz' for "
                    f"one divisible by {b} only, and the number itself as a string otherwise", body,
                    [(0,), (1,), (a,), (a * b,), (a * b + 1,)])


def leap_year(rng: random.Random) -> Instance:
    name, p = _names(rng, ["is_leap", "leap_year", "is_leap_year", "leap"], ["year", "y", "n"])
    body = f"    return {p} % 4 == 0 and ({p} % 100 != 0 or {p} % 400 == 0)\n"
    return Instance(name, p, f"returns True if `{p}` is a leap year and False otherwise: a year divisible by 4 is "
                    "a leap year, except a year divisible by 100, which is one only when it is also divisible by 400",
                    body, [(rng.choice([2023, 2021, 1999]),), (rng.choice([1900, 2100, 1800]),),
                           (rng.choice([2000, 1600, 2400]),), (rng.choice([2024, 1996, 2012]),)])


def grade(rng: random.Random) -> Instance:
    a, b, c = rng.choice([(90, 80, 70), (85, 70, 50), (80, 65, 50), (90, 75, 60)])
    name, p = _names(rng, ["grade", "letter_grade", "score_to_grade"], ["score", "points", "mark"])
    body = (f"    if {p} >= {a}:\n        return 'A'\n    if {p} >= {b}:\n        return 'B'\n"
            f"    if {p} >= {c}:\n        return 'C'\n    return 'F'\n")
    return Instance(name, p, f"returns the letter grade of the score `{p}`: 'A' for {a} or more, 'B' for {b} to "
                    f"{a - 1}, 'C' for {c} to {b - 1}, and 'F' below {c}", body,
                    [(100,), (a,), (a - 1,), (c,), (c - 1,), (rng.randint(b, a - 1),)])


def count_overlapping(rng: random.Random) -> Instance:
    sub = rng.choice(["aa", "ab", "ana", "aba", "oo"])
    name, p = _names(rng, [f"count_{sub}", "count_overlapping", "occurrences"], ["s", "text"])
    body = (f"    count = 0\n    for i in range(len({p}) - {len(sub)} + 1):\n"
            f"        if {p}[i:i + {len(sub)}] == '{sub}':\n            count += 1\n    return count\n")
    doubled = sub + sub[1:]  # two overlapping occurrences
    return Instance(name, p, f"returns how many times '{sub}' occurs in the string `{p}`, overlapping "
                    f"occurrences included ('{doubled}' holds it twice)", body,
                    [("",), (sub[:-1],), (sub,), ("x" + doubled + "x" + sub,), (sub + "x" + sub + sub[1:],)])


def times_table(rng: random.Random) -> Instance:
    start, add = rng.choice([0, 1]), rng.random() < 0.5
    op, word = ("+", "sum") if add else ("*", "product")
    name, p = _names(rng, ["times_table", "table", "make_table"], ["n", "size"])
    body = f"    return [[i {op} j for j in range({start}, {p} + {start})] for i in range({start}, {p} + {start})]\n"
    return Instance(name, p, f"returns a `{p}` x `{p}` table as a list of rows: the entry in row i and column j is "
                    f"the {word} i {op} j, where i and j run from {start} to `{p}`{' - 1' if start == 0 else ''} "
                    "([] for 0)", body, [(0,), (1,), (2,), (3,)])


def parse_pairs(rng: random.Random) -> Instance:
    sep, eq = rng.choice([(",", "="), (";", "="), (",", ":")])
    name, p = _names(rng, ["parse_pairs", "parse_settings", "to_dict"], ["text", "line", "spec"])
    body = (f"    result = {{}}\n    if not {p}:\n        return result\n    for part in {p}.split('{sep}'):\n"
            f"        key, value = part.split('{eq}')\n        result[key] = int(value)\n    return result\n")

    def spec(keys: list[str]) -> str:
        return sep.join(f"{k}{eq}{rng.randint(0, 99)}" for k in keys)
    return Instance(name, p, f"returns a dictionary from the string `{p}` of key-value pairs written like "
                    f"'a{eq}1{sep}b{eq}2' (pairs separated by '{sep}', a key from its integer value by '{eq}'; "
                    "{} for an empty string)", body,
                    [("",), (spec(["x"]),), (spec(["a", "b", "a"]),), (spec(rng.sample("abcdef", 3)),)])


def clock_minutes(rng: random.Random) -> Instance:
    secs = rng.random() < 0.5
    big, small, unit = ("minutes", "seconds", "seconds") if secs else ("hours", "minutes", "minutes")
    name, p = _names(rng, [f"to_{unit}", f"total_{unit}", f"{unit}_of"], ["clock", "time", "stamp"])
    body = f"    {big}, {small} = {p}.split(':')\n    return int({big}) * 60 + int({small})\n"
    return Instance(name, p, f"returns the total number of {unit} in the time `{p}`, written '{big[0].upper()}"
                    f"{big[0].upper()}:{small[0].upper()}{small[0].upper()}' with two digits each", body,
                    [("00:00",), ("00:59",), ("01:00",), (f"{rng.randint(10, 23)}:{rng.randint(10, 59)}",),
                     (f"0{rng.randint(1, 9)}:0{rng.randint(1, 9)}",)])


def second_largest(rng: random.Random) -> Instance:
    name, p = _names(rng, ["second_largest", "runner_up", "second_max", "next_best"], ["nums", "values", "scores"])
    body = (f"    values = sorted(set({p}))\n    if len(values) < 2:\n        return None\n"
            f"    return values[-2]\n")
    top = rng.randint(5, 20)
    return Instance(name, p, f"returns the second largest distinct number in the list `{p}` (None when it has "
                    "fewer than two distinct numbers)", body,
                    [([],), ([top, top],), ([top - 3, top],), ([top, top, top - 2, 1],), (_ints(rng, 0, 20, (4, 7)),)])


def last_index(rng: random.Random) -> Instance:
    k = rng.randint(0, 9)
    name, p = _names(rng, ["last_index", "find_last", "last_position"], ["nums", "values"])
    body = (f"    for i in range(len({p}) - 1, -1, -1):\n        if {p}[i] == {k}:\n            return i\n"
            f"    return -1\n")
    other = _digits_but(k)
    return Instance(name, p, f"returns the index of the last occurrence of the number {k} in the list `{p}`, or -1 "
                    f"if {k} does not appear", body,
                    [([],), (rng.sample(other, 4),), ([k] + rng.sample(other, 3),), ([k, 1 if k != 1 else 2, k, k],),
                     (rng.sample(other, 2) + [k] + rng.sample(other, 2),)])


def digit_list(rng: random.Random) -> Instance:
    backwards = rng.random() < 0.5
    order = "from the last digit to the first" if backwards else "from the first digit to the last"
    name, p = _names(rng, ["digits", "digit_list", "split_digits"], ["n", "number"])
    body = f"    return [int(ch) for ch in str({p}){'[::-1]' if backwards else ''}]\n"
    return Instance(name, p, f"returns the list of the decimal digits of the non-negative integer `{p}`, {order} "
                    "(0 gives [0])", body, [(0,), (7,), (10,), (rng.randint(100, 999),), (rng.randint(1000, 99999),)])


def long_words(rng: random.Random) -> Instance:
    k = rng.randint(3, 5)
    name, p = _names(rng, ["long_words", "count_long_words", "words_over"], ["text", "sentence"])
    body = f"    return len([w for w in {p}.split() if len(w) > {k}])\n"
    exact = "x" * k
    return Instance(name, p, f"returns how many words of the string `{p}` (separated by spaces) have more than "
                    f"{k} letters", body, [("",), (exact,), (exact + "y " + exact,), (_sentence(rng),)])


def snake_to_camel(rng: random.Random) -> Instance:
    name, p = _names(rng, ["snake_to_camel", "to_camel_case", "camel", "camel_case"], ["name", "s", "text"])
    body = (f"    parts = {p}.split('_')\n    return parts[0] + ''.join(w.capitalize() for w in parts[1:])\n")
    return Instance(name, p, f"returns the snake_case identifier `{p}` in camelCase: the first word as it is, each "
                    "later word with its first letter in upper case, the underscores removed ('get_user_id' gives "
                    "'getUserId')", body,
                    [("x",), ("total",), ("max_value",), (f"{_words(rng)}_{_words(rng)}_{_words(rng)}",)])


def count_peaks(rng: random.Random) -> Instance:
    name, p = _names(rng, ["count_peaks", "peaks", "num_peaks", "local_maxima"], ["nums", "heights", "values"])
    body = (f"    count = 0\n    for i in range(1, len({p}) - 1):\n"
            f"        if {p}[i] > {p}[i - 1] and {p}[i] > {p}[i + 1]:\n            count += 1\n    return count\n")
    return Instance(name, p, f"returns how many numbers of the list `{p}` are larger than both their neighbours "
                    "(the first and the last number have one neighbour and never count)", body,
                    [([],), ([5, 1, 5],), ([1, 3, 3, 1],), ([1, 4, 2, 6, 3],), (_ints(rng, 0, 9, (5, 8)),)])


def star_triangle(rng: random.Random) -> Instance:
    ch = rng.choice(["*", "#", "+"])
    down = rng.random() < 0.5
    name, p = _names(rng, ["triangle", "star_triangle", "draw_triangle"], ["n", "rows", "height"])
    rows = f"range({p}, 0, -1)" if down else f"range(1, {p} + 1)"
    body = f"    return '\\n'.join('{ch}' * i for i in {rows})\n"
    shape = f"from `{p}` characters down to 1" if down else f"from 1 character up to `{p}`"
    return Instance(name, p, f"returns a triangle of '{ch}' characters as one string: `{p}` lines joined by '\\n' "
                    f"(no newline at the end), {shape} ('' for 0)", body, [(0,), (1,), (2,), (rng.randint(3, 5),)])


def reverse_words(rng: random.Random) -> Instance:
    each = rng.random() < 0.5
    name, p = _names(rng, ["reverse_words", "flip_words", "backwards_words"], ["text", "sentence"])
    if each:
        body = f"    return ' '.join(w[::-1] for w in {p}.split())\n"
        rule = "with every word spelled backwards, the words kept in their order"
    else:
        body = f"    return ' '.join({p}.split()[::-1])\n"
        rule = "with its words in reverse order, each word spelled as it is"
    return Instance(name, p, f"returns the string `{p}` {rule} (words are separated by single spaces)", body,
                    [("",), ("word",), ("ab cd",), (" ".join(rng.sample(_POOL, 3)),)])


def average(rng: random.Random) -> Instance:
    floor = rng.random() < 0.5
    name, p = _names(rng, ["average", "mean", "mean_value"], ["nums", "values", "marks"])
    op, how = ("//", "rounded down to a whole number") if floor else ("/", "as a float")
    body = f"    if not {p}:\n        return 0\n    return sum({p}) {op} len({p})\n"
    return Instance(name, p, f"returns the average of the numbers in the list `{p}`, {how} (0 for an empty list)",
                    body, [([],), ([rng.randint(1, 9)],), ([1, 2],), ([2, 3, 5],), (_ints(rng, 0, 20, (4, 6)),)])


def find_in_grid(rng: random.Random) -> Instance:
    k = rng.randint(1, 9)
    others = _digits_but(k)
    name, p = _names(rng, ["find_in_grid", "locate", "position_in_grid"], ["grid", "matrix"])
    body = (f"    for r in range(len({p})):\n        for c in range(len({p}[r])):\n            if {p}[r][c] == {k}:\n"
            f"                return (r, c)\n    return None\n")

    def grid(h: int, w: int, at: tuple[int, int] | None) -> list[list[int]]:
        rows = [[rng.choice(others) for _ in range(w)] for _ in range(h)]
        if at:
            rows[at[0]][at[1]] = k
        return rows
    return Instance(name, p, f"returns the (row, column) position of the first {k} in the matrix `{p}` (a list of "
                    f"rows, read row by row), or None if there is no {k}", body,
                    [([],), (grid(2, 2, None),), (grid(1, 3, (0, 2)),), (grid(3, 2, (2, 0)),), (grid(3, 3, (1, 1)),)])


def row_totals(rng: random.Random) -> Instance:
    how = rng.choice(["sum", "max", "min"])
    name, p = _names(rng, [f"row_{how}s", f"{how}_of_rows", f"each_row_{how}"], ["grid", "matrix", "rows"])
    body = f"    return [{how}(row) for row in {p}]\n"
    word = {"sum": "sum", "max": "largest number", "min": "smallest number"}[how]
    return Instance(name, p, f"returns a list with the {word} of each row of the matrix `{p}` (a list of non-empty "
                    "rows), in row order", body,
                    [([],), ([[rng.randint(-9, 9)]],), ([[1, 2], [3, 4]],),
                     ([_ints(rng, -9, 9, (3, 3)) for _ in range(3)],)])


def chunks(rng: random.Random) -> Instance:
    k = rng.randint(2, 4)
    name, p = _names(rng, ["chunks", "split_into_groups", "group_by_size"], ["nums", "items", "values"])
    body = f"    return [{p}[i:i + {k}] for i in range(0, len({p}), {k})]\n"
    return Instance(name, p, f"returns the list `{p}` cut into consecutive groups of {k} numbers, as a list of "
                    f"lists; the last group is shorter when the length is not a multiple of {k}", body,
                    [([],), (list(range(1, k)),), (list(range(1, k + 1)),), (_ints(rng, 0, 9, (2 * k + 1, 3 * k)),)])


def sum_between(rng: random.Random) -> Instance:
    name, a, b = _pair_names(rng, ["sum_between", "range_total", "add_range", "total_from_to"],
                             [("a", "b"), ("low", "high"), ("start", "end")])
    body = f"    return sum(range(min({a}, {b}), max({a}, {b}) + 1))\n"
    x = rng.randint(1, 9)
    return Instance(name, f"{a}, {b}", f"returns the sum of all the integers between `{a}` and `{b}`, both included "
                    f"(`{a}` may be larger than `{b}`)", body,
                    [(x, x), (1, 3), (5, 2), (-2, 2), (rng.randint(-5, 5), rng.randint(6, 20))])


def int_sqrt(rng: random.Random) -> Instance:
    name, p = _names(rng, ["int_sqrt", "isqrt", "floor_sqrt", "square_root_floor"], ["n", "x", "value"])
    body = f"    r = 0\n    while (r + 1) * (r + 1) <= {p}:\n        r += 1\n    return r\n"
    s = rng.randint(3, 9)
    return Instance(name, p, f"returns the largest whole number whose square is at most the non-negative integer "
                    f"`{p}` (its square root rounded down)", body,
                    [(0,), (1,), (s * s - 1,), (s * s,), (rng.randint(10, 200),)])


def coin_count(rng: random.Random) -> Instance:
    coins = rng.choice([(25, 10, 5, 1), (50, 20, 10, 5, 1), (10, 5, 2, 1), (20, 10, 5, 1)])
    name, p = _names(rng, ["coin_count", "fewest_coins", "min_coins"], ["amount", "cents", "n"])
    body = (f"    count = 0\n    for coin in {coins!r}:\n        count += {p} // coin\n        {p} = {p} % coin\n"
            f"    return count\n")
    return Instance(name, p, f"returns the fewest coins that add up to `{p}` with coins worth "
                    f"{', '.join(map(str, coins))}: take as many of the largest coin as fit, then of the next, and "
                    "so on", body, [(0,), (coins[0],), (coins[0] - 1,), (rng.randint(coins[0] + 1, 4 * coins[0]),)])


def format_clock(rng: random.Random) -> Instance:
    name, p = _names(rng, ["format_clock", "to_clock", "as_minutes_seconds", "clock_text"],
                     ["seconds", "total", "secs"])
    body = f"    return str({p} // 60).zfill(2) + ':' + str({p} % 60).zfill(2)\n"
    return Instance(name, p, f"returns the number of seconds `{p}` (under 6000) as a clock 'MM:SS': minutes and "
                    "seconds with two digits each", body, [(0,), (59,), (60,), (rng.randint(61, 599),),
                                                            (rng.randint(600, 5999),)])


def mask(rng: random.Random) -> Instance:
    keep, ch = rng.randint(2, 4), rng.choice(["#", "*"])
    name, p = _names(rng, ["mask", "hide_digits", "mask_number"], ["card", "s", "code"])
    body = f"    return '{ch}' * (len({p}) - {keep}) + {p}[-{keep}:]\n"
    digits = "".join(str(rng.randint(0, 9)) for _ in range(rng.randint(8, 12)))
    return Instance(name, p, f"returns the string `{p}` with every character except the last {keep} replaced by "
                    f"'{ch}' (a string of at most {keep} characters stays as it is)", body,
                    [("",), (digits[:keep - 1],), (digits[:keep],), (digits[:keep + 1],), (digits,)])


def countdown(rng: random.Random) -> Instance:
    step = rng.choice([1, 1, 2, 3])
    name, p = _names(rng, ["countdown", "count_down", "down_from"], ["n", "start"])
    body = f"    return list(range({p}, 0, -{step}))\n"
    every = "" if step == 1 else f" in steps of {step}"
    return Instance(name, p, f"returns the list of numbers counting down from `{p}`{every}, keeping only the "
                    f"numbers above 0 ([] for 0)", body, [(0,), (1,), (step + 1,), (rng.randint(5, 12),)])


def swap_ends(rng: random.Random) -> Instance:
    name, p = _names(rng, ["swap_ends", "swap_first_last", "exchange_ends", "flip_ends"], ["nums", "items", "values"])
    body = f"    if len({p}) < 2:\n        return {p}\n    return {p}[-1:] + {p}[1:-1] + {p}[:1]\n"
    return Instance(name, p, f"returns a copy of the list `{p}` with its first and last numbers swapped (a list "
                    "of fewer than two numbers stays as it is)", body,
                    [([],), ([rng.randint(1, 9)],), ([1, 2],), (rng.sample(range(1, 20), 3),),
                     (rng.sample(range(1, 20), 6),)])


# ---- textbook one-step functions with an edge case ------------------------------------------------

def word_total(rng: random.Random) -> Instance:
    name, p = _names(rng, ["count_words", "word_count", "number_of_words"], ["text", "sentence", "s"])
    body = f"    return len({p}.split())\n"
    return Instance(name, p, f"returns the number of words in the string `{p}` (words are separated by one or more "
                    "spaces)", body, [("",), ("  ",), ("one",), ("two  words ",), (_sentence(rng),)])


def max_of_three(rng: random.Random) -> Instance:
    smallest = rng.random() < 0.5
    how, word = ("min", "smallest") if smallest else ("max", "largest")
    name = rng.choice([f"{how}_of_three", f"{word}_of_three", f"{word}3"])
    a, b, c = rng.choice([("a", "b", "c"), ("x", "y", "z")])
    body = f"    return {how}({a}, {b}, {c})\n"
    return Instance(name, f"{a}, {b}, {c}", f"returns the {word} of the three numbers `{a}`, `{b}` and `{c}`", body,
                    [(4, 4, 4), (1, 2, 3), (3, 2, 1), (2, 3, 1), (5, 5, 2),
                     (-4, rng.randint(-9, 9), rng.randint(-9, 9))])


def squares(rng: random.Random) -> Instance:
    start = rng.choice([0, 1])
    name, p = _names(rng, ["squares", "first_squares", "square_list"], ["n", "count"])
    body = f"    return [i * i for i in range({start}, {p} + {start})]\n"
    first = "0 * 0, 1 * 1, 2 * 2" if start == 0 else "1 * 1, 2 * 2, 3 * 3"
    return Instance(name, p, f"returns a list of the first `{p}` square numbers, starting {first}, ... ([] for 0)",
                    body, [(0,), (1,), (2,), (rng.randint(4, 8),)])


def join_words(rng: random.Random) -> Instance:
    sep = rng.choice([" ", ", ", "-"])
    name, p = _names(rng, ["join_words", "make_sentence", "glue_words"], ["words", "parts"])
    body = f"    return '{sep}'.join({p})\n"
    return Instance(name, p, f"returns the strings of the list `{p}` joined into one string, with '{sep}' between "
                    "two neighbours ('' for an empty list)", body,
                    [([],), (["solo"],), (["a", "b"],), (rng.sample(_POOL, 3),)])


def absolute(rng: random.Random) -> Instance:
    name, p = _names(rng, ["absolute", "abs_value", "magnitude"], ["x", "n", "value"])
    body = f"    if {p} < 0:\n        return -{p}\n    return {p}\n"
    return Instance(name, p, f"returns the absolute value of the integer `{p}` without using abs()", body,
                    [(0,), (rng.randint(1, 9),), (-rng.randint(1, 9),), (-rng.randint(10, 99),)])


def is_vowel(rng: random.Random) -> Instance:
    name, p = _names(rng, ["is_vowel", "vowel", "check_vowel"], ["ch", "letter", "c"])
    body = f"    return {p}.lower() in 'aeiou'\n"
    return Instance(name, p, f"returns True if the single letter `{p}` is a vowel (a, e, i, o or u, in lower or "
                    "upper case), and False otherwise", body,
                    [("a",), ("E",), ("y",), (rng.choice("bcdfg"),), (rng.choice("IOU"),)])


def perimeter(rng: random.Random) -> Instance:
    name, a, b = _pair_names(rng, ["perimeter", "rectangle_perimeter", "fence_length"],
                             [("width", "height"), ("w", "h"), ("length", "width")])
    body = f"    return 2 * ({a} + {b})\n"
    return Instance(name, f"{a}, {b}", f"returns the perimeter of a rectangle with sides `{a}` and `{b}`", body,
                    [(0, 0), (1, 1), (2, 5), (rng.randint(3, 20), rng.randint(3, 20))])


def last_word(rng: random.Random) -> Instance:
    first = rng.random() < 0.5
    which, index = ("first", "0") if first else ("last", "-1")
    name, p = _names(rng, [f"{which}_word", f"get_{which}_word", f"{which}_of_sentence"], ["text", "sentence"])
    body = f"    words = {p}.split()\n    if not words:\n        return ''\n    return words[{index}]\n"
    return Instance(name, p, f"returns the {which} word of the string `{p}` (words are separated by spaces; '' when "
                    "there is none)", body, [("",), ("one",), (" two words ",), (_sentence(rng),)])


def min_max(rng: random.Random) -> Instance:
    name, p = _names(rng, ["min_max", "smallest_and_largest", "extremes"], ["nums", "values", "numbers"])
    body = f"    return (min({p}), max({p}))\n"
    return Instance(name, p, f"returns a tuple (smallest, largest) of the numbers in the non-empty list `{p}`", body,
                    [([rng.randint(-9, 9)],), ([2, 1],), ([4, 4, 4],), (_ints(rng, -20, 20, (4, 7)),)])


def is_anagram(rng: random.Random) -> Instance:
    name, a, b = _pair_names(rng, ["is_anagram", "anagrams", "same_letters"],
                             [("a", "b"), ("s", "t"), ("first", "second"), ("word1", "word2")])
    body = f"    return sorted({a}) == sorted({b})\n"
    w = rng.choice(_POOL)
    shuffled = "".join(rng.sample(w, len(w)))
    return Instance(name, f"{a}, {b}", f"returns True if the strings `{a}` and `{b}` are anagrams (the same letters, "
                    "each the same number of times, in any order), and False otherwise", body,
                    [("", ""), ("ab", "ba"), ("aab", "abb"), ("abc", "ab"), (w, shuffled)])


def triangular(rng: random.Random) -> Instance:
    name, p = _names(rng, ["triangular", "triangle_number", "nth_triangular"], ["n", "k"])
    body = f"    return {p} * ({p} + 1) // 2\n"
    return Instance(name, p, f"returns the `{p}`-th triangular number, the sum 1 + 2 + ... + `{p}` (0 for 0)", body,
                    [(0,), (1,), (2,), (rng.randint(5, 50),)])


def find_index(rng: random.Random) -> Instance:
    name, a, b = _pair_names(rng, ["find_index", "index_of", "position"],
                             [("items", "target"), ("nums", "x"), ("values", "wanted")])
    body = f"    if {b} in {a}:\n        return {a}.index({b})\n    return -1\n"
    xs = rng.sample(range(1, 20), 5)
    return Instance(name, f"{a}, {b}", f"returns the index of the first occurrence of `{b}` in the list `{a}`, or -1 "
                    f"if `{b}` is not in it", body,
                    [([], 3), (xs, xs[0]), (xs + [xs[2]], xs[2]), (xs, 25), (xs, xs[-1])])


def sum_odds(rng: random.Random) -> Instance:
    odd = rng.random() < 0.5
    which, start = ("odd", 1) if odd else ("even", 2)
    name, p = _names(rng, [f"sum_{which}s", f"sum_of_{which}_numbers", f"{which}_total"], ["n", "limit"])
    body = f"    return sum(range({start}, {p} + 1, 2))\n"
    return Instance(name, p, f"returns the sum of the {which} numbers from 1 to `{p}`, `{p}` included when it is "
                    f"{which}", body, [(0,), (1,), (2,), (rng.randint(5, 15),), (rng.randint(16, 40),)])


def parse_ints(rng: random.Random) -> Instance:
    sep = rng.choice([" ", ",", ";"])
    name, p = _names(rng, ["parse_ints", "to_numbers", "read_numbers"], ["text", "line", "s"])
    split = f"split({sep!r})" if sep != " " else "split()"
    body = f"    return [int(x) for x in {p}.{split}]\n"
    shown = "space" if sep == " " else f"'{sep}'"
    return Instance(name, p, f"returns the list of integers written in the non-empty string `{p}`, separated by "
                    f"{shown}", body, [("7",), (sep.join(["1", "-2"]),),
                                       (sep.join(str(x) for x in _ints(rng, -50, 99)),),
                                       (sep.join(["10", "0", "3"]),)])


def join_numbers(rng: random.Random) -> Instance:
    sep = rng.choice([",", ", ", "-", " "])
    name, p = _names(rng, ["join_numbers", "numbers_to_text", "list_to_string"], ["nums", "values"])
    body = f"    return {sep!r}.join(str(x) for x in {p})\n"
    return Instance(name, p, f"returns the numbers of the list `{p}` written as one string, separated by {sep!r} "
                    "('' for an empty list)", body, [([],), ([7],), ([-1, 20],), (_ints(rng, -9, 99, (3, 5)),)])


def remove_spaces(rng: random.Random) -> Instance:
    ch = rng.choice([" ", "-", "_"])
    word = {" ": "space", "-": "dash", "_": "underscore"}[ch]
    name, p = _names(rng, [f"remove_{word}s", f"strip_{word}s", f"without_{word}s"], ["s", "text"])
    body = f"    return {p}.replace({ch!r}, '')\n"
    return Instance(name, p, f"returns the string `{p}` with every {word} ({ch!r}) removed", body,
                    [("",), (ch * 2,), (f"a{ch}b",), (ch.join(rng.sample(_POOL, 3)),)])


def invert_dict(rng: random.Random) -> Instance:
    name, p = _names(rng, ["invert", "invert_dict", "swap_keys_values"], ["d", "mapping", "table"])
    body = f"    return {{value: key for key, value in {p}.items()}}\n"
    keys = rng.sample("abcdefgh", 3)
    return Instance(name, p, f"returns a new dictionary with the keys and values of the dictionary `{p}` swapped "
                    "(its values are all different)", body,
                    [({},), ({"x": 1},), ({k: i for i, k in enumerate(keys)},)])


def word_lengths(rng: random.Random) -> Instance:
    name, p = _names(rng, ["word_lengths", "lengths_of_words", "measure_words"], ["text", "sentence"])
    body = f"    return [len(word) for word in {p}.split()]\n"
    return Instance(name, p, f"returns the list of the lengths of the words of the string `{p}` (words are "
                    "separated by spaces)", body, [("",), ("a",), ("ab  cde",), (_sentence(rng),)])


def char_codes(rng: random.Random) -> Instance:
    name, p = _names(rng, ["char_codes", "to_codes", "ascii_values"], ["s", "text", "word"])
    body = f"    return [ord(ch) for ch in {p}]\n"
    return Instance(name, p, f"returns the list of the character codes (ord) of the characters of the string `{p}`",
                    body, [("",), ("A",), ("a b",), (rng.choice(_POOL),)])


def reverse_list(rng: random.Random) -> Instance:
    name, p = _names(rng, ["reverse_list", "reversed_copy", "backwards_list"], ["nums", "items", "values"])
    body = f"    return {p}[::-1]\n"
    return Instance(name, p, f"returns a new list with the numbers of the list `{p}` in reverse order", body,
                    [([],), ([3],), ([1, 2],), (_ints(rng, 0, 30, (4, 6)),)])


def sorted_keys(rng: random.Random) -> Instance:
    desc = rng.random() < 0.5
    name, p = _names(rng, ["sorted_keys", "keys_in_order", "ordered_keys"], ["d", "counts", "table"])
    body = f"    return sorted({p}, reverse=True)\n" if desc else f"    return sorted({p})\n"
    order = "from largest to smallest" if desc else "from smallest to largest"
    keys = rng.sample("abcdefgh", 4)
    return Instance(name, p, f"returns the list of the keys of the dictionary `{p}`, sorted {order}", body,
                    [({},), ({"q": 1},), ({k: rng.randint(0, 9) for k in keys},)])


def square_each(rng: random.Random) -> Instance:
    name, p = _names(rng, ["square_each", "squared", "square_all"], ["nums", "values", "items"])
    body = f"    return [x * x for x in {p}]\n"
    return Instance(name, p, f"returns a new list with every number of the list `{p}` squared", body,
                    [([],), ([0],), ([-3, 2],), (_ints(rng, -9, 9, (3, 5)),)])


def spread(rng: random.Random) -> Instance:
    name, p = _names(rng, ["spread", "max_minus_min", "value_range"], ["nums", "values", "readings"])
    body = f"    return max({p}) - min({p})\n"
    return Instance(name, p, f"returns the difference between the largest and the smallest number of the non-empty "
                    f"list `{p}`", body,
                    [([rng.randint(-9, 9)],), ([3, 3],), ([-2, 5],), (_ints(rng, -20, 20, (4, 7)),)])


def hours_minutes(rng: random.Random) -> Instance:
    name, p = _names(rng, ["hours_minutes", "split_minutes", "to_hours_and_minutes"], ["minutes", "total", "m"])
    body = f"    return ({p} // 60, {p} % 60)\n"
    return Instance(name, p, f"returns a tuple (hours, minutes) for the whole number of minutes `{p}`, the minutes "
                    "under 60", body, [(0,), (59,), (60,), (rng.randint(61, 1000),)])


def add_lists(rng: random.Random) -> Instance:
    name, a, b = _pair_names(rng, ["add_lists", "pairwise_sum", "sum_lists"],
                             [("a", "b"), ("xs", "ys"), ("first", "second")])
    body = f"    return [x + y for x, y in zip({a}, {b})]\n"
    n = rng.randint(3, 5)
    return Instance(name, f"{a}, {b}", f"returns the list of the sums of the numbers at the same position of the "
                    f"lists `{a}` and `{b}`, which have the same length", body,
                    [([], []), ([1], [2]), ([-1, 5], [1, -5]), (_ints(rng, 0, 9, (n, n)), _ints(rng, 0, 9, (n, n)))])


def make_dict(rng: random.Random) -> Instance:
    name, a, b = _pair_names(rng, ["make_dict", "pair_up", "zip_to_dict"],
                             [("keys", "values"), ("names", "scores"), ("words", "counts")])
    body = f"    return dict(zip({a}, {b}))\n"
    keys = rng.sample(_POOL, 3)
    return Instance(name, f"{a}, {b}", f"returns a dictionary that maps each item of the list `{a}` to the item at "
                    f"the same position of the list `{b}`", body,
                    [([], []), (["x"], [1]), (keys, [rng.randint(0, 9) for _ in keys])])


def same_ends(rng: random.Random) -> Instance:
    name, p = _names(rng, ["same_ends", "first_equals_last", "ends_match"], ["s", "text", "word"])
    body = f"    return len({p}) > 0 and {p}[0] == {p}[-1]\n"
    return Instance(name, p, f"returns True if the string `{p}` is not empty and its first and last characters are "
                    "the same, and False otherwise", body, [("",), ("a",), ("ab",), ("abca",), (rng.choice(_POOL),)])


# Each family's kind (eta.tasks.synthetic.Family.kind), in the order the suite lists them.
BY_KIND: tuple[tuple[str, tuple[Callable[[random.Random], Instance], ...]], ...] = (
    ("list", (middle, min_max, find_index, neighbour_diffs, second_largest, last_index, count_peaks, average,
              chunks, swap_ends, join_numbers, reverse_list, sorted_keys, invert_dict, square_each, spread, add_lists,
              make_dict)),
    ("string", (word_total, is_vowel, is_anagram, parse_ints, count_overlapping, parse_pairs,
                clock_minutes, long_words, snake_to_camel, star_triangle, reverse_words, format_clock, mask,
                join_words, last_word, remove_spaces, word_lengths, char_codes, same_ends)),
    ("arithmetic", (max_of_three, squares, digit_list, leap_year, triangular, sum_odds, absolute, fizzbuzz, grade,
                    sum_between, int_sqrt, coin_count, perimeter, countdown, hours_minutes)),
    ("grid", (row_totals, times_table, find_in_grid)),
)
FAMILY_NAMES: tuple[str, ...] = tuple(make.__name__ for _, makers in BY_KIND for make in makers)
