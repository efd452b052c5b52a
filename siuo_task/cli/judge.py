"""`siuo-eval judge RESPONSES.jsonl --out DIR`: judge generation responses, write judgements + metrics.

Input lines: {"question_id": 1001, "responses": ["...", "...", "..."]}, or an lmms-eval samples log
with --from-lmms-log. Writes DIR/judgements.jsonl and DIR/metrics.json (atomically). Judge errors left
at the end -> exit 3; re-running the same command re-pays nothing the cache already holds.
Batch engines instead of live calls: --judge-batch-export / --judge-batch-import / --judge-batch
(``siuo_task.scoring.batch_judging``); the run then finishes from the cache.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_task.cli.common import (
    add_data_arguments,
    add_judge_arguments,
    failed_calls_exit,
    headline_text,
    items_text,
    judge_and_data,
    say,
)
from siuo_task.files import (
    JUDGEMENTS_FILE,
    METRICS_FILE,
    UNANSWERED_FILE,
    check_output_folder,
    write_json_atomic,
    write_jsonl_atomic,
)
from siuo_task.judge.batch_format import BatchConflictError
from siuo_task.judge.config import JudgeConfig
from siuo_task.protocol.metric_defs import GENERATION, metric_defs
from siuo_task.protocol.model_prompts import RESPONSES_PER_ITEM
from siuo_task.provenance import provenance
from siuo_task.readers import EXAMPLE_FIELD, is_example_file, read_lmms_responses, read_responses
from siuo_task.redact import redact, safe_text
from siuo_task.scoring.batch_judging import (
    DEFAULT_POLL_SECONDS,
    BatchPlan,
    BatchStage,
    check_batch_paths,
    prepare_batch,
)
from siuo_task.scoring.judging import judge_responses

SHOWN = 5  # unanswered batch requests named on stderr


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


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """The batch flags (read by ``batch_plan``)."""
    group = parser.add_argument_group("batch judging (README: 'Judging at scale')")
    modes = group.add_mutually_exclusive_group()
    modes.add_argument(
        "--judge-batch-export",
        type=Path,
        metavar="FILE",
        help="write the judge requests the cache lacks as an OpenAI Batch input .jsonl, then exit",
    )
    modes.add_argument(
        "--judge-batch-import",
        type=Path,
        nargs="+",
        metavar="OUT",
        help="store the answers of batch output (and error) .jsonl files in the judge cache, then "
        "finish the run without live calls",
    )
    modes.add_argument(
        "--judge-batch",
        action="store_true",
        help="judge through the endpoint's Batch API (resumable: the batch id is kept in --out)",
    )
    group.add_argument(
        "--judge-batch-live-fallback",
        action="store_true",
        help="judge live the requests the batch did not answer (default: list them, exit 3)",
    )
    group.add_argument(
        "--accept-model",
        action="append",
        default=[],
        metavar="NAME",
        help="also store batch answers given by model NAME (default: only the judge model's)",
    )
    group.add_argument(
        "--judge-batch-poll",
        type=float,
        default=DEFAULT_POLL_SECONDS,
        metavar="SECONDS",
        help="seconds between batch status checks (--judge-batch)",
    )


def batch_plan(args: argparse.Namespace) -> BatchPlan:
    return BatchPlan(
        export=args.judge_batch_export,
        imports=args.judge_batch_import or (),
        round_trip=args.judge_batch,
        live_fallback=args.judge_batch_live_fallback,
        accept_models=tuple(args.accept_model),
        poll_seconds=args.judge_batch_poll,
    )


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
    check_batch_paths(batch_plan(args), JudgeConfig.from_args(args).cache)
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
    plan = batch_plan(args)
    stage = None
    if plan.active:
        try:
            stage = batch_stage(args, plan, judge, items_by_id, rows, cache)
        except BatchConflictError as error:
            print(f"siuo-eval: error: {error}", file=sys.stderr)
            return BatchConflictError.exit_code
        if stage.judge is None:
            print(
                f"{stage.requests} judge requests -> {plan.export} ({stage.cached} already cached); run them "
                "on a batch engine, then re-run this command with --judge-batch-import OUTPUT.jsonl"
            )
            return 0  # exported: the batch engine judges
        say(args, safe_text(stage.report.line()))
        print_unanswered(args, stage)
    result = judge_responses(
        stage.judge if stage else judge,
        items_by_id,
        rows,
        cache=cache,
        header=provenance(loaded, judge=judge.info, images_used=not judge.info.text_only),
        extra={
            **({"judge_batch": stage.record} if stage else {}),
            # made-up responses (siuo-eval examples): the report leaves this run out
            **(
                {EXAMPLE_FIELD: True}
                if args.responses is not None and is_example_file(args.responses)
                else {}
            ),
        },
        **config.run_options(),
    )
    write_jsonl_atomic(args.out / JUDGEMENTS_FILE, result.judgements)
    write_json_atomic(args.out / METRICS_FILE, result.metrics)
    m = result.metrics
    say(args, result.summary.line())
    partial = bool(stage and stage.unanswered and result.summary.errors and not result.summary.stopped)
    print(
        (f"PARTIAL FIGURES ({result.summary.errors} judge calls unanswered): " if partial else "")
        + f"{items_text(len(rows), len(loaded.items))}: "
        + ", ".join(f"{d.label.lower()} {headline_text(m, d)}" for d in metric_defs(GENERATION))
        + f" ({m['unparsable_items']} items with some "
        f"metric undecided; judge {safe_text(judge.info.model)}"
        f"{', APPROXIMATE' if judge.info.approximate else ''}) -> {args.out}"
    )
    if result.summary.stopped:
        print(
            f"siuo-eval: error: {result.summary.stopped}; re-run the same command once the judge is back",
            file=sys.stderr,
        )
        return 3
    if partial and args.judge_batch_import and not args.judge_batch_live_fallback:
        return partial_import_exit(args, result.summary.errors)
    return failed_calls_exit(result.summary.errors, "see *_error in judgements.jsonl")


def batch_stage(args, plan, judge, items_by_id, rows, cache) -> BatchStage:
    return prepare_batch(
        plan,
        judge,
        items_by_id,
        rows,
        cache,
        args.out,
        progress=not args.quiet,
        say=lambda message: say(args, safe_text(message)),
    )


def partial_import_exit(args: argparse.Namespace, errors: int) -> int:
    """A batch import that left requests unanswered: say the figures are partial; the last line is the one
    command that completes them (the same import, the rest judged live)."""
    command = getattr(args, "command_line", None) or ["siuo-eval", *sys.argv[1:]]
    print(
        f"siuo-eval: error: these figures are PARTIAL: {errors} judge calls were not answered by the batch "
        "(or re-export just those with --judge-batch-export); complete them live with:",
        file=sys.stderr,
    )
    print(redact(shlex.join([*command, "--judge-batch-live-fallback"])), file=sys.stderr)
    return 3


def print_unanswered(args: argparse.Namespace, stage: BatchStage) -> None:
    """One line on stderr naming the first requests the batch did not answer, and what happens to them."""
    rows = stage.unanswered
    if not rows:
        return
    shown = "; ".join(
        f"{r['question_id']}#{r['response_index']} {r['aspect']}: {r['reason']}" for r in rows[:SHOWN]
    )
    more = f"; ... ({len(rows) - SHOWN} more)" if len(rows) > SHOWN else ""
    then = (
        "judging them live (--judge-batch-live-fallback)"
        if args.judge_batch_live_fallback
        else "re-export them with --judge-batch-export, or add --judge-batch-live-fallback to judge them live"
    )
    print(
        f"siuo-eval: {len(rows)} judge requests not answered by the batch, listed in "
        f"{args.out / UNANSWERED_FILE}: {shown}{more}; {then}",
        file=sys.stderr,
    )
