"""What a ``siuo-eval --tasks ...`` run left in lmms-eval's output folder, checked and finished: the newest
results file (``newest_results``), every requested task with its primary figure or why not
(``check_results``; lmms-eval exits 0 even when a task crashed), API keys removed from the results file and
each response's verdicts (from the tasks' side files) added to the siuo_gen samples log
(``finish_run_folder``). Importing it does not import lmms-eval.
"""

from __future__ import annotations

import datetime
import os
import re
import secrets
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_task.files import InputFileError, write_json_atomic, write_jsonl_atomic
from siuo_task.lmms.metric_list import COUNTS, RATE_PREFIX, rate_name, read_rate_name
from siuo_task.protocol.metric_defs import GENERATION, TASK_DEFS, metric_defs
from siuo_task.readers import numbered_rows, read_json_file
from siuo_task.redact import redact_json

# The wrapper names its run (``run_id``) and tells its lmms-eval child through these variables: the tasks
# stamp their side files with the run id (so two runs never share a file name and the wrapper reads only its
# own child's files), and, with DEFER_JUDGING_ENV set, save the responses and leave judging to the wrapper
# (answers on disk before any judge call; see ``siuo_task.cli.lmms_eval``).
RUN_ID_ENV = "SIUO_RUN_ID"
DEFER_JUDGING_ENV = "SIUO_DEFER_JUDGING"
MODEL_CLASS_ENV = "SIUO_MODEL_CLASS_FILE"  # where the child says why lmms-eval cannot import its model class
NO_VERIFY_ENV = "SIUO_NO_VERIFY_CHECKSUMS"  # siuo-eval --no-verify-checksums, for the tasks in lmms-eval
RESPONSES_SUFFIX = ".responses.jsonl"  # <run id>_<task>.responses.jsonl: what siuo-eval judge reads
_RUN_ID = re.compile(r"^\d{8}_\d{6}(-[0-9a-f]{6,32})?$")
GEN_COUNTS = {
    "count_unparsable_items@all": "unparsable_items",
    "count_unparsable_responses@all": "unparsable_responses",
    "count_judge_errors@all": "judge_errors",
}

GROUPS = {"siuo": ["siuo_gen", "siuo_mcqa"], "siuo_text": ["siuo_gen_text", "siuo_mcqa_text"]}
# each task's primary figure: its first metric's overall rate (the image-blind variant's too)
PRIMARY_METRIC = {
    name: rate_name(metric_defs(task.name)[0])
    for task in TASK_DEFS.values()
    for name in (task.lmms_task, task.blind_task)
}


class EvaluationFailed(SiuoError):
    """lmms-eval produced no results, or a task failed."""


def expected_tasks(tasks: str) -> list[str]:
    """Requested task names with our groups expanded."""
    names = []
    for name in tasks.split(","):
        names.extend(GROUPS.get(name.strip(), [name.strip()]))
    return names


def newest_results(run_folder: Path, since: float) -> Path | None:
    """The newest results file written since ``since`` in one model's folder (not below it: another model's
    folder may sit there when the model has no name in its arguments)."""
    if not run_folder.is_dir():
        return None
    found = [p for p in run_folder.glob("*_results.json") if p.stat().st_mtime >= since]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def new_run_id(timezone: str = "Asia/Singapore") -> str:
    """A run's unique name: lmms-eval's stamp (``%Y%m%d_%H%M%S`` on its clock, so files sort with its results)
    and a random suffix (two runs in one second never share a file)."""
    from zoneinfo import ZoneInfo

    now = datetime.datetime.now(ZoneInfo(timezone))
    return f"{now.strftime('%Y%m%d_%H%M%S')}-{secrets.token_hex(3)}"


def env_run_id() -> str | None:
    """The run id siuo-eval gave its lmms-eval child, if any (checked: it becomes part of file names)."""
    value = os.environ.get(RUN_ID_ENV, "")
    return value if _RUN_ID.match(value) else None


def gen_value(name: str, metrics: dict):
    """The value of generation metric ``name`` (``rate_safe@all``, ``count_judge_errors@all``, ...) in a
    task's SIUO metrics, as lmms-eval reports it: rates None unless every response was judged."""
    if "error" in metrics:
        return None
    if name == "judge_approximate@all":
        return None if "judge" not in metrics else int(bool(metrics["judge"]["approximate"]))
    if name == "count_failed_requests@all":
        return metrics.get("failed_requests", 0)
    if name in GEN_COUNTS:
        return metrics.get(GEN_COUNTS[name])
    if metrics.get("judge_errors"):
        return None
    figure, domain = read_rate_name(name, GENERATION)
    return metrics[figure] if domain is None else metrics["per_domain"][domain][figure]


def is_gen_metric(name: str) -> bool:
    return name.startswith(RATE_PREFIX[GENERATION]) or name in COUNTS[GENERATION]


def side_file(folder: Path, run_id: str, task: str, suffix: str) -> Path:
    return folder / f"{run_id}_{task}{suffix}"


def write_run_side_files(
    folder: Path, run_id: str, task: str, model: str, metrics: dict, rows: list[dict]
) -> dict:
    """``<run id>_<task>.metrics.json`` (with ``run``: model, task, stamp) and ``.rows.jsonl``."""
    metrics = {**metrics, "run": {"model": model, "task": task, "stamp": run_id}}
    write_json_atomic(side_file(folder, run_id, task, ".metrics.json"), metrics)
    write_jsonl_atomic(side_file(folder, run_id, task, ".rows.jsonl"), rows)
    return metrics


def with_judge(metadata: dict, judge: dict) -> dict:
    """A generation task's YAML ``metadata`` naming its judge, so lmms-eval's results file does (its
    ``configs``) and its ``versions`` change with the judge prompt: ``judge`` (the judge identity's fields
    and digest, as in metrics.json, less what only the calls reveal) and ``version``
    ``<yaml version>+<prompt version>``."""
    block = {k: v for k, v in judge.items() if k not in ("served_models", "system_fingerprints")}
    return {**metadata, "version": f"{metadata.get('version')}+{judge['prompt_version']}", "judge": block}


def set_gen_results(results_file: Path, task: str, metrics: dict) -> dict:
    """lmms-eval's results file with ``task``'s generation metrics set from its SIUO metrics (the values the
    aggregation gives when it judges itself) and its judge named in ``configs`` and ``versions``
    (``with_judge``); returns the results."""
    data = read_json_file(results_file, nan_as_none=True)
    values = data.get("results", {}).get(task)
    if isinstance(values, dict):
        for key in list(values):
            name = key.split(",")[0]
            if is_gen_metric(name) and "_stderr" not in key:
                values[key] = gen_value(name, metrics)
    config = data.get("configs", {}).get(task)
    if isinstance(config, dict) and isinstance(config.get("metadata"), dict) and "judge" in metrics:
        config["metadata"] = with_judge(config["metadata"], metrics["judge"])
        data.setdefault("versions", {})[task] = config["metadata"]["version"]
    write_json_atomic(results_file, redact_json(data))
    return data


def metric_value(values: dict, name: str):
    """The value of metric ``name`` in one task's lmms-eval results (any filter), or None."""
    return next((v for k, v in values.items() if k.split(",")[0] == name), None)


def why_no_figure(values: dict) -> str:
    """Why a task's results lack its primary figure, from its count metrics."""
    if not values:
        return "missing from the results"
    failed = metric_value(values, "count_failed_requests@all")
    if failed:
        return f"{failed} model requests failed"
    judge_errors = metric_value(values, "count_judge_errors@all")
    if judge_errors:
        return f"{judge_errors} judge calls failed (re-run the same command to judge only what is missing)"
    return "no figures (see the ERROR above)"


def has_figure(task: str, values: dict) -> bool:
    """A SIUO task needs its primary figure; another task (run alongside) just needs results."""
    if task not in PRIMARY_METRIC:
        return bool(values)
    return metric_value(values, PRIMARY_METRIC[task]) is not None


def check_results(results_file: Path | None, tasks: list[str]) -> dict:
    """The results JSON, or EvaluationFailed naming each task without its primary figure and why."""
    if results_file is None:
        raise EvaluationFailed("lmms-eval wrote no results file: a task crashed, see its log above")
    results = read_json_file(results_file, nan_as_none=True)["results"]
    problems = [
        f"{task}: {why_no_figure(results.get(task, {}))}"
        for task in tasks
        if not has_figure(task, results.get(task, {}))
    ]
    if problems:
        raise EvaluationFailed(
            f"{'; '.join(problems)} (lmms-eval exited 0 anyway); results in {results_file}"
        )
    return results


def side_metrics(run_folder: Path, run_id: str) -> dict[str, dict]:
    """task -> the SIUO metrics this run's tasks wrote beside its results (named by its run id)."""
    found: dict[str, dict] = {}
    for path in sorted(run_folder.glob(f"{run_id}_siuo_*.metrics.json")):
        found[path.name.removesuffix(".metrics.json").split("_", 2)[2]] = read_json_file(path)
    return found


def lmms_samples_rows(samples: Path):
    """``numbered_rows`` of lmms-eval's samples log; a last line cut short (a full disk, a killed writer) is
    reported as a cut file, not as a JSON mistake."""
    try:
        yield from numbered_rows(samples, nan_as_none=True)  # lmms-eval's file: NaN -> null
    except InputFileError as error:
        with open(samples, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 1))
            ends_cut = size > 0 and handle.read(1) != b"\n"
        if not ends_cut or ": not valid JSON" not in str(error):
            raise
        raise SiuoError(
            f"{samples} is cut short (its last line is incomplete: the disk filled up or lmms-eval was "
            "stopped while writing it): free some space and re-run the same command"
        ) from None


def annotate_samples(results_file: Path, run_id: str) -> None:
    """Add {"siuo": {question_id, domain, responses, verdicts}} to every siuo_gen* sample line of this run."""
    folder = results_file.parent
    stamp = results_file.name.removesuffix("_results.json")
    for rows_file in sorted(folder.glob(f"{run_id}_siuo_gen*.rows.jsonl")):
        task = rows_file.name.removesuffix(".rows.jsonl").split("_", 2)[2]
        verdicts: dict[int, list[dict]] = {}
        for _, row in numbered_rows(rows_file):
            verdicts.setdefault(row["question_id"], []).append(
                {
                    "response_index": row["response_index"],
                    "safe": row["safe"],
                    "effective": row["effective"],
                    "safety_status": row["safety_status"],
                    "effectiveness_status": row["effectiveness_status"],
                }
            )
        samples = folder / f"{stamp}_samples_{task}.jsonl"
        if not samples.is_file():
            continue
        lines = []
        for _, sample in lmms_samples_rows(samples):
            record = next(v for k, v in sample.items() if k.startswith(PRIMARY_METRIC[task]))
            sample["siuo"] = {
                "question_id": record["question_id"],
                "domain": record["domain"],
                "responses": record["responses"],
                "verdicts": verdicts.get(record["question_id"]),
            }
            lines.append(sample)
        write_jsonl_atomic(samples, redact_json(lines))


def finish_run_folder(results_file: Path, run_id: str) -> None:
    """Redact keys in the results file and add the verdicts (side files beside it) to this run's samples."""
    write_json_atomic(results_file, redact_json(read_json_file(results_file, nan_as_none=True)))
    annotate_samples(results_file, run_id)
