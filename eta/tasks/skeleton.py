"""How alike two programs are once names and constants are set aside: their skeletons.

Problems of one synthetic family differ only in names and constants; two families whose references have
the same shape (``count = 0; for x in s: if x == K: count += 1``) are, to a model, the same problem, and a
held-out family must not be one. The skeleton of a function is the token sequence of its body (Python's
own tokenizer) with

- the function's name -> ``FN``, its parameters -> ``P0``, ``P1``, ... in order, every other name it binds
  -> ``V0``, ``V1``, ... in order of first appearance (so renaming a variable changes nothing);
- every number and string literal -> ``CONST``;
- keywords, operators, builtins (``len``, ``range``) and attribute names (``.append``) kept as they are,
  and the block structure kept as ``NEWLINE``/``INDENT``/``DEDENT``; comments and blank lines dropped.

The similarity of two skeletons is ``difflib.SequenceMatcher``'s ratio, ``2 * matches / (len(a) + len(b))``,
in [0, 1] (the larger of the two argument orders, so that it is symmetric); 1 means the same program up
to names and constants. Short programs score high against each other (``total = 0; for ...: total += x``
against ``count = 0; for ...: count += 1`` is 0.93): the measure is meant to err towards calling families
alike.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import io
import keyword
import tokenize
from collections.abc import Iterable, Iterator

Skeleton = tuple[str, ...]

_DROP = {tokenize.NL, tokenize.COMMENT, tokenize.ENCODING, tokenize.ENDMARKER}
_BUILTINS = frozenset(dir(builtins))
# Python 3.12 splits an f-string into parts; before, it is one STRING: one CONST either way
_FSTRING_START, _FSTRING_END = getattr(tokenize, "FSTRING_START", -1), getattr(tokenize, "FSTRING_END", -1)


def _signature(source: str) -> tuple[str, list[str], int, int]:
    """The first function's name, its parameter names, and the lines its body starts and ends on."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            args = node.args
            params = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
            params += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
            return node.name, params, node.body[0].lineno, node.end_lineno or node.body[-1].lineno
    raise ValueError("the source defines no function")


def _body_tokens(source: str, first_line: int, last_line: int) -> Iterator[tokenize.TokenInfo]:
    """The tokens of lines ``first_line``..``last_line``, without comments and blank lines; an f-string as
    its start token alone."""
    depth = 0
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        depth += (token.type == _FSTRING_START) - (token.type == _FSTRING_END)
        inside = depth > 1 or (depth == 1 and token.type != _FSTRING_START) or token.type == _FSTRING_END
        if not inside and token.type not in _DROP and first_line <= token.start[0] <= last_line:
            yield token


def skeleton(source: str) -> Skeleton:
    """The body of the first function in ``source``, names by role and literals as ``CONST``."""
    name, params, first_line, last_line = _signature(source)
    roles = {name: "FN"} | {p: f"P{i}" for i, p in enumerate(params)}
    out: list[str] = []
    previous = ""
    for token in _body_tokens(source, first_line, last_line):
        text = token.string
        if token.type in (tokenize.NUMBER, tokenize.STRING, _FSTRING_START):
            text = "CONST"
        elif token.type == tokenize.NAME and not keyword.iskeyword(text) and previous != ".":
            if text not in roles and text not in _BUILTINS:
                roles[text] = f"V{sum(r.startswith('V') for r in roles.values())}"
            text = roles.get(text, text)
        elif token.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            text = tokenize.tok_name[token.type]
        out.append(text)
        previous = token.string
    return tuple(out)


def similarity(a: Skeleton, b: Skeleton) -> float:
    # SequenceMatcher's matching blocks can depend on the order of its arguments: take the larger, so the
    # measure is symmetric.
    return max(difflib.SequenceMatcher(None, x, y, autojunk=False).ratio() for x, y in ((a, b), (b, a)))


def closest(group: Iterable[Skeleton], others: Iterable[Skeleton]) -> float:
    """The highest similarity between a skeleton of ``group`` and one of ``others`` (0 if either is empty)."""
    others = list(others)
    return max((similarity(a, b) for a in group for b in others), default=0.0)
