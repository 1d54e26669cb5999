"""A method's typed settings: one dataclass per method, a subclass of its TRL config with eta's own keys
added as fields (``DPOArgs(trl.DPOConfig)``, as open-r1's ``GRPOConfig(trl.GRPOConfig)``), built once by the
method's ``make`` from its config node, with the run's output folder.

One source of truth: ``conf/method/<name>.yaml`` holds only what eta sets; every key of the node is a field
of the method's class (eta's or TRL's), so TRL's defaults are never restated here. A key that is neither
fails before any stage runs, with its name and the nearest known keys. The model's ``lora`` node is
checked and filled by its schema (``eta.config.LoraConf``).
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from eta.config import plain_dict
from eta.errors import ConfigError

# Keys eta derives from the rest of the run; a method YAML that sets them would be overridden silently.
DERIVED = ("output_dir", "deepspeed", "report_to", "use_cpu")
NAMING = ("module", "name")  # the keys that name the method itself (eta.methods.load_method)
A = TypeVar("A")




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


def trl_base(cls: type) -> type:
    """The TRL config class a method's args class extends (``trl.DPOConfig`` for ``DPOArgs``)."""
    return next((c for c in cls.__mro__ if c.__module__.split(".")[0] == "trl"), cls)


def own_fields(cls: type) -> list[str]:
    """eta's fields of a method's args class: those its TRL config does not have."""
    theirs = {f.name for f in dataclasses.fields(trl_base(cls))}
    return [f.name for f in dataclasses.fields(cls) if f.init and f.name not in theirs]


def checked_keys(node: Any, cls: type, what: str = "method") -> dict[str, Any]:
    """The node's keys as a plain dict (its naming keys dropped), each a field of ``cls`` of the right type."""
    node = plain_dict(node, what)
    given = {k: v for k, v in node.items() if k not in NAMING}
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    base = trl_base(cls)
    for key in given:
        if key in DERIVED:
            raise ConfigError(f"{what}.{key}: set by eta from the run (run directory, dist, logger, device); "
                              f"remove it from the method config")
        if key not in names:
            close = difflib.get_close_matches(key, sorted(names), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"{what}.{key}: not a key of method {node.get('name')!r} nor a field of "
                              f"trl.{base.__name__}{hint}")
    hints = _type_hints(cls)
    for key, value in given.items():
        if key in hints and not _fits(value, hints[key]):
            raise ConfigError(f"{what}.{key}: {value!r} is not of type {_type_name(hints[key])}")
    return given


def build_args(cls: type[A], node: Any, output_dir: str | Path, *, seed: int | None = None, dist_cfg: Any = None,
               report_to: str = "none", what: str = "method") -> A:
    """The method's args object: the node's keys (the run's ``seed`` unless it sets one) plus what eta
    derives from the run (output folder, DeepSpeed, logger, device)."""
    import torch

    from eta.train.distributed import deepspeed_config

    on_cpu = not torch.cuda.is_available()
    kwargs = {"use_cpu": on_cpu, "report_to": report_to, "save_strategy": "steps",
              **({} if seed is None else {"seed": seed}), **checked_keys(node, cls, what),
              "output_dir": str(output_dir), "deepspeed": deepspeed_config(dist_cfg)}
    if on_cpu and kwargs.get("bf16") and not cpu_has_native_bf16():
        # bf16 autocast only pays on CPUs that compute it natively; elsewhere oneDNN emulates it, and on an
        # AVX2 EPYC a bf16 matmul ran at 0.8 GFLOPS against fp32's 46 (one thread): a GRPO step took 5 min.
        print(f"note: {what}.bf16 off: this CPU has no native bf16 (avx512_bf16/amx_bf16), where bf16 "
              f"autocast is many times slower than fp32; training in fp32", flush=True)
        kwargs["bf16"] = False
    kwargs.setdefault("data_seed", kwargs.get("seed", 42))
    try:
        return cls(**kwargs)
    except ConfigError:  # eta's own check of its fields: already names the key
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{what}: trl.{trl_base(cls).__name__} rejects the settings: {e}") from None


def run_args(cls: type[A], conf: Any, output_dir: str | Path, node: Any = None, what: str = "method") -> A:
    """``build_args`` with what the run's config (``eta.config.RootConf``) says: its seed, ``dist``, and logger
    (W&B on rank 0)."""
    from eta.config import enum_text
    from eta.train.distributed import is_main_process

    logged = enum_text(conf.logger.name) != "none" and is_main_process()  # the run's W&B run is rank 0's
    return build_args(cls, conf.method if node is None else node, output_dir, seed=conf.seed, dist_cfg=conf.dist,
                      report_to="wandb" if logged else "none", what=what)


def in_folder(args: A, output_dir: str | Path) -> A:
    """The same settings, trained into another folder (a later round's, or the no-trace ablation's)."""
    import copy

    if str(output_dir) == getattr(args, "output_dir"):
        return args
    moved = copy.deepcopy(args)  # deep: the Trainer fills the DeepSpeed config's "auto" values in place
    moved.output_dir = str(output_dir)  # type: ignore[attr-defined]
    return moved


def lora_settings(node: Any) -> dict[str, Any]:
    """The model's ``lora`` node over its schema (``eta.config.LoraConf``): checked, with defaults filled in."""
    from eta.config import LoraConf, checked

    return plain_dict(checked(LoraConf, node, "model.lora"), "model.lora")


def lora_config(lora_cfg: Any, task_type: str = "CAUSAL_LM", modules_to_save: list[str] | None = None) -> Any:
    """A peft ``LoraConfig`` from the model's ``lora`` node (``SEQ_CLS`` and ``["score"]`` for a reward model)."""
    from peft import LoraConfig

    lora = lora_settings(lora_cfg)
    targets = lora["target_modules"]
    return LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                      target_modules=targets if isinstance(targets, str) else list(targets),
                      task_type=task_type, modules_to_save=modules_to_save)
