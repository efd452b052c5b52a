"""A loopback fake of the Hugging Face Hub HTTP API: just the endpoints ``siuo-data push`` reaches through
``huggingface_hub.HfApi`` (create repo, repo settings, list files, validate the card's YAML, preupload,
commit). It keeps each repo's files in memory and records every request it received
(method, path, query, body; no headers), so a test asserts what reached the "Hub", not which Python method
was called."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class HubRequest:
    method: str
    path: str
    query: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class FakeHub:
    """Serve with ``with FakeHub() as hub:``; ``hub.endpoint`` for ``HfApi(endpoint=...)``."""

    repos: dict[str, dict[str, bytes]] = field(default_factory=dict)  # repo id -> path -> content
    settings: dict[str, dict] = field(default_factory=dict)  # repo id -> settings PUT so far (merged)
    private: dict[str, bool] = field(default_factory=dict)
    requests: list[HubRequest] = field(default_factory=list)
    fail_commit: int | None = None  # an HTTP status the commit endpoint answers with

    def __enter__(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _answer(self, status: int, value) -> None:
                data = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                url = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                request = HubRequest(self.command, unquote(url.path), parse_qs(url.query), body)
                hub.requests.append(request)
                status, value = hub.answer(request)
                self._answer(status, value)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def called(self, method: str, suffix: str) -> list[HubRequest]:
        return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    def answer(self, request: HubRequest) -> tuple[int, object]:
        path, method = request.path, request.method
        if (method, path) == ("POST", "/api/repos/create"):
            body = request.json()
            repo = f"{body['organization']}/{body['name']}" if body.get("organization") else body["name"]
            self.repos.setdefault(repo, {".gitattributes": b"*.parquet filter=lfs\n"})
            self.private[repo] = (
                body.get("visibility", "private" if body.get("private") else "public") != "public"
            )
            return 200, {"url": f"{self.endpoint}/datasets/{repo}", "name": repo}
        if (method, path) == ("POST", "/api/validate-yaml"):
            return 200, {"errors": [], "warnings": []}
        if not path.startswith("/api/datasets/"):
            return 404, {"error": f"fake hub: no route {method} {path}"}
        parts = path[len("/api/datasets/") :].split("/")
        repo, action = "/".join(parts[:2]), parts[2] if len(parts) > 2 else ""
        if repo not in self.repos:
            return 404, {"error": "Repository not found"}
        files = self.repos[repo]
        if (method, action) == ("PUT", "settings"):
            self.settings.setdefault(repo, {}).update(request.json())
            return 200, {}
        if (method, action) == ("GET", "tree"):
            return 200, [
                {"type": "file", "oid": "0" * 40, "size": len(v), "path": k} for k, v in files.items()
            ]
        if (method, action) == ("POST", "preupload"):
            wanted = request.json()["files"]
            return 200, {
                "files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in wanted]
            }
        if (method, action) == ("POST", "commit"):
            if self.fail_commit:
                return self.fail_commit, {"error": "fake hub: commit refused"}
            for line in request.body.splitlines():
                entry = json.loads(line)
                if entry["key"] == "file":
                    files[entry["value"]["path"]] = base64.b64decode(entry["value"]["content"])
                elif entry["key"] == "deletedFile":
                    files.pop(entry["value"]["path"])
            return 200, {
                "commitUrl": f"{self.endpoint}/datasets/{repo}/commit/{'1' * 40}",
                "commitOid": "1" * 40,
            }
        return 404, {"error": f"fake hub: no route {method} {path}"}
