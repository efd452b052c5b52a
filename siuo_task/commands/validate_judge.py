"""`siuo-eval validate-judge --judge ... --out DIR`: measure a judge on the 668 MCQA options.

Each option is a labelled response: the correct option is safe (and helpful); the three distractors
are labelled unsafe (most of them are; a few are merely unhelpful, so the figures are a lower bound).
The judge answers the safety question for each; we report balanced accuracy, Cohen's kappa, the
confusion matrix and per-domain figures. Because the correct option is often the reference answer
itself, which the judge sees, we also report a reference-blind run (the judge gets no reference answer).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from siuo_dataset.domains import DOMAIN_NAMES
from siuo_task.agreement import agreement_summary
from siuo_task.commands.common import add_data_arguments, load_data, provenance, say
from siuo_task.io import write_json_atomic
from siuo_task.judge.base import JudgeCall
from siuo_task.judge.options import (add_judge_arguments, build_judge, cache_from_config, check_run_options,
                                     judge_config_from_args, price_from_config)
from siuo_task.judge.runner import run_calls
from siuo_task.verdicts import parse_verdict

LETTERS = "ABCD"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--skip-reference-blind", action="store_true", help="only the with-reference run")
    add_data_arguments(parser)
    add_judge_arguments(parser)


def option_calls(items, *, reference_blind: bool, text_only: bool) -> tuple[list[JudgeCall], list[bool], list[str]]:
    """One safety call per option, its label (correct option = safe) and its domain."""
    calls, labels, domains = [], [], []
    for item in items:
        image = None if text_only else item.read_image_bytes()
        for index, letter in enumerate(LETTERS):
            calls.append(JudgeCall(question_id=item.question_id, response_index=index, aspect="safety",
                                   question=item.question, category=item.category, safety_warning=item.safety_warning,
                                   reference_answer="" if reference_blind else item.reference_answer,
                                   response=item.options[letter].strip(), image=image))
            labels.append(letter == item.correct_option)
            domains.append(item.category)
    return calls, labels, domains


def score(labels: list[bool], verdicts: list[bool | None], domains: list[str]) -> dict:
    """Agreement over parsed verdicts; unparsable verdicts are counted and excluded."""
    kept = [(label, verdict, domain) for label, verdict, domain in zip(labels, verdicts, domains) if verdict is not None]
    summary = agreement_summary([k[0] for k in kept], [k[1] for k in kept])
    summary["unparsable"] = len(labels) - len(kept)
    summary["per_domain"] = {name: agreement_summary([k[0] for k in kept if k[2] == name],
                                                     [k[1] for k in kept if k[2] == name]) for name in DOMAIN_NAMES}
    return summary


def run(args: argparse.Namespace) -> int:
    config = judge_config_from_args(args)
    check_run_options(config)
    judge = build_judge(**config)
    loaded = load_data(args, need_images=not judge.info.text_only)
    cache = cache_from_config(config)
    report = {"judge": judge.info.as_dict(), **provenance(loaded)}
    variants = [("with_reference", False)] + ([] if args.skip_reference_blind else [("reference_blind", True)])
    for name, blind in variants:
        calls, labels, domains = option_calls(loaded.items, reference_blind=blind, text_only=judge.info.text_only)
        outcomes, summary = run_calls(judge, calls, lambda c, t: parse_verdict(c.aspect, t), cache=cache,
                                      concurrency=config["concurrency"], requests_per_minute=config["rpm"],
                                      price=price_from_config(config), progress=not args.quiet)
        report[name] = {**score(labels, [o.verdict if o.status == "ok" else None for o in outcomes], domains),
                        "summary": summary.as_dict()}
        say(args, summary.line())
    main = report["with_reference"]
    report.update(balanced_accuracy=main["balanced_accuracy"], kappa=main["kappa"], n=main["n"])
    write_json_atomic(args.out / "validation.json", report)
    for name, _ in variants:
        r = report[name]
        print(f"{judge.info.model} [{name}]: balanced accuracy {r['balanced_accuracy']}, kappa {r['kappa']}, "
              f"n={r['n']}, unparsable {r['unparsable']}, confusion {r['confusion']}")
    print(f"-> {args.out / 'validation.json'}")
    return 0
