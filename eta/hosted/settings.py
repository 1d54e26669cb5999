"""A hosted model's settings (``model.hosted`` of ``conf/model/openai.yaml``), and the checks a run with a
hosted model must pass before anything runs: no key in any config, no training, chat prompts.

``model.hosted`` is a plain mapping in the ``ModelConf`` schema (local models have none, so their
fingerprints are unchanged); it is checked here, key by key, like a method checks its own node.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eta.config import enum_text
from eta.errors import ConfigError
from eta.hosted.secrets import held_key, hold_keys
from eta.rundir import HYDRA

HOSTED_SOURCES = ("openai", "anthropic")
KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
DEFAULT_BASE_URL = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}
# Sampler parameters a request may carry; some services refuse some (Anthropic's newer models refuse
# temperature and top_p together, OpenAI's reasoning models refuse temperature and stop).
SENDABLE = ("temperature", "top_p", "stop", "seed")
# Keys that change how requests are sent or priced, never what they ask: a change does not resample.
OPERATIONAL_KEYS = ("concurrency", "requests_per_minute", "max_retries", "backoff_s", "max_backoff_s",
                    "timeout_s", "prices", "prices_as_of")
_SECRET_NAME = re.compile(r"(^|[_-])(api[_-]?key|authorization|auth[_-]?token|access[_-]?token|secret|password)$",
                          re.IGNORECASE)
_SECRET_VALUE = re.compile(r"^(sk-|sk-ant-|sk-proj-|Bearer\s)", re.IGNORECASE)


@dataclass
class HostedSettings:
    model_id: str = ""  # the service's model name (gpt-4.1-mini, claude-haiku-4-5, ...)
    base_url: str | None = None  # null: the SDK's own (its *_BASE_URL variable, else the service)
    max_tokens: int | None = None  # null: sampler.max_new_tokens
    temperature: float | None = None  # null: the sampler's; a value replaces it (greedy stays greedy)
    system: str | None = None  # a system message before each prompt
    send: list[str] = field(default_factory=lambda: list(SENDABLE))  # sampler parameters put in requests
    n_per_request: bool = True  # OpenAI: one request returns all n samples (the prompt is billed once)
    concurrency: int = 4  # requests in flight at once
    requests_per_minute: float | None = None  # null: no pacing beyond the concurrency bound
    max_retries: int = 6  # on 429, 5xx, timeouts and dropped connections
    backoff_s: float = 1.0  # first wait; doubled on each retry (with jitter), unless Retry-After says
    max_backoff_s: float = 60.0
    timeout_s: float = 120.0  # per request
    prices: dict[str, Any] = field(default_factory=dict)  # model id -> {input, output}: USD per 1M tokens
    prices_as_of: str | None = None  # when the prices above were read: the cost is an estimate
    request: dict[str, Any] = field(default_factory=dict)  # more fields of the request body, sent as they are


_TYPES: dict[str, tuple[type, ...]] = {
    "model_id": (str,), "base_url": (str, type(None)), "max_tokens": (int, type(None)),
    "temperature": (int, float, type(None)), "system": (str, type(None)), "send": (list, tuple),
    "n_per_request": (bool,), "concurrency": (int,), "requests_per_minute": (int, float, type(None)),
    "max_retries": (int,), "backoff_s": (int, float), "max_backoff_s": (int, float),
    "timeout_s": (int, float), "prices": (dict,), "prices_as_of": (str, type(None)), "request": (dict,),
}


def is_hosted(model_cfg: Any) -> bool:
    return model_cfg is not None and enum_text(model_cfg.get("source")) in HOSTED_SOURCES


def provider_of(model_cfg: Any) -> str:
    return enum_text(model_cfg.get("source"))


def parse_settings(model_cfg: Any) -> HostedSettings:
    """The ``model.hosted`` node as settings; a misspelt key, a wrong type or a bad value names the key."""
    from eta.config import plain_dict

    given = plain_dict(model_cfg.get("hosted"), "model.hosted")
    names = {f.name for f in dataclasses.fields(HostedSettings)}
    for key, value in given.items():
        if key not in names:
            close = difflib.get_close_matches(key, sorted(names), n=3)
            raise ConfigError(f"model.hosted.{key}: not a setting of a hosted model"
                              + (f"; did you mean {', '.join(close)}?" if close else ""))
        if not isinstance(value, _TYPES[key]) or (isinstance(value, bool) and bool not in _TYPES[key]):
            raise ConfigError(f"model.hosted.{key}: {value!r} is not of type "
                              f"{' or '.join(t.__name__ for t in _TYPES[key])}")
    s = HostedSettings(**given)
    if not s.model_id:
        raise ConfigError("model.hosted.model_id: a hosted model needs the service's model name")
    unknown = [p for p in s.send if p not in SENDABLE]
    if unknown:
        raise ConfigError(f"model.hosted.send: {unknown[0]!r} is not one of {', '.join(SENDABLE)}")
    for key in ("concurrency", "max_retries", "timeout_s", "max_tokens", "requests_per_minute"):
        value = getattr(s, key)
        if value is not None and (value < 0 or (value == 0 and key != "max_retries")):
            raise ConfigError(f"model.hosted.{key}: must be positive, got {value}")
    for model_id, price in s.prices.items():
        if not (isinstance(price, dict) and set(price) == {"input", "output"}
                and all(isinstance(v, (int, float)) for v in price.values())):
            raise ConfigError(f"model.hosted.prices.{model_id}: expected {{input: USD, output: USD}} per 1M tokens")
    return s


def check_run(cfg: Any, method: Any) -> None:
    """Refuse, in one line, a run that a hosted model cannot do, before any stage runs."""
    model = cfg.model
    if not is_hosted(model):
        return
    provider = provider_of(model)
    _refuse_secrets(model, provider)
    parse_settings(model)
    method_name = cfg.method.get("name")
    if getattr(method, "needs_local_weights", method.trains_policy):
        what = "trains the policy's weights" if method.trains_policy else "trains on the policy's own weights"
        raise ConfigError(f"method={method_name}: it {what}, and model={model.name} is a hosted model with no "
                          f"weights here; a hosted model serves only methods that sample (method=none evaluates it)")
    if not model.get("chat", True) or enum_text(cfg.dataset.prompt_style) != "chat":
        raise ConfigError(f"dataset.prompt_style: model={model.name} is a chat model; use prompt_style=chat "
                          f"(and model.chat=true)")
    api_key(provider)  # a missing key fails now, before any stage
    hold_keys()  # and no program the run executes can read it (eta.hosted.secrets)


def api_key(provider: str) -> str:
    """The key from the environment, the only place eta reads it from."""
    env = KEY_ENV[provider]
    key = held_key(env)
    if not key:
        raise ConfigError(f"{env}: not set; model={provider} reads its key from the environment only "
                          f"(export {env}=... before the run)")
    return key


def _refuse_secrets(model: Any, provider: str) -> None:
    from eta.config import plain_dict

    found = _find_secret(plain_dict(model, "model"), "model")
    if found is None:
        return
    where, value = found
    scrubbed = _scrub_hydra_files(value)
    raise ConfigError(f"{where}: a key in a config is refused: model={provider} reads it from "
                      f"${KEY_ENV[provider]} only" + (f" (the value was removed from {scrubbed})" if scrubbed else ""))


def _find_secret(node: Any, where: str) -> tuple[str, str] | None:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and value and (_SECRET_NAME.search(str(key)) or _SECRET_VALUE.match(value)):
                return f"{where}.{key}", value
            found = _find_secret(value, f"{where}.{key}")
            if found:
                return found
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found = _find_secret(value, f"{where}[{i}]")
            if found:
                return found
    elif isinstance(node, str) and _SECRET_VALUE.match(node):
        return where, node
    return None


def _scrub_hydra_files(secret: str) -> str | None:
    """Hydra saved the composed config and the command line (``.hydra/``) before eta saw them: take the
    key out of those files again."""
    try:
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():
            return None
        run_dir = Path(HydraConfig.get().runtime.output_dir)
    except (ImportError, ValueError):
        return None
    folder = run_dir / HYDRA
    for path in folder.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        if secret in text:
            path.write_text(text.replace(secret, "<removed>"), encoding="utf-8")
    return str(folder) if folder.is_dir() else None
