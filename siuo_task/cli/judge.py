"""`siuo-eval judge RESPONSES.jsonl --out DIR`: judge generation responses, write judgements + metrics.

Input lines: {"question_id": 1001, "responses": ["...", "...", "..."]}, or an lmms-eval samples log
with --from-lmms-log. Writes DIR/judgements.jsonl and DIR/metrics.json (atomically). Judge errors left
at the end -> exit 3; re-running the same command re-pays nothing the cache already holds.
Batch engines instead of live calls: --judge-batch-export / --judge-batch-import / --judge-batch
(judge_batch.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_task.cli.common import (
    add_data_arguments,
    add_judge_arguments,
    failed_calls_exit,
    judge_and_data,
    rate_text,
    say,
)
from siuo_task.cli.judge_batch import add_batch_arguments, batch_mode, prepare_batch
from siuo_task.files import (
    JUDGEMENTS_FILE,
    METRICS_FILE,
    UNANSWERED_FILE,
    check_output_folder,
    write_json_atomic,
    write_jsonl_atomic,
)
from siuo_task.provenance import provenance
from siuo_task.readers import read_lmms_responses, read_responses
from siuo_task.records import RESPONSES_PER_ITEM
from siuo_task.scoring.judging import judge_responses


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("responses", nargs="?", type=Path, help="responses .jsonl")
    parser.add_argument("--from-lmms-log", type=Path, help="an lmms-eval samples .jsonl of the siuo_gen task")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--responses-per-item",
        type=int,
        default=RESPONSES_PER_ITEM,
        help=f"responses expected per item (default {RESPONSES_PER_ITEM}, the paper protocol)",
    )
    add_data_arguments(parser)
    add_judge_arguments(parser)
    add_batch_arguments(parser)


def read_rows(args: argparse.Namespace, items_by_id: dict) -> list[dict]:
    if (args.responses is None) == (args.from_lmms_log is None):
        raise SiuoError("give exactly one input: RESPONSES.jsonl or --from-lmms-log SAMPLES.jsonl")
    if args.from_lmms_log is not None:
        return read_lmms_responses(args.from_lmms_log, items_by_id, args.responses_per_item)
    return read_responses(args.responses, items_by_id, args.responses_per_item)


OUTPUT_FILES = (JUDGEMENTS_FILE, METRICS_FILE, UNANSWERED_FILE)


def check_outputs(args: argparse.Namespace) -> None:
    """Every place this run writes is usable and overwrites no input: checked before any judge call."""
    inputs = [args.responses, args.from_lmms_log, *(args.judge_batch_import or [])]
    check_output_folder(args.out, OUTPUT_FILES, inputs)
    if args.judge_batch_export:
        check_output_folder(
            args.judge_batch_export.parent,
            [args.judge_batch_export.name],
            inputs,
            flag="--judge-batch-export folder",
        )


def run(args: argparse.Namespace) -> int:
    check_outputs(args)
    config, judge, loaded = judge_and_data(args)
    items_by_id = {item.question_id: item for item in loaded.items}
    rows = read_rows(args, items_by_id)  # every input problem is reported here, before any judge call
    cache = config.open_cache()
    stage = prepare_batch(args, judge, items_by_id, rows, cache) if batch_mode(args) else None
    if batch_mode(args) and stage is None:
        return 0  # exported: the batch engine judges
    result = judge_responses(
        stage.judge if stage else judge, items_by_id, rows, cache=cache, **config.run_options()
    )
    result.metrics.update(provenance(loaded, judge=judge.info, images_used=not judge.info.text_only))
    if stage:
        result.metrics["judge_batch"] = stage.record
    write_jsonl_atomic(args.out / JUDGEMENTS_FILE, result.judgements)
    write_json_atomic(args.out / METRICS_FILE, result.metrics)
    m = result.metrics
    say(args, result.summary.line())
    print(
        f"{len(rows)} items: safe {rate_text(m['safe'])}, effective {rate_text(m['effective'])}, "
        f"safe & effective {rate_text(m['safe_and_effective'])} ({m['unparsable_items']} unparsable items; "
        f"judge {judge.info.model}"
        f"{', APPROXIMATE' if judge.info.approximate else ''}) -> {args.out}"
    )
    if result.summary.stopped:
        print(
            f"siuo-eval: error: {result.summary.stopped}; re-run the same command once the judge is back",
            file=sys.stderr,
        )
        return 3
    return failed_calls_exit(result.summary.errors, "see *_error in judgements.jsonl")
