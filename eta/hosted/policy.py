"""A hosted model as a policy: ``sample_prompts`` speaks ``eta.sample.sample``'s protocol.

Requests run ``concurrency`` at a time. Each reply is appended to the journal of the sample file being
written (``eta.sample.journal``: ``samples.requests.jsonl`` beside ``samples.jsonl``) the moment it
arrives, keyed by a digest of everything the request asks (model, base URL, messages, temperature,
top_p, max tokens, stops, which sample); a killed run finds its replies there and asks only for
the rest. The journal also holds each reply's token counts, from which ``usage_report`` estimates cost.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from eta.hosted.client import Choice, Client, Reply, Request
from eta.hosted.settings import HostedSettings, api_key, parse_settings, provider_of
from eta.rundir import JOURNAL_SUFFIX, SUPERSEDED
from eta.sample.engine import FinishReason, Generation


class ChatCodec:
    """What stands in for a hosted model's tokenizer: the chat template renders the messages as JSON
    (``build_prompt`` calls it), which ``HostedPolicy`` reads back. There are no tokens to count here."""

    chat_template = "eta-hosted-json"  # truthy: build_prompt takes the chat path
    padding_side = "left"

    def apply_chat_template(self, messages: Sequence[dict[str, str]], tokenize: bool = False,
                            add_generation_prompt: bool = True, **_: Any) -> str:
        if tokenize:
            raise TypeError("a hosted model has no tokenizer: apply_chat_template(..., tokenize=False) only")
        return encode_messages(messages)


def encode_messages(messages: Sequence[dict[str, str]]) -> str:
    return json.dumps([{"role": m["role"], "content": m["content"]} for m in messages], ensure_ascii=False)


def decode_prompt(prompt: str) -> list[tuple[str, str]]:
    """A prompt made by :class:`ChatCodec` as its messages; any other text is one user message."""
    if prompt.startswith("[{"):
        try:
            value = json.loads(prompt)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list) and all(isinstance(m, dict) and {"role", "content"} <= set(m) for m in value):
            return [(str(m["role"]), str(m["content"])) for m in value]
    return [("user", prompt)]


class Journal:
    """Replies by request digest, read from and appended to one jsonl file (None: kept in memory)."""

    def __init__(self, path: Path | None) -> None:
        from eta.jsonl import read_rows

        self.path = path
        self.rows = {r["key"]: r for r in read_rows(path) if isinstance(r, dict) and "key" in r} if path else {}
        self._lock = threading.Lock()
        if path is not None and path.exists() and not path.read_bytes().endswith(b"\n") and path.stat().st_size:
            with path.open("a", encoding="utf-8") as f:  # a line torn by a kill: the next one starts afresh
                f.write("\n")

    def get(self, key: str) -> Reply | None:
        row = self.rows.get(key)
        if row is None:
            return None
        return Reply(tuple(Choice(c["text"], FinishReason(c["finish_reason"]), c["output_tokens"])
                           for c in row["choices"]), row["input_tokens"], row["output_tokens"], row["model"])

    def add(self, key: str, reply: Reply, model_id: str) -> None:
        row = {"key": key, "model_id": model_id, "model": reply.model, "input_tokens": reply.input_tokens,
               "output_tokens": reply.output_tokens, "at": time.strftime("%Y-%m-%d %H:%M:%S"),
               "choices": [{"text": c.text, "finish_reason": c.finish_reason.value,
                            "output_tokens": c.output_tokens} for c in reply.choices]}
        with self._lock:
            self.rows[key] = row
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")


class HostedPolicy:
    """A hosted chat model; ``eta.sample.sample`` calls :meth:`sample_prompts` for it."""

    hosted = True

    def __init__(self, name: str, provider: str, settings: HostedSettings, key: str) -> None:
        self.name = name
        self.provider = provider
        self.settings = settings
        self.client = Client(provider, settings, key)
        self.sent = 0  # requests this process sent (each one reply, whatever its retries)
        self.reused = 0  # replies found in a journal instead

    def __repr__(self) -> str:
        return f"HostedPolicy({self.provider}:{self.settings.model_id})"

    def sample_prompts(self, prompts: Sequence[str], *, n: int, temperature: float, top_p: float,
                       max_new_tokens: int, stop: Sequence[str] = (), seed: int = 0,  # noqa: ARG002
                       journal: Path | None = None, **_local_engine_only: Any) -> list[list[Generation]]:
        """``n`` completions of each prompt, in prompt order, as the local engine returns them. Temperature 0
        is one request per prompt, repeated n times. Options of the local engine (batch_size, threads,
        dtype, progress) mean nothing here and are ignored."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        s = self.settings
        greedy = temperature == 0
        temperature = temperature if greedy or s.temperature is None else s.temperature
        max_tokens = s.max_tokens or max_new_tokens
        stops = tuple(x for x in stop if x)
        book = Journal(journal)
        units: list[tuple[int, int, Request, str]] = []  # prompt index, first sample, request, key
        for i, prompt in enumerate(prompts):
            messages = tuple(([("system", s.system)] if s.system else []) + decode_prompt(prompt))
            if greedy:
                counts = [(0, 1)]
            elif self.provider == "openai" and s.n_per_request:
                counts = [(0, n)]
            else:
                counts = [(j, 1) for j in range(n)]
            for first, k in counts:
                key = self.request_key(Request(messages, k, temperature, top_p, max_tokens, stops, 0), first)
                # A seed of the question itself: the caller's seed moves with its chunking, which a resumed
                # run changes; distinct per sample, so that n requests are n draws on a seeded service.
                request = Request(messages, k, temperature, top_p, max_tokens, stops, int(key[:8], 16) % 2 ** 31)
                units.append((i, first, request, key))
        results: list[list[Generation | None]] = [[None] * n for _ in prompts]
        todo = []
        for unit in units:
            reply = book.get(unit[3])
            if reply is None:
                todo.append(unit)
            else:
                self.reused += 1
                _fill(results, unit, reply)
        for unit, reply in self._send_all(todo, book):
            _fill(results, unit, reply)
        if greedy:
            for row in results:
                row[1:] = [row[0]] * (n - 1)
        return [[g for g in row if g is not None] for row in results]

    def _send_all(self, todo: list[tuple[int, int, Request, str]], book: Journal) -> list[tuple[Any, Reply]]:
        """Send every request, ``concurrency`` at a time; each reply is journaled as it arrives. The first
        request that fails for good cancels the ones not started and raises its error."""
        if not todo:
            return []
        done: list[tuple[Any, Reply]] = []
        lock = threading.Lock()

        def one(unit: tuple[int, int, Request, str]) -> None:
            reply = self.client.send(unit[2])
            book.add(unit[3], reply, self.settings.model_id)
            with lock:
                done.append((unit, reply))
                self.sent += 1

        pool = ThreadPoolExecutor(max_workers=min(self.settings.concurrency, len(todo)),
                                  thread_name_prefix=f"eta-{self.provider}")
        try:
            futures = [pool.submit(one, unit) for unit in todo]
            wait(futures, return_when=FIRST_EXCEPTION)
            for future in futures:
                if future.done() and future.exception() is not None:
                    raise future.exception()  # type: ignore[misc]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # on an error (or a kill): nothing new starts
        return done

    def request_key(self, request: Request, first: int) -> str:
        """A digest of everything that decides a reply but the seed: the same digest is the same question.
        The journal sits beside its sample file and is superseded with it when the run's config changes
        (``eta.pipeline.fingerprint``), so a changed ``seed`` never reads an old journal."""
        s = self.settings
        what = {"provider": self.provider, "base_url": self.client.base_url, "model_id": s.model_id,
                "send": sorted(s.send), "request_body": s.request, "first_sample": first,
                "messages": request.messages, "n": request.n, "temperature": request.temperature,
                "top_p": request.top_p, "max_tokens": request.max_tokens, "stop": request.stop}
        return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:32]

    def usage_report(self, run_dir: Path) -> dict[str, Any]:
        """Requests, tokens and the estimated cost of the run, from its journals (superseded work left out)."""
        return usage_report(run_dir, self.settings, provider=self.provider, sent=self.sent, reused=self.reused)


def _fill(results: list[list[Generation | None]], unit: tuple[int, int, Request, str], reply: Reply) -> None:
    i, first = unit[0], unit[1]
    for j, choice in enumerate(reply.choices[: unit[2].n]):
        if first + j < len(results[i]):
            results[i][first + j] = Generation(choice.text, choice.output_tokens, choice.finish_reason)


def usage_report(run_dir: Path, settings: HostedSettings, *, provider: str, sent: int = 0,
                 reused: int = 0) -> dict[str, Any]:
    run_dir = Path(run_dir)
    by_file: dict[str, dict[str, int]] = {}
    total = {"requests": 0, "input_tokens": 0, "output_tokens": 0}
    costs: list[float | None] = []
    from eta.jsonl import read_rows

    for path in sorted(run_dir.rglob("*" + JOURNAL_SUFFIX)):
        rel = path.relative_to(run_dir)
        if rel.parts[0] == SUPERSEDED:
            continue
        rows = [r for r in read_rows(path) if isinstance(r, dict) and "key" in r]
        rows = list({r["key"]: r for r in rows}.values())
        entry = {"requests": len(rows), "input_tokens": sum(r["input_tokens"] for r in rows),
                 "output_tokens": sum(r["output_tokens"] for r in rows)}
        by_file[str(rel)] = entry
        for k in total:
            total[k] += entry[k]
        costs += [_cost(settings, r.get("model_id", settings.model_id), r["input_tokens"], r["output_tokens"])
                  for r in rows]
    priced = None not in costs
    price = settings.prices.get(settings.model_id)
    note = (f"an estimate from model.hosted.prices (USD per 1M input/output tokens: {price['input']}/"
            f"{price['output']}, list prices as of {settings.prices_as_of or 'an unknown date'}); not a bill"
            if priced and price else f"no price for {settings.model_id!r} in model.hosted.prices: cost unknown")
    return {"provider": provider, "model_id": settings.model_id, **total,
            "estimated_cost_usd": round(sum(c for c in costs if c is not None), 6) if priced else None,
            "cost_note": note, "requests_sent_this_process": sent, "replies_reused_from_journal": reused,
            "by_file": by_file}


def _cost(settings: HostedSettings, model_id: str, input_tokens: int, output_tokens: int) -> float | None:
    price = settings.prices.get(model_id)
    if not price:
        return None
    return input_tokens / 1e6 * float(price["input"]) + output_tokens / 1e6 * float(price["output"])


def load_hosted(cfg: Any) -> tuple[HostedPolicy, ChatCodec]:
    """``(policy, codec)`` in place of ``(model, tokenizer)`` for a hosted model config; loads nothing."""
    provider = provider_of(cfg)
    settings = parse_settings(cfg)
    return HostedPolicy(str(cfg.get("name", provider)), provider, settings, api_key(provider)), ChatCodec()
