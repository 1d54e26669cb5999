"""Short held-out families on strings (see the package's docstring): a string method or builtin and one
stated twist."""

from __future__ import annotations

import random
from typing import Callable

from eta.tasks.synthetic_base import Instance, _names, _pair_names, _sentence, _words

_POOL = ["apple", "banana", "cherry", "hello", "world", "data", "loop", "queue", "python"]  # no palindromes


def count_suffix(rng: random.Random) -> Instance:
    suf = rng.choice(["ing", "ed", "ly", "s", "er"])
    name, p = _names(rng, [f"count_{suf}_words", "count_suffix", "words_ending"], ["text", "sentence", "line"])
    body = f"    return sum(1 for w in {p}.split() if w.endswith('{suf}'))\n"
    words = [_words(rng) for _ in range(3)] + ["x" + suf, "y" + suf + "z"]
    rng.shuffle(words)
    return Instance(name, p, f"returns how many words of the string `{p}` (separated by spaces) end with "
                    f"'{suf}' (the word '{suf}' itself counts)", body,
                    [("",), (suf,), (f"{suf}x x{suf}",), (" ".join(words),)])


def count_upper(rng: random.Random) -> Instance:
    name, p = _names(rng, ["count_upper", "count_capitals", "upper_letters", "num_uppercase"], ["s", "text", "word"])
    body = f"    return sum(ch.isupper() for ch in {p})\n"
    w = rng.choice(_POOL)
    i, j = sorted(rng.sample(range(len(w)), 2))
    mixed = w[:i] + w[i].upper() + w[i + 1:j] + w[j].upper() + w[j + 1:]
    return Instance(name, p, f"returns how many upper-case letters the string `{p}` holds (digits and other "
                    "characters are not letters)", body, [("",), ("AB1!",), ("Hello World",), (mixed,)])


def pad_number(rng: random.Random) -> Instance:
    width = rng.randint(3, 6)
    name, p = _names(rng, ["pad_number", "zero_pad", "fixed_width", "with_zeros"], ["n", "number", "value"])
    body = f"    return str({p}).zfill({width})\n"
    return Instance(name, p, f"returns the non-negative integer `{p}` as a string of at least {width} characters, "
                    f"with zeros added in front when it is shorter (a longer number is written as it is)", body,
                    [(0,), (10 ** width + 5,), (10 ** (width - 1),), (rng.randint(1, 10 ** (width - 2)),)])


def longest_word(rng: random.Random) -> Instance:
    name, p = _names(rng, ["longest_word", "longest", "biggest_word", "max_word"], ["text", "sentence", "words"])
    body = f"    return max({p}.split(), key=len, default='')\n"
    return Instance(name, p, f"returns the longest word of the string `{p}` (words separated by spaces); the first "
                    "of them on a tie, '' when there is none", body,
                    [("",), ("ab cd",), ("a bcd ef",), (_sentence(rng),)])


def binary_string(rng: random.Random) -> Instance:
    width = rng.choice([4, 8, 8, 6])
    name, p = _names(rng, ["binary_string", "to_binary", "bits", "as_bits"], ["n", "value", "number"])
    body = f"    return bin({p})[2:].zfill({width})\n"
    return Instance(name, p, f"returns the non-negative integer `{p}` written in binary as a string of at least "
                    f"{width} digits, with zeros added in front (5 gives '{'101'.zfill(width)}'; no '0b' prefix)", body,
                    [(0,), (2 ** width,), (1,), (rng.randint(2, 2 ** width - 1),)])


def word_occurrences(rng: random.Random) -> Instance:
    name, a, b = _pair_names(rng, ["word_occurrences", "count_word", "how_often", "word_frequency"],
                             [("text", "word"), ("sentence", "target"), ("s", "w")])
    body = f"    return [x.lower() for x in {a}.split()].count({b}.lower())\n"
    w = rng.choice(_POOL)
    return Instance(name, f"{a}, {b}", f"returns how many words of the string `{a}` (separated by spaces) are equal "
                    f"to the word `{b}`, ignoring upper and lower case (a longer word that contains it does not "
                    "count)", body,
                    [("", "a"), ("cat catalog", "cat"), ("The the THE", "the"), (f"{w} x {w.title()}y {w.upper()}", w)])


def longer_text(rng: random.Random) -> Instance:
    first = rng.random() < 0.5
    op, rule = (">=", "the first one") if first else (">", "the second one")
    name, a, b = _pair_names(rng, ["longer_text", "longer_string", "pick_longer", "longest_of_two"],
                             [("a", "b"), ("s", "t"), ("first", "second"), ("x", "y")])
    body = f"    return {a} if len({a}) {op} len({b}) else {b}\n"
    w1, w2 = rng.sample(_POOL, 2)
    return Instance(name, f"{a}, {b}", f"returns the longer of the two strings `{a}` and `{b}`; when they have the "
                    f"same length, return {rule}", body,
                    [("ab", "cd"), ("", "x"), ("abc", "d"), (w1, w2)])


# (kind, makers), as eta.tasks.synthetic_easy.BY_KIND
BY_KIND: tuple[tuple[str, tuple[Callable[[random.Random], Instance], ...]], ...] = (
    ("string", (count_suffix, count_upper, pad_number, longest_word, binary_string, word_occurrences,
                longer_text)),
)
# a slip the small model makes, for the families whose references have no comparison, integer, min/max or
# and/or for tests/test_tasks_synthetic.py's mutants to flip
SLIPS: dict[str, tuple[tuple[str, str], ...]] = {
    'count_suffix': (('w.endswith(', 'w.startswith('),),
    'longest_word': (('key=len, ', ''),),
    'word_occurrences': (('.split()].count(', '].count('),),
    'count_upper': (('isupper', 'isalpha'),),
}
