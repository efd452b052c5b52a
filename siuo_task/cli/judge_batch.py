"""The batch flags of `siuo-eval judge`: export the judge requests for an external batch engine, import
its output, or run the round trip on the endpoint's Batch API. The run then finishes from the cache.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_dataset.items import SiuoItem
from siuo_task.cli.common import say
from siuo_task.files import BATCH_FOLDER, UNANSWERED_FILE, write_jsonl_atomic
from siuo_task.judge.base import Judge
from siuo_task.judge.batch import (
    CacheOnlyJudge,
    batch_requests,
    forget_batch,
    read_batch_output,
    run_batch,
    store_answers,
    unanswered_rows,
)
from siuo_task.judge.cache import JudgeCache
from siuo_task.judge.openai_backend import OpenAIJudge
from siuo_task.judge.runner import error_message
from siuo_task.scoring.judging import build_calls, clean_rows

SHOWN = 5


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
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
        "--judge-batch-poll",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="seconds between batch status checks (--judge-batch)",
    )


def batch_mode(args: argparse.Namespace) -> bool:
    """Whether a batch step runs (a live fallback without a batch to fall back from is rejected)."""
    if args.judge_batch_live_fallback and not (args.judge_batch_import or args.judge_batch):
        raise SiuoError("--judge-batch-live-fallback goes with --judge-batch-import or --judge-batch")
    return bool(args.judge_batch_export or args.judge_batch_import or args.judge_batch)


@dataclass(frozen=True)
class BatchStage:
    judge: Judge  # what the run judges with: cache-only, or the live judge for what the batch left
    record: dict  # metrics["judge_batch"]


def prepare_batch(
    args: argparse.Namespace,
    judge: Judge,
    items_by_id: Mapping[int, SiuoItem],
    rows: Sequence[dict],
    cache: JudgeCache | None,
) -> BatchStage | None:
    """Run the batch step chosen by the flags; None after an export (the run stops there)."""
    if not isinstance(judge, OpenAIJudge) or judge.azure:
        raise SiuoError(
            "batch judging needs an OpenAI-compatible judge: pass --judge-model (not --judge offline "
            "or azure)"
        )
    if args.judge_batch_poll <= 0:
        raise SiuoError("--judge-batch-poll must be positive")
    calls = build_calls(items_by_id, clean_rows(rows), text_only=judge.info.text_only)
    cached = cache.get_many([call.cache_key(judge.info) for call in calls]) if cache is not None else {}
    requests = batch_requests(judge, calls, cached)
    if args.judge_batch_export:
        write_jsonl_atomic(args.judge_batch_export, requests)
        print(
            f"{len(requests)} judge requests -> {args.judge_batch_export} ({len(cached)} already cached); "
            "run them on a batch engine, then re-run this command with --judge-batch-import OUTPUT.jsonl"
        )
        return None
    if cache is None:
        raise SiuoError("batch answers are stored in the judge cache: drop --no-cache")
    if args.judge_batch_import:
        outcomes, source = (
            read_batch_output(args.judge_batch_import),
            ", ".join(map(str, args.judge_batch_import)),
        )
    elif requests:
        result = _round_trip(args, judge, requests, args.out / BATCH_FOLDER)
        outcomes = result.outcomes
        source = ", ".join(
            f"{batch_id} ({status})" for batch_id, status in zip(result.batch_ids, result.statuses)
        )
    else:
        outcomes, source = {}, "not needed (every request cached)"
    report = store_answers(outcomes, calls, judge.info, cache, source)
    if args.judge_batch:
        forget_batch(args.out / BATCH_FOLDER)  # its answers are in the cache: a re-run submits only the rest
    say(args, report.line())
    _list_unanswered(args, calls, judge, report.unanswered)
    live = args.judge_batch_live_fallback
    return BatchStage(judge if live else CacheOnlyJudge(judge.info, report.unanswered), report.as_dict())


def _round_trip(args: argparse.Namespace, judge: OpenAIJudge, requests: list[dict], folder: Path):
    import openai

    try:
        return run_batch(
            judge.client(),
            requests,
            folder,
            poll_seconds=args.judge_batch_poll,
            progress=not args.quiet,
            say=lambda message: say(args, message),
        )
    except openai.APIError as error:
        raise SiuoError(
            f"judge Batch API at {judge.base_url or 'api.openai.com'}: {error_message(error)}; "
            "re-run the same command to resume"
        ) from None


def _list_unanswered(
    args: argparse.Namespace, calls, judge: OpenAIJudge, unanswered: Mapping[str, str]
) -> None:
    path = args.out / UNANSWERED_FILE
    if not unanswered:
        path.unlink(missing_ok=True)
        return
    rows = unanswered_rows(calls, judge.info, unanswered)
    write_jsonl_atomic(path, rows)
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
        f"siuo-eval: {len(rows)} judge requests not answered by the batch, listed in {path}: {shown}{more}; "
        f"{then}",
        file=sys.stderr,
    )
