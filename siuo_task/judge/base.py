"""The judge seam: what a judge answers (``JudgeReply``) to a ``JudgeCall`` (``siuo_task.protocol``),
and the ``Judge`` protocol every backend (OpenAI-compatible, offline) implements.

A judge is an object passed in; nothing here builds a client or reads the environment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from siuo_task.protocol.judge_prompts import JudgeCall
from siuo_task.records import JudgeInfo


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
