"""Every file and folder of a run directory, named once: the stages write them, a resumed run and the report
read them, and a comparison links the shared ones (stages talk through these files, so their names are
the interface between them)::

    <run>/                          (rounds > 1: the same names again in <run>/round_<n>/)
      .run.lock                     LOCK: held by the one live process of this run directory
      .hydra/config.yaml            HYDRA, HYDRA_CONFIG: Hydra's copy of the composed config
      stages.json                   STAGES: the stages done, each with the config keys it was made under
      samples.jsonl                 SAMPLES: the policy's k samples per training problem (stage sample)
      samples.requests.jsonl        its journal: a hosted policy's replies as they came (JOURNAL_SUFFIX)
      executions.jsonl              EXECUTIONS: their executions and traces (stage execute)
      pairs.jsonl, pairs_dataset/   PAIRS, PAIRS_DATASET: the preference pairs, and as a `datasets` dataset
      train/                        TRAIN: the method's output (checkpoints, adapter, HELDOUT_PAIRS, ROLLOUTS)
        repair/                     REPAIR: the repair method's attempts
      reward_model/trace/, no_trace/  REWARD_MODEL: ETA-RM's reward model (and its no-trace ablation)
      eval/<policy>/                EVAL, eval_dir(): one evaluated policy (BASE, TRAINED, round_<n>)
        sampled_samples.jsonl ...   eval_file(): <SAMPLED|GREEDY>_<samples|executions>.jsonl (SAMPLED_SAMPLES, ...)
        metrics.json                METRICS
        wrong_answers.jsonl         WRONG_ANSWERS: each wrong answer's classes (the report's analysis)
        impossible_*.jsonl          impossible_file(): the cheating check's references, samples, executions
        repair/<set>/<feedback>/    REPAIR: repair attempts at evaluation (samples, executions, metrics)
      metrics.json, report.txt      METRICS, REPORT: every policy's metrics, and the before/after table
      analysis.md, plots/           ANALYSIS, PLOTS
      superseded/                   SUPERSEDED: outputs a changed config made stale, moved aside
    <sweep>/shared/<stage>-<digest>/  SHARED: a comparison's stage made once per seed, linked into every job
      keys.json, .lock              SHARED_KEYS: the config keys it was made under; SHARED_LOCK: its maker's lock
    <sweep>/comparison.md, .csv     COMPARISON, COMPARISON_CSV: the comparison of a sweep's jobs

Standard library only, importing nothing of eta: every layer may name a file here.
"""

from __future__ import annotations

from pathlib import Path

LOCK = ".run.lock"
HYDRA = ".hydra"
HYDRA_CONFIG = f"{HYDRA}/config.yaml"
STAGES = "stages.json"
SAMPLES = "samples.jsonl"
JOURNAL_SUFFIX = ".requests.jsonl"  # a samples file's journal: samples.jsonl -> samples.requests.jsonl
SAMPLES_JOURNAL = SAMPLES.removesuffix(".jsonl") + JOURNAL_SUFFIX
EXECUTIONS = "executions.jsonl"
PAIRS = "pairs.jsonl"
PAIRS_DATASET = "pairs_dataset"
TRAIN = "train"
HELDOUT_PAIRS = "heldout_pairs.json"  # in TRAIN: moved aside with it when training is redone
ROLLOUTS = "rollouts.jsonl"  # in TRAIN: GRPO's rollouts (rank 0; rollouts.rank<n>.jsonl the others')
REPAIR = "repair"
REWARD_MODEL = "reward_model"
SHOTS_EXECUTIONS = "shots_executions.jsonl"  # in a repair folder: the candidate few-shot examples, executed
BUGGY_EXECUTIONS = "buggy_executions.jsonl"  # in a repair set's folder: the buggy programs, executed once
FOCUS_EXECUTIONS = "focus_executions.jsonl"  # in a repair set's folder: each failing test run alone, every event
SHOTS_FOCUS = "shots_focus.jsonl"  # in a repair folder: the same for the worked examples (feedback=trace)
EVAL = "eval"
BASE = "base"  # the policy before training, and its folder in EVAL
TRAINED = "trained"
SAMPLED, GREEDY = "sampled", "greedy"  # an evaluation's two kinds of samples
SAMPLED_SAMPLES, SAMPLED_EXECUTIONS = f"{SAMPLED}_samples.jsonl", f"{SAMPLED}_executions.jsonl"  # eval_file()
METRICS = "metrics.json"
WRONG_ANSWERS = "wrong_answers.jsonl"  # in an eval folder, beside SAMPLED_EXECUTIONS
REPORT = "report.txt"
ANALYSIS = "analysis.md"
PLOTS = "plots"
SUPERSEDED = "superseded"
SHARED = "shared"
SHARED_KEYS = "keys.json"
SHARED_LOCK = ".lock"
ROUND_PREFIX = "round_"
COMPARISON, COMPARISON_CSV = "comparison.md", "comparison.csv"  # in a comparison's sweep folder


def eval_dir(run_dir: Path, policy: str) -> Path:
    """The folder of one evaluated policy."""
    return Path(run_dir) / EVAL / policy


def eval_file(kind: str, what: str) -> str:
    """An evaluation's file in its policy's folder: ``kind`` SAMPLED or GREEDY, ``what`` samples or executions."""
    return f"{kind}_{what}.jsonl"


def impossible_file(what: str) -> str:
    """The cheating check's file in an evaluated policy's folder: ``what`` references, samples or executions."""
    return f"impossible_{what}.jsonl"


def rollouts_file(rank: int) -> str:
    """GRPO's rollouts file (in TRAIN) of one rank of a launch: ROLLOUTS for rank 0, rollouts.rank<n>.jsonl else."""
    return ROLLOUTS if rank == 0 else ROLLOUTS.replace(".jsonl", f".rank{rank}.jsonl")


def round_dir(run_dir: Path, n: int) -> Path:
    """The folder of round ``n`` of an iterative run (rounds > 1)."""
    return Path(run_dir) / f"{ROUND_PREFIX}{n}"
