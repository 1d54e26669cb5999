"""Short held-out families with distinct skeletons: the test split's breadth.

With 16 test families a comparison's interval is set by how much families differ, not by how many problems
or samples it evaluates (a contrast between two DPO arms: family SD 16.6 pp, detectable 17.5 pp at Holm's
level; docs/comparison.md). These families widen the test split. Each is a short task that maps onto one
builtin, method or operator a beginner knows (``dict.get``, ``str.isupper``, ``max`` over digits, ``bin``,
``all``, ...) with one stated twist (an empty input, a case rule, a tie, strict vs inclusive) that its tests
catch beside ordinary cases a near miss still passes.

They are the families, of 192 candidates written for SmolLM2-135M-Instruct, that it solved at least once in
16 samples (2 problems x 8 at temperature 0.8, make run's sampler) on problems of **seed 1**, which no run
evaluates (every run uses seed 0's); the rest were dropped, not moved to another split (docs/datasets.md
has the rates and how they were measured). Every skeleton is below 0.8
similarity to every family of the other splits and to every other family here (tests/test_skeleton.py).
"""

from __future__ import annotations

import random
from typing import Callable

from eta.tasks.synthetic_base import Instance
from eta.tasks.synthetic_short import lists, numbers, strings, structures

_MODULES = (lists, strings, numbers, structures)

# (kind, makers) in the suite's order, as eta.tasks.synthetic_easy.BY_KIND
BY_KIND: tuple[tuple[str, tuple[Callable[[random.Random], Instance], ...]], ...] = tuple(
    (kind, tuple(make for module in _MODULES for k, makers in module.BY_KIND if k == kind for make in makers))
    for kind in ("list", "grid", "string", "arithmetic"))
FAMILY_NAMES: tuple[str, ...] = tuple(make.__name__ for _, makers in BY_KIND for make in makers)
SLIPS: dict[str, tuple[tuple[str, str], ...]] = {k: v for module in _MODULES for k, v in module.SLIPS.items()}
