"""Multi-process training under Hydra: launcher arguments, the shared run folder, rank 0, DeepSpeed.

Launch (N processes, one per GPU; the ``dist`` group picks the DeepSpeed config)::

    accelerate launch --num_processes N run.py dist=zero2 hydra.run.dir=outputs/eta-zero2
    torchrun --nproc_per_node N run.py dist=zero3 hydra.run.dir=outputs/eta-zero3
    deepspeed --num_gpus N run.py dist=zero2 hydra.run.dir=outputs/eta-zero2

``TrainingArguments(deepspeed=...)`` gets the dict that ``deepspeed_config`` returns, and the Trainer sets
up DeepSpeed under any of these launchers (no ``accelerate config`` file is needed). Its ``"auto"``
values are filled from the method config (batch size, accumulation, clipping, bf16).

Hydra pitfalls, and what ``prepare_argv`` (call it on ``sys.argv`` before the ``@hydra.main`` function
runs) does about them:

* ``deepspeed`` and ``torch.distributed.launch`` pass ``--local_rank=N`` to every process; Hydra rejects
  arguments it does not know. It is removed from argv and exported as ``LOCAL_RANK`` instead.
* Every rank resolves ``hydra.run.dir`` on its own, and ``${now:...}`` differs between them by the
  seconds they took to start, so the ranks would write to different folders. With more than one
  process the folder must be pinned: pass ``hydra.run.dir=...`` or set ``ETA_RUN_DIR``.
* Only rank 0 writes: the Trainer saves checkpoints from rank 0 itself, and pipeline code guards its
  own outputs with ``is_main_process()``. Other ranks also skip Hydra's ``.hydra/`` copy of the config
  and its log file, so that N processes do not write the same files at once.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from eta.config import DistConf, DistName, checked, plain_dict

_LOCAL_RANK_FLAG = re.compile(r"^--local[_-]rank(?:=(\d+))?$")
RUN_DIR_ENV = "ETA_RUN_DIR"


def strip_launcher_args(argv: Sequence[str], env: MutableMapping[str, str] | None = None) -> list[str]:
    """``argv`` without ``--local_rank=N`` / ``--local-rank N``; N goes to ``env["LOCAL_RANK"]`` if unset."""
    env = os.environ if env is None else env
    kept: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        match = _LOCAL_RANK_FLAG.match(args[i])
        if match is None:
            kept.append(args[i])
            i += 1
            continue
        value = match.group(1)
        if value is None:  # the "--local_rank N" spelling takes the next argument
            if i + 1 >= len(args) or not args[i + 1].isdigit():
                raise ValueError(f"{args[i]} is not followed by a rank number in {args}")
            value = args[i + 1]
            i += 1
        env.setdefault("LOCAL_RANK", value)
        i += 1
    return kept


def world_size(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    return int(env.get("WORLD_SIZE", "1"))


def rank(env: Mapping[str, str] | None = None) -> int:
    """This process's global rank: torch.distributed's once it is initialised, else the launcher's RANK."""
    if env is None:
        try:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                return dist.get_rank()
        except ImportError:
            pass
        env = os.environ
    return int(env.get("RANK", "0"))


def is_main_process(env: Mapping[str, str] | None = None) -> bool:
    """Whether this process is global rank 0 (always true in a single-process run)."""
    return rank(env) == 0


def prepare_argv(argv: Sequence[str], env: MutableMapping[str, str] | None = None) -> list[str]:
    """``sys.argv`` made safe for Hydra under a multi-process launcher (see the module docstring)."""
    env = os.environ if env is None else env
    args = strip_launcher_args(argv, env)
    overrides = args[1:]
    if world_size(env) > 1 and not any(a.startswith("hydra.run.dir=") for a in overrides):
        if not env.get(RUN_DIR_ENV):
            raise SystemExit(f"{world_size(env)} processes: pin the run folder that all ranks share with "
                             f"hydra.run.dir=outputs/NAME or {RUN_DIR_ENV}=outputs/NAME "
                             "(${now:...} resolves differently on each rank)")
        args.append(f"hydra.run.dir={env[RUN_DIR_ENV]}")
    if not is_main_process(env):
        args += ["hydra.output_subdir=null", "hydra/job_logging=stdout"]
    return args


def deepspeed_config(dist: Any) -> dict[str, Any] | None:
    """The DeepSpeed config dict for ``TrainingArguments(deepspeed=...)``, or None without DeepSpeed.

    ``dist`` is the run's ``dist`` (``eta.config.DistConf``, whose schema checks it) or a node of the same
    keys: ``{name: none}`` or ``{name: zero2, deepspeed: {...}}``. A fresh copy each call, because the
    Trainer fills the ``"auto"`` values in place.
    """
    if dist is None:
        return None
    conf = checked(DistConf, dist, "dist")
    return None if conf.name == DistName.none else copy.deepcopy(dict(conf.deepspeed or {}))


def sharded_after_training(conf: Any) -> bool:
    """Whether the trained policy in memory is unfit for rank 0 to generate with alone (``conf``: the run's
    ``eta.config.RootConf``)."""
    if world_size() > 1:
        return True
    ds = deepspeed_config(conf.dist)
    return bool(ds) and ds.get("zero_optimization", {}).get("stage") == 3


def reload_policy(cfg: Any, result: Any) -> Any:
    """The trained policy, loaded afresh from the run's saved adapter (or weights) onto a new base model."""
    from eta.models import load_model
    from eta.train.runner import load_weights

    base, _ = load_model(plain_dict(cfg.model, "model"))
    return load_weights(base, result.output_dir).eval()
