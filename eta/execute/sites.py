"""Whole tests judged outside the candidate's process, one assertion at a time.

A test the supervisor cannot split (several statements, a helper function, a loop; see
:mod:`eta.execute.checks`) still runs whole in the child, but its assertions no longer decide anything
there. :func:`transform` rewrites every ``assert`` of the test into a call of the harness's site function
with the assertion's operands: ``assert result == [5, 7]`` becomes ``__eta_site__(0, result)``, the constant
``[5, 7]`` staying in the supervisor. The child sends each operand's value as plain data
(:mod:`eta.execute.values`), and the supervisor evaluates the comparison on builtin values
(:func:`holds`): the candidate's ``__eq__`` is never asked, and a forged report must name the expected
value, which never entered the child (the rewriting is :func:`eta.execute.checks.transform`'s, in the
supervisor; this module is what the child needs too). A site without constants (``assert f(x) == g(x)``, ``assert found``) is
decided in the child too, on the same plain values, so that a failing assertion still stops the test there.

What stays in the child: the truth of a comparison whose operand is not plain data (``result == node1`` on
two graph nodes: identity is all there is to compare), and values a test computes from its own data.
"""

from __future__ import annotations

import operator
import reprlib
from typing import Any

from eta.execute.values import decode

SITE_FN = "__eta_site__"
_short = reprlib.Repr()
_short.maxstring = _short.maxother = 120
_short.maxlist = _short.maxtuple = _short.maxdict = _short.maxset = 12
COMPARE = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
           "ge": operator.ge, "in": lambda a, b: a in b, "not_in": lambda a, b: a not in b}


class Site:
    """One assertion of a whole test: a chain of comparisons (``ops``, one fewer than the operands) or, with
    no ops, the truth of one operand; `holes` are the operand positions the supervisor fills with
    `constants`; `required`: the assertion runs on every path through the test."""

    __slots__ = ("ops", "negate", "holes", "constants", "required")

    def __init__(self, ops: list[str], negate: bool, holes: list[int], constants: list[Any], required: bool) -> None:
        self.ops, self.negate, self.holes, self.constants, self.required = ops, negate, holes, constants, required

    def for_child(self) -> dict[str, Any]:
        """What the child may know: the shape, never the constants."""
        return {"ops": self.ops, "negate": self.negate, "holes": self.holes}


def holds(spec: dict[str, Any] | Site, operands: list[Any]) -> bool:
    """Whether the assertion holds on these (decoded, complete) operands; raises what Python's comparison
    raises (TypeError) on values it cannot compare."""
    ops, negate = (spec.ops, spec.negate) if isinstance(spec, Site) else (spec["ops"], spec["negate"])
    if not ops:
        result = bool(operands[0])
    else:
        result = all(COMPARE[op](operands[k], operands[k + 1]) for k, op in enumerate(ops))
    return result is not negate


def judge(site: Site, encoded: Any, child_truth: Any = None) -> tuple[bool, str]:
    """(whether the assertion held, what the test got) for a site's record from the child. An operand that
    is not plain data fails a comparison with a constant (as a split test's does); without constants the
    child's own in-process answer (`child_truth`) decides. Raises ValueError on a record that does not
    decode (forged), and what Python's comparison raises on values it cannot compare."""
    count = len(site.ops) + 1 if site.ops else 1
    if type(encoded) is not list or len(encoded) != count - len(site.holes):
        raise ValueError("a site's record has the wrong number of operands")
    if any(type(e) is dict and ("unsupported" in e or "too_big" in e) for e in encoded):
        if not site.ops and "unsupported" in encoded[0]:
            truth = encoded[0].get("truth")
        elif not site.ops:
            truth = True  # too big to send: a non-empty container
        else:
            truth = child_truth if not site.holes else False
        if type(truth) is not bool:
            raise ValueError("a site's truth is missing")
        return (truth is not site.negate if not site.ops else truth), "got a value that is not plain data"
    given, constants = iter([decode(e) for e in encoded]), iter(site.constants)
    values = [next(constants) if position in site.holes else next(given) for position in range(count)]
    first = next(v for k, v in enumerate(values) if k not in site.holes)
    return holds(site, values), f"got {_short.repr(first)}"


def local_truth(spec: dict[str, Any], operands: tuple[Any, ...]) -> bool | None:
    """The child's own answer for a site whose operands are not all plain data: the comparison made
    in-process (the only way to compare identities). None when it raised."""
    try:
        if not spec["ops"]:
            return bool(operands[0]) is not spec["negate"]
        return all(COMPARE[op](operands[k], operands[k + 1]) for k, op in enumerate(spec["ops"])) is not spec["negate"]
    except Exception:  # noqa: BLE001 - a timeout (BaseException) still ends the test
        return None
