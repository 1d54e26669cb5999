"""APPS' comparisons (Hendrycks et al. 2021, ``testing_util.py``), made by the supervisor on plain data.

They belong to the benchmark, so they live with its tasks: the APPS loader writes ``apps_equal`` into a
task's test setup, and ``eta.execute.checks`` (the layer above) judges split tests with the same functions.

A standard-input program's output is accepted when, after stripping, the lines match; else when the
whitespace-separated tokens match; else when the tokens match as numbers within a small tolerance. A
call-based problem's result is accepted when it equals the expected value, a tuple counting as a list, or
the expected value's only element.
"""

from __future__ import annotations

import math


def _lines(text: str) -> list[str]:
    lines = [line.strip() for line in text.strip().splitlines()]
    return [line for line in lines if line]


def _as_float(token: str) -> float | None:
    try:
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def outputs_match(actual: str, expected: str, *, rel_tol: float = 1e-6, abs_tol: float = 1e-6) -> bool:
    """Whether ``actual`` stdout answers ``expected`` under APPS' tolerant comparison."""
    if _lines(actual) == _lines(expected):
        return True
    got, want = actual.split(), expected.split()
    if got == want:
        return True
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        if g == w:
            continue
        gf, wf = _as_float(g), _as_float(w)
        if gf is None or wf is None or not math.isclose(gf, wf, rel_tol=rel_tol, abs_tol=abs_tol):
            return False
    return True


def apps_equal(output, expected):  # untyped: its source is also the setup of APPS tasks, run without imports
    """APPS' call-based comparison: a tuple counts as a list; the expected value may be wrapped in a list."""
    if isinstance(output, tuple):
        output = list(output)
    if output == expected:
        return True
    if isinstance(expected, list) and expected:
        if output == expected[0]:
            return True
        try:
            return isinstance(output[0], tuple) and [list(x) for x in output] == expected[0]
        except Exception:  # APPS ignores any error of this last attempt
            return False
    return False
