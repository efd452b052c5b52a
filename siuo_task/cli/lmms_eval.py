"""`siuo-eval --model M --model_args ... --tasks siuo [lmms-eval flags] [judge flags]`.

A thin wrapper over lmms-eval's own CLI (``python -m lmms_eval`` in a child process): it adds our tasks
folder (--include_path, unless lmms-eval finds them installed) and --log_samples (responses are never lost),
hands the judge flags to the task through a JSON config ($SIUO_JUDGE_CONFIG, read when the task aggregates);
the task writes its full SIUO metrics beside lmms-eval's results (``<output_path>/<model folder>/``).
Afterwards it checks the results file of this model's folder only (``siuo_task.lmms.results``): lmms-eval
exits 0 even when a task crashed, so we exit non-zero when a requested task has no primary figure (crash,
failed model requests, failed judge calls). It
also adds each response's verdicts to the siuo_gen samples log and removes API keys from the results file.

When lmms-eval wrote no results because it could not import its class for ``--model`` (it logs that and exits
0), a second child interpreter imports that class to name the missing module, and the error names the package
and the package that brings it (``decord``: ``pip install decord2``, the siuo extra ``local``).

Under ``accelerate launch -m siuo_task.cli`` (one siuo-eval per process, $RANK set) every process runs its
lmms-eval child, which together form lmms-eval's data-parallel run; only rank 0 checks and finishes the run
folder and prints the figures, the others exit with their child's code.
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
from siuo_task.cli.common import add_judge_arguments, items_text
from siuo_task.judge.config import JudgeConfig
from siuo_task.lmms import include_path_args, model_folder
from siuo_task.lmms.results import (
    EvaluationFailed,
    check_results,
    expected_tasks,
    finish_run_folder,
    newest_results,
    side_metrics,
)
from siuo_task.redact import run_redacted

DEFAULT_OUTPUT = "siuo-results"
# A module lmms-eval's model classes import -> (the distribution that provides it, the siuo extra with it).
MODULE_PACKAGES = {
    "decord": ("decord2", "local"),
    "lmms_eval": ("lmms-eval", "lmms"),
    "accelerate": ("accelerate", "lmms"),
    "av": ("av", "lmms"),
    "qwen_vl_utils": ("qwen-vl-utils", "lmms"),
}
IMPORT_MODEL_CLASS = """
import json, sys
from lmms_eval.models import get_model
try:
    get_model(sys.argv[1], force_simple=sys.argv[2] == "1")
except ModuleNotFoundError as error:
    print(json.dumps({"missing": error.name, "error": str(error)}))
except Exception as error:
    print(json.dumps({"missing": None, "error": f"{type(error).__name__}: {error}"}))
else:
    print(json.dumps({}))
"""


def build_parser() -> argparse.ArgumentParser:
    """Our flags (judge, data, and the lmms-eval flags we read); lmms-eval's own go through."""
    parser = argparse.ArgumentParser(prog="siuo-eval", add_help=False, allow_abbrev=False)
    add_judge_arguments(parser)
    parser.add_argument("--data-dir")
    parser.add_argument("--tasks")
    parser.add_argument("--output_path")
    parser.add_argument("--include_path")
    parser.add_argument("--model_args", default="")
    return parser


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our flags (judge, data) and the rest, which goes to lmms-eval unchanged."""
    return build_parser().parse_known_args(argv)


def lmms_tasks(tasks: str) -> str:
    """``--tasks`` as lmms-eval must get it. lmms-eval reads a ``--tasks`` value that names an existing folder
    as a folder of task YAMLs (`No tasks found`): a ``siuo/`` folder in the working folder, such as
    ``siuo-data build --out siuo`` makes, would hide our group. Our groups are then passed as their tasks."""
    if not Path(tasks).is_dir():
        return tasks
    expanded = ",".join(expected_tasks(tasks))
    if Path(expanded).is_dir():
        raise SiuoError(
            f"a folder named {tasks!r} in the working folder hides the task {tasks!r} from lmms-eval: "
            "run siuo-eval from another folder (or rename that folder)"
        )
    return expanded


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
        raise SiuoError(
            "lmms-eval is not installed: run make install, or pip install '.[lmms]' in your siuo checkout"
        )
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
            lmms_tasks(args.tasks),
            *include_path_args(),
            "--output_path",
            str(output),
            *(["--model_args", args.model_args] if args.model_args else []),
            *rest,
        ]
        started = time.time() - 1
        returncode = run_redacted(command, env)  # lmms-eval's output passed through, credentials masked
    if os.environ.get("RANK", "0") != "0":  # another process of a data-parallel run: rank 0 finishes it
        return 0 if returncode == 0 else 1
    run_folder = output / model_folder(args.model_args)  # this model's folder, never another model's
    results_file = newest_results(run_folder, started)
    if results_file is None:
        problem = model_class_problem(rest, env)
        if problem:
            raise EvaluationFailed(problem)
    if results_file is not None:
        finish_run_folder(results_file, started)
    results = check_results(results_file, tasks)
    side = side_metrics(results_file.parent, started)
    placeholders = max((m.get("data", {}).get("placeholder_images") or 0 for m in side.values()), default=0)
    if placeholders:
        print(
            f"PLACEHOLDER IMAGES: the models saw {placeholders} generated placeholder images, not the SIUO "
            "images: these are not SIUO figures"
        )
    print(f"siuo-eval: results in {results_file}")
    for task in tasks:
        shown = {
            k.split(",")[0]: v for k, v in results.get(task, {}).items() if "@all," in k and "stderr" not in k
        }
        scored = side.get(task, {})
        total = scored.get("data", {}).get("n_items", 0)
        coverage = f" ({items_text(scored['n_items'], total)})" if scored.get("n_items") else ""
        approximate = " (APPROXIMATE: offline judge)" if shown.get("judge_approximate@all") == 1 else ""
        print(f"  {task}{coverage}: " + ", ".join(f"{k}={v}" for k, v in shown.items()) + approximate)
    if returncode != 0:
        raise EvaluationFailed(f"lmms-eval exited with code {returncode}")
    return 0


def option_value(args: list[str], name: str) -> str | None:
    """The value of lmms-eval flag ``name`` in ``args`` (``--name V`` or ``--name=V``), or None."""
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def install_hint(module: str) -> str:
    """What to install for a missing ``module``, in words."""
    if module in MODULE_PACKAGES:
        package, extra = MODULE_PACKAGES[module]
        return f"it is in the package {package} (the siuo extra {extra!r}): pip install {package}"
    if module == "torchvision":
        return "install the torchvision build that matches your torch (no siuo extra brings it)"
    return f"install the package that provides the module {module}"


def model_class_problem(lmms_args: list[str], env: dict) -> str | None:
    """Why lmms-eval could not import its class for ``--model`` (checked in a child interpreter), or None."""
    import subprocess

    model = option_value(lmms_args, "--model")
    if model is None:
        return None
    simple = "1" if "--force_simple" in lmms_args else "0"
    try:
        done = subprocess.run(
            [sys.executable, "-c", IMPORT_MODEL_CLASS, model, simple],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return None
    if not found:
        return None
    if found.get("missing"):
        return (
            f"lmms-eval cannot import its model class for --model {model}: no module named "
            f"{found['missing']!r}; {install_hint(found['missing'])}"
        )
    return f"lmms-eval cannot load its model class for --model {model}: {found['error']}"
