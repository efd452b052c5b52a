"""What a ``siuo-eval --tasks ...`` run left in lmms-eval's output folder, checked and finished: the newest
results file (``newest_results``), every requested task with its primary figure or why not
(``check_results``; lmms-eval exits 0 even when a task crashed), API keys removed from the results file and
each response's verdicts (from the tasks' side files) added to the siuo_gen samples log
(``finish_run_folder``). Importing it does not import lmms-eval.
"""

from __future__ import annotations

import json
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_task.files import write_json_atomic, write_jsonl_atomic
from siuo_task.lmms.metric_list import rate_name
from siuo_task.protocol.metric_defs import TASK_DEFS, metric_defs
from siuo_task.readers import numbered_rows, read_json_file
from siuo_task.redact import redact_json

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
        return (
            f"{judge_errors} judge calls failed (finish with `siuo-eval judge --from-lmms-log` on its "
            "samples)"
        )
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
    results = json.loads(results_file.read_text())["results"]
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


def newest_rows(siuo_dir: Path, since: float) -> dict[str, Path]:
    """task -> the newest ``<stamp>_<task>.rows.jsonl`` of a siuo_gen* task written since ``since``."""
    newest: dict[str, Path] = {}
    for path in sorted(siuo_dir.glob("*_siuo_gen*.rows.jsonl"), key=lambda p: p.stat().st_mtime):
        if path.stat().st_mtime >= since:
            newest[path.name.split(".")[0].split("_", 2)[2]] = path
    return newest


def side_metrics(run_folder: Path, since: float) -> dict[str, dict]:
    """task -> the SIUO metrics this run's tasks wrote beside its results (the newest since ``since``)."""
    found: dict[str, dict] = {}
    for path in sorted(run_folder.glob("*_siuo_*.metrics.json"), key=lambda p: p.stat().st_mtime):
        if path.stat().st_mtime >= since:
            found[path.name.removesuffix(".metrics.json").split("_", 2)[2]] = json.loads(path.read_text())
    return found


def annotate_samples(results_file: Path, siuo_dir: Path, since: float) -> None:
    """Add {"siuo": {question_id, domain, responses, verdicts}} to every siuo_gen* sample line of this run."""
    stamp = results_file.name.removesuffix("_results.json")
    for task, rows_file in newest_rows(siuo_dir, since).items():
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
        samples = results_file.parent / f"{stamp}_samples_{task}.jsonl"
        if not samples.is_file():
            continue
        lines = []
        for _, sample in numbered_rows(samples, nan_as_none=True):  # lmms-eval's file: NaN -> null
            record = next(v for k, v in sample.items() if k.startswith(PRIMARY_METRIC[task]))
            sample["siuo"] = {
                "question_id": record["question_id"],
                "domain": record["domain"],
                "responses": record["responses"],
                "verdicts": verdicts.get(record["question_id"]),
            }
            lines.append(sample)
        write_jsonl_atomic(samples, redact_json(lines))


def finish_run_folder(results_file: Path, since: float) -> None:
    """Redact keys in the results file and add the verdicts (side files beside it) to this run's samples."""
    write_json_atomic(results_file, redact_json(read_json_file(results_file, nan_as_none=True)))
    annotate_samples(results_file, results_file.parent, since)
