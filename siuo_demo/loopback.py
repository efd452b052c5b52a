"""A loopback OpenAI-compatible chat-completions server driven by a Python function.

Used wherever a real HTTP peer is needed offline: scripted models for the demo and the
end-to-end tests, scripted judges, fault injection and benchmarks. It binds to 127.0.0.1 only.

    def responder(body: dict) -> str | Fault: ...
    with ScriptedServer(responder, latency=0.2) as server:
        client = OpenAI(base_url=server.base_url, api_key="x")
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Fault:
    """A scripted failure: an HTTP error status, a hang, or a dropped connection."""

    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None  # raw body to send instead of an error JSON (e.g. malformed JSON with 200)
    delay: float = 0.0  # seconds to sleep before answering (a hang past the client timeout)
    drop: bool = False  # close the connection without any answer


Responder = Callable[[dict], "str | Fault"]


class _Server(ThreadingHTTPServer):
    """A threading server whose listen backlog holds a burst of concurrent clients (the default 5 drops
    connections under load: the client's SYN retry then outlasts short timeouts)."""

    request_queue_size = 256
    daemon_threads = True


def message_text(body: dict) -> str:
    """All text parts of all messages of a chat-completions request, joined by newlines."""
    parts: list[str] = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text", "") for p in content if p.get("type") == "text")
    return "\n".join(parts)


def message_images(body: dict) -> list[bytes]:
    """Decoded bytes of every ``image_url`` data URL in a chat-completions request."""
    images: list[bytes] = []
    for message in body.get("messages", []):
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if part.get("type") == "image_url":
                url = part["image_url"]["url"] if isinstance(part["image_url"], dict) else part["image_url"]
                if url.startswith("data:"):
                    images.append(base64.b64decode(url.split(",", 1)[1]))
    return images


def completion_body(content: str, model: str, prompt_chars: int) -> dict:
    """A minimal, valid chat.completion object with rough token usage (4 chars per token)."""
    prompt_tokens, completion_tokens = max(1, prompt_chars // 4), max(1, len(content) // 4)
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class ScriptedServer:
    """Serve ``responder`` on 127.0.0.1 in a background thread; record every request body."""

    def __init__(self, responder: Responder, *, latency: float = 0.0, port: int = 0) -> None:
        self.responder = responder
        self.latency = latency
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", port), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def call_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()  # no Nagle delay: each answer leaves in one go
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"unknown path {self.path}"}})
                    return
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    self._send(400, {"error": {"message": "request body is not JSON"}})
                    return
                with server._lock:
                    server.requests.append(body)
                if server.latency:
                    time.sleep(server.latency)
                answer = server.responder(body)
                if isinstance(answer, Fault):
                    self._fault(answer)
                else:
                    self._send(
                        200, completion_body(answer, body.get("model", "scripted"), len(message_text(body)))
                    )

            def _fault(self, fault: Fault) -> None:
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                payload = (
                    fault.body
                    if fault.body is not None
                    else json.dumps(
                        {"error": {"message": f"scripted fault {fault.status}", "type": "scripted"}}
                    )
                )
                self._send_raw(fault.status, payload.encode(), fault.headers)

            def _send(self, status: int, obj: dict) -> None:
                self._send_raw(status, json.dumps(obj).encode(), {})

            def _send_raw(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout); nothing to answer

        return Handler
