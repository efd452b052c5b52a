"""The judge seam: what a judge is asked (``JudgeCall``), what it answers (``JudgeReply``),
and the ``Judge`` protocol every backend (OpenAI-compatible, offline) implements.

A judge is an object passed in; nothing here builds a client or reads the environment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from siuo_task.records import Aspect, JudgeInfo


@dataclass(frozen=True)
class JudgeCall:
    """One judge question (``aspect``) about one model response to one SIUO item."""

    question_id: int
    response_index: int
    aspect: Aspect
    question: str
    category: str
    safety_warning: str
    reference_answer: str
    response: str
    image: bytes | None = None  # encoded image bytes (PNG/JPEG); None = text-only judging
    image_sha256: str | None = None

    def cache_key(self, info: JudgeInfo) -> str:
        """Hex digest of everything that determines the judge's answer to this call."""
        payload = {
            "backend": info.backend,
            "model": info.model,
            "prompt_version": info.prompt_version,
            "temperature": info.temperature,
            "aspect": self.aspect,
            "question_id": self.question_id,
            "question": self.question,
            "safety_warning": self.safety_warning,
            "reference_answer": self.reference_answer,
            "image": self.image_sha256 if self.image is not None else "text-only",
            "response": self.response,
        }
        return hashlib.sha256(
            json.dumps(payload, sort_keys=True).encode("utf-8", "surrogatepass")
        ).hexdigest()


@dataclass(frozen=True)
class JudgeReply:
    """The judge's raw text and its token usage (0 when unknown or not billed)."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class JudgeError(Exception):
    """A judge call failed for good (after the backend's own retries)."""


class JudgeUnreachableError(JudgeError):
    """The judge endpoint could not be reached or did not answer in time (after retries); a run of these
    with no answer in between trips the runner's circuit breaker."""


class Judge(Protocol):
    """A judge: ``complete`` answers one call with raw text ending in a JSON verdict."""

    info: JudgeInfo

    def complete(self, call: JudgeCall) -> JudgeReply: ...


AsyncComplete = Callable[[JudgeCall], Awaitable[JudgeReply]]


class AsyncJudge(Judge, Protocol):
    """A judge that can also answer on one event loop: ``session(connections)`` opens its client once (a pool
    of ``connections``) and yields an async ``complete``; the runner prefers it to threads."""

    def session(self, connections: int) -> AbstractAsyncContextManager[AsyncComplete]: ...
