"""experiments/compare_metrics.py: two metrics.json trees, the same results or not (issue 24's before/after)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from helpers import ROOT

spec = importlib.util.spec_from_file_location("compare_metrics", ROOT / "experiments" / "compare_metrics.py")
compare_metrics = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_metrics)


def tree(root: Path, **changes: object) -> Path:
    """A run directory with a top-level and an evaluation metrics.json."""
    top = {"base": {"pass@1": 0.25, "outcomes": {"passed": 2}}, "method": {"margin": 0.5, "train_runtime": 3.2,
                                                                          "path": str(root / "train")}}
    top["base"].update(changes)
    for rel, value in (("metrics.json", top), ("eval/base/metrics.json", {"pass@1": 0.25, "finished_at": str(root)})):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(json.dumps(value))
    return root


def test_the_same_results_match_whatever_the_timings_paths_and_dates(tmp_path, capsys):
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    data = json.loads((b / "metrics.json").read_text())
    data["method"]["train_runtime"] = 9.9
    (b / "metrics.json").write_text(json.dumps(data))
    assert compare_metrics.main([str(a), str(b)]) == 0
    assert "2 metrics.json files compared: 0 difference(s)" in capsys.readouterr().out


def test_a_changed_value_a_missing_key_and_a_missing_file_fail(tmp_path, capsys):
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b", **{"pass@1": 0.5, "extra": 1})
    (b / "eval/base/metrics.json").unlink()
    assert compare_metrics.main([str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "metrics.json/base/pass@1: 0.25 != 0.5" in out and "metrics.json/base/extra: only in B" in out
    assert "eval/base/metrics.json: only in A" in out


def test_floats_within_the_tolerance_asked_match(tmp_path):
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b", **{"pass@1": 0.25 + 1e-16})
    assert compare_metrics.main([str(a), str(b)]) == 1
    assert compare_metrics.main([str(a), str(b), "--rtol", "1e-12"]) == 0
