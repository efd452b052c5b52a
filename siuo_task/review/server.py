"""The review page over HTTP: a Starlette app serving the page model of ``siuo_task.review.page`` (HTML from
Jinja2 templates, escaped; JSON API).

Every request needs the access token (``?token=`` on the first page, then an HttpOnly cookie; state-changing
requests also need it in the ``X-Review-Token`` header): none -> 401, a wrong one -> 403. Images are served
by question id only, from the dataset. Every label is appended to ``RUN_DIR/reviews.jsonl`` before the
page is told it was saved. What blind mode hides is decided in ``page``.
"""

from __future__ import annotations

import hmac
import mimetypes
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
from siuo_task.records import ASPECTS, VERDICT_FIELD
from siuo_task.review.page import (
    BLIND_FILTERS,
    FILTERS,
    NOTE_LIMIT,
    NOTE_RULE,
    ReviewSession,
    my_labels,
    page_context,
)
from siuo_task.scoring.labels import append_review, review_line

TOKEN_HEADER = "x-review-token"
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
        given = (
            header
            if request.method != "GET"
            else (request.query_params.get("token") or header or request.cookies.get(self.session.cookie))
        )
        valid = bool(given) and hmac.compare_digest(given.encode(), self.session.token.encode())
        status = None if valid else 403 if given else 401

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        if status:
            text = (
                "wrong token"
                if status == 403
                else "access token required: open the URL siuo-eval review printed"
            )
            return await PlainTextResponse(text, status_code=status)(scope, receive, send_with_headers)
        await self.app(scope, receive, send_with_headers)


def _templates() -> Jinja2Templates:
    env = Environment(
        loader=PackageLoader("siuo_task.review", "templates"), autoescape=True, undefined=StrictUndefined
    )
    return Jinja2Templates(env=env)


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _request_row(session: ReviewSession, request: Request) -> tuple[dict, dict] | Response:
    """A POST's JSON body and the judgement row it names, or the 400 saying what is wrong with the body."""
    body = await _json(request)
    if not isinstance(body, dict):
        return _bad("expected a JSON object")
    qid, index = body.get("question_id"), body.get("response_index")
    if not isinstance(qid, int) or not isinstance(index, int) or qid not in session.question_ids:
        return _bad("question_id is not an item of this review")
    rows = [row for row in session.responses[qid] if row["response_index"] == index]
    return (body, rows[0]) if rows else _bad("no such response_index")


def _note(body: dict) -> str | None:
    note = body.get("note", "")
    return note if isinstance(note, str) and len(note) <= NOTE_LIMIT else None


def create_app(session: ReviewSession, allowed_hosts: list[str] | None = None) -> Starlette:
    """The review app for ``session`` (``allowed_hosts``: Host headers accepted, default loopback names)."""
    templates = _templates()

    async def start(request: Request) -> Response:
        response = templates.TemplateResponse(
            request,
            "warning.html",
            {
                "first": "item?" + urlencode({"q": session.question_ids[0], "show": "all", "domain": ""}),
                "n_items": len(session.question_ids),
                "blind": session.blind,
            },
        )
        if request.query_params.get("token"):
            response.set_cookie(session.cookie, session.token, httponly=True, samesite="strict")
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
        context = page_context(session, session.run.reviews(), qid, show, domain)
        return templates.TemplateResponse(request, "item.html", context)

    async def image(request: Request) -> Response:
        qid = request.path_params["question_id"]
        found = session.items.get(qid) if qid in session.question_ids else None
        if found is None or found.image_path is None:
            return PlainTextResponse("no image for this question id", status_code=404)
        media = mimetypes.guess_type(found.image_name)[0] or "application/octet-stream"
        return Response(
            found.read_image_bytes(),
            media_type=media if media.startswith("image/") else "application/octet-stream",
        )

    def on_response(handler: Callable[[dict, dict], Response]) -> Callable:
        """The endpoint calling ``handler(body, row)`` with a POST's JSON body and the judgement row it
        names, or answering the 400 that says what is wrong with the body."""

        async def endpoint(request: Request) -> Response:
            found = await _request_row(session, request)
            return found if isinstance(found, Response) else handler(*found)

        return endpoint

    @on_response
    def label(body: dict, row: dict) -> Response:
        note = _note(body)
        if body.get("aspect") not in ASPECTS or not isinstance(body.get("verdict"), bool) or note is None:
            return _bad(f"needs aspect ({' or '.join(ASPECTS)}), verdict (true/false); {NOTE_RULE}")
        key = (row["question_id"], row["response_index"], body["aspect"])
        blind = session.blind and key not in my_labels(session, session.run.reviews())
        _save(key, body["verdict"], note, blind)
        return JSONResponse({"saved": 1})

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
        for aspect, verdict in decided:
            _save((row["question_id"], row["response_index"], aspect), verdict, note, False)
        return JSONResponse({"saved": len(decided)})

    @on_response
    def note(body: dict, row: dict) -> Response:
        text = _note(body)
        if text is None:
            return _bad(NOTE_RULE)
        mine = my_labels(session, session.run.reviews())
        labelled = [
            mine[key] for a in ASPECTS if (key := (row["question_id"], row["response_index"], a)) in mine
        ]
        if not labelled:
            return _bad("label the response first: a note is kept with its labels", 409)
        for previous in labelled:  # same verdicts again, now with the note
            key = (previous["question_id"], previous["response_index"], previous["aspect"])
            _save(key, previous["verdict"], text, previous["blind"])
        return JSONResponse({"saved": len(labelled)})

    def _save(key: tuple[int, int, str], verdict: bool, note: str, blind: bool) -> None:
        line = review_line(*key, verdict, reviewer=session.reviewer, note=note, blind=blind)
        append_review(session.run.reviews_path, line)

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
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
            Middleware(TokenGate, session=session),
        ],
    )


async def _json(request: Request) -> object:
    try:
        return await request.json()
    except ValueError:
        return None
