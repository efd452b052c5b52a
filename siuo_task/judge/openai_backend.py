"""An OpenAI-compatible judge on the ``openai`` SDK: OpenAI, Azure OpenAI, or any local server
(vLLM, llama.cpp, ...) via ``base_url``.

Retries: the SDK itself retries 429 / 408 / 409 / 5xx responses, timeouts and dropped connections
with exponential backoff and jitter, honouring ``Retry-After`` / ``retry-after-ms``; we only set
``max_retries`` and ``timeout``. A malformed (non-JSON) body comes back as an empty reply, which the
runner asks again once before recording it as unparsable. 401/403/404 (bad key, no access, unknown
model) stop the run with one clear line (``JudgeConfigError``); other API errors fail that call only.
The API key is read from the environment variable named by
``api_key_env`` when the client is first needed, and never printed, logged or written.
"""
from __future__ import annotations

import base64
import json
import os
import threading

from siuo_dataset.errors import SiuoError
from siuo_task.judge.base import JudgeCall, JudgeError, JudgeInfo, JudgeReply
from siuo_task.prompts import PROMPT_VERSION, build_judge_prompt


class JudgeConfigError(SiuoError):
    """The judge cannot be configured (missing key, bad option)."""


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


def judge_messages(call: JudgeCall, *, text_only: bool) -> list[dict]:
    """The chat messages for ``call``: prompt text, plus the image unless text-only."""
    prompt = build_judge_prompt(call)
    if text_only or call.image is None:
        return [{"role": "user", "content": prompt}]
    return [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": image_data_url(call.image)}},
        {"type": "text", "text": prompt}]}]


def request_body(call: JudgeCall, model: str, *, text_only: bool, max_tokens: int) -> dict:
    """The chat-completions request body for one judge call (temperature 0): pure, JSON-serialisable."""
    return {"model": model, "messages": judge_messages(call, text_only=text_only), "temperature": 0.0,
            "max_tokens": max_tokens}


class OpenAIJudge:
    """Judge through an OpenAI-compatible chat-completions endpoint (temperature 0)."""

    def __init__(self, model: str, *, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 azure: bool = False, azure_api_version: str = "2024-06-01", text_only: bool = False,
                 max_tokens: int = 512, timeout: float = 60.0, max_retries: int = 6) -> None:
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.azure = azure
        self.azure_api_version = azure_api_version
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.max_retries = max_retries
        self.info = JudgeInfo(backend="azure" if azure else "openai", model=model, prompt_version=PROMPT_VERSION,
                              temperature=0.0, text_only=text_only)
        self._client = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIJudge(model={self.model!r}, base_url={self.base_url!r}, api_key_env={self.api_key_env!r})"

    def _get_client(self):
        with self._lock:
            if self._client is None:
                key = os.environ.get(self.api_key_env)
                if not key:
                    raise JudgeConfigError(f"environment variable {self.api_key_env} is not set: export your judge "
                                           "API key there, or name another variable with --judge-api-key-env")
                import openai

                if self.azure:
                    self._client = openai.AzureOpenAI(api_key=key, azure_endpoint=self.base_url,
                                                      api_version=self.azure_api_version,
                                                      timeout=self.timeout, max_retries=self.max_retries)
                else:
                    self._client = openai.OpenAI(api_key=key, base_url=self.base_url, timeout=self.timeout,
                                                 max_retries=self.max_retries)
            return self._client

    def request_body(self, call: JudgeCall) -> dict:
        """The exact chat-completions request body this judge sends for ``call`` (live or batch)."""
        return request_body(call, self.model, text_only=self.info.text_only, max_tokens=self.max_tokens)

    def complete(self, call: JudgeCall) -> JudgeReply:
        import openai

        client = self._get_client()
        try:
            completion = client.chat.completions.create(**self.request_body(call))
        except (json.JSONDecodeError, openai.APIResponseValidationError):
            return JudgeReply("")  # a malformed answer: the runner asks once more, then records it as unparsable
        except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as error:
            # the same answer would come back for every call: stop the run with one clear line
            raise JudgeConfigError(f"the judge endpoint refused {self.model!r} at {self.base_url or 'api.openai.com'} "
                                   f"({error.status_code} {error.__class__.__name__}): check --judge-model, "
                                   f"--judge-base-url and the key in ${self.api_key_env}") from None
        except openai.APIError as error:  # per-call failure (after the SDK's retries), e.g. a content filter
            status = getattr(error, "status_code", None)
            detail = " ".join(str(getattr(error, "message", "") or "").split())[:200]
            raise JudgeError(f"{error.__class__.__name__}{f' {status}' if status else ''}: {detail}".strip()) from None
        if not completion.choices:
            return JudgeReply("")
        usage = completion.usage
        return JudgeReply(text=completion.choices[0].message.content or "",
                          prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                          completion_tokens=getattr(usage, "completion_tokens", 0) or 0)
