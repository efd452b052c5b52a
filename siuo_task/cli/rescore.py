"""`siuo-eval rescore RUN_DIR --out DIR`: human-checked figures and judge-vs-human agreement.

Reads the run's judgements and RUN_DIR/reviews.jsonl (or --reviews files, concatenated) and writes
DIR/metrics.json: the paper metrics with reviewed verdicts replacing the judge's, the counts of reviewed
and disputed responses per aspect, the judge's own figures, and an ``agreement`` block.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_task.cli.common import add_label_arguments, headline_text, rate_text
from siuo_task.files import (
    JUDGEMENTS_FILE,
    METRICS_FILE,
    REVIEWS_FILE,
    check_output_folder,
    write_json_atomic,
)
from siuo_task.protocol.metric_defs import GENERATION, metric_defs, metric_names
from siuo_task.redact import safe_text
from siuo_task.runs import load_judged_run
from siuo_task.scoring.human import rescore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="the judged run folder that was reviewed")
    parser.add_argument("--out", type=Path, required=True, help="folder for metrics.json")
    parser.add_argument(
        "--reviews", type=Path, nargs="+", help="reviews files (default RUN_DIR/reviews.jsonl)"
    )
    add_label_arguments(parser)


def run(args: argparse.Namespace) -> int:
    check_output_folder(
        args.out,
        [METRICS_FILE],
        [
            args.run / METRICS_FILE,
            args.run / JUDGEMENTS_FILE,
            args.run / REVIEWS_FILE,
            *(args.reviews or []),
        ],
    )
    judged = load_judged_run(args.run, accept_unfingerprinted=args.accept_unfingerprinted_labels)
    paths = args.reviews or [judged.reviews_path]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise SiuoError(f"no reviews file {missing[0]}: review the run first (siuo-eval review {args.run})")
    reviews = judged.labels(paths)
    if not reviews:
        raise SiuoError(
            f"no labels about this run's responses in {', '.join(map(str, paths))}: review the run first "
            f"(siuo-eval review {args.run})"
        )
    metrics = rescore(judged.judgements, reviews, judged.metrics)
    write_json_atomic(args.out / METRICS_FILE, metrics)
    reviewed = metrics["reviewed"]
    print(
        f"human-checked ({safe_text(', '.join(reviewed['reviewers']))}): "
        + ", ".join(
            f"{metric.name} {headline_text(metrics, metric, 2)} "
            f"(judge {rate_text(metrics['judge_figures'].get(metric.name), 2)})"
            for metric in metric_defs(GENERATION)
        )
    )
    for aspect, subsets in metrics["agreement"]["judge_vs_human"].items():
        every = subsets["all"]
        counts = reviewed[aspect]
        print(
            f"  {aspect}: {counts['responses']} reviewed responses ({counts['disputed']} "
            f"disputed); judge vs human agreement {rate_text(every['agreement_percent'])}, "
            f"kappa {every['kappa']} (n={every['n']}); blind labels n={subsets['blind']['n']}, "
            f"kappa {subsets['blind']['kappa']}; non-blind labels (judge's verdict seen) "
            f"n={subsets['not_blind']['n']}, kappa {subsets['not_blind']['kappa']}"
        )
    print_calibrated(metrics.get("calibrated"))
    print(f"-> {args.out / 'metrics.json'}")
    return 0


def print_calibrated(calibrated: dict | None) -> None:
    """One line: the human-calibrated figures, their intervals, the judge's and the humans' beside them."""
    if not calibrated:
        return
    head = (
        f"  calibrated (seed {calibrated['seed']}, {calibrated['labelled_items']} of "
        f"{calibrated['sample_size']} sampled items labelled in full)"
    )
    if calibrated.get("safe") is None:
        print(f"{head}: no item labelled in full yet (both aspects of all its responses)")
        return
    print(
        f"{head}: "
        + ", ".join(
            f"{name} {rate_text(figure['rate'], 2)} [{figure['ci95'][0]:.2f}, {figure['ci95'][1]:.2f}] "
            f"(judge {rate_text(figure['judge_rate'], 2)}, humans {rate_text(figure['human_rate'], 2)})"
            for name in metric_names(GENERATION)
            if (figure := calibrated.get(name))
        )
    )
