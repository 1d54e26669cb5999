"""Hosted models (eta/hosted) against a local stub of the two APIs (tests/hosted_stub.py): no network."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("openai")
pytest.importorskip("anthropic")

sys.path.insert(0, str(Path(__file__).parent))
from hosted_stub import GOOD_KEY, Stub, StubServer  # noqa: E402

from eta.hosted.errors import HostedError  # noqa: E402
from eta.hosted.policy import load_hosted  # noqa: E402

CONF = Path(__file__).resolve().parents[1] / "conf" / "model"
STOP = ["\n```\n"]


def _cfg(provider: str, url: str) -> dict[str, Any]:
    cfg = yaml.safe_load((CONF / f"{provider}.yaml").read_text())
    cfg.pop("defaults", None)
    cfg["hosted"].update(base_url=url, backoff_s=0.01, max_backoff_s=0.05)
    return cfg


def _prompts(codec: Any, k: int) -> list[str]:
    return [codec.apply_chat_template([{"role": "user", "content": f"write answer() no. {i}"}],
                                      tokenize=False, add_generation_prompt=True) for i in range(k)]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_samples_come_back_cut_at_the_stop_string(provider, monkeypatch):
    monkeypatch.setenv(f"{provider.upper()}_API_KEY", GOOD_KEY)
    with StubServer() as server:
        policy, codec = load_hosted(_cfg(provider, server.url))
        out = policy.sample_prompts(_prompts(codec, 2), n=3, temperature=0.8, top_p=1.0, max_new_tokens=64,
                                    stop=STOP)
        assert [len(row) for row in out] == [3, 3]
        assert all("return 42" in g.text and "It returns 42" not in g.text for row in out for g in row)
        # OpenAI returns n choices per request; the Messages API has no n
        assert len(server.stub.requests) == (2 if provider == "openai" else 6)


def test_rate_limit_and_server_error_are_retried(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", GOOD_KEY)
    stub = Stub(failures=[(429, {"retry-after": "0"}), (500, {})])
    with StubServer(stub) as server:
        policy, codec = load_hosted(_cfg("openai", server.url))
        out = policy.sample_prompts(_prompts(codec, 1), n=1, temperature=0.8, top_p=1.0, max_new_tokens=64,
                                    stop=STOP)
        assert "return 42" in out[0][0].text and len(stub.requests) == 3


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_bad_key_is_one_line_that_names_the_variable_not_the_key(provider, monkeypatch):
    bad = "sk-wrong-key-9999999999"
    monkeypatch.setenv(f"{provider.upper()}_API_KEY", bad)
    with StubServer() as server:
        policy, codec = load_hosted(_cfg(provider, server.url))
        with pytest.raises(HostedError) as err:
            policy.sample_prompts(_prompts(codec, 1), n=1, temperature=0.8, top_p=1.0, max_new_tokens=64)
    message = str(err.value)
    assert "\n" not in message and f"{provider.upper()}_API_KEY" in message and bad not in message


def test_a_resumed_run_asks_only_what_it_did_not_get(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", GOOD_KEY)
    journal = tmp_path / "samples.requests.jsonl"
    with StubServer() as server:
        policy, codec = load_hosted(_cfg("anthropic", server.url))
        prompts = _prompts(codec, 3)
        policy.sample_prompts(prompts[:2], n=2, temperature=0.8, top_p=1.0, max_new_tokens=64, stop=STOP,
                              journal=journal)
        assert len(server.stub.requests) == 4
        out = policy.sample_prompts(prompts, n=2, temperature=0.8, top_p=1.0, max_new_tokens=64, stop=STOP,
                                    journal=journal)
        assert [len(row) for row in out] == [2, 2, 2] and len(server.stub.requests) == 6
    assert GOOD_KEY not in journal.read_text()
