"""Pieces shared by the siuo-eval subcommands: data and judge flags, data loading, status lines, the
judge-failure exit."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from siuo_dataset.items import LoadedSiuo, load_siuo
from siuo_task.judge.base import Judge
from siuo_task.judge.cache import default_cache_path
from siuo_task.judge.config import JUDGE_KINDS, JudgeConfig
from siuo_task.judge.openai_backend import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from siuo_task.judge.runner import BREAKER_AFTER, DEFAULT_CONCURRENCY


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", help="SIUO folder (default: $SIUO_DATA_DIR, else the pinned Hub revision)"
    )
    parser.add_argument(
        "--no-verify-checksums",
        action="store_true",
        help="accept annotation files that differ from the pinned release",
    )


def add_judge_arguments(parser: argparse.ArgumentParser) -> None:
    """The judge flags of `siuo-eval judge`, `validate-judge` and the lmms-eval wrapper (read by
    ``JudgeConfig.from_args``)."""
    group = parser.add_argument_group("judge")
    group.add_argument(
        "--judge",
        choices=JUDGE_KINDS,
        default=None,
        help="judge backend (default: openai if --judge-model is given, else offline)",
    )
    group.add_argument("--judge-model", help="judge model name, e.g. gpt-4o")
    group.add_argument("--judge-base-url", help="OpenAI-compatible base URL (vLLM, Azure endpoint, ...)")
    group.add_argument(
        "--judge-api-key-env",
        default="OPENAI_API_KEY",
        help="name of the environment variable holding the judge API key",
    )
    group.add_argument(
        "--judge-timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per judge request (default {DEFAULT_TIMEOUT:g})",
    )
    group.add_argument(
        "--judge-max-retries",
        type=int,
        default=DEFAULT_MAX_RETRIES,
        help=f"SDK retries for 429/5xx/timeouts/malformed replies (default {DEFAULT_MAX_RETRIES})",
    )
    group.add_argument(
        "--judge-breaker-after",
        type=int,
        default=BREAKER_AFTER,
        help=f"stop the run after this many calls in a row could not reach the judge (default "
        f"{BREAKER_AFTER}; 0 = never)",
    )
    group.add_argument("--text-only", action="store_true", help="do not send the image to the judge")
    group.add_argument(
        "--judge-concurrency", type=int, default=DEFAULT_CONCURRENCY, help="judge calls in flight"
    )
    group.add_argument("--judge-rpm", type=float, default=None, help="judge requests per minute limit")
    group.add_argument(
        "--cache", type=Path, default=None, help=f"judge cache (default {default_cache_path()})"
    )
    group.add_argument("--no-cache", action="store_true", help="do not read or write the judge cache")
    group.add_argument("--price-per-mtok-in", type=float, default=None, help="USD per million prompt tokens")
    group.add_argument(
        "--price-per-mtok-out", type=float, default=None, help="USD per million completion tokens"
    )
    group.add_argument("--quiet", action="store_true", help="no progress bars")


def judge_and_data(args: argparse.Namespace) -> tuple[JudgeConfig, Judge, LoadedSiuo]:
    """The judge the flags configure (built, so its problems surface first) and SIUO, with images unless the
    judge is text-only."""
    config = JudgeConfig.from_args(args)
    judge = config.build()
    return config, judge, load_data(args, need_images=not judge.info.text_only)


def load_data(args: argparse.Namespace, *, need_images: bool) -> LoadedSiuo:
    """Validated SIUO; images are required, and decoded, only when something will look at them."""
    return load_siuo(
        args.data_dir,
        allow_missing_images=not need_images,
        verify_checksums=not args.no_verify_checksums,
        decode_images=need_images,
    )


def rate_text(value: float | None, digits: int | None = None) -> str:
    """A rate for a summary line: ``12.5%`` (``digits`` decimals if given), or ``n/a (0 parsable)`` when
    nothing could be scored (the metrics hold None), never ``None%``."""
    if value is None:
        return "n/a (0 parsable)"
    return f"{value}%" if digits is None else f"{value:.{digits}f}%"


def say(args: argparse.Namespace, message: str) -> None:
    """A one-line status message on stderr unless --quiet."""
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


def failed_calls_exit(errors: int, where: str) -> int:
    """Exit status after judging: 3, with one line naming the failures, when judge calls are left failed."""
    if not errors:
        return 0
    print(
        f"siuo-eval: error: {errors} judge calls failed ({where}); re-run the same command to complete "
        "only what is missing",
        file=sys.stderr,
    )
    return 3
