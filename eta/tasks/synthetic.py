"""A seeded suite of simple function-writing problems, for measuring alignment on a CPU.

The default model (SmolLM2-135M-Instruct) solves about 5% of HumanEval and MBPP, too few for an
alignment effect to show. The held-out families are the ones it solves sometimes and gets wrong often
(sampled pass@1 per family measured with ``experiments/synthetic_base_rate.py``; docs/datasets.md); the
simpler families that made this possible are in ``eta.tasks.synthetic_easy``, and the short families that
widen the test split to 58 families in ``eta.tasks.synthetic_short``.
Problems come in families (list, 2-D list, string and arithmetic tasks with loops and conditions); each
family is parameterised (function name, parameter name, constants) and yields several instances with a
natural-language prompt, a reference solution and 3-6 tests whose expected values come from running the
reference. The train/validation/test split is by family and by skeleton (``eta.tasks.skeleton``), so
held-out problems are not paraphrases or renamings of training ones. Same seed, same tasks.
"""

from __future__ import annotations

import copy
import os
import random
from typing import Any, Callable

from eta.tasks.errors import TaskLoadError
from eta.tasks.schema import CompletionMode, Task, TestCase, TestKind
from eta.tasks import synthetic_easy as easy
from eta.tasks import synthetic_short
from eta.tasks.synthetic_base import Family, Instance, _count, _ints, _list_inputs, _names, _sentence, _words

SPLITS = ("test", "validation", "train", "all")


# ---- list families ---------------------------------------------------------------------------------

def sum_above(rng: random.Random) -> Instance:
    k = rng.randint(0, 9)
    name, p = rng.choice(["sum_above", "sum_greater_than", "total_above"]), rng.choice(["nums", "numbers", "values"])
    body = f"    total = 0\n    for x in {p}:\n        if x > {k}:\n            total += x\n    return total\n"
    return Instance(name, p, f"returns the sum of the numbers in the list `{p}` that are greater than {k}",
                    body, _list_inputs(rng, 5))


def count_value(rng: random.Random) -> Instance:
    k = rng.randint(0, 5)
    name, p = rng.choice(["count_value", "count_occurrences", "how_many"]), rng.choice(["items", "nums", "values"])
    body = f"    count = 0\n    for x in {p}:\n        if x == {k}:\n            count += 1\n    return count\n"
    return Instance(name, p, f"returns how many times the number {k} appears in the list `{p}`", body,
                    [([],)] + [(_ints(rng, 0, 5, (4, 9)),) for _ in range(4)])


def scale_list(rng: random.Random) -> Instance:
    k = rng.randint(2, 9)
    name, p = rng.choice(["scale", "multiply_all", "times_list"]), rng.choice(["nums", "numbers", "values"])
    body = f"    result = []\n    for x in {p}:\n        result.append(x * {k})\n    return result\n"
    return Instance(name, p, f"returns a new list with every number of the list `{p}` multiplied by {k}",
                    body, _list_inputs(rng, 4))


def keep_even(rng: random.Random) -> Instance:
    odd = rng.random() < 0.5
    which, test = ("odd", "x % 2 == 1") if odd else ("even", "x % 2 == 0")
    name, p = rng.choice([f"keep_{which}", f"{which}_numbers", f"filter_{which}"]), rng.choice(["nums", "values"])
    body = f"    result = []\n    for x in {p}:\n        if {test}:\n            result.append(x)\n    return result\n"
    return Instance(name, p, f"returns a list of the {which} numbers in the list `{p}`, in their order",
                    body, _list_inputs(rng, 5))


def largest(rng: random.Random) -> Instance:
    name, p = rng.choice(["largest", "find_max", "biggest"]), rng.choice(["nums", "numbers"])
    body = f"    best = {p}[0]\n    for x in {p}:\n        if x > best:\n            best = x\n    return best\n"
    return Instance(name, p, f"returns the largest number in the non-empty list `{p}`", body,
                    [(_ints(rng, -20, 20, (1, 7)),) for _ in range(5)])


def count_negative(rng: random.Random) -> Instance:
    name, p = rng.choice(["count_negative", "negatives", "num_negative"]), rng.choice(["nums", "values"])
    body = f"    count = 0\n    for x in {p}:\n        if x < 0:\n            count += 1\n    return count\n"
    return Instance(name, p, f"returns how many numbers in the list `{p}` are negative", body,
                    _list_inputs(rng, 5))


def list_product(rng: random.Random) -> Instance:
    name, p = rng.choice(["product", "multiply_list", "list_product"]), rng.choice(["nums", "numbers"])
    body = f"    result = 1\n    for x in {p}:\n        result *= x\n    return result\n"
    return Instance(name, p, f"returns the product of all the numbers in the list `{p}` (1 for an empty list)",
                    body, [([],)] + [(_ints(rng, -5, 6, (1, 5)),) for _ in range(4)])


# ---- string families -------------------------------------------------------------------------------

def reverse_text(rng: random.Random) -> Instance:
    name, p = rng.choice(["reverse", "reverse_string", "backwards"]), rng.choice(["s", "text", "word"])
    body = f"    result = ''\n    for ch in {p}:\n        result = ch + result\n    return result\n"
    return Instance(name, p, f"returns the string `{p}` reversed", body,
                    [("",)] + [(_words(rng),) for _ in range(4)])


def count_letter(rng: random.Random) -> Instance:
    c = rng.choice("aeilnor")
    name, p = rng.choice([f"count_{c}", "count_letter", "letter_count"]), rng.choice(["s", "text", "word"])
    body = f"    count = 0\n    for ch in {p}:\n        if ch == '{c}':\n            count += 1\n    return count\n"
    return Instance(name, p, f"returns how many times the letter '{c}' appears in the string `{p}`", body,
                    [("",)] + [(_words(rng) + _words(rng),) for _ in range(4)])


def shout(rng: random.Random) -> Instance:
    upper = rng.random() < 0.5
    case = "upper" if upper else "lower"
    name, p = rng.choice([f"to_{case}", f"make_{case}", f"{case}_case"]), rng.choice(["s", "text"])
    words = [_words(rng) for _ in range(4)]
    # the empty string and a word with digits first: added after the base rate was measured, ahead of the
    # example test (the last), so that the prompts stayed the same
    inputs = [("",), ("r2d2" if upper else "R2D2",)] + [(w.capitalize() if upper else w.upper(),) for w in words]
    return Instance(name, p, f"returns the string `{p}` with every letter in {case} case",
                    f"    return {p}.{case}()\n", inputs)


def repeat_text(rng: random.Random) -> Instance:
    k = rng.randint(2, 4)
    name, p = rng.choice(["repeat", "repeat_string", "say_again"]), rng.choice(["s", "text", "word"])
    body = f"    result = ''\n    for _ in range({k}):\n        result += {p}\n    return result\n"
    return Instance(name, p, f"returns the string `{p}` repeated {k} times", body,
                    [("",)] + [(_words(rng),) for _ in range(3)])


def count_vowels(rng: random.Random) -> Instance:
    name, p = rng.choice(["count_vowels", "vowel_count", "num_vowels"]), rng.choice(["s", "text", "word"])
    body = (f"    count = 0\n    for ch in {p}:\n        if ch in 'aeiou':\n            count += 1\n"
            f"    return count\n")
    return Instance(name, p, f"returns how many vowels (a, e, i, o, u) the lowercase string `{p}` contains",
                    body, [("",)] + [(_words(rng),) for _ in range(4)])


def remove_letter(rng: random.Random) -> Instance:
    c = rng.choice("aelo")
    name, p = rng.choice([f"remove_{c}", "drop_letter", "strip_letter"]), rng.choice(["s", "text"])
    body = f"    result = ''\n    for ch in {p}:\n        if ch != '{c}':\n            result += ch\n    return result\n"
    return Instance(name, p, f"returns the string `{p}` with every letter '{c}' removed", body,
                    [("",)] + [(_words(rng) + _words(rng),) for _ in range(4)])


# ---- arithmetic families ---------------------------------------------------------------------------

def sum_to(rng: random.Random) -> Instance:
    start = rng.choice([0, 1])
    name, p = rng.choice(["sum_to", "sum_up_to", "total_to"]), rng.choice(["n", "limit"])
    body = f"    total = 0\n    for i in range({start}, {p} + 1):\n        total += i\n    return total\n"
    return Instance(name, p, f"returns the sum of all the whole numbers from 1 to `{p}` (0 when `{p}` is 0)",
                    body, [(0,)] + [(rng.randint(1, 30),) for _ in range(4)])


def factorial(rng: random.Random) -> Instance:
    name, p = rng.choice(["factorial", "fact", "compute_factorial"]), rng.choice(["n", "k"])
    body = f"    result = 1\n    for i in range(2, {p} + 1):\n        result *= i\n    return result\n"
    return Instance(name, p, f"returns the factorial of the non-negative integer `{p}`", body,
                    [(0,), (1,)] + [(rng.randint(2, 10),) for _ in range(3)])


def divisible(rng: random.Random) -> Instance:
    k = rng.randint(2, 9)
    name, p = rng.choice([f"divisible_by_{k}", "is_divisible", "is_multiple"]), rng.choice(["n", "x"])
    return Instance(name, p, f"returns True if the integer `{p}` is divisible by {k}, and False otherwise",
                    f"    return {p} % {k} == 0\n",
                    [(k * rng.randint(1, 9),), (k * rng.randint(1, 9) + 1,), (0,), (rng.randint(1, 60),)])


def sum_multiples(rng: random.Random) -> Instance:
    k = rng.randint(2, 7)
    name, p = rng.choice(["sum_multiples", "multiples_sum", "add_multiples"]), rng.choice(["n", "limit"])
    body = (f"    total = 0\n    for i in range(1, {p}):\n        if i % {k} == 0:\n            total += i\n"
            f"    return total\n")
    return Instance(name, p, f"returns the sum of the positive multiples of {k} that are smaller than `{p}`",
                    body, [(1,)] + [(rng.randint(2, 40),) for _ in range(4)])


def count_digits(rng: random.Random) -> Instance:
    name, p = rng.choice(["count_digits", "num_digits", "digit_count"]), rng.choice(["n", "number"])
    body = f"    count = 1\n    while {p} >= 10:\n        {p} //= 10\n        count += 1\n    return count\n"
    return Instance(name, p, f"returns how many digits the non-negative integer `{p}` has", body,
                    [(0,)] + [(rng.randint(1, 10 ** rng.randint(1, 7)),) for _ in range(4)])


def fizz(rng: random.Random) -> Instance:
    k = rng.randint(3, 7)
    word = rng.choice(["Fizz", "Buzz", "Bang"])
    name, p = rng.choice(["fizz", "fizz_word", "say_number"]), rng.choice(["n", "x"])
    body = f"    if {p} % {k} == 0:\n        return '{word}'\n    return str({p})\n"
    return Instance(name, p, f"returns the string '{word}' if the integer `{p}` is divisible by {k}, and "
                    f"otherwise `{p}` as a string", body,
                    [(k,), (k * rng.randint(2, 9),), (k + 1,), (rng.randint(1, 50),)])


def power_loop(rng: random.Random) -> Instance:
    k = rng.randint(2, 4)
    name, p = rng.choice([f"power_{k}", "raise_power", "to_the_power"]), rng.choice(["base", "x"])
    body = f"    result = 1\n    for _ in range({k}):\n        result *= {p}\n    return result\n"
    return Instance(name, p, f"returns `{p}` raised to the power {k}", body,
                    [(0,), (1,)] + [(rng.randint(-5, 9),) for _ in range(3)])


def clamp(rng: random.Random) -> Instance:
    low, high = rng.randint(-5, 0), rng.randint(5, 12)
    name, p = rng.choice(["clamp", "limit_value", "bound"]), rng.choice(["x", "value"])
    body = (f"    if {p} < {low}:\n        return {low}\n    if {p} > {high}:\n        return {high}\n"
            f"    return {p}\n")
    return Instance(name, p, f"returns `{p}` limited to the range {low} to {high}: {low} if `{p}` is smaller, "
                    f"{high} if it is larger, else `{p}` itself", body,
                    [(low - rng.randint(1, 9),), (high + rng.randint(1, 9),), (low,), (rng.randint(low, high),)])


# ---- families with more structure ------------------------------------------------------------------
# Index arithmetic, early exit, nested loops, 2-D lists, dict counting, parsing, sliding windows, prefix
# sums, two pointers, run-length encoding, bracket matching. Each has a bound, a comparison or an initial
# value that a small model plausibly gets wrong (a wrong answer rather than a crash), and an edge-case test
# (empty input, zero, a tie, a boundary value) that catches it.

def index_of_extreme(rng: random.Random) -> Instance:
    big, last = rng.random() < 0.5, rng.random() < 0.5
    word, op = ("largest", ">") if big else ("smallest", "<")
    op, where = (op + "=", "last") if last else (op, "first")
    short = "max" if big else "min"
    name, p = _names(rng, [f"index_of_{short}", f"position_of_{word}", f"arg{short}"], ["nums", "values"])
    body = (f"    if not {p}:\n        return -1\n    best = 0\n    for i in range(1, len({p})):\n"
            f"        if {p}[i] {op} {p}[best]:\n            best = i\n    return best\n")
    tie = _ints(rng, -3, 4, (3, 6))
    tie.insert(rng.randint(0, len(tie)), max(tie) if big else min(tie))
    second = [0, 5 if big else -5, rng.randint(-4, 4)]
    return Instance(name, p, f"returns the index of the {where} {word} number in the list `{p}` (-1 for an "
                    "empty list)", body, [([],), ([rng.randint(-5, 5)],), (second,), (tie,)]
                    + [(_ints(rng, -3, 4, (4, 8)),) for _ in range(2)])


def first_index_above(rng: random.Random) -> Instance:
    k = rng.randint(0, 9)
    name, p = _names(rng, ["first_above", "find_first_above", "index_above"], ["nums", "values"])
    body = f"    for i in range(len({p})):\n        if {p}[i] > {k}:\n            return i\n    return -1\n"
    below = [rng.randint(k - 5, k) for _ in range(4)] + [k]
    return Instance(name, p, f"returns the index of the first number in the list `{p}` that is greater than "
                    f"{k}, or -1 if there is none", body,
                    [([],), (below,), (below + [k + 1, k + 2],)] + [(_ints(rng, 0, 15, (4, 7)),) for _ in range(2)])


def max_window_sum(rng: random.Random) -> Instance:
    k = rng.randint(2, 4)
    name, p = _names(rng, ["max_window_sum", "best_window", "largest_run_sum"], ["nums", "values", "readings"])
    body = (f"    if len({p}) < {k}:\n        return 0\n    window = sum({p}[:{k}])\n    best = window\n"
            f"    for i in range({k}, len({p})):\n        window += {p}[i] - {p}[i - {k}]\n"
            f"        if window > best:\n            best = window\n    return best\n")
    return Instance(name, p, f"returns the largest sum of {k} consecutive numbers in the list `{p}` (0 if it "
                    f"has fewer than {k} numbers)", body,
                    [([],), (_ints(rng, -9, 9, (k - 1, k - 1)),), (_ints(rng, -9, 9, (k, k)),),
                     (list(range(-3, k + 1)),)] + [(_ints(rng, -9, 9, (k + 2, k + 6)),) for _ in range(2)])


def running_total(rng: random.Random) -> Instance:
    start = rng.choice([0, 0, 10, 100])
    name, p = _names(rng, ["running_total", "prefix_sums", "cumulative"], ["nums", "values", "amounts"])
    body = (f"    result = []\n    total = {start}\n    for x in {p}:\n        total += x\n"
            f"        result.append(total)\n    return result\n")
    text = (f"returns the running totals of the list `{p}`: the i-th number of the result is the sum of the first "
            f"i + 1 numbers" + (f", plus a starting balance of {start}" if start else ""))
    return Instance(name, p, text, body, _list_inputs(rng, 4))


def pair_sum_sorted(rng: random.Random) -> Instance:
    k = 2 * rng.randint(3, 8)
    name, p = _names(rng, ["has_pair_sum", "two_sum_sorted", "pair_adds_to"], ["nums", "sorted_nums"])
    body = (f"    i = 0\n    j = len({p}) - 1\n    while i < j:\n        total = {p}[i] + {p}[j]\n"
            f"        if total == {k}:\n            return True\n        if total < {k}:\n            i += 1\n"
            f"        else:\n            j -= 1\n    return False\n")
    a = rng.randint(0, k // 2 - 1)
    hit = sorted(_ints(rng, 0, 20, (2, 5)) + [a, k - a])
    return Instance(name, p, f"returns True if two numbers at different positions of the sorted list `{p}` add "
                    f"up to {k}, and False otherwise", body,
                    [([],), ([a, k - a],), ([1, k // 2, k + 5],), (hit,), (list(range(k + 1, k + 5)),),
                     (sorted(_ints(rng, 0, 20, (3, 6))),)])


def run_length(rng: random.Random) -> Instance:
    count_first = rng.random() < 0.5
    piece, order = ("str(j - i) + {p}[i]", "count then letter") if count_first else \
        ("{p}[i] + str(j - i)", "letter then count")
    name, p = _names(rng, ["run_length", "compress", "encode_runs"], ["s", "text"])
    body = (f"    result = ''\n    i = 0\n    while i < len({p}):\n        j = i\n"
            f"        while j < len({p}) and {p}[j] == {p}[i]:\n            j += 1\n"
            f"        result += {piece.format(p=p)}\n        i = j\n    return result\n")
    example = "3a2b" if count_first else "a3b2"
    runs = ["".join(rng.choice("ab") * rng.randint(1, 3) for _ in range(rng.randint(2, 4))) for _ in range(3)]
    return Instance(name, p, f"returns the run-length encoding of the string `{p}`: each run of a repeated "
                    f"letter written as {order} (\"aaabb\" gives \"{example}\")", body,
                    [("",), (rng.choice("xyz"),)] + [(r,) for r in runs])


def balanced(rng: random.Random) -> Instance:
    o, c = rng.choice(["()", "[]", "{}"])
    name, p = _names(rng, ["balanced", "is_balanced", "brackets_match"], ["s", "text", "brackets"])
    body = (f"    depth = 0\n    for ch in {p}:\n        if ch == '{o}':\n            depth += 1\n"
            f"        elif ch == '{c}':\n            depth -= 1\n            if depth < 0:\n"
            f"                return False\n    return depth == 0\n")
    nested = o * 2 + c + o + c * 2
    return Instance(name, p, f"returns True if the brackets '{o}' and '{c}' in the string `{p}` are balanced "
                    f"(every '{o}' closed by a later '{c}'), and False otherwise", body,
                    [("",), (c + o,), (o * 2 + c,), (nested,), (o + c + o + c,)])


def diagonal_sum(rng: random.Random) -> Instance:
    anti = rng.random() < 0.5
    cell, which = ("{p}[i][len({p}) - 1 - i]", "anti-diagonal (top right to bottom left)") if anti else \
        ("{p}[i][i]", "main diagonal (top left to bottom right)")
    name, p = _names(rng, ["diagonal_sum", "sum_diagonal", "diag_total"], ["grid", "matrix"])
    body = (f"    total = 0\n    for i in range(len({p})):\n        total += {cell.format(p=p)}\n"
            f"    return total\n")
    squares = [[_ints(rng, -9, 9, (n, n)) for _ in range(n)] for n in (1, 2, 3, rng.randint(4, 5))]
    return Instance(name, p, f"returns the sum of the {which} of the square matrix `{p}` (a list of rows; 0 "
                    "for an empty matrix)", body, [([],)] + [(s,) for s in squares])


def column_sums(rng: random.Random) -> Instance:
    name, p = _names(rng, ["column_sums", "sum_columns", "col_totals"], ["grid", "matrix", "rows"])
    body = (f"    if not {p}:\n        return []\n    sums = [0] * len({p}[0])\n    for row in {p}:\n"
            f"        for j in range(len(row)):\n            sums[j] += row[j]\n    return sums\n")
    shapes = [(1, 3), (3, 1), (rng.randint(2, 4), rng.randint(2, 4))]
    return Instance(name, p, f"returns the list of column sums of the matrix `{p}` (a list of rows of equal "
                    "length; [] for an empty matrix)", body,
                    [([],)] + [([_ints(rng, -9, 9, (w, w)) for _ in range(h)],) for h, w in shapes])


def word_counts(rng: random.Random) -> Instance:
    k = rng.randint(3, 5)
    name, p = _names(rng, ["word_counts", "count_words", "word_frequencies"], ["text", "sentence"])
    body = (f"    counts = {{}}\n    for word in {p}.split():\n        if len(word) >= {k}:\n"
            f"            counts[word] = counts.get(word, 0) + 1\n    return counts\n")
    short = "an cat loop radar banana cat loop"
    return Instance(name, p, f"returns a dictionary mapping each word of at least {k} letters in the string "
                    f"`{p}` (words are separated by spaces) to how many times it appears", body,
                    [("",), (short,)] + [(_sentence(rng),) for _ in range(3)])


def most_frequent(rng: random.Random) -> Instance:
    smallest = rng.random() < 0.5
    rule, tie = ("the smallest of them", " or (counts[x] == counts[best] and x < best)") if smallest else \
        ("the one that appears first", "")
    name, p = _names(rng, ["most_frequent", "mode", "most_common"], ["nums", "values"])
    body = (f"    counts = {{}}\n    for x in {p}:\n        counts[x] = counts.get(x, 0) + 1\n    best = {p}[0]\n"
            f"    for x in {p}:\n        if counts[x] > counts[best]{tie}:\n            best = x\n    return best\n")
    tied = [5, 1, 5, 1, 3] if rng.random() < 0.5 else [4, 2, 2, 4, 9]
    return Instance(name, p, f"returns the number that appears most often in the non-empty list `{p}`; on a "
                    f"tie, {rule}", body,
                    [([rng.randint(0, 9)],), (tied,)] + [(_ints(rng, 0, 4, (5, 9)),) for _ in range(3)])


def sum_in_text(rng: random.Random) -> Instance:
    sep = rng.choice([",", ";", "|"])
    name, p = _names(rng, ["sum_numbers", "add_up_text", "total_of_text"], ["text", "line", "record"])
    body = (f"    total = 0\n    for part in {p}.split('{sep}'):\n        if part:\n"
            f"            total += int(part)\n    return total\n")
    nums = [sep.join(str(x) for x in _ints(rng, -20, 99, (2, 6))) for _ in range(3)]
    return Instance(name, p, f"returns the sum of the integers in the string `{p}`, written separated by "
                    f"'{sep}' (0 for an empty string)", body,
                    [("",), (str(rng.randint(0, 50)),)] + [(n,) for n in nums])


def count_pairs(rng: random.Random) -> Instance:
    k = rng.randint(4, 10)
    name, p = _names(rng, ["count_pairs", "pairs_summing", "num_pairs_with_sum"], ["nums", "values"])
    body = (f"    count = 0\n    for i in range(len({p})):\n        for j in range(i + 1, len({p})):\n"
            f"            if {p}[i] + {p}[j] == {k}:\n                count += 1\n    return count\n")
    return Instance(name, p, f"returns how many pairs of positions i < j in the list `{p}` hold two numbers that "
                    f"add up to {k}", body,
                    [([],), ([k // 2, k - k // 2],), ([k // 2],)] + [(_ints(rng, 0, k, (4, 8)),) for _ in range(2)])


def collatz_steps(rng: random.Random) -> Instance:
    name, p = _names(rng, ["collatz_steps", "steps_to_one", "collatz_length"], ["n", "start"])
    body = (f"    steps = 0\n    while {p} != 1:\n        if {p} % 2 == 0:\n            {p} //= 2\n        else:\n"
            f"            {p} = 3 * {p} + 1\n        steps += 1\n    return steps\n")
    return Instance(name, p, f"returns how many steps the Collatz sequence takes from the positive integer `{p}` "
                    f"to 1 (halve an even number, replace an odd one by 3 times it plus 1; 0 steps from 1)",
                    body, [(1,), (2,), (rng.choice([3, 6, 7]),), (rng.randint(8, 40),)])


def digit_sum(rng: random.Random) -> Instance:
    base = rng.choice([10, 10, 2, 8])
    where = "" if base == 10 else f" written in base {base}"
    name, p = _names(rng, ["digit_sum", "sum_digits", "add_digits"], ["n", "number"])
    body = (f"    total = 0\n    while {p} > 0:\n        total += {p} % {base}\n        {p} //= {base}\n"
            f"    return total\n")
    return Instance(name, p, f"returns the sum of the digits of the non-negative integer `{p}`{where}", body,
                    [(0,), (rng.randint(1, base - 1),), (base,)] + [(rng.randint(11, 99999),) for _ in range(2)])


def is_prime(rng: random.Random) -> Instance:
    name, p = _names(rng, ["is_prime", "prime", "check_prime"], ["n", "x"])
    body = (f"    if {p} < 2:\n        return False\n    for d in range(2, {p}):\n        if {p} % d == 0:\n"
            f"            return False\n    return True\n")
    return Instance(name, p, f"returns True if the integer `{p}` is a prime number, and False otherwise", body,
                    [(0,), (1,), (2,), (4,), (rng.choice([9, 15, 21, 25, 49]),), (rng.choice([7, 11, 13, 17, 29]),)])


def merge_sorted(rng: random.Random) -> Instance:
    name = rng.choice(["merge", "merge_sorted", "combine_sorted"])
    a, b = rng.choice([("a", "b"), ("xs", "ys"), ("left", "right")])
    body = (f"    result = []\n    i = 0\n    j = 0\n    while i < len({a}) and j < len({b}):\n"
            f"        if {a}[i] <= {b}[j]:\n            result.append({a}[i])\n            i += 1\n"
            f"        else:\n            result.append({b}[j])\n            j += 1\n"
            f"    return result + {a}[i:] + {b}[j:]\n")

    def run() -> list[int]:
        return sorted(_ints(rng, 0, 12, (1, 5)))
    return Instance(name, f"{a}, {b}", f"returns one sorted list holding every number of the sorted lists `{a}` "
                    f"and `{b}`", body, [([], []), ([], run()), (run(), []), (run(), run()), (run(), run())])


def longest_streak(rng: random.Random) -> Instance:
    k, at_least = rng.randint(0, 6), rng.random() < 0.5
    op, words = (">=", f"at least {k}") if at_least else (">", f"greater than {k}")
    name, p = _names(rng, ["longest_streak", "longest_run_above", "max_streak"], ["nums", "values", "temps"])
    body = (f"    best = 0\n    current = 0\n    for x in {p}:\n        if x {op} {k}:\n            current += 1\n"
            f"            if current > best:\n                best = current\n        else:\n            current = 0\n"
            f"    return best\n")
    edge = [k, k + 1, k - 1, k, k]
    start = [k + 1, k + 2, k - 1, k + 3]
    return Instance(name, p, f"returns the length of the longest run of consecutive numbers in the list `{p}` "
                    f"that are {words}", body, [([],), (edge,), (start,)] + [(_ints(rng, k - 4, k + 4, (5, 9)),)
                                                                             for _ in range(2)])


def rotate(rng: random.Random) -> Instance:
    k, left = rng.randint(1, 4), rng.random() < 0.5
    sign, way = ("+", "left") if left else ("-", "right")
    name, p = _names(rng, [f"rotate_{way}", "rotate", "shift_list"], ["nums", "items"])
    body = (f"    if not {p}:\n        return []\n    result = []\n    for i in range(len({p})):\n"
            f"        result.append({p}[(i {sign} {k}) % len({p})])\n    return result\n")
    return Instance(name, p, f"returns the list `{p}` rotated {way} by {_count(k, 'place')} (each number moves "
                    f"{_count(k, 'position')} to the {way}, wrapping around)", body,
                    [([],), (_ints(rng, 0, 9, (1, 1)),), (list(range(1, k + 1)),),
                     (_ints(rng, 0, 9, (k + 1, k + 5)),)])


def caesar(rng: random.Random) -> Instance:
    k = rng.randint(1, 5)
    name, p = _names(rng, ["caesar", "shift_letters", "encode"], ["s", "text", "word"])
    body = (f"    result = ''\n    for ch in {p}:\n        result += chr((ord(ch) - ord('a') + {k}) % 26 + ord('a'))\n"
            f"    return result\n")
    return Instance(name, p, f"returns the lowercase string `{p}` with every letter moved {_count(k, 'place')} on "
                    f"in the alphabet, wrapping around from 'z' to 'a'", body,
                    [("",), ("xyz",)] + [(_words(rng),) for _ in range(3)])


def balance_point(rng: random.Random) -> Instance:
    name, p = _names(rng, ["balance_point", "pivot_index", "equilibrium"], ["nums", "weights"])
    body = (f"    total = sum({p})\n    left = 0\n    for i in range(len({p})):\n"
            f"        if left == total - left - {p}[i]:\n            return i\n        left += {p}[i]\n    return -1\n")

    def balanced_list() -> list[int]:
        side = _ints(rng, 0, 9, (1, 4))
        other = side[:]
        rng.shuffle(other)
        return side + [rng.randint(-5, 9)] + other + [0] * rng.randint(0, 1)
    return Instance(name, p, f"returns the first index i of the list `{p}` where the sum of the numbers before i "
                    f"equals the sum of the numbers after i, or -1 if there is none", body,
                    [([],), ([rng.randint(1, 9)],), (balanced_list(),), (balanced_list(),), ([1, 2, 4],)])


def grid_count(rng: random.Random) -> Instance:
    k = rng.randint(0, 6)
    name, p = _names(rng, ["count_cells_above", "grid_count", "cells_over"], ["grid", "matrix"])
    body = (f"    count = 0\n    for r in range(len({p})):\n        for c in range(len({p}[r])):\n"
            f"            if {p}[r][c] > {k}:\n                count += 1\n    return count\n")
    return Instance(name, p, f"returns how many entries of the matrix `{p}` (a list of rows) are greater than {k}",
                    body, [([],), ([[k, k + 1, k]],)]
                    + [([_ints(rng, k - 5, k + 5, (3, 3)) for _ in range(rng.randint(2, 4))],) for _ in range(2)])


def dedupe(rng: random.Random) -> Instance:
    name, p = _names(rng, ["dedupe", "unique", "remove_duplicates"], ["nums", "values", "ids"])
    body = (f"    seen = set()\n    result = []\n    for x in {p}:\n        if x not in seen:\n"
            f"            seen.add(x)\n            result.append(x)\n    return result\n")
    return Instance(name, p, f"returns the list `{p}` without repeated numbers, keeping the first occurrence of "
                    "each, in order", body, [([],), ([3, 1, 2],)] + [(_ints(rng, 0, 5, (5, 9)),) for _ in range(3)])


def from_base(rng: random.Random) -> Instance:
    base = rng.randint(2, 8)
    name, p = _names(rng, [f"from_base_{base}", "parse_base", "digits_to_int"], ["digits", "s"])
    body = f"    value = 0\n    for ch in {p}:\n        value = value * {base} + int(ch)\n    return value\n"

    def digits() -> str:
        return "".join(str(rng.randint(0, base - 1)) for _ in range(rng.randint(2, 6)))
    return Instance(name, p, f"returns the integer that the string `{p}` writes in base {base} ('' is 0)", body,
                    [("",), ("0",), (str(base - 1),), ("10",), (digits(),), (digits(),)])


def acronym(rng: random.Random) -> Instance:
    upper = rng.random() < 0.5
    case = "upper" if upper else "lower"
    name, p = _names(rng, ["acronym", "initials", "first_letters"], ["phrase", "text"])
    body = (f"    result = ''\n    for word in {p}.split():\n        result += word[0].{case}()\n    return result\n")
    phrases = [_sentence(rng, (1, 4)) for _ in range(3)]
    return Instance(name, p, f"returns the first letter of each word of the string `{p}` (words separated by "
                    f"spaces), joined, in {case} case", body,
                    [("",)] + [(x.title() if not upper else x,) for x in phrases] + [("  two  spaces ",)])


def is_sorted(rng: random.Random) -> Instance:
    strict = rng.random() < 0.5
    op, words = (">=", "strictly increasing") if strict else (">", "in non-decreasing order")
    name, p = _names(rng, ["is_sorted", "in_order", "check_sorted"], ["nums", "values"])
    body = (f"    for i in range(len({p}) - 1):\n        if {p}[i] {op} {p}[i + 1]:\n            return False\n"
            f"    return True\n")
    return Instance(name, p, f"returns True if the numbers of the list `{p}` are {words}, and False otherwise",
                    body, [([],), ([4],), ([1, 3, 3, 7],), ([1, 2, 5, 9],), ([2, 4, 6, 1],),
                           (_ints(rng, 0, 9, (4, 6)),)])


def transpose(rng: random.Random) -> Instance:
    name, p = _names(rng, ["transpose", "flip_matrix", "columns_as_rows"], ["grid", "matrix"])
    body = (f"    if not {p}:\n        return []\n    result = []\n    for j in range(len({p}[0])):\n"
            f"        row = []\n        for i in range(len({p})):\n            row.append({p}[i][j])\n"
            f"        result.append(row)\n    return result\n")
    shapes = [(1, 3), (3, 1), (rng.randint(2, 3), rng.randint(2, 4))]
    return Instance(name, p, f"returns the transpose of the matrix `{p}` (a list of rows of equal length): its "
                    "columns as rows", body, [([],)] + [([_ints(rng, 0, 9, (w, w)) for _ in range(h)],)
                                                      for h, w in shapes])


def fibonacci(rng: random.Random) -> Instance:
    a, b = rng.choice([(0, 1), (2, 1)])
    which = "Fibonacci" if a == 0 else "Lucas"
    name, p = _names(rng, [which.lower(), f"nth_{which.lower()}", f"{which.lower()}_number"], ["n", "k"])
    body = (f"    a = {a}\n    b = {b}\n    for _ in range({p}):\n        a, b = b, a + b\n    return a\n")
    return Instance(name, p, f"returns the number at position `{p}` of the {which} sequence, which starts {a}, {b} "
                    "and continues with the sum of the two numbers before (position 0 is the first)", body,
                    [(0,), (1,), (2,), (rng.randint(5, 20),)])


def gcd(rng: random.Random) -> Instance:
    name = rng.choice(["gcd", "greatest_common_divisor", "highest_factor"])
    a, b = rng.choice([("a", "b"), ("x", "y"), ("m", "n")])
    body = f"    while {b} != 0:\n        {a}, {b} = {b}, {a} % {b}\n    return {a}\n"
    g = rng.randint(2, 9)
    return Instance(name, f"{a}, {b}", f"returns the greatest common divisor of the non-negative integers `{a}` "
                    f"and `{b}` (gcd(x, 0) is x)", body,
                    [(rng.randint(1, 30), 0), (0, rng.randint(1, 30)), (g * rng.randint(2, 9), g * rng.randint(2, 9)),
                     (rng.randint(10, 99), rng.randint(10, 99))])


def _of_kind(kind: str, *makers: Callable[[random.Random], Instance]) -> tuple[Family, ...]:
    return tuple(Family(make.__name__, kind, make) for make in makers)


# In this order: a limit takes problems round-robin across families in order of first appearance.
FAMILIES: tuple[Family, ...] = (
    *_of_kind("list", sum_above, count_value, scale_list, keep_even, largest, count_negative, list_product),
    *_of_kind("string", reverse_text, count_letter, shout, repeat_text, count_vowels, remove_letter),
    *_of_kind("arithmetic", sum_to, factorial, divisible, sum_multiples, count_digits, fizz, power_loop, clamp),
    # the structured families, those that were training families before the held-out ones were rechosen first
    # (a training limit takes the first families' problems)
    *_of_kind("list", running_total, count_pairs, merge_sorted, dedupe),
    *_of_kind("grid", diagonal_sum, grid_count),
    *_of_kind("string", sum_in_text, from_base),
    *_of_kind("arithmetic", fibonacci),
    *_of_kind("list", index_of_extreme, first_index_above, max_window_sum, pair_sum_sorted, most_frequent,
              longest_streak, rotate, balance_point, is_sorted),
    *_of_kind("grid", column_sums, transpose),
    *_of_kind("string", run_length, balanced, word_counts, caesar, acronym),
    *_of_kind("arithmetic", collatz_steps, digit_sum, is_prime, gcd),
    *(family for kind, makers in easy.BY_KIND for family in _of_kind(kind, *makers)),
    # the short families that widen the test split, after every other (limits of the other splits unchanged)
    *(family for kind, makers in synthetic_short.BY_KIND for family in _of_kind(kind, *makers)),
)
# The splits are by family, and families whose references share a skeleton (``eta.tasks.skeleton``: the same
# program up to names and constants, similarity >= 0.8) are on the same side: the short loop-and-accumulate
# families (sum_above, count_value, count_letter, ...) are one such cluster, all in train; so are
# first_index_above, is_sorted and last_index; digit_list, row_totals, parse_ints, char_codes, word_lengths
# and square_each are one cluster in validation, shout and is_vowel another. The held-out families are those
# SmolLM2-135M-Instruct solves sometimes and gets wrong often (sampled pass@1 measured per family,
# docs/datasets.md), so that a held-out pass@1 is neither at the floor nor at the ceiling; the families it
# (almost) never solves are in train. The 42 short families (eta.tasks.synthetic_short) are all test.
# Every tuning decision is made on validation; test is looked at once, for the result.
TEST_FAMILIES = frozenset({"min_max", "middle", "word_total", "is_anagram", "times_table", "max_of_three",
                           "sum_odds", "count_digits", "digit_sum", "leap_year", "is_prime", "join_numbers",
                           "reverse_list", "sorted_keys", "spread", "make_dict",
                           *synthetic_short.FAMILY_NAMES})
VALIDATION_FAMILIES = frozenset({"merge_sorted", "dedupe", "parse_ints", "shout", "is_vowel", "row_totals",
                                 "divisible", "squares", "triangular", "digit_list", "fibonacci", "char_codes",
                                 "word_lengths", "square_each"})


def family_split(family: str) -> str:
    if family in TEST_FAMILIES:
        return "test"
    return "validation" if family in VALIDATION_FAMILIES else "train"


def reference_of(inst: Instance) -> str:
    return f"def {inst.name}({inst.params}):\n{inst.body}"


def build(family: Family, index: int, inst: Instance) -> Task:
    namespace: dict[str, Any] = {}
    reference = reference_of(inst)
    exec(compile(reference, f"<synthetic {family.name}>", "exec"), namespace)  # our own generated code
    function = namespace[inst.name]
    tests = []
    for args in inst.inputs:
        expected = function(*copy.deepcopy(args))  # a 2-D list argument must not change under the call
        call = f"{inst.name}({', '.join(map(repr, args))})"
        tests.append(TestCase(kind=TestKind.ASSERT, code=f"assert {call} == {expected!r}", display=call))
    signature = f"def {inst.name}({inst.params}):"
    text = f"Write a Python function `{inst.name}({inst.params})` that {inst.text}."
    return Task(task_id=f"Synthetic/{family.name}/{index}", prompt=text, reference=reference, tests=tuple(tests),
                entry_point=inst.name, completion_mode=CompletionMode.FULL, instruction=text, dataset="synthetic",
                split=family_split(family.name),
                metadata={"signature": signature, "example_test": tests[-1].code, "family": family.name,
                          "kind": family.kind})


def generate(family: Family, count: int, seed: int) -> list[Task]:
    """``count`` distinct instances of one family; a family's instances do not depend on the others."""
    rng = random.Random(f"eta-synthetic/{seed}/{family.name}")
    tasks, seen = [], set()
    for _ in range(count * 20):
        inst = family.make(rng)
        key = (inst.name, inst.params, inst.text)
        if key in seen:
            continue
        seen.add(key)
        tasks.append(build(family, len(tasks), inst))
        if len(tasks) == count:
            break
    return tasks


def load(*, split: str | None = None, data_dir: str | os.PathLike | None = None, source: str = "local",
         seed: int = 0, per_family: int = 10, families: list[str] | None = None) -> list[Task]:
    """``per_family`` problems of each family of the split (default ``test``); no data folder needed."""
    if source != "local":
        raise TaskLoadError(f"the synthetic suite is generated, not downloaded; source={source!r} does not apply")
    split = split or "test"
    if split not in SPLITS:
        raise TaskLoadError(f"the synthetic suite has no split {split!r}; use one of {', '.join(SPLITS)}")
    if per_family < 1:
        raise TaskLoadError(f"per_family should be at least 1, got {per_family}")
    known = {f.name for f in FAMILIES}
    unknown = sorted(set(families or ()) - known)
    if unknown:
        raise TaskLoadError(f"unknown synthetic families: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    chosen = [f for f in FAMILIES if (split == "all" or family_split(f.name) == split)
              and (not families or f.name in families)]
    return [task for family in chosen for task in generate(family, per_family, seed)]
