"""The ``azure`` judge backend: Azure OpenAI, the OpenAI judge (``siuo_task.judge.backends.openai``) with the
SDK's Azure clients: ``--judge-model`` is the deployment, ``--judge-base-url`` the resource endpoint, and
``--judge-arg api_version=...`` the API version. It has no batch mode here. Its key is read from
``$OPENAI_API_KEY`` by default, as it always was (``--judge-api-key-env AZURE_OPENAI_API_KEY`` for the SDK's
usual variable).
"""

from __future__ import annotations

from siuo_task.judge.backends.openai import DEFAULT_API_KEY_ENV, OPTIONS, OpenAIJudge, judge_from_settings
from siuo_task.judge.base import JudgeArg, JudgeBackend, JudgeConfigError, JudgeSettings

DEFAULT_API_VERSION = "2024-06-01"


class AzureJudge(OpenAIJudge):
    """Judge through an Azure OpenAI deployment."""

    backend = "azure"
    supports_batch = False

    def __init__(self, model: str, *, api_version: str = DEFAULT_API_VERSION, **kwargs) -> None:
        super().__init__(model, **kwargs)
        self.api_version = api_version

    def _endpoint_kwargs(self) -> dict:
        return {"azure_endpoint": self.base_url, "api_version": self.api_version}

    def _client_classes(self) -> tuple[type, type]:
        import openai

        return openai.AzureOpenAI, openai.AsyncAzureOpenAI


def build(settings: JudgeSettings) -> AzureJudge:
    if not settings.base_url:
        raise JudgeConfigError("--judge azure needs --judge-base-url https://RESOURCE.openai.azure.com")
    return judge_from_settings(AzureJudge, settings)


BACKEND = JudgeBackend(
    "azure",
    build,
    {
        **OPTIONS,
        "api_version": JudgeArg(str, f"the Azure OpenAI API version (default {DEFAULT_API_VERSION})"),
    },
    api_key_env=DEFAULT_API_KEY_ENV,
    description="an Azure OpenAI deployment (--judge-model DEPLOYMENT --judge-base-url ENDPOINT)",
)
