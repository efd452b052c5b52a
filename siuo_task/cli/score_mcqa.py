"""`siuo-eval score-mcqa RESPONSES.jsonl --out DIR`: parse MCQA answers, write parses + accuracy.

Input lines: {"question_id": 1001, "response": "..."}. Unparsable answers count as wrong and are
reported; with --paper-compat the official script's parser reads them and the answers it finds no letter in
get its random letter, seeded and marked. metrics.json has both parsers' accuracy side by side (``parsers``).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from siuo_task.cli.common import add_data_arguments, items_text, load_data, rate_text
from siuo_task.files import (
    METRICS_FILE,
    PARSES_FILE,
    check_output_folder,
    write_json_atomic,
    write_jsonl_atomic,
)
from siuo_task.protocol.judge_prompts import PROMPT_VERSION
from siuo_task.protocol.mcqa import PAPER_COMPAT_SEED, compare_parsers, parse_mcqa_answer, parse_with_fallback
from siuo_task.provenance import provenance
from siuo_task.readers import EXAMPLE_FIELD, is_example_file, read_answers
from siuo_task.scoring.metrics_file import mcqa_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("responses", type=Path, help="MCQA answers .jsonl")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--paper-compat",
        action="store_true",
        help="read answers with the official script's parser (its quirks included) and give the answers it "
        "finds no letter in a seeded random letter, as it does (unseeded there)",
    )
    add_data_arguments(parser)


def score(
    rows: list[dict],
    items_by_id: dict,
    *,
    paper_compat: bool,
    header: Mapping | None = None,
    extra: Mapping | None = None,
) -> tuple[list[dict], dict]:
    """Per-item parses and the MCQA metrics file (pure; ``header``: its provenance; ``extra``: keys only this
    run has, e.g. ``example``)."""
    parses = []
    for row in rows:
        item = items_by_id[row["question_id"]]
        parsed = parse_with_fallback(
            row["response"], item.options, item.question_id, paper_compat=paper_compat
        )
        parses.append(
            {
                "question_id": item.question_id,
                "category": item.category,
                "response": row["response"],
                "parsed": parsed.letter,
                "guessed": parsed.guessed,
                "correct_option": item.correct_option,
                "correct": parsed.letter == item.correct_option,
            }
        )
    guessed = sum(p["guessed"] for p in parses)
    metrics = mcqa_file(
        [(p["question_id"], p["category"], p["parsed"], p["correct_option"]) for p in parses],
        guessed=[p["question_id"] for p in parses if p["guessed"]],
        facts={"prompt_version": PROMPT_VERSION, "paper_compat": paper_compat, "guessed": guessed},
        parsers=compare_parsers(
            (
                p["question_id"],
                p["response"],
                p["correct_option"],
                parse_mcqa_answer(p["response"], items_by_id[p["question_id"]].options),
            )
            for p in parses
        ),
        header=header or {},
        paper_compat_note=(
            f"PAPER-COMPAT: {guessed} unparsable answers were replaced by a "
            f"random letter seeded per question_id (seed {PAPER_COMPAT_SEED}), as the "
            "official script does (unseeded there); strict accuracy counts them wrong"
        )
        if paper_compat
        else None,
        extra=extra,
    )
    return parses, metrics


def run(args: argparse.Namespace) -> int:
    check_output_folder(args.out, [PARSES_FILE, METRICS_FILE], [args.responses])
    loaded = load_data(args, need_images=False)
    items_by_id = {item.question_id: item for item in loaded.items}
    parses, metrics = score(
        read_answers(args.responses, items_by_id),
        items_by_id,
        paper_compat=args.paper_compat,
        header=provenance(loaded),
        extra={EXAMPLE_FIELD: True}
        if is_example_file(args.responses)
        else None,  # made-up: left out of reports
    )
    write_jsonl_atomic(args.out / "parses.jsonl", parses)
    write_json_atomic(args.out / METRICS_FILE, metrics)
    guesses = (
        f", {metrics['guessed']} of them given a seeded random letter (PAPER-COMPAT)"
        if args.paper_compat
        else ""
    )
    print(
        f"MCQA accuracy {rate_text(metrics['accuracy'])} over "
        f"{items_text(metrics['n_items'], len(loaded.items))} "
        f"({metrics['unparsable']} unparsable{guesses}) -> {args.out}"
    )
    return 0
