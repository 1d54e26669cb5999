"""Repair problems: a failing program, the sandbox's record of it, and the task whose tests it fails.

Two sets. ``quixbugs``: the 40 QuixBugs programs, each buggy program executed once (with traces) in the
sandbox. ``failing``: every failing program among a policy's evaluation samples of the run's own
held-out problems (each one repair problem), from the executions the evaluation already wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eta.execute.outcome import Outcome
from eta.tasks.schema import Task, TestCase


@dataclass(frozen=True)
class Focus:
    """What the trace window of ``feedback=trace`` is made from (``eta.repair.focus``)."""

    index: int  # the first failing test
    events: list[dict[str, Any]]  # that test's trace events, the program run on it alone
    reference: list[str] | None  # the reference solution's value sequence on that test; None: none to compare
    why: str = ""  # why there is none


@dataclass(frozen=True)
class RepairProblem:
    problem_id: str  # QuixBugs/bitcount; Synthetic/add/3#2 for sample 2 of a held-out problem
    task: Task  # the problem the program fails (its statement, tests, entry point)
    program: str  # the failing whole program
    execution: dict[str, Any]  # the sandbox's record of running it (tests, traces)
    focus: Focus | None = None  # for feedback=trace: its failing test traced in full (None: not made, or no test ran)

    def failing_test(self) -> tuple[TestCase | None, dict[str, Any] | None]:
        """The first test that failed (the case and its result), or (None, None) where none ran
        (a program that does not compile fails before any test)."""
        for result in sorted(self.execution.get("tests") or [], key=lambda t: t["index"]):
            if result["outcome"] != Outcome.PASSED.value:
                case = self.task.tests[result["index"]] if result["index"] < len(self.task.tests) else None
                return case, result
        return None, None


def whole_program(task: Task, completion: str) -> str:
    return task.program(completion)


def from_records(records: list[dict[str, Any]], tasks: list[Task], *, per_problem: int | None = None,
                 distinct: bool = True) -> list[RepairProblem]:
    """Each failing (and not masked) program of ``records`` as a repair problem, in the order of ``tasks``
    and, within a task, of sample ids; ``per_problem`` keeps at most that many per task (the lowest sample
    ids), ``distinct`` one per distinct program of a task. Not the records' own order: an executions file
    lists results as the sandbox's workers finish them, which varies from run to run."""
    by_id = {t.task_id: t for t in tasks}
    rank = {t.task_id: i for i, t in enumerate(tasks)}
    out: list[RepairProblem] = []
    seen: dict[str, set[str]] = {}
    for record in sorted(records, key=lambda r: (rank.get(r["task_id"], len(rank)), r.get("sample_id", 0))):
        task = by_id.get(record["task_id"])
        if task is None or record.get("passed") or record.get("outcome") == Outcome.INFRA_ERROR.value:
            continue
        program = whole_program(task, record["completion"])
        mine = seen.setdefault(task.task_id, set())
        if (distinct and program in mine) or (per_problem is not None and len(mine) >= per_problem):
            continue
        mine.add(program)
        out.append(RepairProblem(f"{task.task_id}#{record['sample_id']}", task, program, record))
    return out


def quixbugs_tasks(cfg: Any) -> tuple[list[Task], Any]:
    """The 40 QuixBugs tasks and the dataset config they run under (the run's own when it is QuixBugs,
    else conf/dataset/quixbugs.yaml: its time limits)."""
    from eta.config import enum_text
    from eta.tasks import load_tasks

    d = cfg.dataset if enum_text(cfg.dataset.name) == "quixbugs" else quixbugs_dataset_config()
    return load_tasks("quixbugs", data_dir=d.data_dir, source=d.source), d


def quixbugs_dataset_config() -> Any:
    from pathlib import Path

    from omegaconf import OmegaConf

    from eta.config import DatasetConf, checked

    path = Path(__file__).resolve().parents[2] / "conf" / "dataset" / "quixbugs.yaml"
    loaded = OmegaConf.load(path) if path.is_file() else OmegaConf.create({"name": "quixbugs"})
    return checked(DatasetConf, {k: v for k, v in loaded.items() if k != "defaults"}, "dataset")
