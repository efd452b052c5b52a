"""The judge seam: what a judge answers (``JudgeReply``) to a ``JudgeCall`` (``siuo_task.protocol``), the
``Judge`` protocol every backend implements, the judge errors, the image encoding every backend shares, and
what a backend declares to be registered (``JudgeBackend``: its factory, its ``--judge-arg`` options, its key
variable; ``siuo_task.judge.registry`` finds it by name).

A judge is an object passed in; nothing here builds a client or reads the environment.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from siuo_dataset.errors import SiuoError
from siuo_task.protocol.judge_prompts import ASPECTS, Aspect, JudgeCall
from siuo_task.protocol.verdicts import parse_verdict
from siuo_task.records import JudgeInfo

DEFAULT_TIMEOUT = 30.0  # seconds per request of a judge behind an endpoint (--judge-timeout)
DEFAULT_MAX_RETRIES = 3  # retries after the first attempt (--judge-max-retries)


@dataclass(frozen=True)
class JudgeReply:
    """The judge's raw text and its token usage (0 when unknown or not billed), and what the reply said about
    itself when the backend reads it: the ``model`` that answered, its ``system_fingerprint``, and why it
    stopped (``finish_reason``: a reply cut off by ``length`` or ``content_filter`` is no verdict,
    ``siuo_task.protocol.verdicts.cut_off``)."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str | None = None
    system_fingerprint: str | None = None
    finish_reason: str | None = None


class JudgeError(Exception):
    """A judge call failed for good (after the backend's own retries)."""


class JudgeUnreachableError(JudgeError):
    """The judge endpoint could not be reached or did not answer in time (after retries); a run of these
    with no answer in between trips the runner's circuit breaker."""


class JudgeConfigError(SiuoError):
    """The judge cannot be configured (missing key, bad option): the run stops with this one line."""


def image_data_url(image: bytes) -> str:
    """A base64 data URL for PNG/JPEG/GIF/WebP bytes."""
    if image.startswith(b"\xff\xd8"):
        mime = "image/jpeg"
    elif image.startswith(b"GIF8"):
        mime = "image/gif"
    elif image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        mime = "image/webp"
    else:
        mime = "image/png"
    return f"data:{mime};base64,{base64.b64encode(image).decode('ascii')}"


class Judge(Protocol):
    """A judge: ``complete`` answers one call with raw text, ``parse`` reads a verdict from it (True / False,
    None when there is none). Subclass it to inherit the defaults: the SIUO judge's two ``aspects`` and its
    verdict format (``siuo_task.protocol.verdicts``), no batch mode. A judge that answers only some aspects
    (a guard model answers safety) lists them in ``aspects``: only those calls are made, and the others'
    verdicts stay undecided."""

    info: JudgeInfo
    aspects: tuple[Aspect, ...] = ASPECTS
    supports_batch: bool = False  # True: ``request_body`` and ``blocking_client`` (``BatchJudge``)

    def complete(self, call: JudgeCall) -> JudgeReply: ...

    def parse(self, call: JudgeCall, text: str) -> bool | None:
        """The verdict in the judge's answer ``text`` to ``call`` (None: no verdict). A reply that was cut off
        never gets here: the runner counts it unparsable (``verdicts.cut_off``)."""
        return parse_verdict(call.aspect, text)


AsyncComplete = Callable[[JudgeCall], Awaitable[JudgeReply]]


class AsyncJudge(Judge, Protocol):
    """A judge that can also answer on one event loop: ``session(connections)`` opens its client once (a pool
    of ``connections``) and yields an async ``complete``; the runner prefers it to threads."""

    def session(self, connections: int) -> AbstractAsyncContextManager[AsyncComplete]: ...


class BatchJudge(Judge, Protocol):
    """A judge with ``supports_batch``: its requests go to an OpenAI-compatible batch engine as the exact
    chat-completions bodies a live call sends, through its blocking SDK client for a Batch API round trip."""

    api_key_env: str
    base_url: str | None

    def request_body(self, call: JudgeCall) -> dict: ...

    def blocking_client(self) -> Any: ...


# ---- what a backend declares -----------------------------------------------------------------------------


@dataclass(frozen=True)
class JudgeArg:
    """One ``--judge-arg KEY=VALUE`` a backend accepts: ``convert`` turns the text into the value (raising
    ValueError with a short reason when it is not one), ``help`` says what it does."""

    convert: Callable[[str], object]
    help: str


def positive_int(text: str) -> int:
    """A ``JudgeArg`` converter: a whole number above 0."""
    value = int(text)
    if value < 1:
        raise ValueError("must be a whole number of at least 1")
    return value


@dataclass(frozen=True)
class JudgeSettings:
    """What a backend factory gets: the common judge flags, the key variable (the backend's own unless
    ``--judge-api-key-env`` names another) and its own options, converted (``JudgeBackend.options``)."""

    model: str | None
    base_url: str | None
    api_key_env: str | None
    text_only: bool
    timeout: float
    max_retries: int
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JudgeBackend:
    """A judge backend as the registry knows it: ``factory(settings)`` builds the judge (no client yet: that
    is built on its first call); ``options`` are the ``--judge-arg`` keys it accepts; ``api_key_env`` the
    variable its key is read from by default (None: it needs none); ``needs_model``: ``--judge-model`` is
    required."""

    name: str
    factory: Callable[[JudgeSettings], Judge]
    options: Mapping[str, JudgeArg] = field(default_factory=dict)
    api_key_env: str | None = None
    needs_model: bool = True
    description: str = ""
