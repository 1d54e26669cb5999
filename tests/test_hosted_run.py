"""`run.py` with a hosted model (model=openai, model=anthropic) end to end against the local stub of the two
APIs (tests/hosted_stub.py, on 127.0.0.1): the errors a user meets, the key kept out of everything the run
writes and out of the programs it executes, and pass@k, tokens and cost from real executions. No network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("openai")
pytest.importorskip("anthropic")

sys.path.insert(0, str(Path(__file__).parent))
from hosted_stub import GOOD_KEY, Stub, StubServer  # noqa: E402

pytestmark = pytest.mark.needs_torch  # run.py composes through Hydra and imports the pipeline
ROOT = Path(__file__).resolve().parents[1]
KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
RIGHT, WRONG = "# stub: right", "# stub: wrong"


def run_py(cwd: Path, *overrides: str, key: str | None = GOOD_KEY, provider: str = "openai",
           timeout: int = 300, launcher: tuple[str, ...] = (), **extra_env: str) -> subprocess.CompletedProcess:
    """run.py in a subprocess, the key in its environment from the start (as a user's shell exports it)."""
    env = {k: v for k, v in os.environ.items() if k not in KEY_ENV.values()}
    env.update(WANDB_MODE="offline", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", ETA_ROOT=str(ROOT),
               **extra_env)
    if key is not None:
        env[KEY_ENV[provider]] = key
    return subprocess.run([*launcher, sys.executable, str(ROOT / "run.py"), *overrides], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def base_url(provider: str, url: str) -> str:
    # OpenAI's SDK takes the URL up to /v1; Anthropic's appends /v1/messages itself
    return f"{url}/v1" if provider == "openai" else url


def hosted_run(provider: str, url: str, run_dir: Path, *more: str) -> tuple[str, ...]:
    return (f"model={provider}", "method=none", "dataset=humaneval", "dataset.limit=4", "logger=none",
            f"model.hosted.base_url={base_url(provider, url)}", "model.hosted.backoff_s=0.01", "eval.n=2",
            "eval.ks=[1,2]", f"hydra.run.dir={run_dir}", *more)


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("error:")]


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- an unknown model ------------------------------------------------------------------------------------

@pytest.mark.slow  # run.py in a new process
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_an_unknown_model_is_one_line_naming_it(provider, tmp_path):
    with StubServer() as server:
        proc = run_py(tmp_path, *hosted_run(provider, server.url, tmp_path / "run", "model.hosted.model_id=gpt-nosuch-9"),
                      provider=provider)
        asked = len(server.stub.requests)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    [line] = error_lines(proc)
    assert "model.hosted.model_id" in line and "'gpt-nosuch-9'" in line and "404" in line
    assert 1 <= asked <= 8  # stopped at the first answer: the requests in flight, not every problem's
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize("key", ["x", "EMPTY", GOOD_KEY])
def test_an_unreachable_server_is_one_line_and_a_placeholder_key_does_not_garble_it(key, monkeypatch):
    import socket

    from eta.hosted.errors import HostedError
    from eta.hosted.policy import load_hosted

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("OPENAI_API_KEY", key)
    cfg = yaml.safe_load((ROOT / "conf" / "model" / "openai.yaml").read_text())
    cfg.pop("defaults")
    cfg["hosted"].update(base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, backoff_s=0.01)
    policy, codec = load_hosted(cfg)
    prompt = codec.apply_chat_template([{"role": "user", "content": "hi"}])
    with pytest.raises(HostedError) as err:
        policy.sample_prompts([prompt], n=1, temperature=0.0, top_p=1.0, max_new_tokens=8)
    line = str(err.value)
    assert line == (f"model=openai (http://127.0.0.1:{port}/v1): the request could not connect: gave up after 2 "
                    f"tries (model.hosted.max_retries=1)")


# --- the whole run: pass@k from executions, tokens and cost ----------------------------------------------

def humaneval_answer() -> Any:
    """The stub's answer to a HumanEval prompt, by problem number: n % 3 == 0 the reference, 1 the reference
    and a wrong program by turns, 2 always wrong. pass@k then has a known shape: neither 0 nor 1, pass@2 above
    pass@1, and every verdict comes from executing what the stub sent."""
    import threading

    from eta.tasks import load_tasks

    tasks = load_tasks("humaneval")
    repair = repair_answer(tasks)
    turns: dict[str, int] = {}
    lock = threading.Lock()

    def answer(body: dict[str, Any]) -> str:
        text = "\n".join(str(m.get("content", "")) for m in body["messages"])
        if "Fix the program." in text:
            return repair(text)
        task = max((t for t in tasks if t.prompt.strip() in text), key=lambda t: len(t.prompt))
        number = int(task.task_id.split("/")[1])
        with lock:
            turn = turns[task.task_id] = turns.get(task.task_id, -1) + 1
        right = number % 3 == 0 or (number % 3 == 1 and turn % 2 == 0)
        program = (f"{task.reference.rstrip()}\n{RIGHT}\n" if right
                   else f"def {task.entry_point}(*args, **kwargs):\n    return None  {WRONG}\n")
        return f"Here it is:\n```python\n{program}```\nDone."

    return answer


FIXED, UNFIXED = "# stub: fixed", "# stub: unfixed"


def stub_fixes(task_id: str) -> bool:
    """Whether the stub answers a repair of this problem with its reference. HumanEval: the problems it
    answers right and wrong by turns (n % 3 == 1); QuixBugs: by the length of the name."""
    name = task_id.split("#")[0].split("/")[1]
    return int(name) % 3 == 1 if name.isdigit() else len(name) % 2 == 0


def repair_answer(humaneval: list[Any]) -> Any:
    """The answer to a repair prompt (method=repair, eval.repair): the reference of the problem asked for
    some problems, a program that raises for the others."""
    from eta.tasks import load_tasks

    quixbugs = load_tasks("quixbugs")

    def answer(text: str) -> str:
        asked = text.rsplit("Now the program to fix:", 1)[-1]  # after the worked examples, if any
        pool = quixbugs if "has a bug on exactly one line" in asked else humaneval
        task = max((t for t in pool if f"`{t.entry_point}`" in asked), key=lambda t: len(t.entry_point))
        if stub_fixes(task.task_id):
            program = f"{task.reference.rstrip()}\n{FIXED}\n"
        else:
            program = f"def {task.entry_point}(*args, **kwargs):\n    raise ValueError('no')  {UNFIXED}\n"
        return f"Fixed:\n```python\n{program}```\n"

    return answer


def pass_at_k(n: int, c: int, k: int) -> float:
    from math import comb

    return 1.0 if n - c < k else 1.0 - comb(n - c, k) / comb(n, k)


@pytest.mark.slow  # run.py in a new process
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_method_none_end_to_end_pass_at_k_tokens_and_cost(provider, tmp_path):
    run_dir = tmp_path / "run"
    with StubServer(Stub(answer=humaneval_answer())) as server:
        proc = run_py(tmp_path, *hosted_run(provider, server.url, run_dir), provider=provider)
        usage_sent, asked = list(server.stub.usage), len(server.stub.requests)
        assert proc.returncode == 0, proc.stderr[-3000:]
        # a second run in the same directory (the same server) asks nothing again
        again = run_py(tmp_path, *hosted_run(provider, server.url, run_dir), provider=provider)
        assert again.returncode == 0, again.stderr[-3000:]
        assert len(server.stub.requests) == asked
    metrics = json.loads((run_dir / "metrics.json").read_text())
    base = metrics["base"]

    executions = lines(run_dir / "eval" / "base" / "sampled_executions.jsonl")
    assert len(executions) == 4 * 2
    for r in executions:  # each verdict is the execution of what the stub answered
        assert (RIGHT in r["response"]) != (WRONG in r["response"])
        assert r["passed"] == (RIGHT in r["response"]), r["task_id"]
    by_task: dict[str, list[bool]] = {}
    for r in executions:
        by_task.setdefault(r["task_id"], []).append(r["passed"])
    for k in (1, 2):
        expected = sum(pass_at_k(len(v), sum(v), k) for v in by_task.values()) / len(by_task)
        assert base[f"pass@{k}"] == pytest.approx(expected)
    assert 0.0 < base["pass@1"] < base["pass@2"] < 1.0  # the split holds problems of all three kinds
    for name in ("quixbugs", "failing"):  # eval.repair (on by default) asked the hosted model too
        repaired = base["repair"][name]["trace"]
        assert repaired["n_problems"] > 0 and 0.0 < repaired["accuracy"] < 1.0, (name, repaired)

    usage = metrics["usage"]
    assert usage["provider"] == provider and usage["requests"] == asked > 0
    assert usage["input_tokens"] == sum(i for i, _ in usage_sent) > 0
    assert usage["output_tokens"] == sum(o for _, o in usage_sent) > 0
    hosted = yaml.safe_load((ROOT / "conf" / "model" / f"{provider}.yaml").read_text())["hosted"]
    price = hosted["prices"][hosted["model_id"]]  # the price comes from the model config
    expected_cost = (usage["input_tokens"] * price["input"] + usage["output_tokens"] * price["output"]) / 1e6
    assert usage["estimated_cost_usd"] == pytest.approx(expected_cost, abs=1e-6) and expected_cost > 0
    assert usage["requests_sent_this_process"] == 0  # metrics.json as the second run wrote it


@pytest.mark.slow  # two whole runs
def test_a_price_changed_in_the_config_changes_the_cost_without_resampling(tmp_path):
    run_dir = tmp_path / "run"
    with StubServer(Stub(answer=humaneval_answer())) as server:
        first = run_py(tmp_path, *hosted_run("openai", server.url, run_dir))
        assert first.returncode == 0, first.stderr[-3000:]
        asked = len(server.stub.requests)
        priced = run_py(tmp_path, *hosted_run("openai", server.url, run_dir,
                                              "model.hosted.prices={gpt-4.1-mini:{input:100.0,output:200.0}}"))
        assert priced.returncode == 0, priced.stderr[-3000:]
        assert len(server.stub.requests) == asked  # prices are operational: nothing is asked again
    usage = json.loads((run_dir / "metrics.json").read_text())["usage"]
    expected = (usage["input_tokens"] * 100.0 + usage["output_tokens"] * 200.0) / 1e6
    assert usage["estimated_cost_usd"] == pytest.approx(expected, abs=1e-6)


# --- the key in nothing the run writes -------------------------------------------------------------------

def files_holding(root: Path, secrets: list[str]) -> list[str]:
    """Every file under root whose bytes hold one of the secrets (binary files too: W&B's .wandb log)."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path.relative_to(root)}: {s[:6]}..." for s in secrets if s.encode() in data]
    return found


@pytest.mark.slow  # run.py in a new process
def test_the_key_reaches_no_file_of_the_run_nor_wandb_nor_the_logs(tmp_path):
    key = f"sk-eta-leakcheck-{uuid.uuid4().hex}"
    secrets = [key, key.removeprefix("sk-eta-leakcheck-")[:20]]  # the whole key, and a part of it
    run_dir = tmp_path / "run"
    with StubServer(Stub(answer=humaneval_answer(), key=key)) as server:
        proc = run_py(tmp_path, *hosted_run("openai", server.url, run_dir, "logger=wandb", "logger.mode=offline"),
                      key=key)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert server.stub.requests  # the key was used: the stub accepts no other
    wandb_files = list((run_dir / "wandb").rglob("*"))
    assert any(p.suffix == ".wandb" for p in wandb_files), "W&B logged nothing: the check would be vacuous"
    assert (run_dir / ".hydra" / "config.yaml").is_file() and (run_dir / "run.log").is_file()
    assert (run_dir / "eval" / "base" / "sampled_samples.requests.jsonl").is_file()  # the journal of replies
    assert files_holding(tmp_path, secrets) == []  # the run dir, .hydra/, wandb/, and whatever cwd got
    for s in secrets:
        assert s not in proc.stdout and s not in proc.stderr


@pytest.mark.slow  # run.py in a new process
def test_a_key_in_the_config_is_refused_and_removed_from_hydras_saved_config(tmp_path):
    key = f"sk-eta-leakcheck-{uuid.uuid4().hex}"
    run_dir = tmp_path / "run"
    with StubServer() as server:
        proc = run_py(tmp_path, *hosted_run("openai", server.url, run_dir), f"+model.hosted.api_key={key}")
        assert not server.stub.requests
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    [line] = error_lines(proc)
    assert "model.hosted.api_key" in line and "OPENAI_API_KEY" in line and key not in line
    assert (run_dir / ".hydra" / "overrides.yaml").is_file()  # Hydra wrote it before eta saw the key
    assert files_holding(tmp_path, [key]) == []


# --- the key out of reach of the programs the run executes ----------------------------------------------

PROBE = """\
import os
found, readable, pids = [], 0, ["self"]
for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
    if name in os.environ:
        found.append("os.environ[" + name + "]")
pid = os.getpid()
try:  # every ancestor: the fork server, the run itself, and so on up
    while pid > 1:
        with open("/proc/%d/status" % pid) as f:
            pid = int([x for x in f if x.startswith("PPid:")][0].split()[1])
        pids.append(str(pid))
except (OSError, IndexError, ValueError):
    pass
try:  # and every other process there is (W&B's service, ...)
    pids += [p for p in os.listdir("/proc") if p.isdigit()]
except OSError:
    pass
for p in pids:
    for what in ("environ", "cmdline"):
        try:
            with open("/proc/%s/%s" % (p, what), "rb") as f:
                data = f.read()
        except OSError:
            continue
        readable += 1
        if any(k.encode() in data for k in KEYS) or (p in pids[:8] and b"_API_KEY=" in data):
            found.append("/proc/%s/%s" % (p, what))
print("probe: found=%r readable=%d" % (found, readable))
assert not found, found
"""


def probing_answer(keys: list[str]) -> Any:
    """Each HumanEval problem's reference, its body led by PROBE: it passes exactly when PROBE finds no key."""
    from eta.tasks import load_tasks

    tasks = load_tasks("humaneval")
    probe = "".join(f"    {line}\n" if line.strip() else "\n" for line in
                    (f"KEYS = {keys!r}\n" + PROBE).splitlines())

    def answer(body: dict[str, Any]) -> str:
        text = "\n".join(str(m.get("content", "")) for m in body["messages"])
        task = max((t for t in tasks if t.prompt.strip() in text), key=lambda t: len(t.prompt))
        return f"```python\n{task.reference.replace(task.prompt, task.prompt + probe, 1)}```\n"

    return answer


# Without root: the run keeps uid 0 here (every file is root's) but loses every capability, as a user's run
# has none; the sandbox then can set up no layer but rlimits (no user of its own, no namespaces), so it
# refuses unless they are turned off (ETA_SANDBOX_DISABLE): the program runs as the run's own user and sees
# all of /proc.
WITHOUT_ROOT = ("setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--")


@pytest.mark.slow  # run.py in a new process
@pytest.mark.parametrize("unprivileged", [False, True], ids=["default-sandbox", "without-root"])
def test_executed_programs_cannot_see_the_keys(unprivileged, tmp_path):
    """The keys exported for the run; the programs it executes look for them in their environment, in every
    ancestor's /proc/<pid>/environ and in every other process's (W&B's service is running)."""
    if unprivileged and shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    keys = {"openai": f"sk-eta-leakcheck-{uuid.uuid4().hex}", "anthropic": f"sk-ant-eta-leakcheck-{uuid.uuid4().hex}"}
    run_dir = tmp_path / "run"
    with StubServer(Stub(answer=probing_answer(list(keys.values())), key=keys["openai"])) as server:
        proc = run_py(tmp_path, *hosted_run("openai", server.url, run_dir, "logger=wandb", "logger.mode=offline",
                                            "eval.repair.enabled=false"),  # the probes answer the evaluation only
                      key=keys["openai"], ANTHROPIC_API_KEY=keys["anthropic"],
                      launcher=WITHOUT_ROOT if unprivileged else (), ETA_SANDBOX_DISABLE="mountns,netns,uid" if unprivileged else "")
    assert proc.returncode == 0, proc.stderr[-3000:]
    executions = lines(run_dir / "eval" / "base" / "sampled_executions.jsonl")
    assert len(executions) == 8
    for r in executions:
        assert "probe: found=[]" in r["output"], (r["output"], r["error_message"])
        assert r["passed"], (r["task_id"], r["error_message"])
    if unprivileged:  # not vacuous: the probe read the environ files of processes, its ancestors' among them
        assert all(int(r["output"].split("readable=")[1].split()[0]) > 10 for r in executions)


# --- a hosted model cannot train -------------------------------------------------------------------------

def training_methods(compose: Callable[..., Any]) -> list[str]:
    """Every conf/method option whose method needs the policy's own weights (needs_local_weights, by default
    trains_policy), by composing it."""
    from eta.methods import load_method

    found = []
    for option in sorted(p.stem for p in (ROOT / "conf" / "method").glob("*.yaml")):
        method = load_method(compose(f"method={option}"))
        if getattr(method, "needs_local_weights", method.trains_policy):
            found.append(option)
    return found


def refused_in_one_line(proc: subprocess.CompletedProcess, run_dir: Path, provider: str, method: str,
                        stub: Stub) -> None:
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, (method, proc.stderr[-2000:])
    [line] = error_lines(proc)
    assert f"method={method}" in line and "trains" in line and f"model={provider}" in line, line
    assert not stub.requests, method  # nothing was sampled
    assert not list(run_dir.rglob("*.jsonl")) and not (run_dir / "stages.json").exists(), method


@pytest.mark.slow  # run.py in a new process
def test_dpo_with_a_hosted_model_fails_in_one_line_before_sampling(tmp_path):
    with StubServer() as server:
        proc = run_py(tmp_path, *hosted_run("openai", server.url, tmp_path / "run"), "method=dpo")
        refused_in_one_line(proc, tmp_path / "run", "openai", "dpo", server.stub)


def test_every_method_that_needs_local_weights_is_refused_for_both_services(monkeypatch, compose):
    from eta.errors import ConfigError
    from eta.hosted import check_run
    from eta.methods import load_method

    methods = training_methods(compose)
    assert {"dpo", "sft", "rm"} <= set(methods)
    monkeypatch.setenv("OPENAI_API_KEY", GOOD_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", GOOD_KEY)
    for provider in ("openai", "anthropic"):
        for method in methods:
            cfg = compose(f"model={provider}", f"method={method}", "dataset=humaneval")
            with pytest.raises(ConfigError, match=f"^method={method}: it trains .*model={provider} is a hosted"):
                check_run(cfg, load_method(cfg))


@pytest.mark.slow
def test_every_training_method_with_a_hosted_model_fails_in_one_line_from_run_py(tmp_path, compose):
    with StubServer() as server:
        for provider, method in [("openai", m) for m in training_methods(compose)] + [("anthropic", "dpo")]:
            run_dir = tmp_path / f"{provider}-{method}"
            proc = run_py(tmp_path, *hosted_run(provider, server.url, run_dir), f"method={method}",
                          provider=provider)
            refused_in_one_line(proc, run_dir, provider, method, server.stub)


def test_a_reward_model_on_its_own_backbone_may_score_a_hosted_policys_samples(monkeypatch, compose):
    from eta.hosted import check_run
    from eta.methods import load_method

    monkeypatch.setenv("OPENAI_API_KEY", GOOD_KEY)
    for backbone, refused in (("policy", True), ("minilm", False)):
        cfg = compose("model=openai", "method=rm", f"method.backbone={backbone}", "dataset=humaneval")
        if refused:
            with pytest.raises(Exception, match="method=rm: it trains on the policy's own weights"):
                check_run(cfg, load_method(cfg))
        else:
            check_run(cfg, load_method(cfg))


# --- method=repair with a hosted model -------------------------------------------------------------------


@pytest.mark.slow  # run.py in a new process
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_method_repair_with_a_hosted_model_end_to_end(provider, tmp_path):
    run_dir = tmp_path / "run"
    with StubServer(Stub(answer=humaneval_answer())) as server:
        proc = run_py(tmp_path, *hosted_run(provider, server.url, run_dir), "method=repair", "method.sets=[failing]",
                      "method.feedback=trace", "method.shots=1", "eval.repair.enabled=false", provider=provider)
        asked = len(server.stub.requests)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    repairs = [r for path in sorted((run_dir / "train" / "repair").rglob("executions.jsonl"))
               if "failing" in path.parts for r in lines(path)]
    assert repairs, sorted(str(p) for p in run_dir.rglob("*.jsonl"))
    for r in repairs:  # each verdict is the execution of the stub's answer: its reference, or one that raises
        assert r["passed"] == stub_fixes(r["task_id"]), (r["task_id"], r["completion"][:300])
        assert r["passed"] or r["error_type"] == "ValueError", r["task_id"]
    fixed = sum(r["passed"] for r in repairs if r["sample_id"] == 0)
    method = metrics["method"]
    assert method["repair_failing_problems"] == len(repairs)
    assert method["repair_failing_accuracy"] == pytest.approx(fixed / len(repairs))
    assert 0 < fixed < len(repairs)  # the failing set holds problems of both kinds
    usage = metrics["usage"]
    assert usage["requests"] == asked
    assert any("repair" in name for name in usage["by_file"]), usage["by_file"]  # the repair requests are costed
