"""What a synthetic family is (``Instance``, ``Family``) and the random inputs the families share.

Kept apart from the families themselves (``eta.tasks.synthetic``, ``eta.tasks.synthetic_easy``) so that both
modules build on it without importing each other.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Instance:
    name: str  # the function's name
    params: str  # its parameter list, e.g. "nums"
    text: str  # what the function does, completing "Write a function `f(x)` that ..."
    body: str  # the reference body, indented by four spaces
    inputs: list[tuple[Any, ...]]  # argument tuples of the tests


@dataclass(frozen=True)
class Family:
    name: str
    kind: str  # list, grid (2-D lists), string or arithmetic
    make: Callable[[random.Random], Instance]


def _ints(rng: random.Random, low: int = -9, high: int = 20, size: tuple[int, int] = (3, 7)) -> list[int]:
    return [rng.randint(low, high) for _ in range(rng.randint(*size))]


def _words(rng: random.Random) -> str:
    pool = ["apple", "banana", "cherry", "level", "python", "hello", "world", "data", "loop", "queue", "radar"]
    return rng.choice(pool)


def _list_inputs(rng: random.Random, n: int, **kw: Any) -> list[tuple[Any, ...]]:
    return [([],)] + [(_ints(rng, **kw),) for _ in range(n - 1)]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + "s" * (n != 1)


def _names(rng: random.Random, names: list[str], params: list[str]) -> tuple[str, str]:
    return rng.choice(names), rng.choice(params)


def _pair_names(rng: random.Random, names: list[str], pairs: list[tuple[str, str]]) -> tuple[str, str, str]:
    """A function name and its two parameters' names (drawn in that order)."""
    name = rng.choice(names)
    a, b = rng.choice(pairs)
    return name, a, b


def _sentence(rng: random.Random, n: tuple[int, int] = (3, 7)) -> str:
    words = [_words(rng) for _ in range(rng.randint(*n))]
    return " ".join(words + [rng.choice(words)])
