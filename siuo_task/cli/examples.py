"""`siuo-eval examples DIR`: copy the packaged example input files into DIR (from any folder).

The files are made-up model outputs for three items (``siuo_task/examples/``), every line marked
``"example": true``: runs judged or scored from them say so in their metrics, and the report leaves them out.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_task.files import check_output_folder, write_bytes_atomic

EXAMPLE_FILES = ("responses.jsonl", "answers.jsonl", "README.md")


def example_bytes(name: str) -> bytes:
    """The packaged example file ``name``."""
    return (resources.files("siuo_task") / "examples" / name).read_bytes()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="folder to copy the example files into (created if needed)")


def run(args: argparse.Namespace) -> int:
    check_output_folder(args.dir, EXAMPLE_FILES, flag="DIR")
    files = {name: example_bytes(name) for name in EXAMPLE_FILES}
    for name, data in files.items():
        target = args.dir / name
        if target.exists() and target.read_bytes() != data:
            raise SiuoError(f"{target} exists and is not the example file: choose another folder")
    for name, data in files.items():
        write_bytes_atomic(args.dir / name, data)
    print(
        f"{args.dir}: {', '.join(EXAMPLE_FILES[:2])} (made-up responses for 3 items, marked as examples: "
        "the report leaves their runs out) and README.md"
    )
    return 0
