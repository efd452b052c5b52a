"""``JudgeConfig``: which judge, how to reach it and how to run its calls, as one checked value.

Made from the CLI flags (``from_args``) or from JSON (``from_json``; ``to_json`` never holds a secret: the API
key stays in the environment variable ``api_key_env`` names). ``build()`` constructs the judge when asked
(its client is built on the first call), ``open_cache()`` the judge cache, ``run_options()`` the keyword
arguments of ``run_calls`` / ``judge_responses``. Nothing here runs at import time. Without a judge model
the judge is the offline one, labelled APPROXIMATE in every result.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from siuo_dataset.errors import SiuoError
from siuo_task.judge.base import Judge
from siuo_task.judge.cache import JudgeCache, default_cache_path
from siuo_task.judge.openai_backend import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from siuo_task.judge.runner import BREAKER_AFTER, DEFAULT_CONCURRENCY, Price

JUDGE_KINDS = ("openai", "azure", "offline")


@dataclass(frozen=True)
class JudgeConfig:
    """The judge settings (field names are the keys of ``to_json``)."""

    kind: str | None = None  # None: openai with a model, else offline
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    text_only: bool = False
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    concurrency: int = DEFAULT_CONCURRENCY
    rpm: float | None = None
    breaker_after: int = BREAKER_AFTER
    cache: str | None = None  # path of the judge cache; None = no cache
    price_in: float | None = None  # USD per million prompt tokens
    price_out: float | None = None  # USD per million completion tokens
    quiet: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> JudgeConfig:
        """The settings given by the judge flags (``siuo_task.cli.common.add_judge_arguments``)."""
        return cls(
            kind=args.judge,
            model=args.judge_model,
            base_url=args.judge_base_url,
            api_key_env=args.judge_api_key_env,
            text_only=args.text_only,
            timeout=args.judge_timeout,
            max_retries=args.judge_max_retries,
            concurrency=args.judge_concurrency,
            rpm=args.judge_rpm,
            breaker_after=args.judge_breaker_after,
            cache=None if args.no_cache else str(args.cache or default_cache_path()),
            price_in=args.price_per_mtok_in,
            price_out=args.price_per_mtok_out,
            quiet=args.quiet,
        )

    @classmethod
    def from_json(cls, values: Mapping) -> JudgeConfig:
        """The settings in a ``to_json`` object; missing keys take defaults, unknown ones are an error."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SiuoError(f"unknown judge setting {unknown[0]!r}: known are {', '.join(sorted(known))}")
        return cls(**values)

    def to_json(self) -> dict:
        """A JSON-serialisable dict of the settings (no secret)."""
        return dataclasses.asdict(self)

    @property
    def price(self) -> Price | None:
        """The token prices (None when neither is given)."""
        if self.price_in is None and self.price_out is None:
            return None
        return Price(self.price_in or 0.0, self.price_out or 0.0)

    def check(self) -> None:
        """Reject nonsensical settings with one clear line naming the flag."""
        if self.concurrency < 1:
            raise SiuoError("--judge-concurrency must be at least 1")
        if self.rpm is not None and self.rpm <= 0:
            raise SiuoError("--judge-rpm must be positive")
        if self.breaker_after < 0:
            raise SiuoError("--judge-breaker-after must be 0 (never) or more")
        kind = self.resolved_kind
        if kind not in JUDGE_KINDS:
            raise SiuoError(f"unknown judge {kind!r}: choose one of {', '.join(JUDGE_KINDS)}")
        if kind == "offline":
            return
        if not self.model:
            raise SiuoError(f"--judge {kind} needs --judge-model (e.g. gpt-4o)")
        if kind == "azure" and not self.base_url:
            raise SiuoError("--judge azure needs --judge-base-url https://RESOURCE.openai.azure.com")
        if self.timeout <= 0 or self.max_retries < 0:
            raise SiuoError("--judge-timeout must be > 0 and --judge-max-retries >= 0")

    @property
    def resolved_kind(self) -> str:
        return self.kind or ("openai" if self.model else "offline")

    def build(self) -> Judge:
        """The judge these settings name (checked first); an LLM judge builds its client on its first call."""
        self.check()
        if self.resolved_kind == "offline":
            from siuo_task.judge.offline import OfflineJudge

            print(
                "NOTE: using the offline rule-based judge: its figures are APPROXIMATE "
                "(see README, 'Judge validation'); pass --judge-model for an LLM judge",
                file=sys.stderr,
            )
            return OfflineJudge()
        from siuo_task.judge.openai_backend import OpenAIJudge

        return OpenAIJudge(
            self.model,
            base_url=self.base_url,
            api_key_env=self.api_key_env,
            azure=self.resolved_kind == "azure",
            text_only=self.text_only,
            timeout=self.timeout,
            max_retries=self.max_retries,
        )

    def open_cache(self) -> JudgeCache | None:
        """The judge cache (None when caching is off); one clear line when it cannot be opened."""
        if not self.cache:
            return None
        try:
            return JudgeCache(self.cache)
        except Exception as error:  # sqlite3 / OS errors: one clear line
            raise SiuoError(
                f"cannot open judge cache {self.cache}: {error}; pass another --cache or --no-cache"
            ) from None

    def run_options(self) -> dict:
        """Keyword arguments of ``run_calls`` / ``judge_responses``: concurrency, rate, price, progress."""
        return {
            "concurrency": self.concurrency,
            "requests_per_minute": self.rpm,
            "price": self.price,
            "progress": not self.quiet,
            "breaker_after": self.breaker_after,
        }
