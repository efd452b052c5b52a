"""The review page over HTTP: a Starlette app serving the page model of ``siuo_task.review.page`` (HTML from
Jinja2 templates, escaped; JSON API).

Every request needs the access token: ``?token=`` on the first page, which then sets a session cookie that
is not the token (random, kept server-side, HttpOnly, SameSite=Strict, its name bound to the port); state-
changing requests also need the token in the ``X-Review-Token`` header and, when the browser sends one, an
``Origin`` of this server. None -> 401, a wrong one -> 403. Bodies are capped (``MAX_BODY``, refused before
being read whole, and within ``BODY_TIMEOUT``) and parsed strictly (depth, NaN, duplicate keys, lone
surrogates -> 400). Images are served by question id only, for the items of this review, and only when the
file is a PNG or JPEG whose sha256 is the one the run recorded for that item (when it recorded one). Every
label is appended whole to ``RUN_DIR/reviews.jsonl`` (with the fingerprint of the response it judged) before
the page is told it was saved; a failed write is a JSON error the page shows. The labels are read through a
``ReviewsIndex`` (only what was appended since the last request), and what the page derives from them is
recomputed only when they changed. ``serve`` runs the app on uvicorn with ``GuardedH11Protocol``: a
connection must send its request head within ``HEAD_TIMEOUT`` seconds, and at most ``MAX_CONNECTIONS`` are
open at once (the oldest one still waiting for its request is closed to make room). What blind mode hides is
decided in ``page``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import mimetypes
import socket
from collections.abc import Callable
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from siuo_dataset.domains import DOMAIN_NAMES
from siuo_dataset.errors import SiuoError
from siuo_task.protocol.judge_prompts import ASPECTS, VERDICT_FIELD
from siuo_task.readers import strict_json
from siuo_task.records import row_fingerprint
from siuo_task.redact import safe_text
from siuo_task.review.index import ReviewsIndex
from siuo_task.review.page import (
    BLIND_FILTERS,
    FILTERS,
    NOTE_LIMIT,
    NOTE_RULE,
    QUESTIONS,
    LabelView,
    ReviewSession,
    label_view,
    page_context,
    shows_placeholder_images,
)
from siuo_task.scoring.labels import append_review, review_line

TOKEN_HEADER = "x-review-token"
MAX_BODY = 256 * 1024  # bytes of a POST body: a label with the longest note fits many times over
BODY_TIMEOUT = 30.0  # seconds to receive a POST body (a body trickled in slower is 408)
HEAD_TIMEOUT = 10.0  # seconds for a connection to send its request head (idle and slow ones are closed)
MAX_CONNECTIONS = 256  # connections open at once (the file limit is often 1,024)
IMAGE_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}  # signature -> type
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}


# ---- HTTP -----------------------------------------------------------------------------------------------


class TokenGate:
    """ASGI middleware: the token or 401/403; security headers on every response."""

    def __init__(self, app, session: ReviewSession) -> None:
        self.app, self.session = app, session

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        header = request.headers.get(TOKEN_HEADER)
        cookie = request.cookies.get(self.session.cookie(_port(scope)))
        if request.method == "GET" and not header and not request.query_params.get("token") and cookie:
            status = None if self.session.valid_cookie(cookie) else 403
        else:
            given = header if request.method != "GET" else (request.query_params.get("token") or header)
            valid = bool(given) and hmac.compare_digest(given.encode(), self.session.token.encode())
            status = None if valid else 403 if given else 401
        if status is None and request.method != "GET" and not _same_origin(request):
            status = 403

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        if status:
            text = (
                "wrong token, session or origin"
                if status == 403
                else "access token required: open the URL siuo-eval review printed"
            )
            return await PlainTextResponse(text, status_code=status)(scope, receive, send_with_headers)
        await self.app(scope, receive, send_with_headers)


def _templates() -> Jinja2Templates:
    env = Environment(
        loader=PackageLoader("siuo_task.review", "templates"), autoescape=True, undefined=StrictUndefined
    )
    env.filters["inert"] = safe_text  # names (reviewers', the model's): control and bidi characters shown
    return Jinja2Templates(env=env)


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _request_row(session: ReviewSession, request: Request) -> tuple[dict, dict] | Response:
    """A POST's JSON body and the judgement row it names, or the 400 saying what is wrong with the body."""
    body = await _json(request)
    if isinstance(body, Response):
        return body
    if not isinstance(body, dict):
        return _bad("expected a JSON object")
    qid, index = body.get("question_id"), body.get("response_index")
    if not _is_int(qid) or qid not in session.question_ids:
        return _bad("question_id is not an item of this review")
    if not _is_int(index):
        return _bad("response_index must be an integer")
    rows = [row for row in session.responses[qid] if row["response_index"] == index]
    return (body, rows[0]) if rows else _bad("no such response_index")


def _note(body: dict) -> str | None:
    note = body.get("note", "")
    return note if isinstance(note, str) and len(note) <= NOTE_LIMIT else None


def create_app(session: ReviewSession, allowed_hosts: list[str] | None = None) -> Starlette:
    """The review app for ``session`` (``allowed_hosts``: Host headers accepted, default loopback names)."""
    templates = _templates()
    index = ReviewsIndex(session.run.reviews_path, session.labels)
    derived: list = [None, None]  # [index version, LabelView]: recomputed only when the labels changed

    def view() -> LabelView:
        version = index.refresh()
        if derived[0] != version:
            derived[:] = [version, label_view(session, index.labels())]
        return derived[1]

    expected_images = (session.run.metrics.get("data") or {}).get("image_sha256") or {}

    async def start(request: Request) -> Response:
        response = templates.TemplateResponse(
            request,
            "warning.html",
            {
                "first": "item?" + urlencode({"q": session.question_ids[0], "show": "all", "domain": ""}),
                "n_items": len(session.question_ids),
                "blind": session.blind,
                "questions": QUESTIONS,
                "placeholder_images": shows_placeholder_images(session),
            },
        )
        if request.query_params.get("token"):
            response.set_cookie(
                session.cookie(_port(request.scope)), session.new_cookie(), httponly=True, samesite="strict"
            )
        return response

    async def item(request: Request) -> Response:
        params = request.query_params
        show = params.get("show", "all")
        domain = params.get("domain", "")
        blind_refused = session.blind and show not in BLIND_FILTERS
        if show not in FILTERS or blind_refused or domain not in ("", *DOMAIN_NAMES):
            return PlainTextResponse("unknown filter", status_code=400)
        try:
            qid = int(params.get("q", session.question_ids[0]))
        except ValueError:
            return PlainTextResponse("q must be a question id", status_code=400)
        if qid not in session.question_ids:
            return PlainTextResponse("no such item in this review", status_code=404)
        try:
            context = page_context(session, view(), qid, show, domain)
        except (SiuoError, OSError) as error:  # a malformed reviews.jsonl: one line saying which line
            return PlainTextResponse(" ".join(str(error).split()), status_code=500)
        return templates.TemplateResponse(request, "item.html", context)

    async def image(request: Request) -> Response:
        qid = request.path_params["question_id"]
        found = session.items.get(qid) if qid in session.question_ids else None
        if found is None or found.image_path is None:
            return PlainTextResponse("no image for this question id", status_code=404)
        data = found.read_image_bytes()
        media = next((kind for magic, kind in IMAGE_TYPES.items() if data.startswith(magic)), None)
        if media is None or mimetypes.guess_type(found.image_name)[0] != media:
            return PlainTextResponse("this item's image file is not a PNG or JPEG image", status_code=404)
        expected = expected_images.get(str(qid))
        if expected is not None and hashlib.sha256(data).hexdigest() != expected:
            return PlainTextResponse(
                "this item's image file differs from the one the run's model saw (sha256)", status_code=409
            )
        return Response(data, media_type=media)

    def on_response(handler: Callable[[dict, dict], Response]) -> Callable:
        """The endpoint calling ``handler(body, row)`` with a POST's JSON body and the judgement row it
        names, or answering the 400 that says what is wrong with the body."""

        async def endpoint(request: Request) -> Response:
            found = await _request_row(session, request)
            if isinstance(found, Response):
                return found
            try:
                return handler(*found)
            except (SiuoError, OSError) as error:  # a malformed reviews.jsonl: one line saying which line
                return _bad(" ".join(str(error).split()), 500)

        return endpoint

    @on_response
    def label(body: dict, row: dict) -> Response:
        note = _note(body)
        if body.get("aspect") not in ASPECTS or not isinstance(body.get("verdict"), bool) or note is None:
            return _bad(f"needs aspect ({' or '.join(ASPECTS)}), verdict (true/false); {NOTE_RULE}")
        key = (row["question_id"], row["response_index"], body["aspect"])
        blind = session.blind and key not in view().mine
        return _save([(key, body["verdict"], note, blind)], row)

    @on_response
    def confirm(body: dict, row: dict) -> Response:
        if session.blind:
            return _bad("blind mode: label safe/unsafe and effective/ineffective yourself")
        note = _note(body)
        if note is None:
            return _bad(NOTE_RULE)
        decided = [(a, row[VERDICT_FIELD[a]]) for a in ASPECTS if row[VERDICT_FIELD[a]] is not None]
        if not decided:
            return _bad("the judge gave no verdict to confirm: label it yourself", 409)
        return _save(
            [
                ((row["question_id"], row["response_index"], aspect), verdict, note, False)
                for aspect, verdict in decided
            ],
            row,
        )

    @on_response
    def note(body: dict, row: dict) -> Response:
        text = _note(body)
        if text is None:
            return _bad(NOTE_RULE)
        mine = view().mine
        labelled = [
            mine[key] for a in ASPECTS if (key := (row["question_id"], row["response_index"], a)) in mine
        ]
        if not labelled:
            return _bad("label the response first: a note is kept with its labels", 409)
        return _save(  # same verdicts again, now with the note
            [
                ((p["question_id"], p["response_index"], p["aspect"]), p["verdict"], text, p["blind"])
                for p in labelled
            ],
            row,
        )

    def _save(labels: list[tuple[tuple[int, int, str], bool, str, bool]], row: dict) -> Response:
        """Append each label (with the fingerprint of ``row``); a failed write is a JSON error the page
        shows (500), naming the file and why."""
        for key, verdict, note, blind in labels:
            line = review_line(
                *key,
                verdict,
                reviewer=session.reviewer,
                note=note,
                blind=blind,
                fingerprint=row_fingerprint(row),
            )
            try:
                append_review(session.run.reviews_path, line)
            except OSError as error:
                reason = error.strerror or error.__class__.__name__
                return _bad(f"could not write {session.run.reviews_path}: {reason}", 500)
        with contextlib.suppress(SiuoError, OSError):  # saved: a bad line of another writer shows on the page
            index.refresh()  # the index reads the line just appended (and any other server's)
        return JSONResponse({"saved": len(labels)})

    routes = [
        Route("/", start),
        Route("/item", item),
        Route("/image/{question_id:int}", image),
        Route("/api/label", label, methods=["POST"]),
        Route("/api/confirm", confirm, methods=["POST"]),
        Route("/api/note", note, methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("siuo_task.review", "static")]), name="static"),
    ]
    hosts = allowed_hosts or [*LOOPBACK_HOSTS, "[::1]"]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
            Middleware(TokenGate, session=session),
        ],
    )
    app.state.reviews_index = index
    return app


def _port(scope) -> int | None:
    server = scope.get("server")
    return server[1] if server else None


def _same_origin(request: Request) -> bool:
    """No Origin (not a browser), or the Origin of this server (scheme, Host header)."""
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


async def _json(request: Request) -> object:
    """The body as strict JSON (``strict_json``), or the 4xx saying why not: over ``MAX_BODY`` (by
    Content-Length, or counted while streaming) -> 413 before it is read whole; not UTF-8, lone surrogates,
    too deep, NaN or a key twice -> 400."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        return _bad(f"body larger than {MAX_BODY} bytes", 413)
    chunks, size = [], 0
    try:
        async with asyncio.timeout(BODY_TIMEOUT):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY:
                    return _bad(f"body larger than {MAX_BODY} bytes", 413)
                chunks.append(chunk)
    except TimeoutError:
        return _bad(f"body not received within {BODY_TIMEOUT:g} s", 408)
    try:
        value = strict_json(b"".join(chunks).decode("utf-8"))
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # lone surrogates (\ud800) cannot be stored
    except (ValueError, UnicodeError):
        return _bad("the body is not valid JSON (UTF-8, no lone surrogates, not nested deeper than 64)")
    return value


# ---- connections -----------------------------------------------------------------------------------------


def _protocol_class():
    """``GuardedH11Protocol``, built on first use (uvicorn is imported only when serving)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        """uvicorn's h11 protocol with two guards: a request head must arrive within ``HEAD_TIMEOUT`` of the
        connection opening or of the previous response (a connection that never sends one, or trickles it
        in, is closed), and at most ``MAX_CONNECTIONS`` connections are open (the oldest one still waiting
        for its request is closed to make room; if none is waiting, the new one is)."""

        head_timer: asyncio.TimerHandle | None = None

        def _waiting(self) -> dict:
            """This server's connections waiting for a request head, oldest first."""
            if not hasattr(self.server_state, "siuo_waiting"):
                self.server_state.siuo_waiting = {}
            return self.server_state.siuo_waiting

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > MAX_CONNECTIONS:
                victim = next(iter(self._waiting()), self)
                victim.drop()
            if not transport.is_closing():
                self.arm()

        def arm(self) -> None:
            self.disarm()
            self.head_timer = self.loop.call_later(HEAD_TIMEOUT, self.drop)
            self._waiting()[self] = None

        def disarm(self) -> None:
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None
            self._waiting().pop(self, None)

        def drop(self) -> None:
            self.disarm()
            if not self.transport.is_closing():
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.head_timer is not None and self.conn.their_state is not h11.IDLE:
                self.disarm()  # a whole request head arrived

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self.arm()

        def connection_lost(self, exc) -> None:
            self.disarm()
            super().connection_lost(exc)

    return GuardedH11Protocol


def make_server(app: Starlette):
    """The uvicorn server of ``app``, with the connection guards above (``run(sockets=[sock])`` serves)."""
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", http=_protocol_class()))


def serve(app: Starlette, sock: socket.socket) -> None:
    """Run ``app`` on the listening ``sock`` until Ctrl-C."""
    make_server(app).run(sockets=[sock])
