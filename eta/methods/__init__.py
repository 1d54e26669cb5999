"""Training methods as plugins: one module per method, behind the protocol of ``eta.methods.base``.

``conf/method/<name>.yaml`` names its module (``module: eta.methods.dpo``); :func:`load_method` imports it
and calls its ``make(cfg, run_dir)`` (or ``make(cfg)``), which builds the method's typed settings once.
Adding a method is a module and a YAML file, and no change to the pipeline.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from eta.errors import ConfigError
from eta.methods.base import DATA_STAGES, Method


def load_method(cfg: Any, run_dir: str | Path | None = None) -> Method:
    """The method the run's ``method`` node names, with its settings checked and built for training in
    ``run_dir`` (default: ``paths.output_dir``); ``cfg`` is the run's ``eta.config.RootConf``."""
    module_name = cfg.method.get("module")
    if not module_name:
        raise ConfigError(f"method: the method config {cfg.method.get('name')!r} names no 'module' to load")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            raise ConfigError(f"method.module: no module {module_name!r} (is it on PYTHONPATH?)") from None
        raise
    make = getattr(module, "make", None)
    if make is None:
        raise ConfigError(f"method.module: {module_name} has no make(cfg, run_dir) function")
    run_dir = Path(run_dir if run_dir is not None else cfg.paths.output_dir).resolve()
    # a make(cfg) of one argument (a method that keeps no folder of its own) plugs in as well
    method = make(cfg, run_dir) if len(inspect.signature(make).parameters) > 1 else make(cfg)
    if method.needs not in (None, *DATA_STAGES):
        raise ConfigError(f"method: {module_name}.needs is {method.needs!r}; expected one of {DATA_STAGES} or None")
    return method


__all__ = ["DATA_STAGES", "Method", "load_method"]
