"""The sampler, on the tiny model (and SmolLM2 in slow tests)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from eta.models import build_tiny_model  # noqa: E402
from eta.sample import FinishReason, Generation, sample  # noqa: E402
from eta.sample.choose import choose_tokens, row_uniforms, uniform  # noqa: E402
from eta.sample.stops import StreamText, advance, find_stop, first_stop  # noqa: E402

QUESTIONS = ["add two numbers", "x", "reverse a string in place, please, and explain", "sort", "fizzbuzz up to n"]


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_model(seed=0)


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    # The tiny model gains nothing from threads, and on a shared CI box extra threads cost a lot.
    monkeypatch.setenv("ETA_THREADS", "1")


def _prompts(tok, questions=QUESTIONS):
    return [tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
            for q in questions]


def _generate_greedy(model, tok, prompt: str, max_new_tokens: int) -> list[int]:
    enc = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
    return out[0, enc["input_ids"].shape[1]:].tolist()


def _printable_piece(text: str, start: int, length: int) -> str:
    """A substring of ASCII letters/digits/punctuation at or after ``start`` (a stop the tiny model wrote)."""
    for i in range(start, len(text) - length):
        piece = text[i:i + length]
        if all(33 <= ord(c) < 127 for c in piece):
            return piece
    raise AssertionError("no printable piece in the tiny model's text")


def test_shapes_and_fields(tiny):
    model, tok = tiny
    prompts = _prompts(tok)
    out = sample(model, tok, prompts, n=3, temperature=1.0, top_p=0.9, max_new_tokens=12, seed=0)
    assert len(out) == len(prompts) and all(len(row) == 3 for row in out)
    for row in out:
        for g in row:
            assert isinstance(g, Generation) and isinstance(g.finish_reason, FinishReason)
            assert 1 <= g.num_tokens <= 12 and len(g.token_ids) == g.num_tokens
            assert g.finish_reason is not FinishReason.LENGTH or g.num_tokens == 12


def test_greedy_matches_generate_token_for_token(tiny):
    model, tok = tiny
    prompts = _prompts(tok)
    out = sample(model, tok, prompts, n=2, temperature=0, top_p=1.0, max_new_tokens=24)
    for prompt, (first, second) in zip(prompts, out):
        assert first == second  # greedy: n copies of one completion
        ref = _generate_greedy(model, tok, prompt, 24)
        assert list(first.token_ids) == ref[:first.num_tokens]
        if first.finish_reason is FinishReason.LENGTH:
            assert first.num_tokens == len(ref) == 24
        assert first.text == tok.decode(ref, skip_special_tokens=True)[:len(first.text)]


def test_stop_string_truncates_at_its_first_occurrence(tiny):
    model, tok = tiny
    prompt = _prompts(tok)[0]
    (full,) = sample(model, tok, [prompt], n=1, temperature=0, top_p=1.0, max_new_tokens=40)[0:1][0]
    stop = _printable_piece(full.text, 10, 2)
    (cut,) = sample(model, tok, [prompt], n=1, temperature=0, top_p=1.0, max_new_tokens=40, stop=[stop])[0]
    assert cut.finish_reason is FinishReason.STOP
    assert cut.text == full.text[:full.text.find(stop)] and stop not in cut.text
    # the stop ends within the last token counted, and not before it
    assert stop in tok.decode(cut.token_ids, skip_special_tokens=True)
    assert stop not in tok.decode(cut.token_ids[:-1], skip_special_tokens=True)
    assert cut.token_ids == full.token_ids[:cut.num_tokens]


def test_eos_ends_a_row_and_is_not_in_the_text(tiny):
    model, tok = build_tiny_model(seed=0)  # own copy: the test changes its generation config
    prompt = _prompts(tok)[2]
    ref = _generate_greedy(model, tok, prompt, 30)
    eos = ref[6]
    model.generation_config.eos_token_id = [tok.eos_token_id, eos]
    (g,) = sample(model, tok, [prompt], n=1, temperature=0, top_p=1.0, max_new_tokens=30)[0]
    assert g.finish_reason is FinishReason.EOS and g.num_tokens == ref.index(eos) + 1
    assert g.text == tok.decode(ref[:ref.index(eos)], skip_special_tokens=True)


@pytest.fixture(scope="module")
def alone_with_stop(tiny):
    """Each prompt's greedy output decoded alone, with a stop that ends rows at different steps."""
    model, tok = tiny
    prompts = _prompts(tok)
    first = sample(model, tok, prompts[1:2], n=1, temperature=0, top_p=1.0, max_new_tokens=30)[0][0]
    stop = _printable_piece(first.text, 2, 1)
    alone = [sample(model, tok, [p], n=1, temperature=0, top_p=1.0, max_new_tokens=30, stop=[stop],
                    threads=1)[0][0] for p in prompts]
    assert len({g.num_tokens for g in alone}) > 1  # the test needs rows that end at different steps
    return stop, alone


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_rows_leaving_the_batch_do_not_disturb_the_others(tiny, alone_with_stop, batch_size):
    """Each prompt's greedy output is the same alone as in a batch where others stop early and refill."""
    model, tok = tiny
    stop, alone = alone_with_stop
    together = sample(model, tok, _prompts(tok), n=1, temperature=0, top_p=1.0, max_new_tokens=30, stop=[stop],
                      batch_size=batch_size)
    assert [row[0] for row in together] == alone


def test_long_prompts_fill_the_batch_up_to_its_kv_budget_with_the_same_answers(tiny, monkeypatch):
    """Rows are bounded by the cache they hold (prompt + new tokens), not by the longest prompt of the call:
    a long prompt leaves room for the short ones, and the greedy answers are those of each prompt alone."""
    from eta.sample import engine, kv

    model, tok = tiny
    prompts = _prompts(tok, [q * k for q, k in zip(QUESTIONS, (9, 1, 3, 1, 6))])
    widths = sorted(len(tok(p)["input_ids"]) for p in prompts)
    alone = [sample(model, tok, [p], n=1, temperature=0, top_p=1.0, max_new_tokens=10)[0][0] for p in prompts]
    budget = (widths[-1] + 10) + 2 * (widths[-2] + 10)  # the longest prompt and two more rows beside it
    monkeypatch.setattr(engine, "KV_TOKENS", budget)
    held: list[int] = []
    real_join = engine._join

    def join(old, new):
        batch = real_join(old, new)
        held.append(len(batch.rows) * kv.seq_len(batch.cache))
        return batch

    monkeypatch.setattr(engine, "_join", join)
    together = sample(model, tok, prompts, n=1, temperature=0, top_p=1.0, max_new_tokens=10, batch_size=64)
    assert [row[0] for row in together] == alone
    assert len(held) > 1 and max(held) <= budget  # more than one prefill, none past the budget


def test_sampling_is_deterministic_per_seed_whatever_the_batch_size(tiny):
    model, tok = tiny
    prompts = _prompts(tok)
    kw = dict(n=4, temperature=1.0, top_p=0.95, max_new_tokens=16)
    a = sample(model, tok, prompts, seed=7, batch_size=32, **kw)
    b = sample(model, tok, prompts, seed=7, batch_size=5, **kw)
    c = sample(model, tok, prompts, seed=8, batch_size=32, **kw)
    assert a == b
    assert a != c
    assert len({g.token_ids for g in a[0]}) > 1  # the n samples of a prompt differ


def test_on_done_hands_over_each_prompts_samples_once_before_the_call_returns(tiny):
    model, tok = tiny
    prompts = _prompts(tok)
    for kw in (dict(n=2, temperature=1.0, top_p=0.95, seed=3), dict(n=3, temperature=0.0, top_p=1.0)):
        seen: list[tuple[int, list[Generation]]] = []
        out = sample(model, tok, prompts, max_new_tokens=12, batch_size=3, on_done=lambda i, g: seen.append((i, g)),
                     **kw)
        assert sorted(i for i, _ in seen) == list(range(len(prompts)))
        assert all(out[i] == gens and len(gens) == kw["n"] for i, gens in seen)


def test_peft_policy_is_sampled_with_its_adapter_and_keeps_training_mode():
    from peft import LoraConfig, get_peft_model

    model, tok = build_tiny_model(seed=0)
    prompts = _prompts(tok)[:2]
    base = [g[0].token_ids for g in sample(model, tok, prompts, n=1, temperature=0, top_p=1.0, max_new_tokens=20)]
    policy = get_peft_model(model, LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "o_proj"],
                                              init_lora_weights=False))
    policy.train()
    out = sample(policy, tok, prompts, n=1, temperature=0, top_p=1.0, max_new_tokens=20)
    assert policy.training  # given back as it came
    for prompt, row in zip(prompts, out):
        assert list(row[0].token_ids) == _generate_greedy(policy.eval(), tok, prompt, 20)[:row[0].num_tokens]
    assert [row[0].token_ids for row in out] != base


def test_bfloat16_copy_leaves_the_policy_alone(tiny):
    model, tok = tiny
    out = sample(model, tok, _prompts(tok)[:2], n=2, temperature=0.7, top_p=0.9, max_new_tokens=8,
                 dtype="bfloat16")
    assert all(g.num_tokens >= 1 for row in out for g in row)
    assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.mark.parametrize("kwargs, word", [
    (dict(n=0), "n="), (dict(temperature=-1.0), "temperature"), (dict(top_p=0.0), "top_p"),
    (dict(max_new_tokens=0), "max_new_tokens"), (dict(batch_size=0), "batch_size"),
])
def test_bad_arguments_are_named(tiny, kwargs, word):
    model, tok = tiny
    args = dict(n=1, temperature=1.0, top_p=1.0, max_new_tokens=4) | kwargs
    with pytest.raises(ValueError, match=word):
        sample(model, tok, ["hi"], **args)


def test_bad_prompt_and_stop_types(tiny):
    model, tok = tiny
    with pytest.raises(TypeError, match="prompts"):
        sample(model, tok, "hi", n=1, temperature=0, top_p=1.0, max_new_tokens=4)
    with pytest.raises(TypeError, match="stop"):
        sample(model, tok, ["hi"], n=1, temperature=0, top_p=1.0, max_new_tokens=4, stop="```")
    with pytest.raises(ValueError, match="prompt 1"):
        sample(model, tok, ["hi", ""], n=1, temperature=0, top_p=1.0, max_new_tokens=4)


# --- choosing tokens ---

def test_top_p_samples_only_the_nucleus_in_proportion():
    probs = torch.tensor([0.05, 0.5, 0.15, 0.3])
    logits = probs.log().repeat(1000, 1)
    u = (torch.arange(1000, dtype=torch.float64) + 0.5) / 1000  # an even grid stands in for random draws
    chosen = choose_tokens(logits, 1.0, 0.8, u)
    counts = torch.bincount(chosen, minlength=4).tolist()
    assert counts[0] == counts[2] == 0  # outside the 0.8 nucleus {1, 3}
    assert abs(counts[1] / 1000 - 0.5 / 0.8) < 0.01 and abs(counts[3] / 1000 - 0.3 / 0.8) < 0.01


def test_wide_nucleus_matches_a_full_sort():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 500, generator=gen) * 0.3  # flat: the 0.9 nucleus holds far more than 64 tokens
    u = torch.rand(50, generator=gen, dtype=torch.float64)
    chosen = choose_tokens(logits, 0.9, 0.9, u)
    probs = torch.softmax(logits / 0.9, -1)
    sorted_probs, order = probs.sort(-1, descending=True)
    for row in range(50):
        keep = int(((sorted_probs[row].cumsum(0) - sorted_probs[row]) < 0.9).sum())
        assert keep > 64
        kept = sorted_probs[row, :keep]
        index = int(torch.searchsorted(kept.cumsum(0), (u[row] * kept.sum()).float(), right=True))
        assert int(chosen[row]) == int(order[row, min(index, keep - 1)])


def test_no_top_p_and_greedy():
    logits = torch.tensor([[0.0, 5.0, 1.0], [3.0, 0.0, 0.0]])
    assert choose_tokens(logits, 0, 0.5, None).tolist() == [1, 0]
    u = torch.tensor([0.0, 0.999999], dtype=torch.float64)
    assert choose_tokens(logits, 1.0, 1.0, u).tolist() == [0, 2]  # inverse CDF: the ends of the range


def test_uniforms_are_keyed_not_sequential():
    assert uniform(1, 2, 3, 4) == uniform(1, 2, 3, 4)
    values = {uniform(0, p, s, t) for p in range(5) for s in range(5) for t in range(5)}
    assert len(values) == 125 and all(0 <= v < 1 for v in values)
    assert row_uniforms(0, [(1, 2, 3)]).tolist() == [uniform(0, 1, 2, 3)]


# --- stop strings in streamed text ---

def test_stream_waits_for_whole_characters(tiny):
    _, tok = tiny
    ids = tok("aé✓", add_special_tokens=False)["input_ids"]  # 1 + 2 + 3 byte tokens
    stream, pieces = StreamText(), []
    for token in ids:
        stream.ids.append(token)
        pieces.append(advance(tok, [stream])[0])
    assert pieces == ["a", "", "é", "", "", "✓"] and stream.text == "aé✓"


def test_find_stop_only_looks_at_the_tail():
    assert find_stop("abc```", 1, ["```"]) == 3  # completed by the last character
    assert find_stop("``` x", 1, ["```"]) == -1  # an old match was already handled
    assert find_stop("xx\n``", 0, ["```"]) == -1
    assert find_stop("a\n```\nb", 3, ["\n```\n", "b"]) == 1
    assert first_stop("no stop here", ["```"]) == -1 and first_stop("a```b```", ["```"]) == 1


# --- the cache ---

def test_growing_cache_rows_and_columns():
    from eta.sample import kv

    gen = torch.Generator().manual_seed(0)
    a, b = kv.new_cache(), kv.new_cache()
    ka, kb = torch.randn(2, 3, 5, 4, generator=gen), torch.randn(3, 3, 7, 4, generator=gen)
    a.update(ka, ka + 1, 0)
    b.update(kb, kb + 1, 0)
    kv.pad_left(a, 2)
    kv.merge(a, b)
    expected = torch.cat([torch.cat([torch.zeros(2, 3, 2, 4), ka], 2), kb])
    assert torch.equal(a.layers[0].keys, expected) and torch.equal(a.layers[0].values[:, :, 2:], expected[:, :, 2:] + 1)
    step = torch.randn(5, 3, 1, 4, generator=gen)
    a.update(step, step, 0)
    a.batch_select_indices(torch.tensor([1, 4]))
    kv.crop_left(a, 1)
    assert torch.equal(a.layers[0].keys, torch.cat([expected, step], 2)[[1, 4], :, 1:])
    assert kv.seq_len(a) == 7


# --- SmolLM2 ---

@pytest.mark.slow
def test_smollm2_greedy_chat_answer_stops_at_the_closing_fence():
    from eta.models import ModelLoadError, load_model

    try:
        model, tok = load_model("smollm2_135m")
    except ModelLoadError as e:
        pytest.skip(str(e))
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Write a Python function add(a, b) that returns a + b. "
                                     "Answer with a single ```python code block."}],
        tokenize=False, add_generation_prompt=True)
    (g,) = sample(model, tok, [prompt], n=1, temperature=0, top_p=1.0, max_new_tokens=200, stop=["\n```\n"])[0]
    assert g.finish_reason in (FinishReason.STOP, FinishReason.EOS)
    assert "def add" in g.text and "```python" in g.text
    assert list(g.token_ids) == _generate_greedy(model, tok, prompt, g.num_tokens)


def test_auto_dtype_is_bfloat16_only_for_a_float32_policy_on_a_cpu_with_native_bf16(tiny, monkeypatch):
    import eta.sample.precision as precision

    model, tok = tiny
    prompts = _prompts(tok)[:2]
    kwargs = dict(n=4, temperature=1.0, top_p=1.0, max_new_tokens=16, seed=3)
    drawn = {}
    for native, same_as in (("amx", "bfloat16"), (None, None)):
        monkeypatch.setattr(precision, "native_bf16", lambda: native)
        assert precision.resolve("auto", "float32")[0] == same_as
        drawn[same_as] = sample(model, tok, prompts, dtype=same_as, **kwargs)
        assert sample(model, tok, prompts, dtype="auto", **kwargs) == drawn[same_as]
    assert drawn["bfloat16"] != drawn[None]  # the two dtypes draw apart here, so the test can tell them apart
    monkeypatch.setattr(precision, "native_bf16", lambda: "amx")
    assert precision.resolve("auto", "bfloat16")[0] is None  # already bf16: the model as it is
    assert precision.resolve(None, "float32") == (None, "float32, the model's dtype (sampler.dtype=null)")


def test_the_dtype_copy_is_made_once_and_follows_the_policys_writes():
    from eta.sample import precision
    from eta.sample.engine import _in_dtype

    model, _ = build_tiny_model(seed=1)
    model.requires_grad_(False)
    first = _in_dtype(model, "bfloat16")
    assert first is not model and next(first.parameters()).dtype == torch.bfloat16
    assert _in_dtype(model, "bfloat16") is first  # the evaluation's next pass: no second copy
    assert precision.last_refresh(model) == 0  # nothing frozen was written: nothing copied over
    with torch.no_grad():
        next(model.parameters()).add_(1.0)  # a checkpoint loaded in place
    again = _in_dtype(model, "bfloat16")
    assert again is first and precision.last_refresh(model) == 1  # the one written parameter, copied over
    assert torch.equal(next(again.parameters()), next(model.parameters()).to(torch.bfloat16))


def test_bfloat16_decode_attention_matches_sdpa_on_a_cache_view():
    from eta.sample.attention import _matmul_attention

    gen = torch.Generator().manual_seed(0)
    q = torch.randn(5, 3, 3, 16, generator=gen)
    buffer = torch.randn(2, 5, 3, 40, 16, generator=gen)  # keys and values with spare room, as kv.GrowingLayer
    k, v = buffer[0, :, :, :29], buffer[1, :, :, :29]
    mask = torch.ones(5, 1, 1, 29, dtype=torch.bool)
    mask[1, ..., :7] = mask[3, ..., :20] = False  # left padding
    exact = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    ours = _matmul_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), mask, 16 ** -0.5)
    assert ours.dtype == torch.bfloat16 and torch.allclose(ours.float(), exact, atol=3e-2)
    assert not torch.allclose(ours.float(), _matmul_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), None,
                                                              16 ** -0.5).float(), atol=3e-2)  # the mask counts
