"""The sandbox fails closed (issue 25, item 8): a layer that cannot be set up stops the run in one line that
names it, unless the user turned it off (ETA_SANDBOX_DISABLE); the layers in force are reported. Standard
library only: these tests also run on Python 3.12."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from eta.execute import Executor, Job, Limits, SandboxRefused
from eta.execute import isolation
from eta.tasks import load_tasks
from eta.tasks.schema import TestCase

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LIMITS = Limits(timeout_s=20, test_timeout_s=10.0, memory_mb=1024)
EVERY_LAYER_ON = {"mountns": "on", "netns": "on", "uid": "on", "rlimits": "on"}
WITHOUT_CAPS = ("setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--")

# What a candidate can tell about its own sandbox: its user, its capabilities, the host's /proc, the project.
PROBE = textwrap.dedent(f"""
    import os
    def caps():
        try:
            with open("/proc/self/status") as f:
                return [l.split()[1] for l in f if l.startswith("CapEff")][0]
        except OSError:
            return None
    print("PROBE", os.getuid(), caps(), os.path.exists("/proc/1"), os.path.exists({str(PROJECT_ROOT / "eta")!r}))
    def f():
        return 1
""")


def probe_of(output: str) -> dict[str, object]:
    line = next(l for l in output.splitlines() if l.startswith("PROBE "))
    uid, caps, host_proc, project = line.split()[1:]
    return {"uid": int(uid), "caps": None if caps == "None" else caps, "host_proc": host_proc == "True",
            "project": project == "True"}


def run_probe(ex: Executor) -> dict[str, object]:
    r = ex.map([Job(PROBE, [TestCase(code="assert f() == 1")])])[0]
    assert r.passed, r
    return probe_of(r.output)


@pytest.fixture(scope="module")
def layers_here() -> dict[str, str]:
    """The layers this machine gives a default executor (all of them as root with namespaces)."""
    try:
        with Executor(workers=1, limits=LIMITS) as ex:
            return dict(ex.layers)
    except SandboxRefused as e:
        pytest.skip(f"the sandbox cannot be set up here: {e}")


# -- the refusal itself, on plans made by hand: always runs -------------------------------------------------

def test_a_layer_that_is_off_without_being_asked_is_refused_in_one_line():
    plan = isolation.Plan(uid=123, netns=True, mountns=False)
    plan.reasons["mountns"] = "IsolationError: mount /x: No such file or directory"
    msg = isolation.refusal(plan)
    assert msg is not None and "\n" not in msg
    assert "file-system view (mountns)" in msg and "mount /x: No such file" in msg
    assert "ETA_SANDBOX_DISABLE=mountns" in msg and "netns" not in msg.split("ETA_SANDBOX_DISABLE")[0]


def test_every_missing_layer_is_named_and_one_turned_off_is_not():
    plan = isolation.Plan(uid=None, netns=False, mountns=False)
    plan.reasons.update(uid="not running as root", netns="unshare: EPERM", mountns="unshare: EPERM")
    plan.disabled = {"netns"}
    msg = isolation.refusal(plan)
    assert "sandbox user (uid): not running as root" in msg and "file-system view (mountns)" in msg
    assert "network namespace" not in msg and "ETA_SANDBOX_DISABLE=mountns,netns,uid" in msg
    plan.disabled = {"netns", "mountns", "uid"}
    assert isolation.refusal(plan) is None
    assert isolation.layers(plan) == {"mountns": "off", "netns": "off", "uid": "off", "rlimits": "on"}


def test_an_unknown_layer_name_is_refused(monkeypatch):
    monkeypatch.setenv("ETA_SANDBOX_DISABLE", "uid,network")
    with pytest.raises(SandboxRefused, match="unknown layer.*network.*mountns"):
        isolation.disabled_layers()
    with pytest.raises(SandboxRefused, match="unknown layer"):
        Executor(workers=1, limits=LIMITS)


# -- on this machine ---------------------------------------------------------------------------------------

def test_every_layer_is_on_by_default_as_root(layers_here):
    if os.geteuid() != 0:
        pytest.skip("not root: the sandbox user needs root")
    assert layers_here == EVERY_LAYER_ON


def test_turning_a_layer_off_runs_and_reports_it_off(monkeypatch, layers_here):
    monkeypatch.setenv("ETA_SANDBOX_DISABLE", "netns")
    with Executor(workers=1, limits=LIMITS) as ex:
        assert ex.layers["netns"] == "off"
        assert {k: v for k, v in ex.layers.items() if k != "netns"} == {k: v for k, v in layers_here.items() if k != "netns"}
        assert run_probe(ex)["uid"] != 0 or layers_here["uid"] == "off"


def test_capabilities_are_dropped_when_the_user_is_not(monkeypatch, layers_here):
    """Without the view and without the sandbox user, the candidate is root: it must hold no capability
    (before the fix it kept them all unless the view was on)."""
    if os.geteuid() != 0:
        pytest.skip("not root: there are no capabilities to drop")
    monkeypatch.setenv("ETA_SANDBOX_DISABLE", "mountns,uid")
    with Executor(workers=1, limits=LIMITS) as ex:
        assert ex.layers["uid"] == "off" and ex.layers["mountns"] == "off"
        seen = run_probe(ex)
    assert seen["uid"] == 0 and seen["caps"] == "0000000000000000", seen


def _without_caps_available() -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv (util-linux) to take the sandbox's privileges away")


def test_a_layer_that_cannot_be_set_up_stops_the_cli_in_one_line(tmp_path):
    """Root without capabilities cannot make namespaces: python -m eta.execute refuses, names the layers,
    exits 2 and writes no result; with those layers turned off it runs."""
    _without_caps_available()
    samples = tmp_path / "samples.jsonl"
    first = load_tasks("synthetic", limit=1)[0].task_id  # a problem of the default (test) split
    samples.write_text(json.dumps({"task_id": first, "completion": "x = 1"}) + "\n")
    cmd = [*WITHOUT_CAPS, sys.executable, "-m", "eta.execute", str(samples), "--dataset", "synthetic",
           "--fixed-limits", "--workers", "1", "--quiet", "-o", str(tmp_path / "out.jsonl")]
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    env.pop("ETA_SANDBOX_DISABLE", None)
    refused = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=120)
    assert refused.returncode == 2, refused.stderr
    errors = [l for l in refused.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert "file-system view (mountns)" in errors[0] and "network namespace (netns)" in errors[0]
    assert not (tmp_path / "out.jsonl").exists() or not (tmp_path / "out.jsonl").read_text().strip()
    env["ETA_SANDBOX_DISABLE"] = "mountns,netns,uid"
    ran = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 1


def test_results_made_with_a_layer_off_are_not_reused_with_it_on(monkeypatch):
    from eta.execute.batch import result_key
    from eta.tasks.schema import Task

    task = Task(task_id="t/0", prompt="", reference="def f(): return 1", tests=(TestCase(code="assert f() == 1"),))
    monkeypatch.delenv("ETA_SANDBOX_DISABLE", raising=False)
    every = result_key(task, "def f(): return 1", LIMITS, None)
    monkeypatch.setenv("ETA_SANDBOX_DISABLE", "netns")
    assert result_key(task, "def f(): return 1", LIMITS, None) != every


# -- the reproduction of item 8: a virtual environment in /tmp reached through a symbolic link -------------

VENV_SCRIPT = textwrap.dedent("""
    import json, sys
    from eta.execute import Executor, Job, Limits, SandboxRefused
    from eta.tasks.schema import TestCase
    try:
        with Executor(workers=1, limits=Limits(timeout_s=20, test_timeout_s=10.0)) as ex:
            r = ex.map([Job(sys.argv[1], [TestCase(code="assert f() == 1")])])[0]
            print(json.dumps({"layers": ex.layers, "passed": r.passed, "output": r.output, "prefix": sys.prefix}))
    except SandboxRefused as e:
        print(json.dumps({"refused": str(e)}))
""")


@pytest.mark.parametrize("link_in", ["tmp", "var-tmp"])
def test_a_symlinked_venv_under_tmp_runs_fully_sandboxed_or_refuses(tmp_path, link_in, layers_here):
    """Before the fix the view failed, the user was dropped and the candidate ran as root with all its
    capabilities and the host's /proc. Now either every layer is on (here: as on a plain interpreter) or
    the executor refuses in one line; never a run with fewer layers."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    home = tmp_path if link_in == "tmp" else Path(tempfile.mkdtemp(dir="/var/tmp"))
    try:
        (home / "proj").mkdir()
        (home / "proj" / ".venv").symlink_to(venv)
        python = home / "proj" / ".venv" / "bin" / "python"
        env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
        env.pop("ETA_SANDBOX_DISABLE", None)
        done = subprocess.run([str(python), "-c", VENV_SCRIPT, PROBE], capture_output=True, text=True, env=env,
                              cwd=PROJECT_ROOT, timeout=120)
    finally:
        if home != tmp_path:
            shutil.rmtree(home, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    if "refused" in got:
        assert "\n" not in got["refused"] and "could not be set up" in got["refused"]
        assert layers_here != EVERY_LAYER_ON, f"a plain interpreter gets every layer, the linked venv is refused: {got}"
        return
    assert got["prefix"] == str(home / "proj" / ".venv")  # the interpreter really ran through the link
    assert got["layers"] == layers_here and got["passed"], got
    seen = probe_of(got["output"])
    if layers_here == EVERY_LAYER_ON:
        assert seen["uid"] != 0 and not seen["host_proc"] and not seen["project"], seen
