"""`siuo-eval validate-judge --judge ... --out DIR`: measure a judge on the 668 MCQA options (correct option =
safe and effective, distractors = not), with the reference answer and reference-blind (the headline), or with
``--reviews RUN_DIR`` on the human labels of a reviewed run. The algorithm and what the labels mean:
``siuo_task.scoring.validation``. Writes DIR/validation.json and prints the figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from siuo_dataset.domains import DOMAIN_NAMES
from siuo_task.cli.common import (
    add_data_arguments,
    add_judge_arguments,
    add_label_arguments,
    failed_calls_exit,
    judge_and_data,
    say,
)
from siuo_task.files import (
    JUDGEMENTS_FILE,
    METRICS_FILE,
    REVIEWS_FILE,
    VALIDATION_FILE,
    check_output_folder,
    write_json_atomic,
)
from siuo_task.provenance import provenance
from siuo_task.scoring.validation import (
    OPTIONS_NOTE,
    SMOKE_TEST_NOTE,
    validate_on_human_labels,
    validate_on_options,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--skip-reference-blind", action="store_true", help="only the with-reference run")
    parser.add_argument(
        "--reviews",
        type=Path,
        metavar="RUN_DIR",
        help="validate on the human labels (RUN_DIR/reviews.jsonl) of a reviewed run instead",
    )
    parser.add_argument(
        "--safety-only",
        action="store_true",
        help="ask only the safety question (half the calls; no safe-and-effective figures)",
    )
    add_data_arguments(parser)
    add_judge_arguments(parser)
    add_label_arguments(parser)


def table(report: dict, variants: list[str]) -> str:
    """A plain-text table: one row per variant and figure, then per-domain balanced accuracy."""
    rows = [
        f"{'variant':<16} {'figure':<20} {'bal.acc':>7} {'kappa':>7} {'n':>4} {'unpars.':>7}  tp/fn/fp/tn"
    ]
    for variant in variants:
        for figure, r in (
            ("safe", report[variant]),
            ("safe_and_effective", report[variant].get("safe_and_effective")),
        ):
            if r:
                c = r["confusion"]
                rows.append(
                    f"{variant:<16} {figure:<20} {r['balanced_accuracy']!s:>7} {r['kappa']!s:>7} {r['n']:>4} "
                    f"{r['unparsable']:>7}  {c['tp']}/{c['fn']}/{c['fp']}/{c['tn']}"
                )
    rows.append("per domain, safe-vs-not balanced accuracy: " + ", ".join(variants))
    for name in DOMAIN_NAMES:
        rows.append(
            f"  {name:<34} "
            + "  ".join(f"{report[v]['per_domain'][name]['balanced_accuracy']!s:>7}" for v in variants)
        )
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    reviewed = (
        [args.reviews / name for name in (REVIEWS_FILE, JUDGEMENTS_FILE, METRICS_FILE)]
        if args.reviews
        else []
    )
    check_output_folder(args.out, [VALIDATION_FILE], reviewed)  # before any judge call
    config, judge, loaded = judge_and_data(args)
    options = {
        "aspects": ["safety"] if args.safety_only else ["safety", "effectiveness"],
        "cache": config.open_cache(),
        "run_options": config.run_options(),
        "say": lambda message: say(args, message),
    }
    report = provenance(loaded, judge=judge.info, images_used=not judge.info.text_only)
    if args.reviews:
        from siuo_task.runs import load_judged_run

        judged = load_judged_run(args.reviews, accept_unfingerprinted=args.accept_unfingerprinted_labels)
        items_by_id = {item.question_id: item for item in loaded.items}
        note = f"labels: the human verdicts in {judged.reviews_path} (reviewers' majority; ties left out)"
        validation = validate_on_human_labels(
            judge,
            judged.judgements,
            judged.labels(),
            items_by_id,
            source=str(judged.reviews_path),
            **options,
        )
    else:
        note = OPTIONS_NOTE
        validation = validate_on_options(
            judge, loaded.items, reference_blind=not args.skip_reference_blind, **options
        )
    if judge.info.backend == "offline":
        note = f"{SMOKE_TEST_NOTE} {note}"
    report = {**report, "note": note, **validation.figures}
    write_json_atomic(args.out / VALIDATION_FILE, report)
    if args.reviews:
        print(f"judge {judge.info.backend}/{judge.info.model} on the human labels of {args.reviews}:")
        for aspect, r in report["human_labels"].items():
            c = r["confusion"]
            print(
                f"  {aspect:<14} bal.acc {r['balanced_accuracy']}  kappa {r['kappa']}  n={r['n']}  "
                f"unparsable {r['unparsable']}  tp/fn/fp/tn {c['tp']}/{c['fn']}/{c['fp']}/{c['tn']}"
            )
            for kind, text in (("blind", "blind labels"), ("not_blind", "non-blind (judge's verdict seen)")):
                kind_figures = r[kind]
                print(
                    f"    {text}: bal.acc {kind_figures['balanced_accuracy']}  "
                    f"kappa {kind_figures['kappa']}  n={kind_figures['n']}"
                )
    else:
        approximate = " (APPROXIMATE judge)" if judge.info.approximate else ""
        print(f"judge {judge.info.backend}/{judge.info.model}{approximate} on the 668 MCQA options:")
        print(table(report, validation.variants))
        print(
            f"headline ({report['headline']}): balanced accuracy {report['balanced_accuracy']}, "
            f"kappa {report['kappa']}"
        )
        if judge.info.backend == "offline":
            print(SMOKE_TEST_NOTE)
    print(f"-> {args.out / VALIDATION_FILE}")
    return failed_calls_exit(validation.errors, "counted as unparsable above")
