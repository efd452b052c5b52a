"""`siuo-eval baselines --out DIR`: MCQA surface baselines (never look at the image) -> DIR/baselines.json.

Offline: it needs only the annotations (``--data-dir``, ``$SIUO_DATA_DIR`` or the cache), no model, no judge.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from siuo_task.cli.common import add_data_arguments, load_data, rate_text
from siuo_task.files import BASELINES_FILE, check_output_folder, write_json_atomic
from siuo_task.provenance import provenance
from siuo_task.scoring.baselines import baseline_metrics


def interval_text(interval: list[float] | None) -> str:
    return f"[{interval[0]:.1f}, {interval[1]:.1f}]" if interval else ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help=f"output folder (writes {BASELINES_FILE})")
    add_data_arguments(parser)


def run(args: argparse.Namespace) -> int:
    check_output_folder(args.out, [BASELINES_FILE])
    loaded = load_data(args, need_images=False)
    header = provenance(loaded)
    baselines = {name: {**figures, **header} for name, figures in baseline_metrics(loaded.items).items()}
    write_json_atomic(args.out / BASELINES_FILE, baselines)
    print(
        "MCQA surface baselines (no image): "
        + ", ".join(
            f"{name} {rate_text(figures['accuracy'], 2)} {interval_text(figures['ci95']['accuracy'])}"
            for name, figures in baselines.items()
        )
        + f" -> {args.out / BASELINES_FILE}"
    )
    print(
        "read them as comparable to a model's MCQA accuracy when the 95% intervals overlap; caution_cue's "
        "own list was written with the options in view, caution_cue_heldout fits its cues on the other half"
    )
    return 0
