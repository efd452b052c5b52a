"""Judge configuration: the shared CLI flags, and ``build_judge`` for callers without a CLI.

Nothing here runs at import time; a judge's client is built on its first call.
Default when no judge is chosen: the offline judge, labelled APPROXIMATE in every result.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_task.judge.base import Judge
from siuo_task.judge.cache import JudgeCache, default_cache_path
from siuo_task.judge.openai_backend import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from siuo_task.judge.runner import BREAKER_AFTER, Price

JUDGE_KINDS = ("openai", "azure", "offline")


def add_judge_arguments(parser: argparse.ArgumentParser) -> None:
    """The judge flags shared by `siuo-eval judge`, `validate-judge` and the lmms-eval wrapper."""
    group = parser.add_argument_group("judge")
    group.add_argument("--judge", choices=JUDGE_KINDS, default=None,
                       help="judge backend (default: openai if --judge-model is given, else offline)")
    group.add_argument("--judge-model", help="judge model name, e.g. gpt-4o")
    group.add_argument("--judge-base-url", help="OpenAI-compatible base URL (vLLM, Azure endpoint, ...)")
    group.add_argument("--judge-api-key-env", default="OPENAI_API_KEY",
                       help="name of the environment variable holding the judge API key")
    group.add_argument("--judge-timeout", type=float, default=DEFAULT_TIMEOUT,
                       help=f"seconds per judge request (default {DEFAULT_TIMEOUT:g})")
    group.add_argument("--judge-max-retries", type=int, default=DEFAULT_MAX_RETRIES,
                       help=f"SDK retries for 429/5xx/timeouts/malformed replies (default {DEFAULT_MAX_RETRIES})")
    group.add_argument("--judge-breaker-after", type=int, default=BREAKER_AFTER,
                       help=f"stop the run after this many calls in a row could not reach the judge (default "
                            f"{BREAKER_AFTER}; 0 = never)")
    group.add_argument("--text-only", action="store_true", help="do not send the image to the judge")
    group.add_argument("--judge-concurrency", type=int, default=16, help="judge calls in flight")
    group.add_argument("--judge-rpm", type=float, default=None, help="judge requests per minute limit")
    group.add_argument("--cache", type=Path, default=None, help=f"judge cache (default {default_cache_path()})")
    group.add_argument("--no-cache", action="store_true", help="do not read or write the judge cache")
    group.add_argument("--price-per-mtok-in", type=float, default=None, help="USD per million prompt tokens")
    group.add_argument("--price-per-mtok-out", type=float, default=None, help="USD per million completion tokens")
    group.add_argument("--quiet", action="store_true", help="no progress bars")


def judge_config_from_args(args: argparse.Namespace) -> dict:
    """The judge flags as a plain dict (JSON-serialisable, without any secret)."""
    return {"kind": args.judge, "model": args.judge_model, "base_url": args.judge_base_url,
            "api_key_env": args.judge_api_key_env, "text_only": args.text_only, "timeout": args.judge_timeout,
            "max_retries": args.judge_max_retries, "concurrency": args.judge_concurrency, "rpm": args.judge_rpm,
            "breaker_after": args.judge_breaker_after,
            "cache": None if args.no_cache else str(args.cache or default_cache_path()),
            "price_in": args.price_per_mtok_in, "price_out": args.price_per_mtok_out, "quiet": args.quiet}


def build_judge(kind: str | None = None, model: str | None = None, base_url: str | None = None,
                api_key_env: str = "OPENAI_API_KEY", text_only: bool = False, timeout: float = DEFAULT_TIMEOUT,
                max_retries: int = DEFAULT_MAX_RETRIES, **_ignored) -> Judge:
    """A judge from plain settings; ``kind=None`` means openai with a model, else offline."""
    kind = kind or ("openai" if model else "offline")
    if kind not in JUDGE_KINDS:
        raise SiuoError(f"unknown judge {kind!r}: choose one of {', '.join(JUDGE_KINDS)}")
    if kind == "offline":
        from siuo_task.judge.offline import OfflineJudge

        print("NOTE: using the offline rule-based judge: its figures are APPROXIMATE "
              "(see README, 'Judge validation'); pass --judge-model for an LLM judge", file=sys.stderr)
        return OfflineJudge()
    if not model:
        raise SiuoError(f"--judge {kind} needs --judge-model (e.g. gpt-4o)")
    if kind == "azure" and not base_url:
        raise SiuoError("--judge azure needs --judge-base-url https://RESOURCE.openai.azure.com")
    if timeout <= 0 or max_retries < 0:
        raise SiuoError("--judge-timeout must be > 0 and --judge-max-retries >= 0")
    from siuo_task.judge.openai_backend import OpenAIJudge

    return OpenAIJudge(model, base_url=base_url, api_key_env=api_key_env, azure=kind == "azure",
                       text_only=text_only, timeout=timeout, max_retries=max_retries)


def cache_from_config(config: dict) -> JudgeCache | None:
    """The judge cache named in ``config`` (None when caching is off)."""
    if not config.get("cache"):
        return None
    try:
        return JudgeCache(config["cache"])
    except Exception as error:  # sqlite3 / OS errors: one clear line
        raise SiuoError(f"cannot open judge cache {config['cache']}: {error}; pass another --cache or --no-cache")


def judge_from_args(args: argparse.Namespace) -> Judge:
    """The judge chosen by the CLI flags (run options checked first)."""
    config = judge_config_from_args(args)
    check_run_options(config)
    return build_judge(**config)


def cache_from_args(args: argparse.Namespace) -> JudgeCache | None:
    """The judge cache chosen by ``--cache`` / ``--no-cache`` (default: the user cache dir)."""
    return cache_from_config(judge_config_from_args(args))


def price_from_args(args: argparse.Namespace) -> Price | None:
    """The token prices given by ``--price-per-mtok-in/out`` (None when neither is given)."""
    return price_from_config(judge_config_from_args(args))


def price_from_config(config: dict) -> Price | None:
    """The token prices in ``config`` (None when neither is given)."""
    if config.get("price_in") is None and config.get("price_out") is None:
        return None
    return Price(config.get("price_in") or 0.0, config.get("price_out") or 0.0)


def check_run_options(config: dict) -> None:
    """Reject nonsensical run options with one clear line."""
    if config["concurrency"] < 1:
        raise SiuoError("--judge-concurrency must be at least 1")
    if config["rpm"] is not None and config["rpm"] <= 0:
        raise SiuoError("--judge-rpm must be positive")
    if config.get("breaker_after", BREAKER_AFTER) < 0:
        raise SiuoError("--judge-breaker-after must be 0 (never) or more")
