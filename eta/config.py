"""Structured config schemas, the one validator of eta's own config groups: Hydra merges each YAML file
onto its schema, so a misspelt key or a value of the wrong type or outside an enum fails at composition,
with a message naming the key; a value out of its range fails in the schema's ``__post_init__`` when
:func:`parse` turns the composed config into these dataclasses, before any stage runs.

Each group's YAML files start with ``defaults: [_schema, _self_]``; :func:`register` stores the schemas
in Hydra's ConfigStore under ``<group>/_schema``.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, Dict, List, Optional, TypeVar

from eta.errors import ConfigError


def enum_text(value: Any) -> str:
    """A config value that may be an enum member (structured configs) or already its string."""
    return value.value if isinstance(value, Enum) else str(value)


def plain_dict(cfg: Any, what: str) -> dict[str, Any]:
    """A Hydra/OmegaConf node, one of the schema objects below, or any mapping as a plain, resolved ``dict``
    (``None`` gives ``{}``); a schema object gives what its composed node gives (enums as their text)."""
    if cfg is None:
        return {}
    from omegaconf import DictConfig, OmegaConf

    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        cfg = OmegaConf.structured(cfg)
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)  # type: ignore[return-value]
    if isinstance(cfg, Mapping):
        return dict(cfg)
    raise ConfigError(f"{what}: expected a mapping (a Hydra config node), got {type(cfg).__name__}")


class ModelSource(StrEnum):
    gguf_package = "gguf_package"
    hub = "hub"
    tiny = "tiny"
    path = "path"
    openai = "openai"  # hosted chat models (eta.hosted): sampled through the service, never loaded
    anthropic = "anthropic"


class DType(StrEnum):
    """The dtypes eta loads a policy in (eta.models.load): float16 is not one (training it needs loss scaling)."""

    float32 = "float32"
    bfloat16 = "bfloat16"


class SamplerDType(StrEnum):
    """What the local sampler computes in (eta.sample.precision): auto is bfloat16 where the CPU has it natively."""

    auto = "auto"
    float32 = "float32"
    bfloat16 = "bfloat16"


@dataclass
class LoraConf:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: Any = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])

    def __post_init__(self) -> None:
        _check("model.lora", ("r", self.r, self.r >= 1), ("dropout", self.dropout, 0.0 <= self.dropout < 1.0))


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
    hosted: Dict[str, Any] = field(default_factory=dict)  # source openai/anthropic: checked by HostedConf
    lora: LoraConf = field(default_factory=LoraConf)


# Sampler parameters a hosted model's request may carry; some services refuse some (Anthropic's newer models
# refuse temperature and top_p together, OpenAI's reasoning models refuse temperature and stop).
SENDABLE = ("temperature", "top_p", "stop", "seed")


@dataclass
class HostedConf:
    """``model.hosted`` of a hosted model (eta.hosted): a plain mapping in ``ModelConf`` (local models have
    none, so their fingerprints are unchanged), checked by this schema when the hosted model is set up."""

    model_id: str = ""  # the service's model name (gpt-4.1-mini, claude-haiku-4-5, ...)
    base_url: Optional[str] = None  # null: the SDK's own (its *_BASE_URL variable, else the service)
    max_tokens: Optional[int] = None  # null: sampler.max_new_tokens
    temperature: Optional[float] = None  # null: the sampler's; a value replaces it (greedy stays greedy)
    system: Optional[str] = None  # a system message before each prompt
    send: List[str] = field(default_factory=lambda: list(SENDABLE))  # sampler parameters put in requests
    n_per_request: bool = True  # OpenAI: one request returns all n samples (the prompt is billed once)
    concurrency: int = 4  # requests in flight at once
    requests_per_minute: Optional[float] = None  # null: no pacing beyond the concurrency bound
    max_retries: int = 6  # on 429, 5xx, timeouts and dropped connections
    backoff_s: float = 1.0  # first wait; doubled on each retry (with jitter), unless Retry-After says
    max_backoff_s: float = 60.0
    timeout_s: float = 120.0  # per request
    prices: Dict[str, Any] = field(default_factory=dict)  # model id -> {input, output}: USD per 1M tokens
    prices_as_of: Optional[str] = None  # when the prices above were read: the cost is an estimate
    request: Dict[str, Any] = field(default_factory=dict)  # more fields of the request body, sent as they are

    def __post_init__(self) -> None:
        if not self.model_id:
            raise ConfigError("model.hosted.model_id: a hosted model needs the service's model name")
        unknown = [p for p in self.send if p not in SENDABLE]
        if unknown:
            raise ConfigError(f"model.hosted.send: {unknown[0]!r} is not one of {', '.join(SENDABLE)}")
        _check("model.hosted", *((key, getattr(self, key), getattr(self, key) is None or getattr(self, key) > 0)
                                 for key in ("concurrency", "timeout_s", "max_tokens", "requests_per_minute")),
               ("max_retries", self.max_retries, self.max_retries >= 0))
        for model_id, price in self.prices.items():
            if not (isinstance(price, Mapping) and set(price) == {"input", "output"}
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in price.values())):
                raise ConfigError(f"model.hosted.prices.{model_id}: expected {{input: USD, output: USD}} per 1M tokens")


class Criterion(StrEnum):
    passed = "passed"
    steps = "steps"
    error_class = "error_class"
    tests = "tests"
    divergence = "divergence"
    random = "random"  # a seeded random ranking of failing programs: the control (eta.prefer.criteria)


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

    def __post_init__(self) -> None:
        cap = self.max_pairs_per_problem
        _check("heuristic", ("criteria", list(self.criteria), 0 < len(self.criteria) == len(set(self.criteria))),
               ("max_pairs_per_problem", cap, cap is None or cap >= 1),
               ("max_steps", self.max_steps, self.max_steps >= 1))


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
    eval_limit: Optional[int] = None  # held-out problems, when they should differ from ``limit`` (null: ``limit``)
    prompt_style: PromptStyle = PromptStyle.chat
    timeout_s: float = 10.0
    test_timeout_s: float = 3.0
    # Per-test limits max(floor, factor * reference's time on the test) (eta.execute.reftimes); null: fixed.
    test_time_floor_s: Optional[float] = 0.5
    test_time_factor: Optional[float] = 4.0
    data_dir: Optional[str] = None
    source: str = "local"
    options: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check("dataset", ("holdout_fraction", self.holdout_fraction, 0 < self.holdout_fraction < 1),
               ("limit", self.limit, self.limit is None or self.limit >= 1),
               ("eval_limit", self.eval_limit, self.eval_limit is None or self.eval_limit >= 1),
               ("timeout_s", self.timeout_s, self.timeout_s > 0), ("test_timeout_s", self.test_timeout_s,
                                                                     self.test_timeout_s > 0))


@dataclass
class SamplerConf:
    n: int = 4
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 256
    stop: List[str] = field(default_factory=list)
    batch_size: Optional[int] = None
    seed: int = 0  # added to the run's seed where samples are drawn: other samples, the same split and training
    dtype: Optional[SamplerDType] = None  # what the local engine computes in; None: the model's own

    def __post_init__(self) -> None:
        _check("sampler", ("n", self.n, self.n >= 1), ("temperature", self.temperature, self.temperature >= 0),
               ("top_p", self.top_p, 0 < self.top_p <= 1),
               ("max_new_tokens", self.max_new_tokens, self.max_new_tokens >= 1),
               ("batch_size", self.batch_size, self.batch_size is None or self.batch_size >= 1))


class DistName(StrEnum):
    none = "none"
    zero2 = "zero2"
    zero3 = "zero3"


ZERO_STAGES = (0, 1, 2, 3)  # DeepSpeed ZeRO stages (conf/dist/ ships 2 and 3)


@dataclass
class DistConf:
    name: DistName = DistName.none
    deepspeed: Optional[Dict[str, Any]] = None  # the DeepSpeed config, handed to TRL as it is

    def __post_init__(self) -> None:
        if self.name == DistName.none:
            return
        if not isinstance(self.deepspeed, Mapping) or not self.deepspeed:
            raise ConfigError(f"dist.deepspeed: dist={enum_text(self.name)} needs a 'deepspeed' mapping (the DeepSpeed config)")
        stage = (self.deepspeed.get("zero_optimization") or {}).get("stage")
        if stage not in ZERO_STAGES:
            raise ConfigError(f"dist.deepspeed.zero_optimization.stage must be one of {ZERO_STAGES}, got {stage!r}")


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

    def __post_init__(self) -> None:
        _check("execute", ("workers", self.workers, self.workers >= 1),
               ("memory_mb", self.memory_mb, self.memory_mb >= 1),
               ("max_events", self.max_events, self.max_events >= 1),
               ("budget_lines", self.budget_lines, self.budget_lines >= 1))


def _default_allow_packages() -> tuple[str, ...]:
    from eta.execute.view import DEFAULT_ALLOW_PACKAGES  # standard library only: cheap to import here

    return DEFAULT_ALLOW_PACKAGES


class RepairSet(StrEnum):
    quixbugs = "quixbugs"  # the 40 QuixBugs programs
    failing = "failing"  # the failing programs among the base policy's evaluation samples


class RepairFeedback(StrEnum):
    none = "none"
    error = "error"  # the failing test and its verdict
    trace = "trace"  # also the trace's window around the first divergence from the reference (eta.trace.window)
    trace_events = "trace_events"  # also the whole-state trace, first and last events (before issue 27)


class RepairControl(StrEnum):
    none = "none"  # the failing program, no feedback
    scratch = "scratch"  # the problem alone


@dataclass
class RepairEvalConf:
    """Repair accuracy of every evaluated policy (eta.repair); keys as eta.repair.settings.RepairSettings."""

    enabled: bool = True
    sets: List[RepairSet] = field(default_factory=lambda: [RepairSet.quixbugs, RepairSet.failing])
    feedback: List[RepairFeedback] = field(default_factory=lambda: [RepairFeedback.trace])
    controls: List[RepairControl] = field(default_factory=lambda: [RepairControl.none, RepairControl.scratch])
    n: int = 1
    shots: int = 0
    limit: Optional[int] = None
    per_problem: Optional[int] = 1
    max_new_tokens: Optional[int] = None

    def __post_init__(self) -> None:
        _check("eval.repair", ("sets", self.sets, len(self.sets) >= 1),
               ("feedback", self.feedback, len(self.feedback) >= 1),
               ("n", self.n, self.n >= 1), ("shots", self.shots, self.shots >= 0),
               *((key, getattr(self, key), getattr(self, key) is None or getattr(self, key) >= 1)
                 for key in ("limit", "per_problem", "max_new_tokens")))


@dataclass
class CheatEvalConf:
    """The cheating rate of every evaluated policy on impossible variants of held-out tasks (eta.pipeline.cheat)."""

    enabled: bool = True
    tasks: int = 8  # impossible variants (the first held-out tasks whose reference fails theirs)
    n: int = 2  # samples per variant, at the sampler's temperature


@dataclass
class EvalConf:
    n: int = 5  # samples per problem for pass@k
    ks: List[int] = field(default_factory=lambda: [1, 5])
    greedy: bool = True
    base: bool = True  # evaluate the base model too, for the before/after table
    kl_samples: Optional[int] = 256  # KL to reference on a seeded draw of at most this many (None: all)
    repair: RepairEvalConf = field(default_factory=RepairEvalConf)
    cheat: CheatEvalConf = field(default_factory=CheatEvalConf)

    def __post_init__(self) -> None:  # a k above n is left out of the table (eta.pipeline.stages)
        _check("eval", ("n", self.n, self.n >= 1), ("ks", list(self.ks), all(k >= 1 for k in self.ks)),
               ("kl_samples", self.kl_samples, self.kl_samples is None or self.kl_samples >= 1))


class Composition(StrEnum):
    free = "free"
    matched = "matched"


class Credit(StrEnum):
    """``method.credit`` of DPO (and GRPO): how a pair's (a rollout's) signal is spread over its tokens."""
    none = "none"  # uniformly, as TRL does
    divergence = "divergence"  # toward the divergent line of the program's trace (eta.train.credit)


@dataclass
class PreferConf:
    include_reference: bool = False  # add each problem's reference solution as a passing candidate
    # free: each heuristic's own pairs; matched: the same pairs in every arm (eta.prefer.composition)
    composition: Composition = Composition.free
    pass_fail_pairs: int = 8  # matched: per problem, at most
    fail_fail_pairs: int = 4  # matched: per problem, at most (none for a heuristic of `passed` alone)
    seed: int = 0  # matched: draws the pairs and the tie coins, the same in every arm
    heldout: Optional[HeuristicConf] = None  # DPO's held-out pairs are made by this heuristic; null: the run's own
    # matched: fail/fail pairs drawn only where these heuristics (name -> node) disagree; empty: from all
    contested: Dict[str, HeuristicConf] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check("prefer", ("pass_fail_pairs", self.pass_fail_pairs, self.pass_fail_pairs >= 0),
               ("fail_fail_pairs", self.fail_fail_pairs, self.fail_fail_pairs >= 0))


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

    def __post_init__(self) -> None:
        if self.prefer.composition == Composition.matched:  # every arm must share the pass/fail pairs
            criteria = [enum_text(c) for c in self.heuristic.criteria]
            if criteria[:1] != ["passed"]:
                raise ConfigError(f"prefer.composition=matched: heuristic {self.heuristic.name!r} must list 'passed' "
                                  f"first (it has {criteria})")
        if self.prefer.contested and self.prefer.composition != Composition.matched:
            raise ConfigError("prefer.contested: needs prefer.composition=matched (it chooses the shared fail/fail pairs)")
        if len(self.prefer.contested) == 1:
            raise ConfigError(f"prefer.contested: {list(self.prefer.contested)} alone; name two or more heuristics")


def _check(node: str, *checks: tuple[str, Any, bool]) -> None:
    """A ConfigError naming the first ``(key, value, ok)`` that is not ok."""
    for key, value, ok in checks:
        if not ok:
            raise ConfigError(f"{node}.{key}: {value!r} is out of range")


S = TypeVar("S")


def checked(schema: type[S], node: Any, what: str) -> S:
    """A config node that Hydra did not merge onto its schema (a method's sub-node, a dict from a script or
    a test) as that schema's object: the schema checks it as it checks a composed group. Bad input is one
    ConfigError naming ``what.key``, and a misspelt key gets the nearest known ones."""
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    if isinstance(node, schema):
        return node
    given = plain_dict(node, what)
    names = [f.name for f in dataclasses.fields(schema)]  # type: ignore[arg-type]
    for key in given:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=3)
            raise ConfigError(f"{what}.{key}: not a key of {what}" + (f"; did you mean {', '.join(close)}?" if close else
                                                                       f"; known: {', '.join(names)}"))
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), given))  # type: ignore[return-value]
    except MissingMandatoryValue as e:
        raise ConfigError(f"{what}.{e.full_key}: missing (it has no default)") from None
    except OmegaConfBaseException as e:
        key = str(getattr(e, "full_key", "") or "")
        value = given.get(key.split("[")[0].split(".")[0])
        detail = f"{value!r} is not a list" if "is not a ListConfig" in str(e) else str(e).splitlines()[0]
        raise ConfigError(f"{what}.{key}: {detail}" if key else f"{what}: {detail}") from None


def parse(cfg: Any) -> RootConf:
    """The composed run config as the typed schema objects (``RootConf``), every value checked: a value
    out of its range fails here, naming its key, before any stage runs."""
    from omegaconf import OmegaConf

    return OmegaConf.to_object(cfg)  # type: ignore[return-value]


GROUPS = {"model": ModelConf, "heuristic": HeuristicConf, "dataset": DatasetConf,
          "sampler": SamplerConf, "dist": DistConf, "logger": LoggerConf, "paths": PathsConf}


def register() -> None:
    """Store the schemas where the YAML files' ``defaults: [_schema]`` find them."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="_root_schema", node=RootConf)
    for group, schema in GROUPS.items():
        cs.store(group=group, name="_schema", node=schema)
