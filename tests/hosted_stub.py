"""A local stand-in for the OpenAI and Anthropic HTTP APIs, on 127.0.0.1, for the calls eta makes:
``POST /v1/chat/completions`` and ``POST /v1/messages``. It checks the key, knows a few model names,
answers with a fenced code block (cut at the request's stop strings, as the services do), counts
tokens roughly, and can be told to fail (status, headers) or to hang before answering."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

GOOD_KEY = "sk-test-stub-0123456789abcdef"
MODELS = {"gpt-4.1-mini", "claude-haiku-4-5"}
ANSWER = "Here is the function:\n```python\ndef answer():\n    return 42\n```\nIt returns 42."


@dataclass
class Stub:
    """What the server does and what it saw (the tests read and set these)."""

    answer: Callable[[dict[str, Any]], str] = lambda body: ANSWER
    key: str = GOOD_KEY  # the one key it accepts
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # answered first, in order
    hang_after: int | None = None  # successful answers before every later request hangs
    requests: list[dict[str, Any]] = field(default_factory=list)  # every request body received
    usage: list[tuple[int, int]] = field(default_factory=list)  # (input, output) tokens of each answer sent
    served: int = 0
    times: list[float] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _take(self) -> tuple[str, Any]:
        with self.lock:
            if self.failures:
                return "fail", self.failures.pop(0)
            if self.hang_after is not None and self.served >= self.hang_after:
                return "hang", None
            self.served += 1
            return "ok", None


def _cut(text: str, stops: list[str]) -> tuple[str, str | None]:
    hits = [(text.find(s), s) for s in stops if s and s in text]
    if not hits:
        return text, None
    at, stop = min(hits)
    return text[:at], stop


def _handler(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
            openai = self.path.rstrip("/").endswith("/chat/completions")
            if not openai and not self.path.rstrip("/").endswith("/messages"):
                return self._send(404, {"error": {"message": f"no route {self.path}"}})
            with stub.lock:
                stub.requests.append(body)
                stub.times.append(time.monotonic())
            # OpenAI: a bearer token; Anthropic: x-api-key (anthropic 2.x sends its key as a bearer token too)
            key = self.headers.get("x-api-key") or self.headers.get("authorization", "").removeprefix("Bearer ")
            if key != stub.key:  # like the services: the message names the key, masked
                masked = f"{key[:3]}****{key[-4:]}"
                return self._send(401, {"error": {"message": f"Incorrect API key provided: {masked}",
                                                  "type": "invalid_request_error", "code": "invalid_api_key"}}
                                  if openai else {"type": "error", "error": {"type": "authentication_error",
                                                                             "message": "invalid x-api-key"}})
            if body.get("model") not in MODELS:
                message = f"The model `{body.get('model')}` does not exist or you do not have access to it."
                return self._send(404, {"error": {"message": message, "type": "invalid_request_error",
                                                  "code": "model_not_found"}}
                                  if openai else {"type": "error", "error": {"type": "not_found_error",
                                                                             "message": f"model: {body.get('model')}"}})
            what, failure = stub._take()
            if what == "fail":
                status, headers = failure
                return self._send(status, {"error": {"message": f"stub failure {status}", "type": "server_error"}},
                                  headers)
            if what == "hang":
                stub.release.wait(60)
                return self._send(503, {"error": {"message": "released"}})
            payload = self._openai(body) if openai else self._anthropic(body)
            usage = payload["usage"]
            with stub.lock:
                stub.usage.append((usage.get("prompt_tokens", usage.get("input_tokens")),
                                   usage.get("completion_tokens", usage.get("output_tokens"))))
            return self._send(200, payload)

        def _openai(self, body: dict[str, Any]) -> dict[str, Any]:
            choices, out = [], 0
            for i in range(int(body.get("n") or 1)):
                text, stop = _cut(stub.answer(body), list(body.get("stop") or []))
                out += max(1, len(text) // 4)
                choices.append({"index": i, "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop", "logprobs": None})
            prompt = max(1, len(json.dumps(body["messages"])) // 4)
            return {"id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()),
                    "model": body["model"], "choices": choices,
                    "usage": {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out}}

        def _anthropic(self, body: dict[str, Any]) -> dict[str, Any]:
            text, stop = _cut(stub.answer(body), list(body.get("stop_sequences") or []))
            return {"id": "msg_stub", "type": "message", "role": "assistant", "model": body["model"],
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "stop_sequence" if stop else "end_turn", "stop_sequence": stop,
                    "usage": {"input_tokens": max(1, len(json.dumps(body["messages"])) // 4),
                              "output_tokens": max(1, len(text) // 4)}}

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    return Handler


class StubServer:
    """``with StubServer() as (stub, url):`` a server on a free loopback port, in a thread."""

    def __init__(self, stub: Stub | None = None) -> None:
        self.stub = stub or Stub()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.stub))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "StubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stub.release.set()
        self.server.shutdown()
        self.server.server_close()
