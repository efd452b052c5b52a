"""At the end of a SIUO task, the files our other paths write, beside Inspect's ``.eval`` log: one run layout.

``<log dir>/<model folder>/<stamp>_<task>.metrics.json`` (the full SIUO metrics, the schema of
``siuo-eval judge`` / the lmms-eval side files, with ``run``: the model, task, stamp, harness and log file)
and
``<stamp>_<task>.rows.jsonl`` (generation: one judgement row per response, as ``judgements.jsonl``; MCQA: one
record per item), the layout ``siuo_task.runs`` reads for lmms-eval runs. So ``siuo-eval report``, ``review``,
``rescore``, ``agree`` and ``validate-judge`` work on Inspect runs as on any other. The model folder is the
Inspect model name with ``/`` as ``__`` (``openai-api__vllm__my-model``).

Written by an Inspect hook (``on_task_end``, after the log is written; registered when a SIUO task is
created) for the SIUO tasks only, and only for a run that finished (status ``success``) with no failed sample:
a failed run leaves its ``.eval`` log and no SIUO figures, as a failed lmms-eval task does. The figures come
from the samples' scores; nothing is judged again.
"""

from __future__ import annotations

import datetime
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from inspect_ai.hooks import Hooks, TaskEnd, hooks
from inspect_ai.log import EvalLog, EvalSample, read_eval_log

from siuo_task.files import write_json_atomic, write_jsonl_atomic
from siuo_task.inspect.samples import loaded_siuo
from siuo_task.inspect.scorers import GEN_SCORER, MCQA_SCORER
from siuo_task.protocol.judge_prompts import ASPECTS
from siuo_task.protocol.mcqa import PAPER_COMPAT_SEED, compare_parsers
from siuo_task.provenance import provenance
from siuo_task.scoring.judging import NOT_ASKED_STATUS
from siuo_task.scoring.metrics_file import generation_file, mcqa_file

HARNESS = "inspect"
# task -> whether the model sees the images
TASKS = {"siuo_gen": True, "siuo_mcqa": True, "siuo_gen_text": False, "siuo_mcqa_text": False}
_SUMMED = ("calls", "calls_made", "cache_hits", "ok", "unparsable", "errors", "prompt_tokens")
_SUMMED += ("completion_tokens", "wall_seconds")


def task_name(registered: str) -> str | None:
    """``siuo_task/siuo_gen`` (or ``siuo_gen``) -> ``siuo_gen``; None for any other task."""
    name = registered.rsplit("/", 1)[-1]
    return name if name in TASKS else None


def model_folder(model: str) -> str:
    """The run's folder under the log dir: the Inspect model name, ``/`` and unsafe characters as ``__``."""
    return re.sub(r"[\"<>:/\|\\?\*\[\]]+", "__", model)


def stamp(created: str) -> str:
    """``%Y%m%d_%H%M%S`` of the log's creation time (the side files sort with the runs)."""
    return datetime.datetime.fromisoformat(created).strftime("%Y%m%d_%H%M%S")


def _score(sample: EvalSample, scorer: str):
    return next(
        (score for name, score in (sample.scores or {}).items() if name.rsplit("/", 1)[-1] == scorer), None
    )


def gen_files(samples: Sequence[EvalSample], header: Mapping, extra: Mapping) -> tuple[dict, list[dict]]:
    """The generation metrics file (``metrics_file.generation_file``, as every path assembles it) and the
    judgement rows of a run; ``header``: the provenance without the judge, which the rows name."""
    rows, summaries = [], []
    for sample in samples:
        score = _score(sample, GEN_SCORER)
        if score is not None and score.metadata and "judgement" in score.metadata:
            rows.append(score.metadata["judgement"])
            summaries.append(score.metadata.get("judge_summary") or {})
    rows.sort(key=lambda row: (row["question_id"], row["response_index"]))
    summary = {key: sum(s.get(key) or 0 for s in summaries) for key in _SUMMED}
    summary["wall_seconds"] = round(summary["wall_seconds"], 3)
    judge = rows[0]["judge"] if rows else None
    metrics = generation_file(
        rows,
        header={**header, **({"judge": judge} if judge else {})},
        judge_errors=summary["errors"],
        summary=summary,
        aspects_not_asked=[
            aspect for aspect in ASPECTS if any(r[f"{aspect}_status"] == NOT_ASKED_STATUS for r in rows)
        ],
        extra=extra,
    )
    return metrics, rows


def mcqa_files(
    samples: Sequence[EvalSample], task: str, paper_compat: bool, header: Mapping, extra: Mapping
) -> tuple[dict, list[dict]]:
    """The MCQA metrics file (``metrics_file.mcqa_file``) and one record per item, as the lmms-eval path."""
    records, strict = [], {}
    for sample in samples:
        score = _score(sample, MCQA_SCORER)
        if score is None or not score.metadata:
            continue
        meta = score.metadata
        strict[meta["question_id"]] = meta["strict"]
        records.append(
            {
                "task": task,
                "question_id": meta["question_id"],
                "domain": meta["category"],
                "response": meta["response"],
                "failed_request": False,
                "parsed": meta["parsed"],
                "guessed": meta["guessed"],
                "correct_option": meta["correct_option"],
                "correct": meta["parsed"] == meta["correct_option"],
            }
        )
    records.sort(key=lambda record: record["question_id"])
    guessed = sum(r["guessed"] for r in records)
    metrics = mcqa_file(
        [(r["question_id"], r["domain"], r["parsed"], r["correct_option"]) for r in records],
        guessed=[r["question_id"] for r in records if r["guessed"]],
        facts={"paper_compat": paper_compat, "guessed": guessed} if paper_compat else None,
        parsers=compare_parsers(
            (r["question_id"], r["response"], r["correct_option"], strict[r["question_id"]]) for r in records
        ),
        header=header,
        paper_compat_note=(
            f"PAPER-COMPAT: {guessed} unparsable answers were replaced by a random letter seeded per "
            f"question_id (seed {PAPER_COMPAT_SEED}), as the official script does (unseeded there); strict "
            "accuracy counts them wrong"
        )
        if paper_compat
        else None,
        extra=extra,
    )
    return metrics, records


def write_run_files(log: EvalLog) -> list[Path]:
    """The metrics and rows files of a finished SIUO task's ``log`` (read again when it holds no samples);
    returns the paths written (none for another task, a failed run, or a log not on this file system)."""
    task = task_name(log.eval.task)
    if task is None or log.status != "success" or not log.location or "://" in log.location:
        return []
    samples = log.samples if log.samples else read_eval_log(log.location).samples or []
    failed = sum(sample.error is not None for sample in samples)
    if failed:  # failures never become scores (Inspect let the run succeed: --fail-on-error)
        print(
            f"ERROR: {task}: {failed} samples failed (see the log {log.location}); no SIUO figures written. "
            "Fix the model endpoint and re-run (inspect eval-retry reuses the finished samples)",
            file=sys.stderr,
        )
        return []
    arguments = log.eval.task_args or {}
    sees_images = TASKS[task]
    header = provenance(
        loaded_siuo(arguments.get("data_dir"), with_image=sees_images), images_used=sees_images
    )
    when = stamp(log.eval.created)
    extra = {
        "failed_requests": 0,
        "run": {
            "model": log.eval.model,
            "task": task,
            "stamp": when,
            "harness": HARNESS,
            "log": Path(log.location).name,
        },
    }
    if task.startswith("siuo_gen"):
        metrics, rows = gen_files(samples, header, extra)
    else:
        metrics, rows = mcqa_files(samples, task, bool(arguments.get("paper_compat")), header, extra)
    folder = Path(log.location).parent / model_folder(log.eval.model)
    paths = [folder / f"{when}_{task}.metrics.json", folder / f"{when}_{task}.rows.jsonl"]
    write_json_atomic(paths[0], metrics)
    write_jsonl_atomic(paths[1], rows)
    return paths


class SiuoRunFiles(Hooks):
    """Writes the run files of each SIUO task at its end (registered by ``register_hook``)."""

    async def on_task_end(self, data: TaskEnd) -> None:
        try:
            paths = write_run_files(data.log)
        except Exception as error:  # Inspect would only log a warning: say it where the user looks
            print(f"ERROR: SIUO run files not written for {data.log.location}: {error}", file=sys.stderr)
            raise
        if paths:
            print(f"SIUO: {paths[0]} (siuo-eval report {paths[0].parent.parent})", file=sys.stderr)


_REGISTERED: list[bool] = []


def register_hook() -> None:
    """Register ``SiuoRunFiles`` with Inspect, once per process, when a SIUO task is created: an Inspect run
    of other tasks never sees it (nor lists it among its hooks)."""
    if not _REGISTERED:
        hooks(name="siuo_run_files", description="SIUO: the metrics and rows files beside the .eval log")(
            SiuoRunFiles
        )
        _REGISTERED.append(True)
