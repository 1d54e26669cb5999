"""How far a policy moved: the KL estimate against its adapter-free reference."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.needs_torch


def lora_policy():
    from peft import get_peft_model

    from eta.models.tiny import build_tiny_model
    from eta.train.settings import lora_config

    model, tok = build_tiny_model()
    return get_peft_model(model, lora_config({"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]})).eval(), tok


def moved(policy, tok):
    """The policy with its adapter moved off zero (LoRA's B starts there), as training would move it."""
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn_like(p) * 0.5)
    return policy, tok


SAMPLES = [{"prompt": "def f(x):\n", "response": "    return x + 1\n"}, {"prompt": "Write g.", "response": "def g(): pass"}]


def test_completion_logps_sum_the_completion_tokens_only():
    from eta.train.drift import completion_logps

    policy, tok = lora_policy()
    (logp, n), = completion_logps(policy, tok, ["ab"], ["cde"])
    ids = tok("abcde", add_special_tokens=False)["input_ids"]
    n_prompt = len(tok("ab", add_special_tokens=False)["input_ids"])
    with torch.no_grad():
        logits = policy(input_ids=torch.tensor([ids])).logits.float()[0]
    direct = sum(torch.log_softmax(logits[i - 1], -1)[ids[i]].item() for i in range(n_prompt, len(ids)))
    assert n == len(ids) - n_prompt and logp == pytest.approx(direct, abs=1e-4)
    batched = completion_logps(policy, tok, ["ab", "a longer prompt"], ["cde", "x"])  # padding changes nothing
    assert batched[0][0] == pytest.approx(logp, abs=1e-4)


def test_completion_logps_of_mixed_prompts_answer_in_the_callers_order():
    from eta.train.drift import completion_logps

    policy, tok = lora_policy()
    prompts = [f"p{i} " * (1 + (7 * i) % 5) for i in range(7)]
    completions = [f"c{i} " * (1 + (3 * i) % 4) for i in range(7)]
    alone = [completion_logps(policy, tok, [p], [c])[0] for p, c in zip(prompts, completions)]
    together = completion_logps(policy, tok, prompts, completions, batch_size=3)
    assert [n for _, n in together] == [n for _, n in alone]
    assert [lp for lp, _ in together] == pytest.approx([lp for lp, _ in alone], abs=1e-4)


def test_kl_is_zero_for_an_untrained_adapter_and_nonzero_once_it_moved():
    from eta.train.drift import kl_to_reference

    policy, tok = lora_policy()
    assert kl_to_reference(policy, tok, SAMPLES) == {"kl_to_reference": 0.0, "kl_to_reference_per_token": 0.0,
                                                     "kl_samples": len(SAMPLES)}
    with torch.no_grad():  # LoRA's B starts at zero: move it, as training would
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn_like(p, generator=None) * 0.5)
    moved = kl_to_reference(policy, tok, SAMPLES)
    assert moved["kl_to_reference"] != 0.0 and math.isfinite(moved["kl_to_reference_per_token"])
    assert kl_to_reference(policy.get_base_model(), tok, SAMPLES) is None  # nothing to switch off: no guess


def test_completions_of_one_prompt_score_as_each_alone_whatever_the_batch():
    from eta.train.drift import completion_logps

    policy, tok = lora_policy()
    prompts = ["def f(x):\n", "Write g.", "def f(x):\n", "def f(x):\n"]
    completions = ["    return x + 1\n", "def g(): pass", "    return x", ""]
    alone = [completion_logps(policy, tok, [p], [c])[0] for p, c in zip(prompts, completions)]
    for batch_size in (1, 2, 8):
        together = completion_logps(policy, tok, prompts, completions, batch_size=batch_size)
        assert [n for _, n in together] == [n for _, n in alone]
        assert [lp for lp, _ in together] == pytest.approx([lp for lp, _ in alone], abs=1e-4)
    assert alone[3] == (0.0, 0)  # an empty completion: nothing to score


def test_a_repeated_prompt_and_completion_is_scored_once_and_answered_at_every_place():
    from eta.train.drift import completion_logps

    policy, tok = lora_policy()
    calls = []
    forward = policy.forward
    policy.forward = lambda *a, **k: calls.append(k["input_ids"].shape[0]) or forward(*a, **k)
    prompts = ["def f(x):\n", "Write g.", "def f(x):\n", "def f(x):\n"]
    completions = ["    return x\n", "def g(): pass", "    return x + 1\n", "    return x\n"]
    scores = completion_logps(policy, tok, prompts, completions, batch_size=8)
    assert calls == [1, 2, 1, 1]  # a prompt, its 2 distinct completions; the other prompt, its one completion
    assert scores[3] == scores[0] and scores[2] != scores[0]
    alone = [completion_logps(policy, tok, [p], [c])[0] for p, c in zip(prompts, completions)]
    assert [lp for lp, _ in scores] == pytest.approx([lp for lp, _ in alone], abs=1e-4)


def test_kl_on_a_capped_draw_scores_that_many_and_the_same_draw_for_a_seed():
    from eta.train.drift import kl_to_reference

    policy, tok = moved(*lora_policy())
    rows = [{"prompt": f"def f{i}(x):\n", "response": f"    return x + {i}\n"} for i in range(9)]
    whole = kl_to_reference(policy, tok, rows)
    capped = kl_to_reference(policy, tok, rows, max_samples=4, seed=3)
    assert whole["kl_samples"] == 9 and capped["kl_samples"] == 4
    assert kl_to_reference(policy, tok, rows, max_samples=4, seed=3) == capped  # a seed fixes the draw
    assert kl_to_reference(policy, tok, rows, max_samples=9)["kl_to_reference"] == whole["kl_to_reference"]


def test_the_merged_policy_scores_as_the_adapter_does_and_leaves_the_policy_as_it_was():
    from eta.train.drift import completion_logps, merged_copy, policy_and_reference_logps

    policy, tok = moved(*lora_policy())
    before = {n: p.clone() for n, p in policy.named_parameters()}
    prompts, completions = [s["prompt"] for s in SAMPLES], [s["response"] for s in SAMPLES]
    merged = merged_copy(policy)
    assert not hasattr(merged, "disable_adapter")  # a plain model: no adapter left to run
    ours, ref = policy_and_reference_logps(policy, tok, prompts, completions)
    unmerged = completion_logps(policy, tok, prompts, completions)
    with policy.disable_adapter():
        plain = completion_logps(policy, tok, prompts, completions)
    assert all(abs(a - b) < 1e-4 and n == m for (a, n), (b, m) in zip(ours, unmerged))
    assert ref == plain and any(abs(a - b) > 1e-3 for (a, _), (b, _) in zip(ours, ref))  # the adapter counts
    assert all(torch.equal(p, before[n]) for n, p in policy.named_parameters())  # nothing merged into it
    assert merged_copy(policy.get_base_model()) is policy.get_base_model()
