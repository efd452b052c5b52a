"""``JudgeConfig``: which judge, how to reach it and how to run its calls, as one checked value.

Each field declares its CLI flag (``option``): ``add_arguments`` adds the flags to a parser and ``from_args``
reads them back, so a new setting is declared once. Made from the CLI flags or from JSON (``from_json``;
``to_json`` never holds a secret: the API key stays in the environment variable ``api_key_env`` names).
``build()`` constructs the judge when asked, through the backend ``--judge`` names
(``siuo_task.judge.registry``) with its own options (``--judge-arg KEY=VALUE``, checked by the backend's
declaration; its client is built on the first call), ``open_cache()`` the
judge cache, ``run_options()`` the keyword arguments of ``run_calls`` / ``judge_responses``. Nothing here
runs at import time. Without a judge model the judge is the offline one, labelled APPROXIMATE in every result.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sqlite3
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_task.judge.base import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, Judge, JudgeBackend, JudgeSettings
from siuo_task.judge.cache import JudgeCache, default_cache_path
from siuo_task.judge.registry import backend_names, backend_options, get_backend, judge_args
from siuo_task.judge.runner import BREAKER_AFTER, DEFAULT_CONCURRENCY, Price


def option(
    default: object,
    flag: str,
    help: str,
    *,
    cli_default=None,
    off_flag=None,
    from_cli=None,
    **argparse_kwargs,
):
    """A ``JudgeConfig`` field declared with its CLI flag: ``flag``, ``help`` and argparse's ``type`` /
    ``choices`` / ``metavar`` / ``action`` (a bool field is an on-switch). ``cli_default()`` is the value when
    the flag is not given (``{default}`` in ``help`` shows it; ``{backends}`` the judge backends);
    ``off_flag`` = (flag, help) is a switch that sets the field to None; ``from_cli`` turns what argparse
    read into the field's value. A dict default is a fresh empty dict per value."""
    metadata = {
        "flag": flag,
        "help": help,
        "cli_default": cli_default,
        "off_flag": off_flag,
        "from_cli": from_cli,
        "argparse": argparse_kwargs,
    }
    if isinstance(default, dict):
        return dataclasses.field(default_factory=dict, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def dest(flag: str) -> str:
    """The argparse attribute of ``flag``."""
    return flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class JudgeConfig:
    """The judge settings (field names are the keys of ``to_json``), each declared with its CLI flag."""

    kind: str | None = option(
        None,  # None: openai with a model, else offline
        "--judge",
        "judge backend: {backends} (default: openai if --judge-model is given, else offline)",
        metavar="BACKEND",
    )
    model: str | None = option(None, "--judge-model", "judge model name, e.g. gpt-4o")
    base_url: str | None = option(
        None, "--judge-base-url", "OpenAI-compatible base URL (vLLM, Azure endpoint, ...)"
    )
    api_key_env: str | None = option(
        None,  # None: the backend's own (openai and azure: OPENAI_API_KEY; offline: none)
        "--judge-api-key-env",
        "name of the environment variable holding the judge API key (default: the backend's own, "
        "OPENAI_API_KEY for openai and azure)",
    )
    judge_args: dict[str, str] = option(
        {},  # the backend's own options, KEY -> VALUE text (never a secret)
        "--judge-arg",
        "a backend option KEY=VALUE (repeatable, or comma-separated like --model_args), e.g. --judge-arg "
        "max_tokens=1024; an unknown key is an error naming the ones the backend accepts",
        action="append",
        metavar="KEY=VALUE",
        from_cli=lambda texts: judge_args(texts or ()),
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
            help_text = meta["help"]
            if "{" in help_text:
                help_text = help_text.format(
                    default=cli_default() if cli_default else None, backends=", ".join(backend_names())
                )
            if isinstance(field.default, bool):
                parser.add_argument(meta["flag"], action="store_true", help=help_text)
            else:
                default = None if field.default is dataclasses.MISSING else field.default
                parser.add_argument(meta["flag"], default=default, help=help_text, **meta["argparse"])
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
            elif meta["from_cli"]:
                value = meta["from_cli"](value)
            values[field.name] = value
        return cls(**values)

    @classmethod
    def from_json(cls, values: Mapping) -> JudgeConfig:
        """The settings in a ``to_json`` object; missing keys take defaults, unknown ones are an error."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SiuoError(f"unknown judge setting {unknown[0]!r}: known are {', '.join(sorted(known))}")
        values = dict(values)
        if "judge_args" in values:
            values["judge_args"] = json_judge_args(values["judge_args"])
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
        self.backend_and_options()

    def backend_and_options(self) -> tuple[JudgeBackend, dict]:
        """The backend ``--judge`` names and its options (``--judge-arg``), checked and converted; one clear
        line naming the flag for anything nonsensical."""
        if self.concurrency < 1:
            raise SiuoError("--judge-concurrency must be at least 1")
        if self.rpm is not None and self.rpm <= 0:
            raise SiuoError("--judge-rpm must be positive")
        if self.breaker_after < 0:
            raise SiuoError("--judge-breaker-after must be 0 (never) or more")
        if self.kind is None:
            self._check_model_given()
        backend = get_backend(self.resolved_kind)
        if backend.needs_model:
            if not self.model:
                raise SiuoError(f"--judge {backend.name} needs --judge-model (e.g. gpt-4o)")
            if self.timeout <= 0 or self.max_retries < 0:
                raise SiuoError("--judge-timeout must be > 0 and --judge-max-retries >= 0")
        options = backend_options(backend, self.judge_args)
        if self.kind == "offline":
            self._check_model_given()
        return backend, options

    def endpoint_flags(self) -> list[str]:
        """The flags given that only a judge behind an endpoint uses (``--judge-base-url``, ``--judge-arg``,
        ...), in declaration order."""
        given = []
        for field in dataclasses.fields(self):
            if field.name in ENDPOINT_SETTINGS and getattr(self, field.name) not in (None, {}, field.default):
                given.append(field.metadata["flag"])
        return given

    def _check_model_given(self) -> None:
        """A judge flag for an endpoint without ``--judge-model`` is an error naming the fix, never a silent
        offline judge; so is one given to the offline judge, which asks no endpoint."""
        flags = self.endpoint_flags()
        if not flags or (self.kind not in (None, "offline")) or (self.kind is None and self.model):
            return
        named = " and ".join(flags)
        if self.kind == "offline":
            raise SiuoError(
                f"--judge offline asks no endpoint, so {named} would be ignored: drop {named}, or name the "
                "judge model the endpoint serves with --judge-model MODEL instead of --judge offline"
            )
        raise SiuoError(
            f"{named} given without --judge-model: add --judge-model MODEL (the name the judge endpoint "
            f"serves, e.g. --judge-model my-judge), or drop {named} to use the offline judge (APPROXIMATE)"
        )

    @property
    def resolved_kind(self) -> str:
        return self.kind or ("openai" if self.model else "offline")

    def build(self) -> Judge:
        """The judge these settings name (checked first), built by its backend's factory; an LLM judge builds
        its client on its first call."""
        backend, options = self.backend_and_options()
        if self.kind is None and not self.model:
            offline_note()
        judge = backend.factory(
            JudgeSettings(
                model=self.model,
                base_url=self.base_url,
                api_key_env=self.api_key_env or backend.api_key_env,
                text_only=self.text_only,
                timeout=self.timeout,
                max_retries=self.max_retries,
                options=options,
            )
        )
        if options:  # its --judge-arg options are part of its identity (and so of the cache key)
            given = {
                key: value if isinstance(value, str | int | float | bool) else str(value)
                for key, value in options.items()
            }
            judge.info = dataclasses.replace(judge.info, options={**judge.info.options, **given})
        return judge

    def open_cache(self) -> JudgeCache | None:
        """The judge cache (None when caching is off); one clear line when it cannot be opened."""
        if not self.cache:
            return None
        try:
            cache = JudgeCache(self.cache)
        except SiuoError:  # an older, newer or foreign cache: its own line says how to move it aside
            raise
        except (
            sqlite3.DatabaseError
        ) as error:  # not a database, or not ours: say so, and how to move it aside
            raise SiuoError(
                f"the judge cache {self.cache} is damaged or not a siuo judge cache ({type(error).__name__}: "
                f"{error}): move it aside (mv {self.cache} {self.cache}.bad) and re-run, or pass another "
                "--cache (or --no-cache)"
            ) from None
        except Exception as error:  # sqlite3 / OS errors: one clear line
            raise SiuoError(
                f"cannot open judge cache {self.cache}: {error}; pass another --cache or --no-cache"
            ) from None
        note = cache.legacy_note()
        if note and note not in _NOTED:
            _NOTED.add(note)
            print(note, file=sys.stderr)
        return cache

    def run_options(self) -> dict:
        """Keyword arguments of ``run_calls`` / ``judge_responses``: concurrency, rate, price, progress."""
        return {
            "concurrency": self.concurrency,
            "requests_per_minute": self.rpm,
            "price": self.price,
            "progress": not self.quiet,
            "breaker_after": self.breaker_after,
        }


OFFLINE_NOTE = (
    "NOTE: no judge model given, so the offline rule-based judge decides: a smoke test, its figures are "
    "APPROXIMATE (see docs/protocol.md, 'Judge validation'). For a real judge pass --judge-model MODEL "
    "(e.g. gpt-4o, key in $OPENAI_API_KEY or the variable --judge-api-key-env names); for vLLM or another "
    "OpenAI-compatible server add --judge-base-url URL; for Azure --judge azure --judge-base-url ENDPOINT"
)
_OFFLINE_NOTED: list[bool] = []


def offline_note() -> None:
    """How to configure a real judge, printed once per process when the offline judge is the default (no
    judge flag given); a harness that defaults otherwise (plain lmms-eval) says it in its own terms."""
    if not _OFFLINE_NOTED:
        _OFFLINE_NOTED.append(True)
        print(OFFLINE_NOTE, file=sys.stderr)


_NOTED: set[str] = set()  # cache notes already printed by this process

# The settings only a judge behind an endpoint uses: given without --judge-model (or to --judge offline) they
# are an error, never silently dropped.
ENDPOINT_SETTINGS = (
    "base_url",
    "api_key_env",
    "judge_args",
    "timeout",
    "max_retries",
    "rpm",
    "price_in",
    "price_out",
)


def json_judge_args(values: object) -> dict[str, str]:
    """The ``judge_args`` of a JSON config: KEY -> VALUE text (a number or true/false written as JSON
    is taken as its JSON text)."""
    if not isinstance(values, Mapping) or not all(
        isinstance(value, str | int | float | bool) for value in values.values()
    ):
        raise SiuoError(
            'judge setting judge_args: expected an object of KEY: VALUE, e.g. {"max_tokens": 256}'
        )
    return {str(key): text if isinstance(text, str) else json.dumps(text) for key, text in values.items()}
