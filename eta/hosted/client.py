"""One request to a hosted chat model through its official SDK, with eta's own retries.

The SDKs retry by themselves (twice, without a bound shared across threads); eta turns that off
(``max_retries=0``) and retries here instead: 408, 409, 429 and 5xx answers, timeouts and dropped
connections, up to ``max_retries`` times, waiting what the service's ``Retry-After`` (or
``retry-after-ms``) asks, else an exponential backoff with jitter, capped at ``max_backoff_s``. A 429
also holds back every other request of the run for that long. Everything else (a bad key, an unknown
model, a refused request, an exhausted quota) fails at once, as one line that names what to fix.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from eta.hosted.errors import HostedError
from eta.hosted.settings import DEFAULT_BASE_URL, KEY_ENV, HostedSettings
from eta.sample.engine import FinishReason

RETRY_STATUS = frozenset({408, 409, 429})  # and every 5xx (Anthropic's 529 "overloaded" among them)
OPENAI_MAX_STOPS = 4  # the API takes at most four; the rest are cut here
MIN_SECRET_CHARS = 8


@dataclass(frozen=True)
class Request:
    messages: tuple[tuple[str, str], ...]  # (role, content)
    n: int  # completions in one request (OpenAI's n; 1 otherwise)
    temperature: float
    top_p: float
    max_tokens: int
    stop: tuple[str, ...]
    seed: int


@dataclass(frozen=True)
class Choice:
    text: str
    finish_reason: FinishReason
    output_tokens: int


@dataclass(frozen=True)
class Reply:
    choices: tuple[Choice, ...]
    input_tokens: int
    output_tokens: int
    model: str  # the model the service says answered


class Pace:
    """Request starts spaced to ``requests_per_minute``, and held back while a 429's wait runs."""

    def __init__(self, requests_per_minute: float | None) -> None:
        self.interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._next = 0.0
        self._hold_until = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next, self._hold_until)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._hold_until = max(self._hold_until, time.monotonic() + seconds)


@dataclass
class _Failure:
    retry: bool
    line: str
    retry_after: float | None = None
    rate_limited: bool = False


class Client:
    """Sends requests for one hosted model; safe to share between threads (the SDK clients are)."""

    def __init__(self, provider: str, settings: HostedSettings, key: str) -> None:
        self.provider = provider
        self.settings = settings
        self._key = key
        self.base_url = settings.base_url or DEFAULT_BASE_URL[provider]
        self.pace = Pace(settings.requests_per_minute)
        self._sdk: Any = None
        self._sdk_lock = threading.Lock()

    def __repr__(self) -> str:  # never the key
        return f"Client({self.provider}, {self.settings.model_id}, {self.base_url})"

    def send(self, request: Request) -> Reply:
        """The service's reply, after as many retries as the settings allow; HostedError otherwise."""
        s = self.settings
        for attempt in range(s.max_retries + 1):
            self.pace.wait()
            try:
                return self._call(request)
            except Exception as e:  # noqa: BLE001 - the SDKs' errors are sorted below; others re-raised
                failure = self._classify(e)
                if failure is None:
                    raise
            if not failure.retry:
                raise HostedError(self._redact(failure.line)) from None
            if attempt == s.max_retries:
                raise HostedError(self._redact(f"{failure.line}: gave up after {attempt + 1} tries "
                                               f"(model.hosted.max_retries={s.max_retries})")) from None
            delay = failure.retry_after
            if delay is None:
                delay = s.backoff_s * 2 ** attempt * random.uniform(0.5, 1.0)
            delay = min(delay, s.max_backoff_s)
            if failure.rate_limited:
                self.pace.hold(delay)  # the next wait() sleeps it, for every thread
            else:
                time.sleep(delay)
        raise AssertionError("unreachable")

    # --- the SDK calls ---------------------------------------------------------------------------
    def _client(self) -> Any:
        with self._sdk_lock:
            if self._sdk is None:
                kwargs = dict(api_key=self._key, base_url=self.settings.base_url or None, max_retries=0,
                              timeout=self.settings.timeout_s)
                if self.provider == "openai":
                    import openai

                    self._sdk = openai.OpenAI(**kwargs)
                else:
                    import anthropic

                    self._sdk = anthropic.Anthropic(**kwargs)
            return self._sdk

    def _call(self, request: Request) -> Reply:
        return self._call_openai(request) if self.provider == "openai" else self._call_anthropic(request)

    def _call_openai(self, r: Request) -> Reply:
        s = self.settings
        kwargs: dict[str, Any] = {"model": s.model_id, "messages": [{"role": role, "content": content}
                                                                    for role, content in r.messages],
                                  "max_completion_tokens": r.max_tokens}
        if r.n > 1:
            kwargs["n"] = r.n
        if "temperature" in s.send:
            kwargs["temperature"] = r.temperature
        if "top_p" in s.send:
            kwargs["top_p"] = r.top_p
        if "stop" in s.send and r.stop:
            kwargs["stop"] = list(r.stop[:OPENAI_MAX_STOPS])
        if "seed" in s.send:
            kwargs["seed"] = r.seed
        if s.request:
            kwargs["extra_body"] = dict(s.request)
        response = self._client().chat.completions.create(**kwargs)
        usage = response.usage
        out_tokens = usage.completion_tokens if usage else 0
        texts = [(c.message.content or "", c.finish_reason) for c in response.choices]
        counts = _apportion(out_tokens, [t for t, _ in texts])
        choices = tuple(self._choice(text, reason, r.stop, count, sent_stops="stop" in s.send)
                        for (text, reason), count in zip(texts, counts))
        return Reply(choices, usage.prompt_tokens if usage else 0, out_tokens, response.model or s.model_id)

    def _call_anthropic(self, r: Request) -> Reply:
        s = self.settings
        system = "\n\n".join(content for role, content in r.messages if role == "system")
        kwargs: dict[str, Any] = {"model": s.model_id, "max_tokens": r.max_tokens,
                                  "messages": [{"role": role, "content": content}
                                               for role, content in r.messages if role != "system"]}
        if system:
            kwargs["system"] = system
        stops = [x for x in r.stop if x.strip()]  # the API refuses whitespace-only stop sequences
        if "stop" in s.send and stops:
            kwargs["stop_sequences"] = stops
        # anthropic 2.x's messages.create has no temperature or top_p (current models sample by their own
        # settings): where `send` asks for them they go as raw body fields, for a model or server that takes them.
        body = {k: v for k, v in (("temperature", r.temperature), ("top_p", r.top_p)) if k in s.send}
        if s.request or body:
            kwargs["extra_body"] = {**body, **s.request}
        response = self._client().messages.create(**kwargs)
        text = "".join(getattr(block, "text", "") for block in response.content if block.type == "text")
        reason = {"stop_sequence": FinishReason.STOP, "max_tokens": FinishReason.LENGTH}.get(
            response.stop_reason or "", FinishReason.EOS)
        out_tokens = response.usage.output_tokens
        choice = self._choice(text, reason, r.stop, out_tokens, sent_stops=False)
        return Reply((choice,), response.usage.input_tokens, out_tokens, response.model or s.model_id)

    @staticmethod
    def _choice(text: str, reason: Any, stops: tuple[str, ...], tokens: int, *, sent_stops: bool) -> Choice:
        """The text cut before its first stop string, as the local engine cuts it, and why it ended."""
        cut = min((at for at in (text.find(x) for x in stops if x) if at != -1), default=-1)
        if cut != -1:
            return Choice(text[:cut], FinishReason.STOP, tokens)
        if isinstance(reason, FinishReason):
            return Choice(text, reason, tokens)
        if reason == "length":
            return Choice(text, FinishReason.LENGTH, tokens)
        # OpenAI says "stop" both for the end of the turn and for a stop string it cut: a code block
        # left open means the service cut at its closing fence.
        fenced = any("```" in x for x in stops[:OPENAI_MAX_STOPS])
        if sent_stops and fenced and text.count("```") % 2 == 1:
            return Choice(text, FinishReason.STOP, tokens)
        return Choice(text, FinishReason.EOS, tokens)

    # --- errors ----------------------------------------------------------------------------------
    def _classify(self, e: Exception) -> _Failure | None:
        sdk = self._sdk_module()
        env, who = KEY_ENV[self.provider], f"model={self.provider} ({self.base_url})"
        if isinstance(e, sdk.APIConnectionError):  # timeouts too
            kind = "timed out" if isinstance(e, sdk.APITimeoutError) else "could not connect"
            return _Failure(True, f"{who}: the request {kind}")
        if not isinstance(e, sdk.APIStatusError):
            return None
        status, message, code = e.status_code, _message(e), _code(e)
        said = f"{status}{' ' + code if code else ''}: {message}" if message else str(status)
        if status == 401:
            return _Failure(False, f"{env}: the key was refused by {self.base_url} (401); set a valid key in ${env}")
        if status == 403:
            return _Failure(False, f"{env}: the key may not use {self.settings.model_id!r} at {self.base_url} ({said})")
        if status == 404:
            return _Failure(False, f"model.hosted.model_id: {self.settings.model_id!r} is not a model that "
                                   f"{self.base_url} knows ({said})")
        if status == 429 and code == "insufficient_quota":
            return _Failure(False, f"{env}: the account has no quota left at {self.base_url} ({said})")
        if status in RETRY_STATUS or status >= 500:
            line = (f"{who}: rate limited ({said}); lower model.hosted.concurrency or requests_per_minute"
                    if status == 429 else f"{who}: the service failed ({said})")
            return _Failure(True, line, _retry_after(e.response.headers), rate_limited=status == 429)
        return _Failure(False, f"{who}: the request was refused ({said})")

    def _sdk_module(self) -> Any:
        import importlib

        return importlib.import_module(self.provider)

    def _redact(self, text: str) -> str:
        # A placeholder key for a local server (OPENAI_API_KEY=x, =EMPTY) is no secret, and replacing every
        # "x" would garble the line; a real key is far longer.
        return text.replace(self._key, "<key>") if len(self._key) >= MIN_SECRET_CHARS else text


def _message(e: Any) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    message = body.get("message") if isinstance(body, dict) else None
    text = str(message if message else getattr(e, "message", "") or "")
    return " ".join(text.split())[:300]


def _code(e: Any) -> str | None:
    body = getattr(e, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body, dict):
        code = body.get("code") or body.get("type")
        return str(code) if code else None
    return None


def _retry_after(headers: Any) -> float | None:
    """Seconds the service asks to wait: ``retry-after-ms``, else ``Retry-After`` (seconds or an HTTP date)."""
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


def _apportion(total: int, texts: list[str]) -> list[int]:
    """OpenAI counts the output tokens of all n choices together: each choice gets a share by its length."""
    if len(texts) <= 1:
        return [total] * len(texts)
    lengths = [max(len(t), 1) for t in texts]
    shares = [total * n // sum(lengths) for n in lengths]
    shares[0] += total - sum(shares)
    return shares
