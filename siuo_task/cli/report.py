"""`siuo-eval report RUN_DIR [RUN_DIR ...] --out DIR`: report.md + self-contained report.html.

RUN_DIR layouts are described in ``siuo_task.runs``; a folder holding several model folders (an
lmms-eval --output_path) gives one run per model, and a validate-judge output adds the judge's validation.
The MCQA surface baselines come from a ``siuo-eval baselines`` output among the folders, else are computed
from local or cached annotations (never downloaded).
"""

from __future__ import annotations

import argparse
import contextlib
import io
from collections import Counter
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_task.cli.common import add_label_arguments
from siuo_task.files import check_output_folder
from siuo_task.readers import read_json_file
from siuo_task.redact import safe_text
from siuo_task.report import write_report
from siuo_task.runs import RunResult, is_example, merge_runs, read_runs, shows_placeholders
from siuo_task.scoring.baselines import baseline_metrics


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "runs",
        nargs="+",
        type=Path,
        help="run folders: siuo-eval --output_path (or one model folder in it), judge / score-mcqa "
        "/ validate-judge outputs",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for report.md, report.html and plots")
    parser.add_argument(
        "--names",
        help="comma-separated display names, one per run folder (equal names merge: e.g. a judge and a "
        "score-mcqa output of one model)",
    )
    parser.add_argument(
        "--validation",
        type=Path,
        help="validation.json from siuo-eval validate-judge (default: one found under the run folders)",
    )
    parser.add_argument(
        "--placeholder-images",
        action="store_true",
        help="say on the first line that the models saw placeholder images (found automatically "
        "when a run's results say so in their provenance: data.placeholder_images)",
    )
    parser.add_argument(
        "--data-dir",
        help="SIUO folder, to show the question text of failing examples "
        "(default: $SIUO_DATA_DIR or the cache; never downloads)",
    )
    parser.add_argument(
        "--all-pairs",
        action="store_true",
        help="paired differences between every two runs; by default only between runs on the same items "
        "judged by the same judge (the others would not measure the models alone)",
    )
    add_label_arguments(parser)


def local_items(data_dir: str | None) -> list:
    """SIUO items from local or cached annotations, or [] when none are at hand (no download)."""
    from siuo_dataset.items import load_siuo

    try:
        with contextlib.redirect_stderr(
            io.StringIO()
        ):  # the report needs no images: no missing-image warning
            return load_siuo(
                data_dir, allow_missing_images=True, allow_download=False, decode_images=False
            ).items
    except SiuoError:
        return []


def distinct_names(runs: list[tuple[RunResult, Path]]) -> list[RunResult]:
    """Runs of different folders that got the same name (one model run twice) kept apart, each named with its
    folder too: only ``--names`` merges runs into one row."""
    counts = Counter(run.name for run, _ in runs)
    for run, folder in runs:
        if counts[run.name] > 1:
            run.name = f"{run.name} ({folder})"
    return [run for run, _ in runs]


def run(args: argparse.Namespace) -> int:
    names = args.names.split(",") if args.names else [None] * len(args.runs)
    if len(names) != len(args.runs):
        raise SiuoError(f"--names has {len(names)} names for {len(args.runs)} run folders")
    check_output_folder(args.out, ["report.md", "report.html"], [args.validation, *args.runs])
    validation, baselines = None, None
    if args.validation:
        try:
            validation = read_json_file(args.validation)
        except SiuoError as error:
            raise SiuoError(f"--validation {args.validation}: not a readable JSON file ({error})") from None
    runs, ignored = [], 0
    for folder, name in zip(args.runs, names):
        found = read_runs(folder, name, accept_unfingerprinted=args.accept_unfingerprinted_labels)
        runs.extend((run, folder) for run in found.runs)
        ignored += found.ignored
        validation = validation or found.validation
        baselines = baselines or found.baselines
    if not runs:
        raise SiuoError(
            "no model results among the run folders (only a judge validation): pass a run folder too"
        )
    runs = merge_runs(distinct_names(runs) if not args.names else [run for run, _ in runs])
    examples = [run for run in runs if is_example(run)]
    runs = [run for run in runs if not is_example(run)]
    for run in examples:
        print(
            f"note: {safe_text(run.name)} left out of the report: judged or scored from the example files "
            "(siuo-eval examples), made-up responses, not a model's"
        )
    if examples and not runs:
        raise SiuoError(
            "only example runs among the run folders (made-up responses, not a model's): pass a model's run "
            "folder too"
        )
    for note in (note for run in runs for note in run.notes):
        print(f"note: {safe_text(note)}")
    if ignored:
        print(f"note: ignored {ignored} metrics.json file(s) that are not SIUO results")
    items = local_items(args.data_dir)
    questions = {item.question_id: item.question for item in items}
    baselines = baselines or (baseline_metrics(items) if items else None)
    out = write_report(
        runs,
        args.out,
        validation=validation,
        placeholder_images=args.placeholder_images,
        questions=questions,
        baselines=baselines,
        all_pairs=args.all_pairs,
    )
    placeholder = args.placeholder_images or any(map(shows_placeholders, runs))
    print(
        ("PLACEHOLDER IMAGES were used: the report says so on its first line\n" if placeholder else "")
        + f"report: {out / 'report.html'} and {out / 'report.md'} ({len(runs)} model(s): "
        f"{safe_text(', '.join(run.name for run in runs))})"
    )
    return 0
