"""Short held-out families on numbers (see the package's docstring): a formula, a digit trick or a builtin on
integers, and one stated twist."""

from __future__ import annotations

import random
from typing import Callable

from eta.tasks.synthetic_base import Instance, _names, _pair_names


def reverse_number(rng: random.Random) -> Instance:
    name, p = _names(rng, ["reverse_number", "reverse_digits", "flip_number", "backwards_number"],
                     ["n", "number", "x"])
    body = f"    return int(str({p})[::-1])\n"
    return Instance(name, p, f"returns the non-negative integer `{p}` with its digits in reverse order, as an integer "
                    "(leading zeros of the result disappear: 120 gives 21)", body,
                    [(0,), (5,), (120,), (rng.randint(1000, 99999),)])


def temperature(rng: random.Random) -> Instance:
    to_f = rng.random() < 0.5
    if to_f:
        name, p = _names(rng, ["celsius_to_fahrenheit", "c_to_f", "to_fahrenheit"], ["c", "celsius", "degrees"])
        body = f"    return round({p} * 9 / 5 + 32, 1)\n"
        rule = "from degrees Celsius to degrees Fahrenheit (F = C * 9 / 5 + 32)"
        inputs = [(0,), (100,), (-40,), (37.5,), (rng.randint(-20, 45),)]
    else:
        name, p = _names(rng, ["fahrenheit_to_celsius", "f_to_c", "to_celsius"], ["f", "fahrenheit", "degrees"])
        body = f"    return round(({p} - 32) * 5 / 9, 1)\n"
        rule = "from degrees Fahrenheit to degrees Celsius (C = (F - 32) * 5 / 9)"
        inputs = [(32,), (212,), (-40,), (100,), (rng.randint(0, 110),)]
    return Instance(name, p, f"returns the temperature `{p}` converted {rule}, rounded to 1 decimal place", body,
                    inputs)


def sign_of(rng: random.Random) -> Instance:
    name, p = _names(rng, ["sign", "sign_of", "signum", "get_sign"], ["x", "n", "value"])
    body = f"    return ({p} > 0) - ({p} < 0)\n"
    return Instance(name, p, f"returns 1 if the number `{p}` is positive, -1 if it is negative, and 0 if it is zero",
                    body, [(0,), (-rng.randint(1, 9),), (0.5,), (-0.5,), (rng.randint(1, 99),)])


def parity_word(rng: random.Random) -> Instance:
    even, odd = rng.choice([("even", "odd"), ("Even", "Odd"), ("EVEN", "ODD")])
    name, p = _names(rng, ["parity", "even_or_odd", "odd_even", "parity_word"], ["n", "x", "number"])
    body = f"    return ('{even}', '{odd}')[{p} % 2]\n"
    return Instance(name, p, f"returns the string '{even}' if the integer `{p}` is even and '{odd}' if it is odd "
                    "(negative numbers too: -3 is odd, and 0 is even)", body,
                    [(0,), (-3,), (-4,), (rng.randint(1, 99),)])


def manhattan(rng: random.Random) -> Instance:
    name = rng.choice(["manhattan", "grid_distance", "taxi_distance", "city_blocks"])
    x1, y1, x2, y2 = rng.choice([("x1", "y1", "x2", "y2"), ("r1", "c1", "r2", "c2"), ("ax", "ay", "bx", "by")])
    body = f"    return abs({x1} - {x2}) + abs({y1} - {y2})\n"
    return Instance(name, f"{x1}, {y1}, {x2}, {y2}", f"returns the Manhattan distance between the points (`{x1}`, "
                    f"`{y1}`) and (`{x2}`, `{y2}`): the horizontal distance plus the vertical distance, each counted "
                    "as a positive number", body,
                    [(0, 0, 0, 0), (1, 2, 4, 6), (4, 6, 1, 2), (-2, 3, 2, -3),
                     (rng.randint(-9, 9), rng.randint(-9, 9), rng.randint(-9, 9), rng.randint(-9, 9))])


def extreme_digit(rng: random.Random) -> Instance:
    big = rng.random() < 0.5
    how, word = ("max", "largest") if big else ("min", "smallest")
    name, p = _names(rng, [f"{word}_digit", f"{how}_digit", f"biggest_digit" if big else "lowest_digit"],
                     ["n", "number", "x"])
    body = f"    return int({how}(str({p})))\n"
    return Instance(name, p, f"returns the {word} digit of the non-negative integer `{p}`, as an integer (0 gives 0)",
                    body, [(0,), (7,), (909,), (rng.randint(100, 99999),)])


def nth_term(rng: random.Random) -> Instance:
    name = rng.choice(["nth_term", "arithmetic_term", "sequence_term", "term_at"])
    a, d, n = rng.choice([("first", "step", "n"), ("a", "d", "n"), ("start", "diff", "k")])
    body = f"    return {a} + ({n} - 1) * {d}\n"
    return Instance(name, f"{a}, {d}, {n}", f"returns the `{n}`-th term of the arithmetic sequence that starts with "
                    f"`{a}` and grows by `{d}` at each step (the 1st term is `{a}` itself)", body,
                    [(5, 3, 1), (5, 0, 9), (2, 3, 2), (10, -2, 4),
                     (rng.randint(-5, 9), rng.randint(2, 7), rng.randint(5, 20))])


def multiples_upto(rng: random.Random) -> Instance:
    name, a, b = _pair_names(rng, ["count_multiples_upto", "multiples_upto", "how_many_multiples", "multiple_tally"],
                             [("n", "k"), ("limit", "step"), ("top", "d")])
    body = f"    return {a} // {b}\n"
    k = rng.randint(2, 7)
    return Instance(name, f"{a}, {b}", f"returns how many of the integers 1, 2, ..., `{a}` are divisible by the "
                    f"positive integer `{b}` (0 when `{a}` is smaller than `{b}`)", body,
                    [(k - 1, k), (k, k), (3 * k, k), (rng.randint(10, 60), k)])


def larger_magnitude(rng: random.Random) -> Instance:
    name, a, b = _pair_names(rng, ["larger_magnitude", "bigger_abs", "max_distance_from_zero", "max_of_abs"],
                             [("a", "b"), ("x", "y"), ("m", "n")])
    body = f"    return max(abs({a}), abs({b}))\n"
    k = rng.randint(3, 9)
    return Instance(name, f"{a}, {b}", f"returns the larger of the absolute values of the numbers `{a}` and `{b}` "
                    f"(for -{k + 2} and {k} that is {k + 2}; the result is never negative)", body,
                    [(-(k + 2), k), (k, -(k + 2)), (-k, -(k + 1)), (k, k + 3),
                     (rng.randint(1, 9), rng.randint(10, 30))])


def range_of_three(rng: random.Random) -> Instance:
    name = rng.choice(["range_of_three", "spread_of_three", "gap_of_three", "three_spread"])
    a, b, c = rng.choice([("a", "b", "c"), ("x", "y", "z"), ("p", "q", "r")])
    body = f"    return max({a}, {b}, {c}) - min({a}, {b}, {c})\n"
    x, y, z = rng.sample(range(-9, 30), 3)
    return Instance(name, f"{a}, {b}, {c}", f"returns the difference between the largest and the smallest of the "
                    f"three numbers `{a}`, `{b}` and `{c}` (0 when all three are equal)", body,
                    [(x, x, x), (1, 5, 3), (-4, 2, 0), (x, y, z)])


def squares_sum_to(rng: random.Random) -> Instance:
    name, p = _names(rng, ["sum_of_squares_to", "square_sum_upto", "squares_total", "pyramid_count"],
                     ["n", "limit", "top"])
    body = f"    return {p} * ({p} + 1) * (2 * {p} + 1) // 6\n"
    return Instance(name, p, f"returns 1*1 + 2*2 + ... + `{p}`*`{p}`, the sum of the squares of the integers from 1 "
                    f"to `{p}` included (0 when `{p}` is 0)", body,
                    [(0,), (1,), (2,), (rng.randint(3, 9),)])


# (kind, makers), as eta.tasks.synthetic_easy.BY_KIND
BY_KIND: tuple[tuple[str, tuple[Callable[[random.Random], Instance], ...]], ...] = (
    ("arithmetic", (reverse_number, temperature, sign_of, parity_word, manhattan, extreme_digit, nth_term,
                    multiples_upto, larger_magnitude, range_of_three, squares_sum_to)),
)
# a slip the small model makes, for the families whose references have no comparison, integer, min/max or
# and/or for tests/test_tasks_synthetic.py's mutants to flip
SLIPS: dict[str, tuple[tuple[str, str], ...]] = {
    'manhattan': (('abs(', '('),),
    'reverse_number': (('[::-1]', ''),),
    'multiples_upto': (('//', '/'),),
    'larger_magnitude': (('abs(', '('),),
}
