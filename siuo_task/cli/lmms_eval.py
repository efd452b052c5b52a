"""`siuo-eval --model M --model_args ... --tasks siuo [lmms-eval flags] [judge flags]`.

A thin wrapper over lmms-eval's own CLI (``python -m lmms_eval`` in a child process): it adds our tasks
folder (--include_path, unless lmms-eval finds them installed) and --log_samples (responses are never lost),
hands the judge flags to the task through a JSON config ($SIUO_JUDGE_CONFIG, read when the task aggregates);
the task writes its full SIUO metrics under the output path itself (``<output_path>/siuo/``). Afterwards it
checks the results file: lmms-eval exits 0 even when a task crashed, so we exit non-zero when a requested
task has no primary figure (crash, failed model requests, failed judge calls). It also adds each response's
verdicts to the siuo_gen samples log and removes API keys from the results file.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_task.cli.common import add_judge_arguments
from siuo_task.files import write_json_atomic, write_jsonl_atomic
from siuo_task.judge.config import JudgeConfig
from siuo_task.lmms import SIDE_FOLDER, include_path_args
from siuo_task.readers import numbered_rows
from siuo_task.redact import redact_json, run_redacted

GROUPS = {"siuo": ["siuo_gen", "siuo_mcqa"], "siuo_text": ["siuo_gen_text", "siuo_mcqa_text"]}
PRIMARY_METRIC = {
    "siuo_gen": "rate_safe@all",
    "siuo_gen_text": "rate_safe@all",
    "siuo_mcqa": "mcqa_accuracy@all",
    "siuo_mcqa_text": "mcqa_accuracy@all",
}
DEFAULT_OUTPUT = "siuo-results"


class EvaluationFailed(SiuoError):
    """lmms-eval produced no results, or a task failed."""


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our flags (judge, data) and the rest, which goes to lmms-eval unchanged."""
    parser = argparse.ArgumentParser(prog="siuo-eval", add_help=False)
    add_judge_arguments(parser)
    parser.add_argument("--data-dir")
    parser.add_argument("--tasks")
    parser.add_argument("--output_path")
    parser.add_argument("--include_path")
    return parser.parse_known_args(argv)


def expected_tasks(tasks: str) -> list[str]:
    """Requested task names with our groups expanded."""
    names = []
    for name in tasks.split(","):
        names.extend(GROUPS.get(name.strip(), [name.strip()]))
    return names


def newest_results(output: Path, since: float) -> Path | None:
    found = [p for p in output.rglob("*_results.json") if p.stat().st_mtime >= since]
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
        for _, sample in numbered_rows(samples):
            record = next(v for k, v in sample.items() if k.startswith("rate_safe@all"))
            sample["siuo"] = {
                "question_id": record["question_id"],
                "domain": record["domain"],
                "responses": record["responses"],
                "verdicts": verdicts.get(record["question_id"]),
            }
            lines.append(sample)
        write_jsonl_atomic(samples, redact_json(lines))


def main(argv: list[str]) -> int:
    args, rest = parse(argv)
    if not args.tasks:
        raise SiuoError(
            "--tasks is required, e.g. --tasks siuo (generation + MCQA) or siuo_text (image-blind)"
        )
    if args.include_path:
        raise SiuoError(
            "siuo-eval sets --include_path itself; to add your own task folders run plain "
            "lmms-eval (see siuo-eval tasks-path)"
        )
    if importlib.util.find_spec("lmms_eval") is None:
        raise SiuoError("lmms-eval is not installed: pip install 'siuo[lmms]'")
    config = JudgeConfig.from_args(args)
    config.build()  # judge and cache problems surface now, not after the model has answered
    config.open_cache()
    if "--log_samples" not in rest:
        rest.append("--log_samples")
    output = Path(args.output_path or DEFAULT_OUTPUT)
    tasks = expected_tasks(args.tasks)
    with tempfile.TemporaryDirectory(prefix="siuo-eval-") as tmp:
        config_file = Path(tmp) / "judge.json"
        config_file.write_text(json.dumps(config.to_json()))
        env = dict(os.environ, SIUO_JUDGE_CONFIG=str(config_file))
        if args.data_dir:
            env["SIUO_DATA_DIR"] = str(args.data_dir)
        command = [
            sys.executable,
            "-m",
            "lmms_eval",
            "--tasks",
            args.tasks,
            *include_path_args(),
            "--output_path",
            str(output),
            *rest,
        ]
        started = time.time() - 1
        returncode = run_redacted(command, env)  # lmms-eval's output passed through, credentials masked
    results_file = newest_results(output, started) if output.exists() else None
    if results_file is not None:
        finish_run_folder(results_file, output / SIDE_FOLDER, started)
    results = check_results(results_file, tasks)
    print(f"siuo-eval: results in {results_file}")
    for task in tasks:
        shown = {
            k.split(",")[0]: v for k, v in results.get(task, {}).items() if "@all," in k and "stderr" not in k
        }
        print(f"  {task}: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    if returncode != 0:
        raise EvaluationFailed(f"lmms-eval exited with code {returncode}")
    return 0


def finish_run_folder(results_file: Path, siuo_dir: Path, since: float) -> None:
    """Redact keys in the results file and add the verdicts to this run's samples log."""
    write_json_atomic(results_file, redact_json(json.loads(results_file.read_text())))
    annotate_samples(results_file, siuo_dir, since)
