"""`siuo-eval --model M --model_args ... --tasks siuo [lmms-eval flags] [judge flags]`.

A thin wrapper over lmms-eval's own CLI: it adds our tasks folder (--include_path), hands the judge
flags to the task through a JSON config ($SIUO_JUDGE_CONFIG), and afterwards checks the results
file itself — lmms-eval exits 0 even when a task crashed, so we exit non-zero when a requested task
has no results. It also adds each response's verdicts to the siuo_gen samples log and removes API
keys from lmms-eval's results file.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_task.commands.tasks_path import TASKS_DIR
from siuo_task.io import read_jsonl, write_json_atomic, write_jsonl_atomic
from siuo_task.judge.options import add_judge_arguments, check_run_options, judge_config_from_args

GROUPS = {"siuo": ["siuo_gen", "siuo_mcqa"], "siuo_text": ["siuo_gen_text", "siuo_mcqa_text"]}
PRIMARY_METRIC = {"siuo_gen": "rate_safe@all", "siuo_gen_text": "rate_safe@all",
                  "siuo_mcqa": "mcqa_accuracy@all", "siuo_mcqa_text": "mcqa_accuracy@all"}
DEFAULT_OUTPUT = "siuo-results"
_SECRET = re.compile(r"(api_key|api-key|token|key)=([^,\s\"]+)", re.IGNORECASE)


class EvaluationFailed(SiuoError):
    """lmms-eval produced no results, or a task failed."""


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our flags (judge, data) and the rest, which goes to lmms-eval unchanged."""
    parser = argparse.ArgumentParser(prog="siuo-eval", add_help=False)
    add_judge_arguments(parser)
    parser.add_argument("--data-dir")
    parser.add_argument("--tasks")
    parser.add_argument("--output_path")
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


def redact(text: str) -> str:
    """``key=value`` secrets in lmms-eval's model_args replaced by ***."""
    return _SECRET.sub(lambda m: f"{m.group(1)}=***", text)


def check_results(results_file: Path | None, tasks: list[str]) -> dict:
    """The results JSON, or EvaluationFailed naming what is missing."""
    if results_file is None:
        raise EvaluationFailed("lmms-eval wrote no results file: see its log above for the failing task")
    results = json.loads(results_file.read_text())["results"]
    missing = []
    for task in tasks:
        metric = PRIMARY_METRIC.get(task)
        values = results.get(task, {})
        if not values or (metric and not any(k.startswith(metric + ",") and v is not None for k, v in values.items())):
            missing.append(task)
    if missing:
        raise EvaluationFailed(f"task(s) {', '.join(missing)} produced no results (lmms-eval exited 0 anyway): "
                               "see the log above")
    return results


def annotate_samples(run_dir: Path, siuo_dir: Path) -> None:
    """Add {"siuo": {question_id, domain, responses, verdicts}} to every siuo_gen* sample line."""
    for rows_file in siuo_dir.glob("siuo_gen*.rows.jsonl"):
        task = rows_file.name.split(".")[0]
        verdicts: dict[int, list[dict]] = {}
        for _, row in read_jsonl(rows_file):
            verdicts.setdefault(row["question_id"], []).append(
                {"response_index": row["response_index"], "safe": row["safe"], "effective": row["effective"],
                 "safety_status": row["safety_status"], "effectiveness_status": row["effectiveness_status"]})
        for samples in run_dir.glob(f"*_samples_{task}.jsonl"):
            lines = []
            for _, sample in read_jsonl(samples):
                record = next(v for k, v in sample.items() if k.startswith("rate_safe@all"))
                sample["siuo"] = {"question_id": record["question_id"], "domain": record["domain"],
                                  "responses": record["responses"], "verdicts": verdicts.get(record["question_id"])}
                lines.append(sample)
            write_jsonl_atomic(samples, lines)


def main(argv: list[str]) -> int:
    args, rest = parse(argv)
    if not args.tasks:
        raise SiuoError("--tasks is required, e.g. --tasks siuo (generation + MCQA) or siuo_text (image-blind)")
    config = judge_config_from_args(args)
    check_run_options(config)
    output = Path(args.output_path or DEFAULT_OUTPUT)
    tasks = expected_tasks(args.tasks)
    with tempfile.TemporaryDirectory(prefix="siuo-eval-") as tmp:
        config_file = Path(tmp) / "judge.json"
        config_file.write_text(json.dumps(config))
        siuo_dir = Path(tmp) / "siuo"
        env = dict(os.environ, SIUO_JUDGE_CONFIG=str(config_file), SIUO_RESULTS_DIR=str(siuo_dir))
        if args.data_dir:
            env["SIUO_DATA_DIR"] = str(args.data_dir)
        command = [sys.executable, "-m", "lmms_eval", "--tasks", args.tasks, "--include_path", str(TASKS_DIR),
                   "--output_path", str(output), *rest]
        started = time.time() - 1
        completed = subprocess.run(command, env=env)
        results_file = newest_results(output, started) if output.exists() else None
        results = check_results(results_file, tasks)
        run_dir = results_file.parent
        stamp = results_file.name.removesuffix("_results.json")
        annotate_samples(run_dir, siuo_dir)
        for produced in siuo_dir.glob("*"):
            (run_dir / f"{stamp}_{produced.name}").write_bytes(produced.read_bytes())
    payload = json.loads(results_file.read_text())
    write_json_atomic(results_file, json.loads(redact(json.dumps(payload))))
    print(f"siuo-eval: results in {results_file}")
    for task in tasks:
        shown = {k.split(",")[0]: v for k, v in results.get(task, {}).items()
                 if "@all," in k and "stderr" not in k}
        print(f"  {task}: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    if completed.returncode != 0:
        raise EvaluationFailed(f"lmms-eval exited with code {completed.returncode}")
    return 0
