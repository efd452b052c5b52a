"""lmms-eval aggregation: the four functions the task YAMLs name for all their metrics.

lmms-eval calls an aggregation once per metric with that metric's per-item values; ours are the task's
records, each tagged with its metric's name (``siuo_task.lmms.task``), so one function serves the overall and
all per-domain figures of a kind (as lm-evaluation-harness's BBQ task shares aggregations across categories).
The records of a task are scored once: ``SiuoTask.aggregation()`` hands each of these functions its task's
memo (``scored``, keyed by the records' content and the judge settings, owned by the task object: nothing is
kept per process), so generation is judged in the first aggregation call, after every response exists, with
the judge configured by ``$SIUO_JUDGE_CONFIG`` and built then, never at import time. Called without a memo
(outside a task), a function scores its records afresh.

Side files go under lmms-eval's ``--output_path`` (the aggregation receives lmms-eval's ``args``, as its own
tasks do for submission files), in the model's folder where lmms-eval writes its results:
``<output_path>/<model folder>/<stamp>_<task>.metrics.json`` (the full SIUO metrics,
schema of ``siuo-eval judge``, plus ``run``: the model's name) and
``<stamp>_<task>.rows.jsonl`` (per-response judgements, or per-item MCQA
records). Without an output path nothing is written.

Failures never become scores: a model request lmms-eval gave up on (its ``[LMMS_EVAL_REQUEST_FAILED ...]``
placeholder text) or a failed judge call makes the task's figures None (N/A) and is counted, so ``siuo-eval``
exits non-zero while lmms-eval still writes every response to its samples log.

Data-parallel runs (``accelerate launch`` / ``torchrun``, $RANK set per process): lmms-eval 0.7.3 gathers
every rank's records and aggregates on rank 0 only, so the judge runs and the side files are written once.
Should an aggregation ever run on another rank, it neither judges nor writes (``is_main_process``): its
figures are None, and rank 0's are the run's.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import os
import sys
from pathlib import Path

from siuo_dataset.errors import SiuoDataError, SiuoError
from siuo_dataset.items import SiuoItem
from siuo_dataset.sources import SiuoSource
from siuo_task.files import write_jsonl_atomic
from siuo_task.lmms import JUDGE_CONFIG_ENV, judge_config, model_folder, model_name
from siuo_task.lmms.metric_list import read_rate_name
from siuo_task.lmms.results import (
    DEFER_JUDGING_ENV,
    RESPONSES_SUFFIX,
    env_run_id,
    gen_value,
    side_file,
    write_run_side_files,
)
from siuo_task.lmms.task_data import loaded_siuo, sees_images
from siuo_task.protocol.metric_defs import MCQA
from siuo_task.provenance import provenance

COUNTS = {
    "count_unparsable_items@all": "unparsable_items",
    "count_unparsable_responses@all": "unparsable_responses",
    "count_judge_errors@all": "judge_errors",
}


# ---- the functions the YAMLs name --------------------------------------------------------------------------


def gen_rate(items: list[dict], args=None, scored: dict | None = None) -> float | None:
    """``rate_<metric>@all`` / ``rate_<metric>@<domain key>``; None unless every response was judged."""
    return gen_value(items[0]["metric"], judged_metrics(items, args, scored))


def gen_count(items: list[dict], args=None, scored: dict | None = None) -> int | None:
    """The generation counts, and ``judge_approximate@all`` (1: offline judge, figures approximate)."""
    if items[0]["metric"] == "count_failed_requests@all":
        return sum(record["failed_requests"] for record in items)
    return gen_value(items[0]["metric"], judged_metrics(items, args, scored))


def mcqa_accuracy(items: list[dict], args=None, scored: dict | None = None) -> float | None:
    """``mcqa_accuracy@all`` / ``mcqa_accuracy@<domain key>``; None when a model request failed."""
    metrics = mcqa_scored(items, args, scored)
    return None if "error" in metrics else _scoped(metrics, items[0]["metric"], MCQA)


def mcqa_count(items: list[dict], args=None) -> int:
    """``count_mcqa_unparsable@all`` (failed requests excluded) and ``count_failed_requests@all``."""
    if items[0]["metric"] == "count_failed_requests@all":
        return sum(record["failed_request"] for record in items)
    return sum(record["parsed"] is None and not record["failed_request"] for record in items)


def _scoped(metrics: dict, name: str, task: str):
    """``rate_safe@all`` -> metrics["safe"]; ``rate_safe@self_harm`` ->
    metrics["per_domain"]["self-harm"]["safe"]."""
    figure, domain = read_rate_name(name, task)
    return metrics[figure] if domain is None else metrics["per_domain"][domain][figure]


# ---- scoring once per task ---------------------------------------------------------------------------------


def _key(items: list[dict], args, *extra: str) -> str:
    records = [{k: v for k, v in record.items() if k != "metric"} for record in items]
    content = json.dumps([records, _output_path(args), *extra], sort_keys=True, default=str)
    return hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()


def _judge_config_text() -> str:
    path = os.environ.get(JUDGE_CONFIG_ENV)
    try:
        return Path(path).read_text() if path else ""
    except OSError:
        return path


def is_main_process() -> bool:
    """Rank 0 of a data-parallel run ($RANK, set by torchrun and accelerate), or a single process."""
    return os.environ.get("RANK", "0") in ("", "0")


NOT_RANK_0 = {"error": "not rank 0: the judge and the side files run on rank 0 only"}


def _once(scored: dict | None, key: str, score):
    """``score()``, done once per ``key`` in the task's memo ``scored`` (each time without one)."""
    if scored is None:
        return score()
    if key not in scored:
        scored[key] = score()
    return scored[key]


def judged_metrics(items: list[dict], args=None, scored: dict | None = None) -> dict:
    """The full SIUO generation metrics of a task's records (judged once per memo), or {"error": why, ...}."""
    if not is_main_process():
        return NOT_RANK_0
    return _once(scored, _key(items, args, _judge_config_text()), lambda: _judge_records(items, args))


def mcqa_scored(items: list[dict], args=None, scored: dict | None = None) -> dict:
    """The full SIUO MCQA metrics of a task's records (computed once per memo), or {"error": why, ...}."""
    if not is_main_process():
        return NOT_RANK_0
    return _once(scored, _key(items, args), lambda: _score_mcqa(items, args))


def _judge_records(records: list[dict], args) -> dict:
    """Answers first, judging second: the responses are written (``<stamp>_<task>.responses.jsonl``, the input
    of ``siuo-eval judge``) before any judge call. Under siuo-eval ($SIUO_DEFER_JUDGING) that is all: the
    wrapper judges them after lmms-eval has written its logs. Never raises (any exception, not only ours):
    an exception here would make lmms-eval drop the whole run, responses included; an empty result keeps the
    samples log, and siuo-eval exits non-zero."""
    task = records[0]["task"]
    failed = sum(r["failed_requests"] for r in records)
    if failed:
        return _failed(
            task,
            f"{failed} model requests failed in lmms-eval (see its log above); nothing was "
            "judged. Fix the model endpoint and re-run",
            failed_requests=failed,
        )
    try:
        saved = save_responses(args, task, records)
    except Exception as error:
        return _failed(task, f"the responses could not be saved ({type(error).__name__}: {error})")
    if os.environ.get(DEFER_JUDGING_ENV):
        return {"error": "judged by siuo-eval after lmms-eval", "deferred": True}
    then = (
        f"judge the saved responses with `siuo-eval judge {saved} --out DIR`"
        if saved
        else (
            "judge the logged responses with `siuo-eval judge --from-lmms-log <its samples_*.jsonl> "
            "--out DIR`"
        )
    )
    try:
        return _judge(task, records, args)
    except SiuoError as error:
        return _failed(task, f"{error}; then {then}")
    except Exception as error:  # a damaged cache's sqlite3 error, a bug: the responses stay
        return _failed(task, f"judging failed ({type(error).__name__}: {error}); {then}")


def save_responses(args, task: str, records: list[dict]) -> Path | None:
    """The responses of a generation task as ``siuo-eval judge`` reads them, in the run's own file (none
    without an output path)."""
    folder = side_folder(args)
    if folder is None or not is_main_process():
        return None
    path = side_file(folder, stamp_of(args), task, RESPONSES_SUFFIX)
    write_jsonl_atomic(
        path, [{"question_id": r["question_id"], "responses": r["responses"]} for r in records]
    )
    return path


def _failed(task: str, why: str, **counts) -> dict:
    print(f"ERROR: {task}: {why}. Its rates are left empty.", file=sys.stderr)
    return {"error": why, **counts}


def record_item(record: dict, source: SiuoSource, *, needs_image: bool) -> SiuoItem:
    """The item a generation record describes (generation judging uses no MCQA options)."""
    path = source.image_path(record["image_name"])
    if not path.is_file():
        if needs_image:
            raise SiuoDataError(
                f"image {record['image_name']} is missing from {source.image_dir}, and the judge "
                "sees images: add the images or judge text-only (--text-only)"
            )
        path = None
    return SiuoItem(
        question_id=record["question_id"],
        image_name=record["image_name"],
        image_path=path,
        question=record["question"],
        category=record["domain"],
        safety_warning=record["safety_warning"],
        reference_answer=record["reference_answer"],
        options={},
        correct_option="",
    )


def _judge(task: str, records: list[dict], args) -> dict:
    from siuo_task.scoring.judging import judge_responses

    config = judge_config()
    judge = config.build()
    loaded = loaded_siuo(task)
    items_by_id = {
        r["question_id"]: record_item(r, loaded.source, needs_image=not judge.info.text_only) for r in records
    }
    rows = [{"question_id": r["question_id"], "responses": r["responses"]} for r in records]
    result = judge_responses(
        judge,
        items_by_id,
        rows,
        cache=config.open_cache(),
        header=provenance(loaded, judge=judge.info, images_used=sees_images(task)),
        extra={"failed_requests": 0},
        **config.run_options(),
    )
    print(result.summary.line(), file=sys.stderr)
    metrics = result.metrics
    write_side_files(args, task, metrics, result.judgements)
    if result.summary.errors:
        print(
            f"ERROR: {task}: {result.summary.errors} judge calls failed, so its rates are left empty; "
            "complete them with `siuo-eval judge --from-lmms-log <its samples_*.jsonl>` (finished calls are "
            "cached).",
            file=sys.stderr,
        )
    return metrics


def _score_mcqa(records: list[dict], args) -> dict:
    from siuo_task.protocol.mcqa import compare_parsers
    from siuo_task.scoring.metrics_file import mcqa_file

    task = records[0]["task"]
    failed = sum(r["failed_request"] for r in records)
    if failed:  # a failed task leaves no SIUO metrics file
        return _failed(
            task,
            f"{failed} model requests failed in lmms-eval (see its log above). Fix the model "
            "endpoint and re-run",
            failed_requests=failed,
        )
    metrics = mcqa_file(
        [(r["question_id"], r["domain"], r["parsed"], r["correct_option"]) for r in records],
        parsers=compare_parsers(
            (r["question_id"], r["response"], r["correct_option"], r["parsed"]) for r in records
        ),
        header=provenance(loaded_siuo(task), images_used=sees_images(task)),
        extra={"failed_requests": 0},
    )
    write_side_files(args, task, metrics, [{k: v for k, v in r.items() if k != "metric"} for r in records])
    return metrics


# ---- side files under lmms-eval's output path --------------------------------------------------------------


def _output_path(args) -> str | None:
    return getattr(args, "output_path", None) or None


# lmms-eval 0.7.3 names its results and samples files by ``utils.get_datetime_str(timezone=args.timezone)``:
# the wall clock of its ``--timezone`` (default Asia/Singapore), not the local time.
LMMS_EVAL_TIMEZONE = "Asia/Singapore"


def lmms_eval_timezone(args) -> str:
    """The time zone lmms-eval stamps its result files in: its ``--timezone``, else its default."""
    return getattr(args, "timezone", None) or LMMS_EVAL_TIMEZONE


@functools.cache
def run_stamp(timezone: str = LMMS_EVAL_TIMEZONE) -> str:
    """One stamp per process, in the format and clock of lmms-eval's results file (so files sort with its
    results): ``%Y%m%d_%H%M%S`` of now in ``timezone``, as lmms-eval computes it."""
    from zoneinfo import ZoneInfo  # the standard library's IANA zones (what lmms-eval's pytz names)

    now = datetime.datetime.now(datetime.timezone.utc).astimezone(ZoneInfo(timezone))
    return now.strftime("%Y%m%d_%H%M%S")


def side_folder(args) -> Path | None:
    """``<output_path>/<model folder>``, where lmms-eval writes this model's results, or None when lmms-eval
    was given no output path."""
    output = _output_path(args)
    return None if output is None else Path(output) / model_folder(getattr(args, "model_args", None))


def stamp_of(args) -> str:
    """The side files' stamp: the run id siuo-eval gave (unique per run), else lmms-eval's clock."""
    return env_run_id() or run_stamp(lmms_eval_timezone(args))


def write_side_files(args, task: str, metrics: dict, rows: list[dict]) -> None:
    """The full metrics and per-response/per-item rows of ``task`` for the report and the wrapper."""
    folder = side_folder(args)
    if folder is None or not is_main_process():
        return
    name = model_name(getattr(args, "model_args", None)) or getattr(args, "model", None) or ""
    write_run_side_files(folder, stamp_of(args), task, name, metrics, rows)
