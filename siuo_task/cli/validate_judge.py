"""`siuo-eval validate-judge --judge ... --out DIR`: measure a judge on the 668 MCQA options.

Each option is a labelled response: the correct option is safe and helpful; the three distractors
are labelled "not safe" (most are unsafe; a few are bare refusals or merely unhelpful, so safe-vs-not
figures are a lower bound). The judge answers the safety question for each option (and, unless
--safety-only, the effectiveness question, so that "safe and effective" — what the MCQA label really
means — is scored too). We report balanced accuracy, Cohen's kappa, the confusion matrix and
per-domain figures.

The with-reference figures are circular: 166 of the 167 correct options are the reference answer
itself, which the safety judge sees. So we also run reference-blind (the judge gets no reference
answer), and that run is the headline: the top-level ``balanced_accuracy``/``kappa``/``n`` and
``headline`` name it (with-reference only with --skip-reference-blind).

With ``--reviews RUN_DIR`` the labelled responses are instead the human-reviewed responses of a judged run
(``siuo-eval review``): the judge under test answers each reviewed aspect, and is scored against the human
verdict (reviewers' majority; ties and empty responses left out) as variant ``human_labels``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from siuo_dataset.domains import DOMAIN_NAMES
from siuo_dataset.errors import SiuoError
from siuo_dataset.options import OPTION_LETTERS
from siuo_task.cli.common import (
    add_data_arguments,
    add_judge_arguments,
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
from siuo_task.judge.base import JudgeCall
from siuo_task.judge.calls import item_calls
from siuo_task.judge.config import JudgeConfig
from siuo_task.judge.runner import run_calls
from siuo_task.judge.verdicts import parse_verdict
from siuo_task.provenance import provenance
from siuo_task.scoring.agreement import agreement_by_domain

NOTE = (
    "labels: correct MCQA option = safe (and effective), distractors = not (mostly unsafe; a few are "
    "refusals or unhelpful). with_reference is inflated and circular: 166 of 167 correct options are the "
    "reference answer the judge sees; the headline is reference_blind."
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


def option_calls(
    items, *, aspect: str = "safety", reference_blind: bool, text_only: bool
) -> tuple[list[JudgeCall], list[bool], list[str]]:
    """One ``aspect`` call per option, its label (correct option = True) and its domain."""
    calls, labels, domains = [], [], []
    for item in items:
        options = [(index, item.options[letter].strip()) for index, letter in enumerate(OPTION_LETTERS)]
        calls += item_calls(item, options, [aspect], text_only=text_only, reference_blind=reference_blind)
        labels += [letter == item.correct_option for letter in OPTION_LETTERS]
        domains += [item.category] * len(OPTION_LETTERS)
    return calls, labels, domains


def human_label_calls(
    judgements: list[dict], humans: dict, items_by_id: dict, *, aspect: str, text_only: bool
) -> tuple[list[JudgeCall], list[bool], list[str]]:
    """One ``aspect`` call per reviewed non-empty response with a human verdict; the verdicts; the domains."""
    calls, labels, domains = [], [], []
    for row in judgements:
        human = humans.get((row["question_id"], row["response_index"], aspect))
        if human is None or human.disputed or not row["response"].strip():
            continue
        item = items_by_id[row["question_id"]]
        calls += item_calls(item, [(row["response_index"], row["response"])], [aspect], text_only=text_only)
        labels.append(human.verdict)
        domains.append(item.category)
    return calls, labels, domains


def score(labels: list[bool], verdicts: list[bool | None], domains: list[str]) -> dict:
    """Agreement over parsed verdicts; unparsable (or failed) verdicts are counted and excluded."""
    kept = [
        (label, verdict, domain)
        for label, verdict, domain in zip(labels, verdicts, domains)
        if verdict is not None
    ]
    truth, predicted, kept_domains = zip(*kept) if kept else ((), (), ())
    return agreement_by_domain(truth, predicted, kept_domains, unparsable=len(labels) - len(kept))


def both(safe: bool | None, effective: bool | None) -> bool | None:
    """Safe and effective; None when either verdict is missing."""
    return None if safe is None or effective is None else safe and effective


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
    check_output_folder(args.out, ["validation.json"], reviewed)  # before any judge call
    config, judge, loaded = judge_and_data(args)
    cache = config.open_cache()
    report = {**provenance(loaded, judge=judge.info, images_used=not judge.info.text_only), "note": NOTE}
    if args.reviews:
        return run_on_human_labels(args, judge, config, loaded, cache, report)
    variants = ["with_reference"] + ([] if args.skip_reference_blind else ["reference_blind"])
    aspects = ["safety"] if args.safety_only else ["safety", "effectiveness"]
    errors = 0
    for variant in variants:
        verdicts, summaries = {}, {}
        for aspect in aspects:
            calls, labels, domains = option_calls(
                loaded.items,
                aspect=aspect,
                reference_blind=variant == "reference_blind",
                text_only=judge.info.text_only,
            )
            outcomes, summary = run_calls(
                judge, calls, lambda c, t: parse_verdict(c.aspect, t), cache=cache, **config.run_options()
            )
            verdicts[aspect] = [o.verdict if o.status == "ok" else None for o in outcomes]
            summaries[aspect] = summary.as_dict()
            errors += summary.errors
            say(args, f"[{variant}, {aspect}] {summary.line()}")
        report[variant] = {**score(labels, verdicts["safety"], domains), "summary": summaries}
        if "effectiveness" in verdicts:
            combined = [both(s, e) for s, e in zip(verdicts["safety"], verdicts["effectiveness"])]
            report[variant]["safe_and_effective"] = score(labels, combined, domains)
    headline = variants[-1]  # reference_blind unless skipped
    main = report[headline]
    report.update(
        headline=headline, balanced_accuracy=main["balanced_accuracy"], kappa=main["kappa"], n=main["n"]
    )
    write_json_atomic(args.out / VALIDATION_FILE, report)
    approximate = " (APPROXIMATE judge)" if judge.info.approximate else ""
    print(f"judge {judge.info.backend}/{judge.info.model}{approximate} on the 668 MCQA options:")
    print(table(report, variants))
    print(f"-> {args.out / 'validation.json'}")
    return failed_calls_exit(errors, "counted as unparsable above")


def run_on_human_labels(
    args: argparse.Namespace, judge, config: JudgeConfig, loaded, cache, report: dict
) -> int:
    """The judge against the human verdicts of a reviewed run: one figure per aspect (human_labels)."""
    from siuo_task.runs import load_judged_run
    from siuo_task.scoring.labels import human_verdicts

    judged = load_judged_run(args.reviews)
    humans = human_verdicts(judged.reviews())
    items_by_id = {item.question_id: item for item in loaded.items}
    report["note"] = (
        f"labels: the human verdicts in {judged.reviews_path} (reviewers' majority; ties left out)"
    )
    figures, errors = {}, 0
    for aspect in ["safety"] if args.safety_only else ["safety", "effectiveness"]:
        calls, labels, domains = human_label_calls(
            judged.judgements, humans, items_by_id, aspect=aspect, text_only=judge.info.text_only
        )
        if not calls:
            raise SiuoError(
                f"{judged.reviews_path}: no human {aspect} verdicts on non-empty responses to validate on"
            )
        outcomes, summary = run_calls(
            judge, calls, lambda c, t: parse_verdict(c.aspect, t), cache=cache, **config.run_options()
        )
        verdicts = [o.verdict if o.status == "ok" else None for o in outcomes]
        figures[aspect] = {**score(labels, verdicts, domains), "summary": summary.as_dict()}
        errors += summary.errors
        say(args, f"[human labels, {aspect}] {summary.line()}")
    report["human_labels"] = figures
    report.update(
        balanced_accuracy=figures["safety"]["balanced_accuracy"],
        kappa=figures["safety"]["kappa"],
        n=figures["safety"]["n"],
    )
    write_json_atomic(args.out / VALIDATION_FILE, report)
    print(f"judge {judge.info.backend}/{judge.info.model} on the human labels of {args.reviews}:")
    for aspect, r in figures.items():
        c = r["confusion"]
        print(
            f"  {aspect:<14} bal.acc {r['balanced_accuracy']}  kappa {r['kappa']}  n={r['n']}  unparsable "
            f"{r['unparsable']}  tp/fn/fp/tn {c['tp']}/{c['fn']}/{c['fp']}/{c['tn']}"
        )
    print(f"-> {args.out / 'validation.json'}")
    return failed_calls_exit(errors, "counted as unparsable above")
