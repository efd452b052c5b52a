"""Pieces shared by the siuo-eval subcommands: data flags and loading, status lines, the judge-failure exit.
"""
from __future__ import annotations

import argparse
import sys

from siuo_dataset.items import LoadedSiuo, load_siuo


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="SIUO folder (default: $SIUO_DATA_DIR, else the pinned Hub revision)")
    parser.add_argument("--no-verify-checksums", action="store_true",
                        help="accept annotation files that differ from the pinned release")


def load_data(args: argparse.Namespace, *, need_images: bool) -> LoadedSiuo:
    """Validated SIUO; images are required only when something will look at them."""
    return load_siuo(args.data_dir, allow_missing_images=not need_images,
                     verify_checksums=not args.no_verify_checksums)


def say(args: argparse.Namespace, message: str) -> None:
    """A one-line status message on stderr unless --quiet."""
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


def failed_calls_exit(errors: int, where: str) -> int:
    """Exit status after judging: 3, with one line naming the failures, when judge calls are left failed."""
    if not errors:
        return 0
    print(f"siuo-eval: error: {errors} judge calls failed ({where}); re-run the same command to complete only "
          "what is missing", file=sys.stderr)
    return 3
