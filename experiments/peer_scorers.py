"""The RL frameworks' own scorers, for `bench_execute.py --peers`: installed into a throwaway environment,
fed the same programs and tests as eta, each run as a whole process.

- verl's local code scorer: `verl.utils.reward_score.prime_code.compute_score(completion, tests,
  continuous=True)`, what verl's `default_compute_score` calls for code when no SandboxFusion URL is set,
  driven in a process pool as verl's `prime` reward manager does. Tests in its call-based format
  (`fn_name`, JSON lines of arguments, JSON outputs), so only tasks whose every test is
  `assert f(<literals>) == <literal>` with values that survive JSON unchanged.
- evalplus's checker: `evalplus.eval.untrusted_check`, called as its `evaluate` calls it (base inputs,
  fast_check, its default time limits from the reference's own times, a process pool), with expected outputs
  and reference times from its own `trusted_exec`, as its `get_groundtruth` does.

The environment lives under `$ETA_CACHE_DIR/peers/venv` (default ~/.cache/eta/peers/venv), never `.venv`:
each package is installed from PyPI without its dependencies (verl's import the whole of torch and ray),
plus the few its scorer imports (numpy; psutil for evalplus). verl's package `__init__` imports torch, so
the driver registers its parent packages as empty namespaces and imports only `prime_code`.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DRIVERS = Path(__file__).resolve().parent / "peer_drivers"
PEERS = {  # name: (PyPI package, the few dependencies its scorer imports, driver script)
    "verl": ("verl", ["numpy"], "verl_driver.py"),
    "evalplus": ("evalplus", ["numpy", "psutil"], "evalplus_driver.py"),
}


def venv_dir() -> Path:
    root = os.environ.get("ETA_CACHE_DIR") or os.path.expanduser("~/.cache/eta")
    return Path(root) / "peers" / "venv"


def peer_python(name: str) -> tuple[Path | None, str]:
    """The throwaway environment's interpreter with `name` installed (made on first use), and the installed
    version; None and the reason in one line where it cannot be installed."""
    package, deps, _ = PEERS[name]
    home = venv_dir()
    python = home / "bin" / "python"
    marker = home / f".{name}-installed"
    if not marker.is_file():
        try:
            if not python.is_file():
                subprocess.run([sys.executable, "-m", "venv", str(home)], check=True, capture_output=True)
            pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            subprocess.run([*pip, "--no-deps", package], check=True, capture_output=True, text=True)
            subprocess.run([*pip, *deps], check=True, capture_output=True, text=True)
        except subprocess.CalledProcessError as e:
            last = (e.stderr or e.stdout or "").strip().splitlines()[-1:] or [f"exit status {e.returncode}"]
            return None, f"{name} could not be installed from PyPI into {home}: {last[0]}"
        marker.write_text("")
    version = subprocess.run([str(python), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
                             capture_output=True, text=True).stdout.strip()
    return python, version


@dataclass(frozen=True)
class PeerRun:
    seconds: float  # the driver's scoring, its interpreter's start and imports left out
    wall_s: float  # the whole process
    passed: list[bool]


def run_driver(name: str, python: Path, payload: dict[str, Any], workers: int) -> PeerRun:
    """One whole process of the peer's driver on `payload`; raises with its stderr if it fails."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.json", Path(tmp) / "out.json"
        src.write_text(json.dumps(payload))
        t0 = time.perf_counter()
        proc = subprocess.run([str(python), str(DRIVERS / PEERS[name][2]), str(src), str(out), str(workers)],
                              capture_output=True, text=True, cwd=tmp)
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not out.is_file():
            raise RuntimeError(f"{name}'s driver failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
        got = json.loads(out.read_text())
    return PeerRun(got["seconds"], wall, [bool(x) for x in got["passed"]])


# ---- the programs: references whose tests are literal calls, and one mutant of each ----

def literal_call(code: str, entry_point: str) -> tuple[tuple, Any] | None:
    """(arguments, expected) of `assert ENTRY(<literals>) == <literal>`, else None."""
    try:
        (stmt,) = ast.parse(code).body
    except (SyntaxError, ValueError):
        return None
    if not (isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Compare) and len(stmt.test.ops) == 1
            and isinstance(stmt.test.ops[0], ast.Eq)):
        return None
    call, expected = stmt.test.left, stmt.test.comparators[0]
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == entry_point
            and not call.keywords and not any(isinstance(a, ast.Starred) for a in call.args)):
        return None
    try:
        return tuple(ast.literal_eval(a) for a in call.args), ast.literal_eval(expected)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def json_exact(value: Any) -> bool:
    """Whether JSON gives back the same value with the same types (verl's call-based format is JSON)."""
    try:
        back = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        return False
    return _same(value, back)


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def literal_tests(task: Any) -> list[tuple[tuple, Any]] | None:
    """Every test of `task` as (arguments, expected), or None when one is not a literal call."""
    if task.setup or task.support_files:
        return None
    calls = [literal_call(t.code, task.entry_point) for t in task.tests]
    return None if any(c is None for c in calls) else calls  # type: ignore[return-value]


def verl_tests(task: Any) -> dict[str, Any] | None:
    """The task's tests in verl's call-based format, or None where it cannot hold them exactly."""
    calls = literal_tests(task)
    if calls is None or not all(json_exact(list(args)) and json_exact(exp) for args, exp in calls):
        return None
    return {"fn_name": task.entry_point, "inputs": ["\n".join(json.dumps(a) for a in args) for args, _ in calls],
            "outputs": [json.dumps(exp) for _, exp in calls]}


_SWAP_OPS = {ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq,
             ast.NotEq: ast.Eq, ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult,
             ast.Mod: ast.FloorDiv, ast.And: ast.Or, ast.Or: ast.And, ast.In: ast.NotIn, ast.NotIn: ast.In}


def mutants(source: str, limit: int = 8) -> list[str]:
    """Up to `limit` programs that differ from `source` by one slip, in source order: an operator swapped
    (`<` for `>=`, `+` for `-`, `and` for `or`, ...) or an integer constant off by one; then, for a program
    with few of those, a `return` that gives None."""
    tree = ast.parse(source)
    sites = [node for node in ast.walk(tree) if _slip(node) is not None]
    sites += [node for node in ast.walk(tree) if isinstance(node, ast.Return) and node.value is not None]
    out: list[str] = []
    for node in sites:
        field, new = _slip(node) or ("value", ast.Constant(None))
        old = getattr(node, field)
        setattr(node, field, new)
        text = ast.unparse(tree)
        setattr(node, field, old)
        if text not in out:
            out.append(text)
        if len(out) >= limit:
            break
    return out


def _slip(node: ast.AST) -> tuple[str, Any] | None:
    """(field, its mutated value) for an operator or an integer constant; None for any other node."""
    if isinstance(node, (ast.BinOp, ast.BoolOp)) and type(node.op) in _SWAP_OPS:
        return "op", _SWAP_OPS[type(node.op)]()
    if isinstance(node, ast.Compare) and type(node.ops[0]) in _SWAP_OPS:
        return "ops", [_SWAP_OPS[type(node.ops[0])](), *node.ops[1:]]
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return "value", node.value + 1
    return None
