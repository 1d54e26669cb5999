"""Trace-in-prompt repair (``method=repair``, inference only), after Haque et al. (2025) and LDB: the
base policy gets a failing program and is asked for a fixed one, with ``method.feedback``:

- ``none``: the problem and the failing program;
- ``error``: also the failing test and its error (or the value it returned against the expected one);
- ``trace``: also the window of the failing test's trace around its first divergence from the reference,
  the differing values marked (``eta.trace.window``), within ``execute.budget_lines`` lines;
- ``trace_events``: also the failing test's whole-state trace in eta's text format (the form before issue 27);

and ``method.shots`` worked examples made from the training split (never the problem asked). Two sets:
the 40 QuixBugs programs and the failing programs among the base policy's evaluation samples
(``eval/base/sampled_executions.jsonl``, each one repair problem). Trains nothing: the metrics go to
``metrics.json`` under ``"method"``; the files to ``train/repair/<set>/<feedback>/``, under the train
stage's record, so that a changed ``method.*`` key redoes them and an unchanged re-run resamples nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eta import rundir
from eta.errors import ConfigError
from eta.repair.settings import FEEDBACK, RepairSettings
from eta.train.runner import TrainResult

if TYPE_CHECKING:
    from eta.context import RunContext


class Repair:
    needs = None  # reads the base evaluation's executions, made before any training stage
    keys: tuple[str, ...] = ("sampler", "execute", "eval")  # attempts are sampled; the failing set is eval's
    trains_policy = False

    def __init__(self, cfg: Any) -> None:
        from eta.config import plain_dict

        node = plain_dict(cfg.method, "method")
        feedback = node.pop("feedback", "trace")
        if feedback not in FEEDBACK:
            raise ConfigError(f"method.feedback: one of {', '.join(FEEDBACK)}, got {feedback!r}")
        for key in ("module", "name"):
            node.pop(key, None)
        self.settings = RepairSettings.from_node({**node, "feedback": [feedback]}, "method")
        self.cfg = cfg

    def train(self, run: RunContext, model: Any, tokenizer: Any) -> TrainResult:
        from eta.repair import base_eval_dir
        from eta.repair.evaluate import evaluate_repair

        failing = base_eval_dir(run) / rundir.SAMPLED_EXECUTIONS
        if "failing" in self.settings.sets and not failing.exists():
            run.say("repair: no base evaluation samples (stages leave out evaluate?): the failing set is empty")
        out = run.path(rundir.TRAIN, rundir.REPAIR, ".keep").parent
        results = evaluate_repair(run, model, tokenizer, self.settings, out, policy=run.policy_label,
                                  failing_source=failing)
        feedback = self.settings.feedback[0]
        metrics: dict[str, Any] = {"repair_feedback": feedback, "repair_shots": self.settings.shots}
        for name, by_feedback in results.items():
            m = by_feedback.get(feedback) or {"n_problems": 0}
            metrics[f"repair_{name}_accuracy"] = m.get("accuracy")
            metrics[f"repair_{name}_problems"] = m["n_problems"]
        metrics["repair"] = results
        return TrainResult(model=model, log_history=[], output_dir=out, steps=0, metrics=metrics)


def make(cfg: Any, run_dir: Any = None) -> Repair:
    return Repair(cfg)
