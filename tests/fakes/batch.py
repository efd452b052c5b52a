"""Batch engines for tests: an offline runner that answers an OpenAI Batch input .jsonl the way vLLM's
``run_batch`` does, and a loopback OpenAI-compatible Batch API (``/v1/files``, ``/v1/batches``, file
content, plus ``/v1/chat/completions`` for live fallback calls) that processes batches with it."""

from __future__ import annotations

import io
import json
import random
import socket
import threading
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler

import jsonlines

from siuo_demo.loopback import Fault, Responder, _Server, completion_body, message_text

LineFault = Callable[[dict], "str | None"]  # request body -> batch-level error code for that line, or None


def answer_line(request: dict, responder: Responder, number: int) -> dict:
    """The output line for one batch input line: the responder's answer, or its HTTP fault."""
    body = request["body"]
    answer = responder(body)
    if isinstance(answer, Fault):
        response = {
            "status_code": answer.status,
            "request_id": f"req-{number}",
            "body": {"error": {"message": f"scripted fault {answer.status}", "type": "scripted"}},
        }
    else:
        response = {
            "status_code": 200,
            "request_id": f"req-{number}",
            "body": completion_body(answer, body.get("model", "scripted"), len(message_text(body))),
        }
    return {
        "id": f"batch_req_{number}",
        "custom_id": request["custom_id"],
        "response": response,
        "error": None,
    }


def error_line(request: dict, code: str, number: int) -> dict:
    return {
        "id": f"batch_req_{number}",
        "custom_id": request["custom_id"],
        "response": None,
        "error": {"code": code, "message": f"scripted {code}"},
    }


def run_batch_lines(requests: list[dict], responder: Responder, *, seed: int = 0) -> list[dict]:
    """All output lines for ``requests``, shuffled (engines do not keep the input order)."""
    lines = [answer_line(request, responder, number) for number, request in enumerate(requests)]
    random.Random(seed).shuffle(lines)
    return lines


def run_batch_file(input_path, output_path, responder: Responder) -> None:
    """Like ``python -m vllm.entrypoints.openai.run_batch -i INPUT -o OUTPUT --model M``."""
    with jsonlines.open(input_path) as reader:
        requests = list(reader)
    with jsonlines.open(output_path, mode="w") as writer:
        writer.write_all(run_batch_lines(requests, responder))


def _jsonl(rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    with jsonlines.Writer(buffer) as writer:
        writer.write_all(rows)
    return buffer.getvalue().encode()


class BatchServer:
    """A loopback Batch API. A batch stays ``in_progress`` for ``polls`` retrievals (and while ``hold`` is
    set), then ends as ``final``: "completed" (lines that ``line_fault`` names, and HTTP faults of the
    responder, go to the error file), "expired" (only the first ``answer_before_expiry`` lines answered)
    or "failed" (no files, a batch-level error)."""

    def __init__(
        self,
        responder: Responder,
        *,
        final: str = "completed",
        polls: int = 2,
        line_fault: LineFault = lambda body: None,
        answer_before_expiry: int = 0,
    ) -> None:
        self.responder, self.final, self.polls = responder, final, polls
        self.line_fault, self.answer_before_expiry = line_fault, answer_before_expiry
        self.hold = threading.Event()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.uploads = 0
        self.chat_calls = 0
        self.retrievals = 0
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> BatchServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _new_file(self, data: bytes) -> str:
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = data
        return file_id

    def _advance(self, batch: dict) -> None:
        """One retrieval: progress, or the final status with its files."""
        total = batch["request_counts"]["total"]
        batch["_polls"] += 1
        if batch["status"] in ("completed", "expired", "failed"):
            return
        if batch["_polls"] <= self.polls or self.hold.is_set():
            batch["status"] = "in_progress"
            batch["request_counts"]["completed"] = min(total, batch["_polls"] * total // (self.polls + 1))
            return
        requests = [
            json.loads(line) for line in self.files[batch["input_file_id"]].splitlines() if line.strip()
        ]
        if self.final == "failed":
            batch.update(
                status="failed",
                request_counts={"total": total, "completed": 0, "failed": 0},
                errors={
                    "object": "list",
                    "data": [{"code": "invalid_request", "message": "scripted failure"}],
                },
            )
            return
        outputs, errors = [], []
        for number, request in enumerate(requests):
            code = (
                "batch_expired"
                if self.final == "expired" and number >= self.answer_before_expiry
                else self.line_fault(request["body"])
            )
            line = error_line(request, code, number) if code else answer_line(request, self.responder, number)
            (outputs if line["error"] is None and line["response"]["status_code"] == 200 else errors).append(
                line
            )
        random.Random(7).shuffle(outputs)
        batch.update(
            status=self.final,
            request_counts={"total": total, "completed": len(outputs), "failed": len(errors)},
            output_file_id=self._new_file(_jsonl(outputs)) if outputs else None,
            error_file_id=self._new_file(_jsonl(errors)) if errors else None,
        )

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                parts = self.path.split("?")[0].strip("/").split("/")  # v1, files|batches, id[, content]
                with server._lock:
                    if parts[1:] == ["batches"]:  # newest first, like the API
                        listed = [
                            {k: v for k, v in b.items() if not k.startswith("_")}
                            for b in reversed(server.batches.values())
                        ]
                        return self._send(200, {"object": "list", "data": listed, "has_more": False})
                    if parts[1:2] == ["batches"] and len(parts) == 3 and parts[2] in server.batches:
                        server.retrievals += 1
                        batch = server.batches[parts[2]]
                        server._advance(batch)
                        return self._send(200, {k: v for k, v in batch.items() if not k.startswith("_")})
                    if (
                        parts[1:2] == ["files"]
                        and len(parts) == 4
                        and parts[3] == "content"
                        and parts[2] in server.files
                    ):
                        return self._send_raw(200, server.files[parts[2]], "application/octet-stream")
                self._send(404, {"error": {"message": f"unknown path {self.path}"}})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = self.path.split("?")[0].rstrip("/")
                if path.endswith("/files"):
                    form = BytesParser(policy=HTTP).parsebytes(
                        b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + raw
                    )
                    fields = {
                        part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
                        for part in form.iter_parts()
                    }
                    if fields.get("purpose") != b"batch" or not fields.get("file"):
                        return self._send(400, {"error": {"message": "expected a file with purpose=batch"}})
                    with server._lock:
                        server.uploads += 1
                        file_id = server._new_file(fields["file"])
                    return self._send(
                        200,
                        {
                            "id": file_id,
                            "object": "file",
                            "bytes": len(fields["file"]),
                            "created_at": 0,
                            "filename": "input.jsonl",
                            "purpose": "batch",
                            "status": "processed",
                        },
                    )
                body = json.loads(raw or b"{}")
                if path.endswith("/batches"):
                    with server._lock:
                        if (
                            body.get("input_file_id") not in server.files
                            or body.get("endpoint") != "/v1/chat/completions"
                        ):
                            return self._send(400, {"error": {"message": "bad batch request"}})
                        total = sum(
                            1 for line in server.files[body["input_file_id"]].splitlines() if line.strip()
                        )
                        batch_id = f"batch_{len(server.batches) + 1}"
                        server.batches[batch_id] = {
                            "id": batch_id,
                            "object": "batch",
                            "endpoint": body["endpoint"],
                            "input_file_id": body["input_file_id"],
                            "completion_window": body["completion_window"],
                            "status": "validating",
                            "created_at": 0,
                            "output_file_id": None,
                            "error_file_id": None,
                            "request_counts": {"total": total, "completed": 0, "failed": 0},
                            "_polls": 0,
                        }
                        return self._send(
                            200, {k: v for k, v in server.batches[batch_id].items() if not k.startswith("_")}
                        )
                if path.endswith("/chat/completions"):
                    with server._lock:
                        server.chat_calls += 1
                    answer = server.responder(body)
                    if isinstance(answer, Fault):
                        return self._send(answer.status, {"error": {"message": "scripted fault"}})
                    return self._send(
                        200, completion_body(answer, body.get("model", "m"), len(message_text(body)))
                    )
                self._send(404, {"error": {"message": f"unknown path {self.path}"}})

            def _send(self, status: int, obj: dict) -> None:
                self._send_raw(status, json.dumps(obj).encode(), "application/json")

            def _send_raw(self, status: int, data: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
