"""``JudgeConfig``: which judge, how to reach it and how to run its calls, as one checked value.

Each field declares its CLI flag (``option``): ``add_arguments`` adds the flags to a parser and ``from_args``
reads them back, so a new setting is declared once. Made from the CLI flags or from JSON (``from_json``;
``to_json`` never holds a secret: the API key stays in the environment variable ``api_key_env`` names).
``build()`` constructs the judge when asked (its client is built on the first call), ``open_cache()`` the
judge cache, ``run_options()`` the keyword arguments of ``run_calls`` / ``judge_responses``. Nothing here
runs at import time. Without a judge model the judge is the offline one, labelled APPROXIMATE in every result.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_task.judge.base import Judge
from siuo_task.judge.cache import JudgeCache, default_cache_path
from siuo_task.judge.openai_backend import DEFAULT_API_KEY_ENV, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from siuo_task.judge.runner import BREAKER_AFTER, DEFAULT_CONCURRENCY, Price

JUDGE_KINDS = ("openai", "azure", "offline")


def option(default: object, flag: str, help: str, *, cli_default=None, off_flag=None, **argparse_kwargs):
    """A ``JudgeConfig`` field declared with its CLI flag: ``flag``, ``help`` and argparse's ``type`` /
    ``choices`` / ``metavar`` (a bool field is an on-switch). ``cli_default()`` is the value when the flag is
    not given (``{default}`` in ``help`` shows it); ``off_flag`` = (flag, help) is a switch that sets the
    field to None."""
    metadata = {
        "flag": flag,
        "help": help,
        "cli_default": cli_default,
        "off_flag": off_flag,
        "argparse": argparse_kwargs,
    }
    return dataclasses.field(default=default, metadata=metadata)


def dest(flag: str) -> str:
    """The argparse attribute of ``flag``."""
    return flag.lstrip("-").replace("-", "_")


OFFLINE_NOTE = (
    "NOTE: no judge model given, so the offline rule-based judge decides: a smoke test, its figures are "
    "APPROXIMATE (see docs/protocol.md, 'Judge validation'). For a real judge pass --judge-model MODEL "
    "(e.g. gpt-4o, key in $OPENAI_API_KEY or the variable --judge-api-key-env names); for vLLM or another "
    "OpenAI-compatible server add --judge-base-url URL; for Azure --judge azure --judge-base-url ENDPOINT"
)
_NOTED: list[bool] = []


def offline_note() -> None:
    """How to configure a real judge, printed once per process when the offline judge is the default."""
    if not _NOTED:
        _NOTED.append(True)
        print(OFFLINE_NOTE, file=sys.stderr)


@dataclass(frozen=True)
class JudgeConfig:
    """The judge settings (field names are the keys of ``to_json``), each declared with its CLI flag."""

    kind: str | None = option(
        None,  # None: openai with a model, else offline
        "--judge",
        "judge backend (default: openai if --judge-model is given, else offline)",
        choices=JUDGE_KINDS,
    )
    model: str | None = option(None, "--judge-model", "judge model name, e.g. gpt-4o")
    base_url: str | None = option(
        None, "--judge-base-url", "OpenAI-compatible base URL (vLLM, Azure endpoint, ...)"
    )
    api_key_env: str = option(
        DEFAULT_API_KEY_ENV,
        "--judge-api-key-env",
        "name of the environment variable holding the judge API key",
    )
    timeout: float = option(
        DEFAULT_TIMEOUT,
        "--judge-timeout",
        f"seconds per judge request (default {DEFAULT_TIMEOUT:g})",
        type=float,
    )
    max_retries: int = option(
        DEFAULT_MAX_RETRIES,
        "--judge-max-retries",
        f"SDK retries for 429/5xx/timeouts/malformed replies (default {DEFAULT_MAX_RETRIES})",
        type=int,
    )
    breaker_after: int = option(
        BREAKER_AFTER,
        "--judge-breaker-after",
        f"stop the run after this many calls in a row could not reach the judge (default {BREAKER_AFTER}; "
        "0 = never)",
        type=int,
    )
    text_only: bool = option(False, "--text-only", "do not send the image to the judge")
    concurrency: int = option(DEFAULT_CONCURRENCY, "--judge-concurrency", "judge calls in flight", type=int)
    rpm: float | None = option(None, "--judge-rpm", "judge requests per minute limit", type=float)
    cache: str | None = option(
        None,  # path of the judge cache; None = no cache
        "--cache",
        "judge cache (default {default})",
        type=Path,
        cli_default=default_cache_path,
        off_flag=("--no-cache", "do not read or write the judge cache"),
    )
    price_in: float | None = option(None, "--price-per-mtok-in", "USD per million prompt tokens", type=float)
    price_out: float | None = option(
        None, "--price-per-mtok-out", "USD per million completion tokens", type=float
    )
    quiet: bool = option(False, "--quiet", "no progress bars")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
        """One flag per field (and the off-switches), as the fields declare them."""
        for field in dataclasses.fields(cls):
            meta = field.metadata
            cli_default = meta["cli_default"]
            help_text = meta["help"].format(default=cli_default()) if cli_default else meta["help"]
            if isinstance(field.default, bool):
                parser.add_argument(meta["flag"], action="store_true", help=help_text)
            else:
                parser.add_argument(meta["flag"], default=field.default, help=help_text, **meta["argparse"])
            if meta["off_flag"]:
                off, off_help = meta["off_flag"]
                parser.add_argument(off, action="store_true", help=off_help)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> JudgeConfig:
        """The settings given by the flags of ``add_arguments``."""
        values = {}
        for field in dataclasses.fields(cls):
            meta = field.metadata
            value = getattr(args, dest(meta["flag"]))
            if meta["off_flag"] and getattr(args, dest(meta["off_flag"][0])):
                value = None
            elif meta["cli_default"]:
                value = str(value or meta["cli_default"]())
            values[field.name] = value
        return cls(**values)

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

            offline_note()
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
