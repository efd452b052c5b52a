"""The batch step of generation judging, before the run: export the judge requests the cache lacks for an
external batch engine, or store the answers of batch output (imported, or from a round trip on the
endpoint's Batch API) in the judge cache. The run then finishes from the cache (``judge_responses``) with the
judge the step returns: cache-only, or the live judge for what the batch left (live fallback).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_dataset.items import SiuoItem
from siuo_task.files import BATCH_FOLDER, UNANSWERED_FILE, write_jsonl_atomic
from siuo_task.judge.base import BatchJudge, Judge
from siuo_task.judge.batch_api import BatchResult, forget_batch, run_batch
from siuo_task.judge.batch_format import (
    CacheOnlyJudge,
    ImportReport,
    batch_requests,
    batch_secrets,
    read_batch_output,
    remember_secret,
    store_answers,
    unanswered_rows,
)
from siuo_task.judge.cache import JudgeCache, cache_key
from siuo_task.judge.runner import error_message
from siuo_task.scoring.judging import build_calls, clean_rows

DEFAULT_POLL_SECONDS = 30.0


@dataclass(frozen=True)
class BatchPlan:
    """Which batch step to run (the batch flags of `siuo-eval judge`); at most one of the three modes."""

    export: Path | None = None  # write the requests the cache lacks here, then stop
    imports: Sequence[Path] = ()  # batch output (and error) files to store
    round_trip: bool = False  # judge through the endpoint's Batch API
    live_fallback: bool = False  # judge live what the batch did not answer
    accept_models: Sequence[str] = ()  # answering models accepted besides the judge's (--accept-model)
    poll_seconds: float = DEFAULT_POLL_SECONDS

    @property
    def active(self) -> bool:
        """Whether a batch step runs (a live fallback without a batch to fall back from is rejected)."""
        if self.live_fallback and not (self.imports or self.round_trip):
            raise SiuoError("--judge-batch-live-fallback goes with --judge-batch-import or --judge-batch")
        return bool(self.export or self.imports or self.round_trip)


@dataclass(frozen=True)
class BatchStage:
    """What the batch step did. After an export ``judge`` and ``report`` are None: the run stops there."""

    judge: Judge | None  # what the run judges with: cache-only, or the live judge for what the batch left
    requests: int  # requests the cache lacked
    cached: int  # requests already cached
    report: ImportReport | None = None
    unanswered: list[dict] | None = None  # the rows written to UNANSWERED_FILE (empty: the file removed)

    @property
    def record(self) -> dict:
        """``metrics["judge_batch"]``."""
        return self.report.as_dict() if self.report else {}


def prepare_batch(
    plan: BatchPlan,
    judge: Judge,
    items_by_id: Mapping[int, SiuoItem],
    rows: Sequence[dict],
    cache: JudgeCache | None,
    out: Path,
    *,
    progress: bool = True,
    say: Callable[[str], None] = lambda message: None,
) -> BatchStage:
    """Run the batch step ``plan`` names for the run writing to ``out``; the requests not answered are listed
    in ``out / UNANSWERED_FILE``."""
    if not judge.supports_batch:
        raise SiuoError(
            "batch judging needs an OpenAI-compatible judge: pass --judge-model (--judge "
            f"{judge.info.backend} has no batch mode)"
        )
    if plan.poll_seconds <= 0:
        raise SiuoError("--judge-batch-poll must be positive")
    remember_secret(os.environ.get(judge.api_key_env))  # masked in batch messages like the live path's
    calls = build_calls(items_by_id, clean_rows(rows), text_only=judge.info.text_only, aspects=judge.aspects)
    cached = cache.get_many([cache_key(call, judge.info) for call in calls]) if cache is not None else {}
    requests = batch_requests(judge, calls, cached)
    if plan.export:
        write_jsonl_atomic(plan.export, requests)
        return BatchStage(None, len(requests), len(cached))
    if cache is None:
        raise SiuoError("batch answers are stored in the judge cache: drop --no-cache")
    folder = out / BATCH_FOLDER
    if plan.imports:
        outcomes = read_batch_output(plan.imports, judge.info.model, plan.accept_models, say)
        source = ", ".join(map(str, plan.imports))
    elif requests:
        result = round_trip(judge, requests, folder, plan.poll_seconds, progress=progress, say=say)
        outcomes = result.outcomes
        source = ", ".join(
            f"{batch_id} ({status})" for batch_id, status in zip(result.batch_ids, result.statuses)
        )
    else:
        outcomes, source = {}, "not needed (every request cached)"
    report = store_answers(outcomes, calls, judge.info, cache, source, judge.parse)
    if plan.round_trip:
        forget_batch(folder)  # its answers are in the cache: a re-run submits only the rest
    unanswered = unanswered_rows(calls, judge.info, report.unanswered)
    if unanswered:
        write_jsonl_atomic(out / UNANSWERED_FILE, unanswered)
    else:
        (out / UNANSWERED_FILE).unlink(missing_ok=True)
    run_judge = judge if plan.live_fallback else CacheOnlyJudge(judge, report.unanswered)
    return BatchStage(run_judge, len(requests), len(cached), report, unanswered)


def check_batch_paths(plan: BatchPlan, cache_path: Path | None) -> None:
    """The judge cache is never a batch file: an export or import naming the cache's path is refused (an
    export there would replace the SQLite cache, and the answers paid for, with JSONL)."""
    if cache_path is None:
        return
    cache = Path(cache_path).expanduser().resolve()
    for flag, path in [
        ("--judge-batch-export", plan.export),
        *(("--judge-batch-import", p) for p in plan.imports),
    ]:
        if path is not None and Path(path).expanduser().resolve() == cache:
            raise SiuoError(f"{flag} {path} is the judge cache (--cache): choose another file")


def round_trip(
    judge: BatchJudge,
    requests: list[dict],
    folder: Path,
    poll_seconds: float,
    *,
    progress: bool,
    say: Callable[[str], None],
) -> BatchResult:
    """``run_batch`` on the judge's endpoint; an API error is one line saying a re-run resumes."""
    import openai

    try:
        return run_batch(
            judge.blocking_client(), requests, folder, poll_seconds=poll_seconds, progress=progress, say=say
        )
    except openai.APIError as error:
        raise SiuoError(
            f"judge Batch API at {judge.base_url or 'api.openai.com'}: "
            f"{error_message(error, batch_secrets())}; "
            "re-run the same command to resume"
        ) from None
