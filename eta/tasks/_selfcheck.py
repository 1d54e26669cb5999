"""A minimal runner for checking loaders: runs a task's tests on a completion in a child process.

Only for developing and testing the loaders (did the split tests keep their setup lines? does the
reference pass?). The project's sandbox, with limits and outcome classes, is ``eta.execute``. As in the
sandbox, program, setup and then each test run in one namespace, in order; the verdict per test
is "passed", "failed" (an AssertionError or a different output) or the name
of the exception.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from eta.tasks.schema import Task

_CHILD = r'''
import contextlib, copy, io, json, os, sys
spec = json.load(open(sys.argv[1]))
sys.path.insert(0, os.getcwd())
sys.setrecursionlimit(10000)
def run(code, namespace):
    exec(compile(code, "<program>", "exec"), namespace)
verdicts = []
if spec["stdio"]:
    for case in spec["tests"]:
        sys.stdin, out = io.StringIO(case["stdin"]), io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                run(spec["program"], {"__name__": "__main__"})
            verdicts.append(["stdout", out.getvalue()])
        except SystemExit:
            verdicts.append(["stdout", out.getvalue()])
        except BaseException as exc:
            verdicts.append(["error", type(exc).__name__])
else:
    namespace = {"__name__": "candidate"}
    try:
        run(spec["program"], namespace)
        run(spec["setup"], namespace)
    except BaseException as exc:
        print(json.dumps([["error", type(exc).__name__]] * len(spec["tests"])))
        sys.exit(0)
    for case in spec["tests"]:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                run(case["code"], namespace)
            verdicts.append(["passed", ""])
        except AssertionError:
            verdicts.append(["failed", ""])
        except BaseException as exc:
            verdicts.append(["error", type(exc).__name__])
print(json.dumps(verdicts))
'''


def run_tests(task: Task, completion: str | None = None, *, timeout_s: float = 60.0) -> list[str]:
    """Per-test verdicts of ``task.program(completion)`` (the reference when ``completion`` is None)."""
    from eta.tasks.equality import outputs_match
    from eta.tasks.schema import TestKind

    program = task.reference if completion is None else task.program(completion)
    stdio = bool(task.tests) and task.tests[0].kind is TestKind.STDIO
    spec = {"program": program, "setup": task.setup, "stdio": stdio, "tests": [t.to_dict() for t in task.tests]}
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in task.support_files.items():
            (Path(tmp) / name).write_text(text)
        (Path(tmp) / "spec.json").write_text(json.dumps(spec))
        try:
            done = subprocess.run([sys.executable, "-c", _CHILD, "spec.json"], cwd=tmp, capture_output=True,
                                  text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return ["timeout"] * len(task.tests)
    if done.returncode != 0 or not done.stdout.strip():
        return ["crashed"] * len(task.tests)
    verdicts = json.loads(done.stdout.strip().splitlines()[-1])
    out = []
    for (kind, value), test in zip(verdicts, task.tests):
        if kind == "stdout":
            out.append("passed" if outputs_match(value, test.expected_stdout) else "failed")
        else:
            out.append(kind if kind in ("passed", "failed") else value)
    return out
