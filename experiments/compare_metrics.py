#!/usr/bin/env python
"""Whether two runs (or two sweeps) gave the same results: every ``metrics.json`` under A against the one at
the same place under B, value by value, leaving out what differs from one run to the next by design
(timings, dates, paths). Exits 1 on any difference, listing each; 0 when all match.

    python experiments/compare_metrics.py outputs/runs/before outputs/runs/after
    python experiments/compare_metrics.py before/ after/ --rtol 1e-6    # floats within a relative tolerance

A and B are run directories, sweep folders, or two metrics.json files. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Iterator

METRICS = "metrics.json"  # eta.rundir.METRICS; this script imports nothing of eta, to run on any checkout
# Keys whose values are not results: how long something took, when, and where it was written.
IGNORED_KEY = re.compile(r"(runtime|seconds|_s$|per_second|time|date|_at$|^at$|path|_dir$|^dir$)", re.IGNORECASE)
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def metrics_files(root: Path) -> dict[str, Path]:
    """Each metrics.json under ``root`` by its path relative to it (a file: itself, as '.')."""
    if root.is_file():
        return {".": root}
    return {str(p.relative_to(root)): p for p in sorted(root.rglob(METRICS))}


def ignored(key: str, value: Any) -> bool:
    if IGNORED_KEY.search(key):
        return True
    return isinstance(value, str) and (value.startswith("/") or bool(DATE.match(value)))


def differences(a: Any, b: Any, where: str, rtol: float) -> Iterator[str]:
    """Each place where ``a`` and ``b`` differ, as 'where: a != b'."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if ignored(str(key), a.get(key, b.get(key))):
                continue
            if key not in a or key not in b:
                yield f"{where}/{key}: only in {'B' if key not in a else 'A'}"
            else:
                yield from differences(a[key], b[key], f"{where}/{key}", rtol)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield f"{where}: {len(a)} items != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            yield from differences(x, y, f"{where}[{i}]", rtol)
    elif isinstance(a, float) or isinstance(b, float):
        both = isinstance(a, (int, float)) and isinstance(b, (int, float))
        if not (both and (a == b or (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rtol, abs_tol=0.0))):
            yield f"{where}: {a!r} != {b!r}"
    elif a != b:
        yield f"{where}: {a!r} != {b!r}"


def compare(a: Path, b: Path, rtol: float = 0.0) -> tuple[int, list[str]]:
    """How many metrics.json files were compared, and every difference."""
    files_a, files_b = metrics_files(a), metrics_files(b)
    found = [f"{rel}: only in {'A' if rel in files_a else 'B'}" for rel in sorted(set(files_a) ^ set(files_b))]
    for rel in sorted(set(files_a) & set(files_b)):
        found += list(differences(json.loads(files_a[rel].read_text()), json.loads(files_b[rel].read_text()), rel,
                                  rtol))
    return len(set(files_a) & set(files_b)), found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--rtol", type=float, default=0.0, help="relative tolerance for floats (default: exact)")
    args = parser.parse_args(argv)
    for root in (args.a, args.b):
        if not root.exists():
            parser.error(f"{root}: no such file or folder")
    n, found = compare(args.a, args.b, args.rtol)
    if n == 0 and not found:
        print(f"no {METRICS} under {args.a} or {args.b}", file=sys.stderr)
        return 2
    for line in found:
        print(line)
    print(f"{n} {METRICS} files compared: {len(found)} difference(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
