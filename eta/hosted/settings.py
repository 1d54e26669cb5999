"""A hosted model's settings (``model.hosted`` of ``conf/model/openai.yaml``), and the checks a run with a
hosted model must pass before anything runs: no key in any config, no training, chat prompts.

``model.hosted`` is a plain mapping in the ``ModelConf`` schema (local models have none, so their
fingerprints are unchanged); its own schema, ``eta.config.HostedConf``, checks it when a hosted model is set up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eta.config import HostedConf, checked, enum_text
from eta.errors import ConfigError
from eta.hosted.secrets import held_key, hold_keys
from eta.rundir import HYDRA

HOSTED_SOURCES = ("openai", "anthropic")
KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
DEFAULT_BASE_URL = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}
# Keys that change how requests are sent or priced, never what they ask: a change does not resample.
OPERATIONAL_KEYS = ("concurrency", "requests_per_minute", "max_retries", "backoff_s", "max_backoff_s",
                    "timeout_s", "prices", "prices_as_of")
_SECRET_NAME = re.compile(r"(^|[_-])(api[_-]?key|authorization|auth[_-]?token|access[_-]?token|secret|password)$",
                          re.IGNORECASE)
_SECRET_VALUE = re.compile(r"^(sk-|sk-ant-|sk-proj-|Bearer\s)", re.IGNORECASE)
HostedSettings = HostedConf  # the settings are the schema's object (eta.config.HostedConf)


def _get(model: Any, key: str) -> Any:
    """A key of the model's config: the run's ``ModelConf``, or a mapping (a Hydra node, a plain dict)."""
    return model.get(key) if isinstance(model, Mapping) else getattr(model, key, None)


def is_hosted(model_cfg: Any) -> bool:
    return model_cfg is not None and enum_text(_get(model_cfg, "source")) in HOSTED_SOURCES


def provider_of(model_cfg: Any) -> str:
    return enum_text(_get(model_cfg, "source"))


def parse_settings(model_cfg: Any) -> HostedSettings:
    """The ``model.hosted`` node as settings, checked by its schema: a misspelt key, a wrong type or a bad
    value is one line naming the key."""
    return checked(HostedConf, _get(model_cfg, "hosted"), "model.hosted")


def check_run(conf: Any, method: Any) -> None:
    """Refuse, in one line, a run that a hosted model cannot do, before any stage runs (``conf``: the run's
    ``eta.config.RootConf``)."""
    model = conf.model
    if not is_hosted(model):
        return
    provider = provider_of(model)
    _refuse_secrets(model, provider)
    parse_settings(model)
    method_name = conf.method.get("name")
    if getattr(method, "needs_local_weights", method.trains_policy):
        what = "trains the policy's weights" if method.trains_policy else "trains on the policy's own weights"
        raise ConfigError(f"method={method_name}: it {what}, and model={model.name} is a hosted model with no "
                          f"weights here; a hosted model serves only methods that sample (method=none evaluates it)")
    if not model.chat or enum_text(conf.dataset.prompt_style) != "chat":
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
