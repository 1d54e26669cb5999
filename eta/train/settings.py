"""A method's settings: eta's own keys, and everything else passed through to TRL's config dataclass.

One source of truth: ``conf/method/<name>.yaml`` holds only what eta sets; any key that is not one of the
method's own is a field of its TRL config (``DPOConfig``, ``RewardConfig``, ``GRPOConfig``, ``SFTConfig``)
and goes to it unchanged, so TRL's defaults are never restated here. A key that is neither fails before
any stage runs, with its name and the nearest known keys.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eta.config import plain_dict
from eta.errors import ConfigError

# Keys eta derives from the rest of the run; a method YAML that sets them would be overridden silently.
DERIVED = ("output_dir", "deepspeed", "report_to", "use_cpu")
LORA_DEFAULTS: dict[str, Any] = {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}


def split_settings(node: Any, own: type, trl_config: type | None, what: str = "method") -> tuple[Any, dict[str, Any]]:
    """``(own settings, TRL keyword arguments)`` from a method node.

    ``own`` is the method's dataclass of eta keys (``module`` and ``name`` are always allowed);
    ``trl_config`` the TRL dataclass the rest must be fields of (None: no pass-through).
    """
    node = plain_dict(node, what)
    given = {k: v for k, v in node.items() if k not in ("module", "name")}
    own_names = {f.name for f in dataclasses.fields(own)}
    trl_names = {f.name for f in dataclasses.fields(trl_config) if f.init} if trl_config else set()
    for key in given:
        if key in DERIVED:
            raise ConfigError(f"{what}.{key}: set by eta from the run (run directory, dist, logger, device); "
                              f"remove it from the method config")
        if key not in own_names and key not in trl_names:
            close = difflib.get_close_matches(key, sorted(own_names | trl_names), n=3)
            owner = f" nor a field of trl.{trl_config.__name__}" if trl_config else ""
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"{what}.{key}: not a key of method {node.get('name')!r}{owner}{hint}")
    for cls, names in ((own, own_names), (trl_config, trl_names)):
        hints = _type_hints(cls) if cls else {}
        for key in names & set(given):
            if key in hints and not _fits(given[key], hints[key]):
                raise ConfigError(f"{what}.{key}: {given[key]!r} is not of type {_type_name(hints[key])}")
    try:
        settings = own(**{k: v for k, v in given.items() if k in own_names})
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{what}: {e}") from None
    return settings, {k: v for k, v in given.items() if k not in own_names}


def _type_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # a hint that does not resolve outside its module: no type check for that class
        return {}


def _fits(value: Any, hint: Any) -> bool:
    """Whether a config value fits a dataclass field's annotation; unknown kinds of hint accept anything."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple) or hint in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return value in {m.value for m in hint} or isinstance(value, hint)
    return True


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def trl_args(trl_config: type, passed: Mapping[str, Any], output_dir: Any, *, dist_cfg: Any = None,
             report_to: str = "none", what: str = "method") -> Any:
    """The TRL config object: the method's pass-through keys plus what eta derives from the run."""
    import torch

    from eta.train.distributed import deepspeed_config

    on_cpu = not torch.cuda.is_available()
    kwargs = {"use_cpu": on_cpu, "report_to": report_to, "save_strategy": "steps",
              **passed, "output_dir": str(output_dir), "deepspeed": deepspeed_config(dist_cfg)}
    if on_cpu and kwargs.get("bf16") and not cpu_has_native_bf16():
        # bf16 autocast only pays on CPUs that compute it natively; elsewhere oneDNN emulates it, and on an
        # AVX2 EPYC a bf16 matmul ran at 0.8 GFLOPS against fp32's 46 (one thread): a GRPO step took 5 min.
        print(f"note: {what}.bf16 off: this CPU has no native bf16 (avx512_bf16/amx_bf16), where bf16 "
              f"autocast is many times slower than fp32; training in fp32", flush=True)
        kwargs["bf16"] = False
    kwargs.setdefault("data_seed", kwargs.get("seed", 42))
    try:
        return trl_config(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{what}: trl.{trl_config.__name__} rejects the settings: {e}") from None


def cpu_has_native_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX-BF16, as Linux names its flags).

    Where there is no x86 ``flags`` line to read (another OS or architecture), oneDNN's own check decides."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        text = ""
    if not re.search(r"^flags\s*:", text, re.M):
        import torch

        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return bool(re.search(r"\b(?:avx512_bf16|amx_bf16)\b", text))


def lora_settings(cfg: Any) -> dict[str, Any]:
    """The model's ``lora: {r, alpha, dropout, target_modules}`` node with defaults filled in."""
    given = plain_dict(cfg, "model.lora")
    unknown = sorted(set(given) - set(LORA_DEFAULTS))
    if unknown:
        raise ConfigError(f"model.lora: unknown key(s) {unknown}; known keys are {sorted(LORA_DEFAULTS)}")
    settings = {**LORA_DEFAULTS, **given}
    if not isinstance(settings["r"], int) or settings["r"] < 1:
        raise ConfigError(f"model.lora: r must be a positive integer, got {settings['r']!r}")
    if not 0.0 <= settings["dropout"] < 1.0:
        raise ConfigError(f"model.lora: dropout must lie in [0, 1), got {settings['dropout']!r}")
    return settings


def lora_config(lora_cfg: Any, task_type: str = "CAUSAL_LM", modules_to_save: list[str] | None = None) -> Any:
    """A peft ``LoraConfig`` from the model's ``lora`` node (``SEQ_CLS`` and ``["score"]`` for a reward model)."""
    from peft import LoraConfig

    lora = lora_settings(lora_cfg)
    targets = lora["target_modules"]
    return LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                      target_modules=targets if isinstance(targets, str) else list(targets),
                      task_type=task_type, modules_to_save=modules_to_save)


def configure(node: Any, own: type, trl_config: type, output_dir: Any, *, dist_cfg: Any = None,
              report_to: str = "none", seed: int | None = None) -> tuple[Any, Any]:
    """A method's ``(own settings, TRL config object)`` from its node: the run's ``seed`` unless it sets one."""
    settings, passed = split_settings(node, own, trl_config)
    if seed is not None:
        passed.setdefault("seed", seed)
    return settings, trl_args(trl_config, passed, output_dir, dist_cfg=dist_cfg, report_to=report_to)
