"""Structured config schemas: Hydra merges each YAML file onto its schema, so a misspelt key or a value
of the wrong type or outside an enum fails at composition, with a message naming the key.

Each group's YAML files start with ``defaults: [_schema, _self_]``; :func:`register` stores the schemas
in Hydra's ConfigStore under ``<group>/_schema``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, Dict, List, Optional


def enum_text(value: Any) -> str:
    """A config value that may be an enum member (structured configs) or already its string."""
    return value.value if isinstance(value, Enum) else str(value)


class ModelSource(StrEnum):
    gguf_package = "gguf_package"
    hub = "hub"
    tiny = "tiny"
    path = "path"
    openai = "openai"  # hosted chat models (eta.hosted): sampled through the service, never loaded
    anthropic = "anthropic"


class DType(StrEnum):
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


@dataclass
class LoraConf:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: Any = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


@dataclass
class ModelConf:
    name: str = "???"
    source: ModelSource = ModelSource.gguf_package
    hub_id: Optional[str] = None
    revision: Optional[str] = None
    local_files_only: bool = False
    package: Optional[str] = None
    gguf_file: Optional[str] = None
    cache: bool = True
    cache_dir: Optional[str] = None
    path: Optional[str] = None
    dtype: DType = DType.float32
    chat: bool = True
    eos_token: Optional[str] = None
    pad_token: Optional[str] = None
    tiny: Dict[str, Any] = field(default_factory=dict)
    hosted: Dict[str, Any] = field(default_factory=dict)  # source openai/anthropic: checked by eta.hosted.settings
    lora: LoraConf = field(default_factory=LoraConf)


class Criterion(StrEnum):
    passed = "passed"
    steps = "steps"
    error_class = "error_class"
    tests = "tests"


class Pairing(StrEnum):
    all = "all"
    best_vs_worst = "best_vs_worst"


@dataclass
class HeuristicConf:
    name: str = "???"
    criteria: List[Criterion] = field(default_factory=lambda: [Criterion.passed])
    pairing: Pairing = Pairing.all
    max_pairs_per_problem: Optional[int] = 8
    max_steps: int = 10_000
    seed: int = 0


class DatasetName(StrEnum):
    humaneval = "humaneval"
    mbpp = "mbpp"
    apps = "apps"
    quixbugs = "quixbugs"
    synthetic = "synthetic"


class PromptStyle(StrEnum):
    chat = "chat"
    completion = "completion"


@dataclass
class DatasetConf:
    name: DatasetName = DatasetName.synthetic
    train_split: Optional[str] = None  # null: hold out part of the evaluation problems (holdout_fraction)
    eval_split: Optional[str] = None
    holdout_fraction: float = 0.5
    limit: Optional[int] = None  # at most this many problems per split
    prompt_style: PromptStyle = PromptStyle.chat
    timeout_s: float = 10.0
    test_timeout_s: float = 3.0
    # Per-test limits max(floor, factor * reference's time on the test) (eta.execute.reftimes); null: fixed.
    test_time_floor_s: Optional[float] = 0.5
    test_time_factor: Optional[float] = 4.0
    data_dir: Optional[str] = None
    source: str = "local"
    options: Dict[str, Any] = field(default_factory=dict)


@dataclass
class SamplerConf:
    name: str = "hf"
    n: int = 4
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 256
    stop: List[str] = field(default_factory=list)
    batch_size: Optional[int] = None
    seed: int = 0
    dtype: Optional[DType] = None  # what the local engine computes in; None: the model's own


class DistName(StrEnum):
    none = "none"
    zero2 = "zero2"
    zero3 = "zero3"


@dataclass
class DistConf:
    name: DistName = DistName.none
    deepspeed: Optional[Dict[str, Any]] = None


class LoggerName(StrEnum):
    wandb = "wandb"
    none = "none"


class WandbMode(StrEnum):
    offline = "offline"
    online = "online"
    disabled = "disabled"


@dataclass
class LoggerConf:
    name: LoggerName = LoggerName.none
    project: str = "eta"
    entity: Optional[str] = None
    mode: WandbMode = WandbMode.offline
    group: Optional[str] = None
    tags: List[str] = field(default_factory=list)


@dataclass
class PathsConf:
    root_dir: str = "."
    data_dir: Optional[str] = None
    output_dir: str = "outputs"


@dataclass
class ExecuteConf:
    workers: int = 2
    memory_mb: int = 1024
    trace: bool = True  # trace every test: steps for the heuristic, traces for the report and the reward model
    max_events: int = 300
    budget_lines: int = 40
    # Packages a candidate may import beyond the standard library (with what they require): the rest of
    # site-packages is not in its view of the filesystem. Default: eta.execute.view.DEFAULT_ALLOW_PACKAGES.
    allow_packages: List[str] = field(default_factory=lambda: list(_default_allow_packages()))


def _default_allow_packages() -> tuple[str, ...]:
    from eta.execute.view import DEFAULT_ALLOW_PACKAGES  # standard library only: cheap to import here

    return DEFAULT_ALLOW_PACKAGES


class RepairSet(StrEnum):
    quixbugs = "quixbugs"  # the 40 QuixBugs programs
    failing = "failing"  # the failing programs among the base policy's evaluation samples


class RepairFeedback(StrEnum):
    none = "none"
    error = "error"
    trace = "trace"


@dataclass
class RepairEvalConf:
    """Repair accuracy of every evaluated policy (eta.repair); keys as eta.repair.settings.RepairSettings."""

    enabled: bool = True
    sets: List[RepairSet] = field(default_factory=lambda: [RepairSet.quixbugs, RepairSet.failing])
    feedback: List[RepairFeedback] = field(default_factory=lambda: [RepairFeedback.trace])
    n: int = 1
    shots: int = 0
    limit: Optional[int] = None
    per_problem: Optional[int] = 1
    max_new_tokens: Optional[int] = None


@dataclass
class EvalConf:
    n: int = 5  # samples per problem for pass@k
    ks: List[int] = field(default_factory=lambda: [1, 5])
    greedy: bool = True
    base: bool = True  # evaluate the base model too, for the before/after table
    repair: RepairEvalConf = field(default_factory=RepairEvalConf)


@dataclass
class PreferConf:
    include_reference: bool = False  # add each problem's reference solution as a passing candidate


class Stage(StrEnum):
    sample = "sample"
    execute = "execute"
    prefer = "prefer"
    train = "train"
    evaluate = "evaluate"
    report = "report"


@dataclass
class RootConf:
    model: ModelConf = field(default_factory=ModelConf)
    # Each method module checks its own node (eta.methods: `module`, `name`, its keys, its TRL config's).
    method: Dict[str, Any] = field(default_factory=lambda: {"module": "eta.methods.none", "name": "none"})
    dataset: DatasetConf = field(default_factory=DatasetConf)
    heuristic: HeuristicConf = field(default_factory=HeuristicConf)
    sampler: SamplerConf = field(default_factory=SamplerConf)
    dist: DistConf = field(default_factory=DistConf)
    logger: LoggerConf = field(default_factory=LoggerConf)
    paths: PathsConf = field(default_factory=PathsConf)
    execute: ExecuteConf = field(default_factory=ExecuteConf)
    eval: EvalConf = field(default_factory=EvalConf)
    prefer: PreferConf = field(default_factory=PreferConf)
    stages: List[Stage] = field(default_factory=lambda: list(Stage))
    seed: int = 0
    rounds: int = 1  # iterative rounds: sample -> execute -> prefer -> train from the latest policy, N times
    name: str = "eta"
    shared_dir: Optional[str] = None  # base samples, executions and evaluation shared across runs (eta.pipeline.shared)
    label: Optional[str] = None  # the run's name in a comparison's tables (experiments/arm/*.yaml)
    compare: Dict[str, Any] = field(default_factory=dict)  # eta.report.compare settings: counterparts, n_boot, seed


GROUPS = {"model": ModelConf, "heuristic": HeuristicConf, "dataset": DatasetConf,
          "sampler": SamplerConf, "dist": DistConf, "logger": LoggerConf, "paths": PathsConf}


def register() -> None:
    """Store the schemas where the YAML files' ``defaults: [_schema]`` find them."""
    from hydra.core.config_store import ConfigStore

    from eta.choices import register_resolvers

    register_resolvers()  # ${eta_existing:...}: the comparison's arms that exist so far
    cs = ConfigStore.instance()
    cs.store(name="_root_schema", node=RootConf)
    for group, schema in GROUPS.items():
        cs.store(group=group, name="_schema", node=schema)
