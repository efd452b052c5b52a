"""`siuo-eval report RUN_DIR [RUN_DIR ...] --out DIR`: report.md + self-contained report.html."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_task.report import read_run, write_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (siuo-eval / judge / score-mcqa outputs)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--names", help="comma-separated display names, one per run folder")
    parser.add_argument("--validation", type=Path, help="validation.json from siuo-eval validate-judge")
    parser.add_argument("--placeholder-images", action="store_true",
                        help="say on the first line that models saw placeholder images")


def run(args: argparse.Namespace) -> int:
    names = args.names.split(",") if args.names else [None] * len(args.runs)
    if len(names) != len(args.runs):
        raise SiuoError(f"--names has {len(names)} names for {len(args.runs)} run folders")
    validation = None
    if args.validation:
        try:
            validation = json.loads(args.validation.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise SiuoError(f"--validation {args.validation}: not a readable JSON file ({error})") from None
    runs = [read_run(folder, name) for folder, name in zip(args.runs, names)]
    out = write_report(runs, args.out, validation=validation, placeholder_images=args.placeholder_images)
    print(f"report: {out / 'report.html'} and {out / 'report.md'}")
    return 0
