"""Pieces shared by the siuo-eval subcommands: data and judge flags, data loading, status lines, the
judge-failure exit."""

from __future__ import annotations

import argparse
import sys

from siuo_dataset.items import LoadedSiuo, load_siuo
from siuo_task.judge.base import Judge
from siuo_task.judge.config import JudgeConfig
from siuo_task.protocol.metric_defs import Figure, MetricDef
from siuo_task.scoring.labels import ACCEPT_FLAG


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
    """The judge flags of `siuo-eval judge`, `validate-judge` and the lmms-eval wrapper, as ``JudgeConfig``'s
    fields declare them (read back by ``JudgeConfig.from_args``)."""
    JudgeConfig.add_arguments(parser.add_argument_group("judge"))


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
        missing_fix="judge text-only (--text-only), or make placeholders (siuo-data placeholders "
        "--data-dir DIR)",
    )


def items_text(scored: int, total: int) -> str:
    """``167 items``, or ``5 of 167 items`` for a partial run (never mistaken for the full benchmark)."""
    return f"{scored} items" if scored >= total else f"{scored} of {total} items"


def rate_text(value: float | None, digits: int | None = None) -> str:
    """A rate for a summary line: ``12.5%`` (``digits`` decimals if given), or ``n/a (0 parsable)`` when
    nothing could be scored (the metrics hold None), never ``None%``."""
    if value is None:
        return "n/a (0 parsable)"
    return f"{value}%" if digits is None else f"{value:.{digits}f}%"


def headline_text(metrics: dict, metric: MetricDef, digits: int | None = None) -> str:
    """A rate for a summary line with, beside it, its undecided count (generation: the items its denominator
    leaves out, ties and unparsable votes): ``45.51% (2 tied/unparsable)``."""
    figure = Figure.of(metrics, metric)
    text = rate_text(None if figure is None else figure.rate, digits)
    if figure is None or figure.undecided is None:
        return text
    return f"{text} ({figure.undecided} {metric.undecided_label})"


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


def add_label_arguments(parser: argparse.ArgumentParser) -> None:
    """The flag of every command that reads human labels."""
    parser.add_argument(
        ACCEPT_FLAG,
        dest="accept_unfingerprinted_labels",
        action="store_true",
        help="also use labels without a fingerprint (hand-written files): nothing checks they are about "
        "this run's responses",
    )
