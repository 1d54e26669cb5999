"""A candidate's return values as plain data, to be compared outside the candidate's process.

A test ``assert f(3) == 7`` run inside the sandboxed child trusts the child twice: the object ``f``
returned decides ``==`` (a class whose ``__eq__`` always says True passes every such test), and the
harness that reports the verdict lives in the candidate's address space (a program can find it through
``gc`` and report passes). So for such tests the child only evaluates ``f(3)`` and sends its value, encoded
here as JSON-able plain data; the supervisor decodes it into builtin values, whose ``==`` is Python's own,
and compares them with an expected value that never entered the child (:mod:`eta.execute.checks`).

Encoding never calls a method the candidate defined on a value: subclasses of builtins are read through
the builtin's own methods (a ``tuple`` subclass is encoded as the tuple it holds, whatever its ``__eq__``,
``__iter__`` or ``__class__`` claim), and any other object is reported as unsupported. The child may lie
about the encoding (it runs the candidate), but then it must name a concrete value, which only helps it if
it knows the expected one.

Format: ``None``, bools, ints, floats and strings are themselves; a list is a JSON list; anything else is a
one-key object, the key naming the type: ``t`` tuple, ``s`` set, ``fs`` frozenset, ``d`` dict (a list of
pairs), ``b`` bytes and ``ba`` bytearray (base64), ``c`` complex, ``i`` an int too long for a JSON number
(hex), ``fr`` Fraction, ``dec`` Decimal, ``dq`` deque, ``od`` OrderedDict, ``ctr`` Counter. At the top level
only, ``{"too_big": 1}`` and ``{"unsupported": "<type name>", "truth": <bool or null>}`` say why a value was
not encoded.
"""

from __future__ import annotations

import base64
import operator
from collections import Counter, OrderedDict, deque
from decimal import Decimal
from fractions import Fraction
from typing import Any

# Far above the size of any expected value written in a test: a plain value larger than this cannot be
# equal to one (equal containers have equal sizes), so "too big" is a safe verdict, not a guess.
MAX_UNITS = 1_000_000  # containers' items plus characters of strings and bytes
MAX_DEPTH = 100
BIG_INT_BITS = 256  # longer ints travel as hex: decimal conversion of huge ints is capped (and slow)


class TooBig(Exception):
    pass


class Unsupported(Exception):
    pass


def encode(value: Any) -> Any:
    """`value` as plain JSON-able data, or a top-level marker saying why it could not be."""
    try:
        return _Encoder().enc(value, 0)
    except TooBig:
        return {"too_big": 1}
    except Unsupported as e:
        # Its truthiness too, by its own __bool__ (candidate code, in the candidate's process): all that a
        # test `assert f(x)` asks of it, and no more than the candidate could claim by returning a bool.
        try:
            truth: bool | None = bool(value)
        except Exception:  # noqa: BLE001 - a timeout (BaseException) still ends the test
            truth = None
        return {"unsupported": str(e.args[0])[:200], "truth": truth}
    except RecursionError:
        return {"too_big": 1}


class _Encoder:
    def __init__(self) -> None:
        self.units = MAX_UNITS

    def charge(self, n: int) -> None:
        self.units -= n
        if self.units < 0:
            raise TooBig()

    def enc(self, v: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise TooBig()
        t = type(v)
        if v is None or t is bool:
            return v
        if t is int:
            return v if v.bit_length() <= BIG_INT_BITS else self._big_int(v)
        if t is float:
            return v
        if t is str:
            self.charge(len(v))
            return v
        if t is list:
            return self.items(v, depth)
        if t is tuple:
            return {"t": self.items(v, depth)}
        if t is dict or t is OrderedDict or t is Counter:
            return {"d" if t is dict else "od" if t is OrderedDict else "ctr": self.pairs(v, depth)}
        if t is set or t is frozenset:
            return {"s" if t is set else "fs": self.items(v, depth)}
        if t is bytes or t is bytearray:
            self.charge(len(v))
            return {"b" if t is bytes else "ba": base64.b64encode(v).decode()}
        if t is complex:
            return {"c": [v.real, v.imag]}
        if t is Fraction:
            return {"fr": [self.enc(v.numerator, depth + 1), self.enc(v.denominator, depth + 1)]}
        if t is Decimal:
            return {"dec": str(v)}
        if t is deque:
            return {"dq": self.items(v, depth)}
        return self.enc(_builtin_value(v), depth + 1)

    def items(self, v: Any, depth: int) -> list[Any]:
        self.charge(len(v) + 1)
        return [self.enc(x, depth + 1) for x in v]

    def pairs(self, v: dict, depth: int) -> list[list[Any]]:
        self.charge(len(v) + 1)
        return [[self.enc(k, depth + 1), self.enc(x, depth + 1)] for k, x in dict.items(v)]

    def _big_int(self, v: int) -> dict[str, str]:
        self.charge(v.bit_length() // 64)
        return {"i": format(v, "x")}


# Read through the builtin's own C methods: a subclass's overrides, and a faked __class__, are bypassed
# (the descriptor refuses an object that is not really of its type).
_BASES: tuple[tuple[type, Any], ...] = (
    (int, operator.index), (float, float.__float__), (str, str.__str__), (bytes, bytes.__bytes__),
    (tuple, lambda v: tuple(tuple.__iter__(v))), (list, lambda v: list(list.__iter__(v))),
    (dict, lambda v: dict(dict.items(v))), (frozenset, lambda v: frozenset(frozenset.__iter__(v))),
    (set, lambda v: set(set.__iter__(v))), (complex, complex.__complex__),
)


def _builtin_value(v: Any) -> Any:
    """The builtin value that a subclass instance (an IntEnum member, a namedtuple, a numpy float) holds;
    a numpy scalar's value; else Unsupported."""
    t = type(v)
    for base, read in _BASES:
        if base in t.__mro__:
            try:
                value = read(v)
            except Exception as e:  # noqa: BLE001 - not really of that type: a layout the descriptor refuses
                raise Unsupported(t.__qualname__) from e
            if type(value) is base:
                return value
            raise Unsupported(t.__qualname__)
    if t.__module__ == "numpy" and getattr(v, "shape", None) == () and hasattr(v, "item"):
        item = v.item()  # numpy's own scalar types (int64, bool_): what the candidate computed, in builtins
        if type(item) in (bool, int, float, complex, str, bytes):
            return item
    raise Unsupported(t.__qualname__)


def decode(data: Any) -> Any:
    """Builtin values from :func:`encode`'s format. Raises ValueError on anything else (a forged frame)."""
    t = type(data)
    if data is None or t in (bool, int, float, str):
        return data
    if t is list:
        return [decode(x) for x in data]
    if t is not dict or len(data) != 1:
        raise ValueError(f"not an encoded value: {type(data).__name__}")
    (tag, body), = data.items()
    try:
        return _DECODERS[tag](body)
    except KeyError:
        raise ValueError(f"unknown value tag {tag!r}") from None
    except (TypeError, ValueError, ArithmeticError) as e:  # base64's and int's ValueError, Decimal's ArithmeticError
        raise ValueError(f"malformed {tag!r} value: {e}") from None


def _seq(body: Any) -> list[Any]:
    if type(body) is not list:
        raise TypeError("expected a list")
    return [decode(x) for x in body]


def _pairs(body: Any) -> list[tuple[Any, Any]]:
    if type(body) is not list or any(type(p) is not list or len(p) != 2 for p in body):
        raise TypeError("expected a list of pairs")
    return [(decode(k), decode(v)) for k, v in body]


def _text(body: Any) -> str:
    if type(body) is not str:
        raise TypeError("expected text")
    return body


def _fraction(body: Any) -> Fraction:
    num, den = _seq(body)
    if type(num) is not int or type(den) is not int:
        raise TypeError("expected two ints")
    return Fraction(num, den)


def _complex(body: Any) -> complex:
    re, im = _seq(body)
    if type(re) is not float or type(im) is not float:
        raise TypeError("expected two floats")
    return complex(re, im)


_DECODERS: dict[str, Any] = {
    "t": lambda b: tuple(_seq(b)), "s": lambda b: set(_seq(b)), "fs": lambda b: frozenset(_seq(b)),
    "d": lambda b: dict(_pairs(b)), "od": lambda b: OrderedDict(_pairs(b)), "ctr": lambda b: Counter(dict(_pairs(b))),
    "b": lambda b: base64.b64decode(_text(b), validate=True),
    "ba": lambda b: bytearray(base64.b64decode(_text(b), validate=True)), "c": _complex, "i": lambda b: int(_text(b), 16), "fr": _fraction, "dec": lambda b: Decimal(_text(b)),
    "dq": lambda b: deque(_seq(b)),
}
