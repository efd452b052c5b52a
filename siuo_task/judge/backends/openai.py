"""The ``openai`` judge backend: an OpenAI-compatible judge on the ``openai`` SDK: OpenAI, or any local server
(vLLM, llama.cpp, ...) via ``base_url`` (Azure OpenAI is ``siuo_task.judge.backends.azure``, a subclass).

Two ways to call it, one request (``request_body``), one retry loop (``_post_with_retries``) and one reading
of the reply: ``complete`` (blocking, one call) and ``session(connections)``, which builds the SDK's async
client once, with a connection pool of that size, for the runner's single event loop.

Retries: the SDK itself retries 429 / 408 / 409 / 5xx responses, timeouts and dropped connections
with exponential backoff and jitter, honouring ``Retry-After`` / ``retry-after-ms``; we only set
``max_retries`` and ``timeout``. A 200 reply that is not a chat completion (not JSON, no ``choices``) is
a transport fault, not an answer: it is retried the same number of times, then fails the call
(``JudgeError``, never cached). Connection failures and timeouts that outlast the retries raise
``JudgeUnreachableError`` (they feed the runner's circuit breaker). 401/403/404 (bad key, no access, unknown
model) stop the run with one clear line (``JudgeConfigError``); other API errors fail that call only.
The API key is read from the environment variable named by ``api_key_env`` when a client is built, and
never printed, logged or written; a base URL carrying ``user:password@`` is refused at once (the SDK's
clients cannot send it beside the key), and every message is masked by ``siuo_task.redact``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

from siuo_task.judge.base import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    AsyncComplete,
    Judge,
    JudgeArg,
    JudgeBackend,
    JudgeConfigError,
    JudgeError,
    JudgeReply,
    JudgeSettings,
    JudgeUnreachableError,
    image_data_url,
    positive_int,
)
from siuo_task.protocol.judge_prompts import JUDGE_TEMPERATURE, PROMPT_VERSION, JudgeCall, judge_content
from siuo_task.records import JudgeInfo
from siuo_task.redact import redact

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"  # the environment variable holding the key, unless named otherwise
CONNECT_TIMEOUT = 10.0  # seconds to connect, at most (the request: --judge-timeout)
DEFAULT_MAX_TOKENS = 512  # the judge's answer, at most (reasoning, then the JSON verdict)
T = TypeVar("T")
J = TypeVar("J", bound="OpenAIJudge")
CHAT_PATH = (
    "/chat/completions"  # sent through the SDK's generic post: its retries, Retry-After and Azure routing,
)
# without re-validating our own request body and building response models per call (~0.3 ms CPU each)


class MalformedReplyError(JudgeError):
    """A 200 reply that is not a chat completion (a proxy page, a truncated body, no ``choices``)."""


def judge_messages(call: JudgeCall, *, text_only: bool) -> list[dict]:
    """The chat messages for ``call``: one user turn holding the protocol's ``judge_content``, in order."""
    parts = judge_content(call, text_only=text_only)
    if len(parts) == 1:
        return [{"role": "user", "content": parts[0][1]}]
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": value}
                if kind == "text"
                else {"type": "image_url", "image_url": {"url": image_data_url(value)}}
                for kind, value in parts
            ],
        }
    ]


def request_body(call: JudgeCall, model: str, *, text_only: bool, max_tokens: int) -> dict:
    """The chat-completions request body for one judge call (temperature 0): pure, JSON-serialisable."""
    return {
        "model": model,
        "messages": judge_messages(call, text_only=text_only),
        "temperature": JUDGE_TEMPERATURE,
        "max_tokens": max_tokens,
    }


def reply_from_completion(completion: object) -> JudgeReply:
    """The judge's answer in a chat.completion JSON object (live reply or batch output body);
    ``MalformedReplyError`` when it is not one. A real completion whose content is empty or null is an
    answer (the runner re-asks it once)."""
    choices = completion.get("choices") if isinstance(completion, dict) else None
    message = (
        choices[0].get("message")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict)
        else None
    )
    if not isinstance(message, dict):
        raise MalformedReplyError(
            "the judge endpoint answered 200 with something that is not a chat completion"
        )
    usage = completion.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    content = message.get("content")
    return JudgeReply(
        text=content if isinstance(content, str) else "",
        prompt_tokens=token_count(usage.get("prompt_tokens")) or 0,
        completion_tokens=token_count(usage.get("completion_tokens")) or 0,
    )


MAX_TOKENS_COUNTED = 10**9  # a usage count above this is not believed


def token_count(value: object) -> int | None:
    """A usage count if it is one (an integer from 0 to ``MAX_TOKENS_COUNTED``; absent = 0), else None
    (a string, NaN, a list, a negative count: dropped by the caller, with a warning where it can say so)."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKENS_COUNTED:
        return value
    return None


def retry_delay(attempt: int) -> float:
    """Seconds before re-sending after a malformed reply (0.5 s doubling, at most 8 s, like the SDK's
    backoff)."""
    return min(0.5 * 2**attempt, 8.0)


LOCAL_DUMMY_KEY = "no-key-needed-for-a-local-judge"  # sent to a loopback judge when no key is set


def is_loopback(url: str | None) -> bool:
    """Whether ``url`` points at this machine (localhost, 127.0.0.0/8, ::1)."""
    if not url:
        return False
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OpenAIJudge(Judge):
    """Judge through an OpenAI-compatible chat-completions endpoint (temperature 0); its requests can also go
    to a batch engine (``supports_batch``)."""

    backend = "openai"  # recorded in every result (``info.backend``) and part of the cache key
    supports_batch = True

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = DEFAULT_API_KEY_ENV,
        text_only: bool = False,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        if base_url and urlsplit(base_url).username is not None:
            raise JudgeConfigError(
                redact(
                    f"--judge-base-url {base_url} carries credentials (user:password@), "
                    "which the judge client cannot send (it authenticates with the key in "
                    f"${api_key_env}): remove them from the URL"
                )
            )
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.max_retries = max_retries
        self.info = JudgeInfo(
            backend=self.backend,
            model=model,
            prompt_version=PROMPT_VERSION,
            temperature=JUDGE_TEMPERATURE,
            text_only=text_only,
        )
        self._client = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never shows the key
        return (
            f"{type(self).__name__}(model={self.model!r}, base_url={redact(str(self.base_url))!r}, "
            f"api_key_env={self.api_key_env!r})"
        )

    @property
    def keyless(self) -> bool:
        """A judge on this machine (loopback --judge-base-url) with no key set: none is required; the SDK
        gets a dummy one (a local server that does want a key answers 401, named clearly)."""
        return is_loopback(self.base_url) and not os.environ.get(self.api_key_env)

    def _client_kwargs(self) -> dict:
        """Key, endpoint, timeout and retries for either SDK client (the key only goes to the SDK)."""
        key = os.environ.get(self.api_key_env) or (LOCAL_DUMMY_KEY if self.keyless else None)
        if not key:
            raise JudgeConfigError(
                f"environment variable {self.api_key_env} is not set: export your judge "
                "API key there, or name another variable with --judge-api-key-env"
            )
        import openai

        kwargs = {
            "api_key": key,
            "max_retries": self.max_retries,
            "timeout": openai.Timeout(self.timeout, connect=min(self.timeout, CONNECT_TIMEOUT)),
        }
        return {**kwargs, **self._endpoint_kwargs()}

    def _endpoint_kwargs(self) -> dict:
        """Where the SDK client sends its requests."""
        return {"base_url": self.base_url}

    def _client_classes(self) -> tuple[type, type]:
        """The SDK's blocking and async client classes."""
        import openai

        return openai.OpenAI, openai.AsyncOpenAI

    def blocking_client(self):
        """The blocking SDK client, built once (``complete`` and the Batch API round trip use it)."""
        with self._lock:
            if self._client is None:
                self._client = self._client_classes()[0](**self._client_kwargs())
            return self._client

    def request_body(self, call: JudgeCall) -> dict:
        """The exact chat-completions request body this judge sends for ``call`` (live or batch)."""
        return request_body(call, self.model, text_only=self.info.text_only, max_tokens=self.max_tokens)

    def _api_error(self, error: Exception) -> Exception:
        """Our error for an SDK error: stop the run (refusals), unreachable (breaker), or this call failed."""
        import openai

        if isinstance(
            error, (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)
        ):
            # the same answer would come back for every call: stop the run with one clear line
            if self.keyless and error.status_code == 401:
                return JudgeConfigError(
                    redact(
                        f"the local judge at {self.base_url} wants an API key (401) and "
                        f"${self.api_key_env} is not set: export the key there (or name another "
                        "variable with --judge-api-key-env)"
                    )
                )
            return JudgeConfigError(
                redact(
                    f"the judge endpoint refused {self.model!r} at {self.base_url or 'api.openai.com'} "
                    f"({error.status_code} {error.__class__.__name__}): check --judge-model, "
                    f"--judge-base-url and the key in ${self.api_key_env}"
                )
            )
        if isinstance(error, openai.APIConnectionError):  # includes APITimeoutError
            return JudgeUnreachableError(error.__class__.__name__)
        status = getattr(error, "status_code", None)
        detail = redact(" ".join(str(getattr(error, "message", "") or "").split()))[:200]
        return JudgeError(f"{error.__class__.__name__}{f' {status}' if status else ''}: {detail}".strip())

    def _after_failure(self, error: Exception, attempt: int) -> float:
        """Seconds to wait before re-sending after ``error`` on ``attempt`` (0-based); raises our error when
        the call must not be re-sent. Only malformed 200 replies are re-sent here: the SDK retried the
        rest."""
        import openai

        if isinstance(error, (json.JSONDecodeError, openai.APIResponseValidationError, MalformedReplyError)):
            if attempt < self.max_retries:
                return retry_delay(attempt)
            raise MalformedReplyError(
                f"the judge endpoint answered 200 with something that is not a chat completion "
                f"{attempt + 1} times"
            ) from None
        if isinstance(error, openai.APIError):
            raise self._api_error(error) from None
        raise error

    async def _post_with_retries(
        self,
        call: JudgeCall,
        post: Callable[[dict], Awaitable[object]],
        sleep: Callable[[float], Awaitable[None]],
    ) -> JudgeReply:
        """The one retry loop of both clients: ``post`` the request body, read the reply; after a failure,
        ``sleep`` the delay ``_after_failure`` gives and send again, or raise the error it raises."""
        body = self.request_body(call)
        for attempt in itertools.count():
            try:
                return reply_from_completion(await post(body))
            except Exception as error:  # noqa: BLE001 - sorted by _after_failure
                delay = self._after_failure(error, attempt)
            await sleep(delay)
        raise AssertionError("unreachable")

    def complete(self, call: JudgeCall) -> JudgeReply:
        """One blocking judge call (the retry loop driven without an event loop: its awaits block)."""
        client = self.blocking_client()

        async def post(body: dict) -> object:
            return client.post(CHAT_PATH, body=body, cast_to=object)

        async def sleep(seconds: float) -> None:
            time.sleep(seconds)

        return run_blocking(self._post_with_retries(call, post, sleep))

    @asynccontextmanager
    async def session(self, connections: int) -> AsyncIterator[AsyncComplete]:
        """The async client, built once with a pool of ``connections``; yields an async ``complete``."""
        import httpx2
        import openai

        kwargs = self._client_kwargs()
        limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
        http_client = openai.DefaultAioHttpClient(limits=limits, timeout=kwargs["timeout"])
        client = self._client_classes()[1](**kwargs, http_client=http_client)

        async def post(body: dict) -> object:
            return await client.post(CHAT_PATH, body=body, cast_to=object)

        async def complete(call: JudgeCall) -> JudgeReply:
            return await self._post_with_retries(call, post, asyncio.sleep)

        try:
            yield complete
        finally:
            await client.close()


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never suspends (everything it awaits blocks instead), run to its end
    without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return finished.value
    coroutine.close()
    raise RuntimeError("run_blocking: the coroutine suspended; it needs an event loop")


OPTIONS = {
    "max_tokens": JudgeArg(
        positive_int, f"the judge's answer at most, in tokens (default {DEFAULT_MAX_TOKENS})"
    ),
}


def build(settings: JudgeSettings) -> OpenAIJudge:
    return judge_from_settings(OpenAIJudge, settings)


def judge_from_settings(judge_class: type[J], settings: JudgeSettings) -> J:
    """A ``judge_class`` (``OpenAIJudge`` or a subclass) from the common settings and its checked options."""
    return judge_class(
        settings.model,
        base_url=settings.base_url,
        api_key_env=settings.api_key_env,
        text_only=settings.text_only,
        timeout=settings.timeout,
        max_retries=settings.max_retries,
        **settings.options,
    )


BACKEND = JudgeBackend(
    "openai",
    build,
    OPTIONS,
    api_key_env=DEFAULT_API_KEY_ENV,
    description="an OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, llama.cpp, ...)",
)
