"""DPO with each pair's prompt computed once (``method.share_prompt``, eta.train.shared_prompt): on batches
from TRL's own collator, the shared forward gives the ordinary forward's log-probs, loss and LoRA gradients,
falls back where a pair's prompts differ, and trains as the ordinary step does."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.needs_torch

from eta.errors import ConfigError  # noqa: E402
from eta.methods import dpo  # noqa: E402
from eta.models.tiny import build_tiny_model  # noqa: E402
from eta.train import shared_prompt  # noqa: E402
from eta.train.settings import build_args, lora_config  # noqa: E402

LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}
MAX_LENGTH = 90
# prompts of different lengths; completions of different lengths within a pair; the second pair's chosen
# row is cut at MAX_LENGTH in its completion
PAIRS = [("Write f.", "def f():\n    return 1", "def f(): return"),
         ("Write a longer function g that sums a list of numbers, please.", "def g(xs):\n    return sum(xs)\n" * 2,
          "pass"),
         ("h", "x = 1", "y = 2222222222222222222222222222222222")]


def _rows(tok, pairs=PAIRS):
    return [{"prompt": tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                               add_generation_prompt=True), "chosen": c, "rejected": r}
            for q, c, r in pairs]


def _method(out, **overrides):
    cfg = {"name": "dpo", "learning_rate": 1e-2, "per_device_train_batch_size": len(PAIRS), "max_steps": 3,
           "bf16": False, "disable_tqdm": True, "max_length": MAX_LENGTH, "save_steps": 100, "logging_steps": 1,
           "precompute_ref_log_probs": False, **overrides}
    return build_args(dpo.DPOArgs, cfg, out)


def _trainer(tmp_path, **overrides):
    """A tiny LoRA DPOTrainer whose adapter is non-zero (policy != reference) and a batch of all pairs."""
    from datasets import Dataset

    model, tok = build_tiny_model()
    trainer = dpo._trainer_class()(model=model, args=_method(tmp_path / "out", **overrides),
                                   train_dataset=Dataset.from_list(_rows(tok)), processing_class=tok,
                                   peft_config=lora_config(LORA))
    noise = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in trainer.model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.2 * torch.randn(p.shape, generator=noise))
    return trainer, trainer.data_collator([trainer.train_dataset[i] for i in range(len(PAIRS))])


def _rows_seen(trainer):
    """The row counts the model body is run on, recorded while the returned list is read."""
    seen: list[int] = []
    body = trainer.model.get_base_model().model
    handle = body.register_forward_pre_hook(lambda _m, _a, kw: seen.append(kw["input_ids"].shape[0]),
                                            with_kwargs=True)
    return seen, handle


def _loss_and_grads(trainer, batch, share: bool):
    trainer.args.share_prompt = share
    trainer.model.zero_grad(set_to_none=True)
    loss = trainer.compute_loss(trainer.model, dict(batch))
    loss.backward()
    grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    return loss.detach(), grads


def test_the_batch_is_what_the_test_means(tmp_path):
    _, batch = _trainer(tmp_path)
    n = len(PAIRS)
    prompt = (batch["attention_mask"] - batch["completion_mask"]).sum(1)
    completion = batch["completion_mask"].sum(1)
    assert len(set(prompt[:n].tolist())) == n  # prompts of different lengths
    assert all(completion[i] != completion[n + i] for i in range(n))  # completions differ within each pair
    assert batch["input_ids"].shape[1] == MAX_LENGTH and batch["attention_mask"][1].sum() == MAX_LENGTH  # cut


@pytest.mark.parametrize("kernel", shared_prompt.KERNELS)
@pytest.mark.parametrize("bf16", [False, True])
def test_shared_forward_gives_the_ordinary_logits_where_trl_reads_them_on_fewer_rows(tmp_path, kernel, bf16):
    trainer, batch = _trainer(tmp_path)
    model, n = trainer.model, len(PAIRS)
    model.get_base_model().set_attn_implementation(kernel)
    kwargs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "use_cache": False}
    seen, handle = _rows_seen(trainer)
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            plain = model(**kwargs).logits.float()
            with shared_prompt.sharing([model.get_base_model()], batch["completion_mask"]):
                shared = model(**kwargs).logits.float()
    finally:
        handle.remove()
    assert seen == [2 * n, n]  # one packed sequence per pair
    read = batch["completion_mask"][:, 1:].bool()
    assert shared.shape == plain.shape
    # bf16: its rounding of the logits (|logit| < 8 here: steps of 1/32), and sums taken in another order
    assert torch.allclose(shared[:, :-1][read], plain[:, :-1][read], atol=0.07 if bf16 else 1e-5)
    assert not shared[:, :-1][~read].any()  # zeros where TRL masks
    assert "forward" not in model.get_base_model().__dict__  # the ordinary forward is back


def test_policy_loss_gradients_and_reference_log_probs_agree(tmp_path):
    trainer, batch = _trainer(tmp_path)
    plain_loss, plain_grads = _loss_and_grads(trainer, batch, False)
    plain_logps = trainer._metrics["train"]["logps/chosen"][-1], trainer._metrics["train"]["logps/rejected"][-1]
    shared_loss, shared_grads = _loss_and_grads(trainer, batch, True)
    shared_logps = trainer._metrics["train"]["logps/chosen"][-1], trainer._metrics["train"]["logps/rejected"][-1]
    assert abs(plain_loss - torch.log(torch.tensor(2.0))) > 1e-3  # policy != reference: a loss with a gradient
    assert torch.allclose(shared_loss, plain_loss, atol=1e-5)
    assert shared_logps == pytest.approx(plain_logps, abs=1e-4)
    assert plain_grads.keys() == shared_grads.keys() and any(g.abs().sum() > 0 for g in plain_grads.values())
    for name, grad in plain_grads.items():
        assert torch.allclose(shared_grads[name], grad, atol=1e-5, rtol=1e-4), name
    refs = {}
    for share in (False, True):
        trainer.args.share_prompt = share
        refs[share] = torch.cat(trainer.compute_ref_log_probs(trainer.model, dict(batch)))
    assert torch.allclose(refs[True], refs[False], atol=1e-4) and refs[False].abs().min() > 1


def test_full_fine_tuning_shares_the_prompt_in_the_policy_and_its_frozen_reference(tmp_path):
    import copy

    from datasets import Dataset

    model, tok = build_tiny_model()
    ref = copy.deepcopy(model)
    with torch.no_grad():  # a reference other than the policy: log-ratios are not zero
        for p in ref.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0)))
    trainer = dpo._trainer_class()(model=model, ref_model=ref.eval().requires_grad_(False),
                                   args=_method(tmp_path / "out", use_lora=False),
                                   train_dataset=Dataset.from_list(_rows(tok)), processing_class=tok)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(PAIRS))])
    seen: list[tuple[str, int]] = []
    for name, m in (("policy", model), ("reference", ref)):
        m.model.register_forward_pre_hook(lambda _m, _a, kw, name=name: seen.append((name, kw["input_ids"].shape[0])),
                                          with_kwargs=True)
    plain_loss, plain_grads = _loss_and_grads(trainer, batch, False)
    shared_loss, shared_grads = _loss_and_grads(trainer, batch, True)
    n = len(PAIRS)
    assert seen == [("policy", 2 * n), ("reference", 2 * n), ("policy", n), ("reference", n)]
    assert abs(plain_loss - torch.log(torch.tensor(2.0))) > 1e-3 and torch.allclose(shared_loss, plain_loss, atol=1e-5)
    for name, grad in plain_grads.items():
        assert torch.allclose(shared_grads[name], grad, atol=1e-5, rtol=1e-4), name


def test_trl_reads_each_row_cut_to_its_completion_and_counts_every_token(tmp_path):
    trainer, batch = _trainer(tmp_path)
    narrowed, _ = shared_prompt.narrow(dict(batch))
    small = narrowed.inputs
    mask, done = batch["attention_mask"], batch["completion_mask"].bool()
    assert small["input_ids"].shape[1] == int(done.sum(1).max()) + 1 < batch["input_ids"].shape[1]
    for row in range(len(batch["input_ids"])):
        real = batch["input_ids"][row][mask[row].bool()].tolist()
        start = int(done[row].int().argmax())
        kept = small["input_ids"][row][small["attention_mask"][row].bool()].tolist()
        assert kept == real[start - 1:]  # the prompt's last token, then the completion
        assert small["completion_mask"][row][small["attention_mask"][row].bool()].tolist() == \
            [0] + [1] * (len(real) - start)
    counted = {}
    for share in (False, True):
        trainer._total_train_tokens = 0
        _loss_and_grads(trainer, batch, share)
        counted[share] = trainer._metrics["train"]["num_tokens"][-1]
    assert counted[True] == counted[False] == int(mask.sum())


def test_inside_a_narrowed_batch_a_call_with_other_inputs_is_refused_not_run_without_prompts(tmp_path):
    trainer, batch = _trainer(tmp_path)
    narrowed, _ = shared_prompt.narrow(dict(batch))
    small = narrowed.inputs
    with shared_prompt.sharing([trainer.model.get_base_model()], batch["completion_mask"], narrowed):
        with torch.no_grad():
            assert trainer.model(input_ids=small["input_ids"].clone(), attention_mask=small["attention_mask"],
                                 use_cache=False).logits.shape[:2] == small["input_ids"].shape  # equal ids: fine
            with pytest.raises(RuntimeError, match="other input_ids"):
                trainer.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False)


def test_credit_weights_still_weight_the_shared_log_probs(tmp_path):
    trainer, batch = _trainer(tmp_path)
    weights = 1 + torch.rand(batch["completion_mask"].shape, generator=torch.Generator().manual_seed(1))
    weighted = {**batch, dpo.COMPLETION_WEIGHTS: weights}
    losses = {}
    for share in (False, True):
        trainer.args.share_prompt = share
        with torch.no_grad():
            losses[share] = trainer.compute_loss(trainer.model, dict(weighted))
    unweighted, _ = _loss_and_grads(trainer, batch, True)
    assert torch.allclose(losses[True], losses[False], atol=1e-5) and abs(losses[True] - unweighted) > 1e-3


def test_a_pair_whose_prompts_differ_gets_the_ordinary_forward_and_says_why(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(shared_prompt, "_SAID", set())
    trainer, batch = _trainer(tmp_path)
    n = len(PAIRS)
    batch["input_ids"][n, 0] = (batch["input_ids"][0, 0] + 1) % 256  # pair 0's rejected row: another prompt
    assert shared_prompt.pack(batch["input_ids"], batch["attention_mask"], batch["completion_mask"]) == \
        "a pair's chosen and rejected rows have different prompts"
    plain_loss, _ = _loss_and_grads(trainer, batch, False)
    seen, handle = _rows_seen(trainer)
    try:
        shared_loss, _ = _loss_and_grads(trainer, batch, True)
        _loss_and_grads(trainer, batch, True)
    finally:
        handle.remove()
    assert seen == [2 * n, 2 * n, 2 * n, 2 * n]  # policy and reference, twice: every call the ordinary one
    assert torch.equal(shared_loss, plain_loss)
    assert capsys.readouterr().out.count("share_prompt: the ordinary forward for a batch: a pair's chosen and "
                                         "rejected rows have different prompts") == 1


def test_batches_that_cannot_be_packed_are_named():
    ids = torch.tensor([[5, 6, 7, 0], [5, 6, 8, 9]])
    done = torch.tensor([[0, 0, 1, 0], [0, 0, 1, 1]])
    assert "rows" in shared_prompt.pack(ids[:1], torch.ones_like(ids[:1]), done[:1])
    assert "flushes them left" in shared_prompt.pack(ids, torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]]), done)
    assert "different lengths" in shared_prompt.pack(ids, torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]]),
                                                     torch.tensor([[0, 1, 1, 0], [0, 0, 1, 1]]))
    packed = shared_prompt.pack(ids, torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]]), done)
    assert packed.input_ids.tolist() == [[5, 6, 7, 8, 9]] and packed.position_ids.tolist() == [[0, 1, 2, 2, 3]]
    seen = packed.attention_mask("sdpa", torch.float32)[0, 0]
    assert seen[3].tolist() == [True, True, False, True, False]  # the rejected token never sees the chosen one


@pytest.mark.parametrize("precompute", [False, True])
def test_training_with_shared_prompts_moves_the_adapter_as_ordinary_training_does(tmp_path, precompute):
    """Three optimizer steps under TRL's defaults (gradient checkpointing on) with and without sharing."""
    from datasets import Dataset

    trained = {}
    for share in (False, True):
        model, tok = build_tiny_model()
        args = _method(tmp_path / f"out{share}", share_prompt=share, per_device_train_batch_size=2,
                       precompute_ref_log_probs=precompute)
        assert args.gradient_checkpointing
        seen: list[int] = []
        model.model.register_forward_pre_hook(lambda _m, _a, kw: seen.append(kw["input_ids"].shape[0]),
                                              with_kwargs=True)
        result = dpo.train_dpo(model, tok, Dataset.from_list(_rows(tok) * 2), args, lora_config(LORA),
                               resume=False)
        assert set(seen) == ({2} if share else {4})  # batches of 2 pairs: packed, or 2 rows a pair
        trained[share] = {n: p.detach().clone() for n, p in result.model.named_parameters() if "lora_" in n}
        assert all(torch.isfinite(torch.tensor(h["loss"])) for h in result.log_history if "loss" in h)
    assert any(trained[True][n].abs().sum() > 0 for n in trained[True] if "lora_B" in n)  # B starts at zero
    for name, value in trained[False].items():
        assert torch.allclose(trained[True][name], value, atol=1e-4), name


def test_share_prompt_with_the_liger_loss_is_named(tmp_path):
    with pytest.raises(ConfigError, match="method.share_prompt.*use_liger_kernel=false"):
        build_args(dpo.DPOArgs, {"name": "dpo", "share_prompt": True, "use_liger_kernel": True}, tmp_path)


@pytest.mark.parametrize("disable_dropout", [True, False])
def test_lora_dropout_is_off_in_dpo_and_where_on_a_pair_shares_one_draw_of_its_prompt(tmp_path, disable_dropout):
    """SmolLM2's LoRA config has dropout 0.05, but TRL's DPO zeroes every dropout (``disable_dropout``, on by
    default, which dpo.yaml keeps): the shared forward is the ordinary one in training too. With it off, a
    prompt computed once is dropped once for both completions, where TRL's rows draw twice: the logits that
    predict each completion's first token come from the one prompt (equal), where ordinary rows differ."""
    from datasets import Dataset

    model, tok = build_tiny_model()
    trainer = dpo._trainer_class()(model=model, args=_method(tmp_path / "out", disable_dropout=disable_dropout),
                                   train_dataset=Dataset.from_list(_rows(tok)), processing_class=tok,
                                   peft_config=lora_config({**LORA, "dropout": 0.5}))
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(PAIRS))])
    with torch.no_grad():
        for name, p in trainer.model.named_parameters():
            if "lora_B" in name:
                p.fill_(0.5)
    model, n = trainer.model.train(), len(PAIRS)
    kwargs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "use_cache": False}
    torch.manual_seed(0)
    with torch.no_grad():
        plain = model(**kwargs).logits
        with shared_prompt.sharing([model.get_base_model()], batch["completion_mask"]):
            shared = model(**kwargs).logits
    if disable_dropout:
        read = batch["completion_mask"][:, 1:].bool()
        assert torch.allclose(shared[:, :-1][read], plain[:, :-1][read], atol=1e-5)
        return
    first, pairs = (batch["completion_mask"].int().argmax(1) - 1)[:n], torch.arange(n)  # the prompt's last token
    assert torch.equal(shared[pairs, first], shared[pairs + n, first])
    assert not torch.allclose(plain[pairs, first], plain[pairs + n, first], atol=1e-3)


def test_a_call_with_other_inputs_gets_the_ordinary_forward(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(shared_prompt, "_SAID", set())
    trainer, batch = _trainer(tmp_path)
    kwargs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
              "labels": batch["input_ids"]}
    with torch.no_grad():
        plain = trainer.model(**kwargs)
        with shared_prompt.sharing([trainer.model.get_base_model()], batch["completion_mask"]):
            other = trainer.model(**kwargs)
    assert torch.equal(other.logits, plain.logits) and torch.equal(other.loss, plain.loss)
    assert "share_prompt: the ordinary forward for a batch: the model is called with labels" in capsys.readouterr().out
