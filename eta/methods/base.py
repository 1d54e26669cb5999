"""The one small protocol every training method implements, so that the pipeline knows none by name.

A method module (``eta.methods.dpo``, or any importable module a ``conf/method/*.yaml`` names in its
``module`` key) exposes ``make(cfg, run_dir) -> Method``, where ``cfg`` is the run's config as typed objects
(``eta.config.RootConf``, parsed once by the pipeline; ``cfg.method`` is the method's own node, a plain
dict that the method checks) and ``run_dir`` the run's folder. ``make`` reads what the method needs from ``cfg`` once, into typed
settings (for a TRL method, a subclass of its TRL config with the method's own keys as fields, built with
the real output folder: ``eta.train.settings.run_args``), so that a bad key fails there, before any stage
runs; ``train`` reads those settings, not ``cfg``. It returns an object with:

* ``needs``: the last run-data stage it trains on, ``"sample"`` (``samples.jsonl``), ``"execute"``
  (``executions.jsonl``, with traces) or ``"prefer"`` (``pairs.jsonl``, ``pairs_dataset/``), each built on
  the ones before it; ``None`` when it needs none (it reads the tasks, or rolls out on its own).
* ``keys``: the config nodes its training reads besides ``method``, ``model`` and ``seed`` (e.g.
  ``("sampler", "execute")`` for online RL); a change to any of them retrains on a resumed run.
* ``trains_policy``: whether ``train`` returns a policy for the "trained" evaluation (False for an
  inference-only method or a reward model, which report their own metrics).
* ``needs_local_weights`` (optional, default ``trains_policy``): whether ``train`` needs the policy's own
  weights; a hosted model (``model=openai``) serves only methods for which it is False.
* ``train(run, model, tokenizer) -> TrainResult | None``: trains in ``run.train_dir`` (``rundir.TRAIN``, resuming there)
  and returns the trained model, its log history and any metrics it measured itself (``metrics``, written
  to ``metrics.json`` under ``"method"``). Called on every rank of a multi-process launch, after rank 0
  made the data; only rank 0 evaluates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from eta.train.runner import TrainResult

if TYPE_CHECKING:
    from eta.context import RunContext

DATA_STAGES = ("sample", "execute", "prefer")


class Method(Protocol):
    needs: str | None
    keys: tuple[str, ...]
    trains_policy: bool

    def train(self, run: "RunContext", model: Any, tokenizer: Any) -> TrainResult | None: ...
