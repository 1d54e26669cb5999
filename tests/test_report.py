"""Reports: PNG figures are written, the table carries the numbers, wandb gets metrics, images and tables."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from helpers import record

from eta.metrics import summarize
from eta.prefer import HeuristicConfig, build_pairs
from eta.report import (flatten_metrics, format_table, log_to_wandb, plot_loss, plot_outcomes, plot_pass_at_k,
                        sample_rows)

PNG = b"\x89PNG\r\n\x1a\n"


rec = partial(record, tests_total=2, per_test=True)  # two tests a problem, the first one's verdict kept
BEFORE = [rec("A", 0, "passed", tests_passed=2, steps=5), rec("A", 1, "runtime_error", error_type="KeyError", steps=6),
          rec("B", 0, "syntax_error", steps=5),
          rec("B", 1, "runtime_error", tests_passed=1, error_type="KeyError", steps=6)]
AFTER = [rec("A", 0, "passed", tests_passed=2, steps=5), rec("A", 1, "passed", tests_passed=2, steps=6),
         rec("B", 0, "wrong_answer", tests_passed=1, steps=5), rec("B", 1, "passed", tests_passed=2, steps=6)]


def metrics() -> dict[str, dict]:
    before, after = summarize(BEFORE, ks=(1, 2)), summarize(AFTER, ks=(1, 2))
    before["greedy_pass@1"], after["greedy_pass@1"] = 0.5, 1.0
    return {"base": before, "eta-dpo": after}


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 5_000


def test_plots_are_written_as_png(tmp_path):
    m = metrics()
    assert_png(plot_pass_at_k(m, tmp_path / "figs" / "pass_at_k.png"))
    assert_png(plot_outcomes(m["base"], m["eta-dpo"], tmp_path / "outcomes.png"))
    assert_png(plot_outcomes({"passed": 0.2, "timeout": 0.8}, {"passed": 0.6, "timeout": 0.4}, tmp_path / "o2.png"))
    history = [{"loss": 0.69 - 0.05 * i, "step": 10 * i, "rewards/margins": 0.1 * i, "rewards/accuracies": 0.5}
               for i in range(1, 8)] + [{"eval_loss": 0.5, "step": 70}, {"train_runtime": 12.0, "step": 70}]
    assert_png(plot_loss(history, tmp_path / "loss.png"))
    assert_png(plot_loss([{"loss": 1.0, "step": 1}, {"loss": 0.8, "step": 2}], tmp_path / "loss_plain.png"))


def test_plots_reject_empty_input(tmp_path):
    with pytest.raises(ValueError, match="no entry of log_history has a 'loss'"):
        plot_loss([{"train_runtime": 1.0}], tmp_path / "x.png")
    with pytest.raises(ValueError, match="no 'pass@k'"):
        plot_pass_at_k({"m": {"execution_rate": 0.5}}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="unknown keys"):
        plot_outcomes({"pass@1": 0.5}, {"passed": 1.0}, tmp_path / "x.png")


def test_table_contains_the_numbers():
    table = format_table(metrics())
    lines = {line.split("  ")[0].strip(): line for line in table.splitlines()}
    assert "base" in table.splitlines()[0] and "eta-dpo" in table.splitlines()[0]
    assert "25.0%" in lines["pass@1"] and "75.0%" in lines["pass@1"] and "+50.0 pp" in lines["pass@1"]
    assert "50.0%" in lines["pass@2"] and "100.0%" in lines["pass@2"]  # before: A solved at k=2, B not
    assert "+50.0 pp" in lines["greedy pass@1"]
    assert "25.0%" in lines["execution rate"] and "100.0%" in lines["execution rate"]
    assert "50.0%" in lines["outcome runtime_error"] and "-50.0 pp" in lines["outcome runtime_error"]
    assert lines["samples"].split()[1:] == ["4", "4", "+0"]
    assert lines["tests judged outside the program"].split()[-4:] == ["0.0%", "0.0%", "+0.0", "pp"]  # rec(): no flag


def test_table_has_the_cheating_rate_with_its_bound():
    from eta.metrics import cheat_rate

    m = metrics()
    m["base"]["cheat"] = cheat_rate([{"task_id": "A#impossible", "passed": False}] * 16)
    m["eta-dpo"]["cheat"] = cheat_rate([{"task_id": "A#impossible", "passed": i < 4} for i in range(16)])
    lines = {line.split("  ")[0].strip(): line for line in format_table(m).splitlines()}
    assert lines["cheat rate (impossible tasks)"].split()[-4:] == ["0.0%", "25.0%", "+25.0", "pp"]
    assert "19.4%" in lines["cheat rate, 95% upper bound"]  # Wilson's upper bound of 0/16
    assert lines["impossible samples"].split()[-3:] == ["16", "16", "+0"]
    assert "base/cheat/rate" in flatten_metrics(m) and flatten_metrics(m)["eta-dpo/cheat/ci95/1"] < 0.6


def test_table_shows_the_repair_feedback_beside_its_controls():
    m = metrics()
    for name, accuracies in (("base", (0.2, 0.1, 0.3)), ("eta-dpo", (0.5, 0.2, 0.3))):
        m[name]["repair"] = {"failing": {kind: {"accuracy": a, "n_problems": 10}
                                         for kind, a in zip(("trace", "none", "scratch"), accuracies)},
                             "quixbugs": {"trace": {"accuracy": 0.0, "n_problems": 40}}}
    lines = {line.split("  ")[0].strip(): line for line in format_table(m).splitlines()}
    assert lines["repair failing (trace)"].split()[-4:] == ["20.0%", "50.0%", "+30.0", "pp"]
    assert lines["repair failing (none)"].split()[-4:] == ["10.0%", "20.0%", "+10.0", "pp"]
    assert lines["repair failing (scratch)"].split()[-4:] == ["30.0%", "30.0%", "+0.0", "pp"]
    assert "repair quixbugs (scratch)" not in lines


def test_table_with_one_model_has_no_change_column():
    table = format_table({"only": summarize(BEFORE)})
    assert "change" not in table.splitlines()[0] and "pass@1" in table and "pass@5" not in table  # n=2 per task


class FakeRun:
    def __init__(self) -> None:
        self.logged: list[tuple[dict, int | None]] = []

    def log(self, payload: dict, step: int | None = None) -> None:
        self.logged.append((payload, step))


def test_log_to_wandb_sends_metrics_images_and_tables(tmp_path):
    import wandb

    png = plot_outcomes(metrics()["base"], metrics()["eta-dpo"], tmp_path / "outcomes.png")
    pairs = build_pairs(BEFORE, HeuristicConfig(name="eta", criteria=("passed", "error_class")), {"A": "pa", "B": "pb"})
    records = [rec("A", 0, "runtime_error", error_type="KeyError", steps=5, trace="line 1\n" * 1000)]
    run = FakeRun()
    log_to_wandb(run, {"base": metrics()["base"]}, images={"outcomes": png},
                 tables={"pairs": pairs, "samples": sample_rows(records, max_trace_chars=100)}, step=3)
    payload, step = run.logged[0]
    assert step == 3 and payload["base/pass@1"] == pytest.approx(0.25) and "base/outcomes/passed" in payload
    assert isinstance(payload["outcomes"], wandb.Image)
    table = payload["pairs"]
    assert isinstance(table, wandb.Table) and len(table.data) == len(pairs) == 2
    assert {"prompt", "chosen", "rejected", "criterion"} <= set(table.columns)
    trace = payload["samples"].data[0][payload["samples"].columns.index("trace")]
    assert trace.startswith("# test 0: runtime_error\nline 1") and "more characters]" in trace
    with pytest.raises(ValueError, match="no file"):
        log_to_wandb(run, {}, images={"missing": tmp_path / "nope.png"})


def test_flatten_keeps_numbers_only():
    assert flatten_metrics({"a": {"b": 1, "c": "x", "d": True}, "e": 0.5}) == {"a/b": 1, "e": 0.5}


@pytest.mark.slow
def test_log_to_wandb_offline_run(tmp_path, monkeypatch):
    import wandb

    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = wandb.init(mode="offline", dir=str(tmp_path), project="eta-test")
    try:
        png = plot_pass_at_k(metrics(), tmp_path / "p.png")
        log_to_wandb(run, metrics(), images={"pass_at_k": png}, tables={"samples": sample_rows(BEFORE)})
    finally:
        run.finish()
    assert list(Path(tmp_path, "wandb").glob("offline-run-*/run-*.wandb"))
