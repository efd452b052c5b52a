"""`siuo-eval --model M --model_args ... --tasks siuo [lmms-eval flags] [judge flags]`.

A thin wrapper over lmms-eval's own CLI, run in a child process by ``siuo_task.lmms.child`` (which indexes
the SIUO tasks alone, not lmms-eval's ~2,000: ~3 s of CPU less per start); it adds --log_samples.

Before lmms-eval starts, a pre-flight (``siuo_task.cli.preflight``) checks the task names, the judge settings,
key, cache and endpoint, a local checkpoint path and the data (the checks the tasks would make half a minute
later): each failure is one line and exit 2.

Answers first, judging second: the run gets a unique id (``<stamp>-<random>``) that the tasks use in their
side file names; they save the generation responses (``<run id>_<task>.responses.jsonl``) and leave judging to
the wrapper ($SIUO_DEFER_JUDGING), which judges them with ``siuo-eval judge``'s machinery after lmms-eval has
written its logs, then writes the SIUO side files, the generation figures into lmms-eval's results file and
the verdicts into its samples log. A run record (``<run id>.siuo-run.json``) stays until every response is
judged: the same command afterwards judges only what is missing and never asks the model again. A judge that
fails ends the run like ``siuo-eval judge``: the cause on stderr, exit 3, the command that completes it.

The lmms-eval child runs in its own process group: SIGINT, SIGTERM and SIGHUP are forwarded (10 s to stop,
then killed), and on Linux it is killed when siuo-eval dies (``PR_SET_PDEATHSIG``), even by SIGKILL. One run
at a time writes into a model's folder (a lock file); a second is refused with one line. The wrapper reads
only its own child's files (named by its run id; lmms-eval's results file is the one written since it started,
under that lock). lmms-eval exits 0 even when a task crashed, so we exit non-zero when a requested task has
no primary figure (crash, failed model requests). API keys are removed from the results file.

When lmms-eval wrote no results because it could not import its class for ``--model`` (it logs that and exits
0), a second child interpreter imports that class to name the missing module, and the error names the package
and the package that brings it (``decord``: ``pip install decord2``, the siuo extra ``local``).

Under ``accelerate launch -m siuo_task.cli`` (one siuo-eval per process, $RANK set) every process runs its
lmms-eval child, which together form lmms-eval's data-parallel run; only rank 0 checks, judges and finishes
the run folder and prints the figures, the others exit with their child's code.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.util
import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_dataset.items import LoadedSiuo
from siuo_task.cli import preflight
from siuo_task.cli.common import add_judge_arguments, items_text, say
from siuo_task.files import write_json_atomic
from siuo_task.judge.base import Judge
from siuo_task.judge.config import JudgeConfig
from siuo_task.lmms import include_path_args, model_folder, model_name
from siuo_task.lmms.results import (
    DEFER_JUDGING_ENV,
    MODEL_CLASS_ENV,
    NO_VERIFY_ENV,
    RESPONSES_SUFFIX,
    RUN_ID_ENV,
    EvaluationFailed,
    check_results,
    expected_tasks,
    finish_run_folder,
    new_run_id,
    newest_results,
    set_gen_results,
    side_file,
    side_metrics,
    write_run_side_files,
)
from siuo_task.redact import pump_redacted, redact, safe_text

DEFAULT_OUTPUT = "siuo-results"
LMMS_EVAL_CHILD = "siuo_task.lmms.child"  # lmms-eval's CLI: the SIUO tasks alone, HF evaluate deferred
RUN_RECORD_SUFFIX = ".siuo-run.json"  # <run id>.siuo-run.json: a run whose responses are not all judged yet
MODEL_CLASS_SUFFIX = ".model-class.json"  # <run id>.model-class.json: why the child could not load --model
LOCK_FILE = ".siuo-eval.lock"
STOP_GRACE = 10  # seconds lmms-eval gets to stop after a forwarded signal, then it is killed
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# A module lmms-eval's model classes import -> (the distribution that provides it, the siuo extra with it).
MODULE_PACKAGES = {
    "decord": ("decord2", "local"),
    "lmms_eval": ("lmms-eval", "lmms"),
    "accelerate": ("accelerate", "lmms"),
    "av": ("av", "lmms"),
    "qwen_vl_utils": ("qwen-vl-utils", "lmms"),
}


def build_parser() -> argparse.ArgumentParser:
    """Our flags (judge, data, checks, and the lmms-eval flags we read); lmms-eval's own go through."""
    parser = argparse.ArgumentParser(
        prog="siuo-eval",
        add_help=False,
        allow_abbrev=False,
        usage="siuo-eval --model M --model_args ARGS --tasks siuo [siuo-eval flags] [lmms-eval flags]",
        description="lmms-eval with SIUO's judge: siuo-eval's own flags below, then lmms-eval's.",
    )
    parser.add_argument("-h", "--help", action="store_true", help="show this help (and lmms-eval's)")
    add_judge_arguments(parser)
    checks = parser.add_argument_group("data and pre-flight checks")
    checks.add_argument(
        "--data-dir", help="SIUO folder (default: $SIUO_DATA_DIR, else the pinned Hub revision)"
    )
    checks.add_argument(
        "--no-verify-checksums",
        action="store_true",
        help="accept annotation files that differ from the pinned release",
    )
    checks.add_argument(
        "--no-judge-check",
        action="store_true",
        help="skip the pre-flight request to the judge endpoint (GET /models)",
    )
    lmms = parser.add_argument_group("lmms-eval flags siuo-eval reads (passed on to lmms-eval)")
    lmms.add_argument("--tasks", help="siuo, siuo_text, siuo_gen, siuo_mcqa, ... (comma-separated)")
    lmms.add_argument("--output_path", help=f"results folder (default {DEFAULT_OUTPUT})")
    lmms.add_argument("--include_path", help=argparse.SUPPRESS)
    lmms.add_argument(
        "--model_args", default="", help="lmms-eval's model arguments (pretrained=..., model=...)"
    )
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


def print_help(env: dict) -> int:
    """Our flags, then lmms-eval's own help."""
    print(build_parser().format_help())
    sys.stdout.flush()
    if importlib.util.find_spec("lmms_eval") is None:
        print(
            "(lmms-eval is not installed: run make install, or pip install '.[lmms]' in your siuo checkout)"
        )
        return 0
    print("lmms-eval's own flags (passed through):\n")
    sys.stdout.flush()
    subprocess.run([sys.executable, "-m", LMMS_EVAL_CHILD, "eval", "--help"], env=env, check=False)
    return 0


def is_rank_0() -> bool:
    return os.environ.get("RANK", "0") in ("", "0")


def main(argv: list[str]) -> int:
    args, rest = parse(argv)
    if args.help:
        return print_help(dict(os.environ))
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
    env = dict(os.environ)
    if args.data_dir:
        env["SIUO_DATA_DIR"] = str(args.data_dir)
    if args.no_verify_checksums:
        env[NO_VERIFY_ENV] = "1"
    if args.tasks in preflight.LMMS_EVAL_META_TASKS:  # lmms-eval's task listings
        return run_child(
            [sys.executable, "-m", "lmms_eval", "--tasks", args.tasks, *include_path_args()], env
        )
    tasks = preflight.check_tasks(args.tasks)
    config = JudgeConfig.from_args(args)
    config.check()
    preflight.check_checkpoint(args.model_args)
    judge_text_only = config.text_only or config.resolved_kind == "offline"  # offline reads no image
    loaded = preflight.check_data(
        tasks,
        judge_text_only,
        data_dir=env.get("SIUO_DATA_DIR"),
        verify_checksums=not args.no_verify_checksums,
    )
    judge = config.build()  # judge and cache problems surface now, not after the model has answered
    judged = [task for task in tasks if task in preflight.GEN_TASKS]
    if judged:
        preflight.check_judge_key(judge)
        preflight.check_cache(config)
        if not args.no_judge_check:
            preflight.check_judge_endpoint(config, judge)
    if "--log_samples" not in rest:
        rest.append("--log_samples")
    output = Path(args.output_path or DEFAULT_OUTPUT)
    run_folder = output / model_folder(args.model_args)  # this model's folder, never another model's
    model = model_name(args.model_args) or option_value(rest, "--model") or ""
    finisher = Finisher(run_folder, tasks, config, judge, loaded, model, argv)
    with run_lock(run_folder) if is_rank_0() else contextlib.nullcontext():
        record = find_pending(run_folder, tasks) if is_rank_0() else None
        if record is not None:
            saved = run_folder / record_name(record["run_id"])
            print(
                f"siuo-eval: judging the saved responses of run {record['run_id']} in {run_folder} (the "
                f"model is not asked again; to run it afresh, delete {saved})",
                file=sys.stderr,
            )
            return finisher.finish(record, 0)
        run_id = new_run_id(option_value(rest, "--timezone") or "Asia/Singapore")
        model_class_file = run_folder / f"{run_id}{MODEL_CLASS_SUFFIX}"
        env.update({RUN_ID_ENV: run_id, DEFER_JUDGING_ENV: "1", MODEL_CLASS_ENV: str(model_class_file)})
        command = [
            sys.executable,
            "-m",
            LMMS_EVAL_CHILD,
            "--tasks",
            lmms_tasks(args.tasks),
            "--output_path",
            str(output),
            *(["--model_args", args.model_args] if args.model_args else []),
            *rest,
        ]
        started = time.time() - 1
        returncode = run_child(command, env)  # lmms-eval's output passed through, credentials masked
        if not is_rank_0():  # another process of a data-parallel run: rank 0 finishes it
            return 0 if returncode == 0 else 1
        results_file = newest_results(run_folder, started)
        if results_file is None:
            problem = model_class_problem(model_class_file)
            if problem:
                raise EvaluationFailed(problem)
            check_results(None, tasks)  # raises: no results file
        record = {"run_id": run_id, "results": results_file.name, "tasks": tasks}
        write_json_atomic(run_folder / record_name(run_id), record)  # before any judge call
        return finisher.finish(record, returncode)


def record_name(run_id: str) -> str:
    return f"{run_id}{RUN_RECORD_SUFFIX}"


def find_pending(run_folder: Path, tasks: list[str]) -> dict | None:
    """The newest run of these tasks in this folder whose saved responses are not all judged, or None."""
    found = []
    for path in run_folder.glob(f"*{RUN_RECORD_SUFFIX}"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if (
            isinstance(record, dict)
            and record.get("tasks") == tasks
            and isinstance(record.get("results"), str)
            and (run_folder / Path(record["results"]).name).is_file()
        ):
            found.append((path.stat().st_mtime, record))
    return max(found, key=lambda pair: pair[0])[1] if found else None


@contextlib.contextmanager
def run_lock(run_folder: Path):
    """One siuo-eval run at a time in a model's folder: a second is refused with one line."""
    run_folder.mkdir(parents=True, exist_ok=True)
    path = run_folder / LOCK_FILE
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise SiuoError(
                f"another siuo-eval run (pid {holder}) is writing into {run_folder}: wait for it to finish, "
                "or pass another --output_path"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


class Finisher:
    """After lmms-eval: judge the run's saved responses, write the side files and figures, check, print."""

    def __init__(self, run_folder, tasks, config: JudgeConfig, judge: Judge, loaded, model, argv) -> None:
        self.run_folder = run_folder
        self.tasks = tasks
        self.config = config
        self.judge = judge
        self.loaded: LoadedSiuo | None = loaded
        self.model = model
        self.argv = argv
        self.first_error: dict[str, str | None] = {}  # task -> the first judge error's text

    def finish(self, record: dict, returncode: int) -> int:
        run_id = record["run_id"]
        results_file = self.run_folder / Path(record["results"]).name
        stopped, failed = None, []
        for task in self.tasks:
            responses = side_file(self.run_folder, run_id, task, RESPONSES_SUFFIX)
            if task not in preflight.GEN_TASKS or not responses.is_file():
                continue
            summary = self.judge_task(task, run_id, responses, results_file)
            stopped = stopped or summary.stopped
            if summary.errors:
                failed.append((task, summary.errors, responses))
        finish_run_folder(results_file, run_id)
        if stopped or failed:
            return self.judge_failed(stopped, failed)
        (self.run_folder / record_name(run_id)).unlink(missing_ok=True)
        results = check_results(results_file, self.tasks)
        self.print_figures(results, results_file, run_id)
        if returncode != 0:
            raise EvaluationFailed(f"lmms-eval exited with code {returncode}")
        return 0

    def judge_task(self, task: str, run_id: str, responses: Path, results_file: Path):
        from siuo_task.protocol.model_prompts import RESPONSES_PER_ITEM
        from siuo_task.provenance import provenance
        from siuo_task.readers import read_responses
        from siuo_task.scoring.judging import judge_responses

        items_by_id = {item.question_id: item for item in self.loaded.items}
        rows = read_responses(responses, items_by_id, RESPONSES_PER_ITEM)
        try:
            result = judge_responses(
                self.judge,
                items_by_id,
                rows,
                cache=self.config.open_cache(),
                header=provenance(self.loaded, judge=self.judge.info, images_used=not task.endswith("_text")),
                extra={"failed_requests": 0},
                **self.config.run_options(),
            )
        except sqlite3.Error as error:  # the cache damaged underneath us
            raise SiuoError(preflight.cache_problem(self.config.cache, error)) from None
        say(argparse.Namespace(quiet=self.config.quiet), f"{task}: {result.summary.line()}")
        metrics = write_run_side_files(
            self.run_folder, run_id, task, self.model, result.metrics, result.judgements
        )
        set_gen_results(results_file, task, metrics)
        self.first_error[task] = next(
            (
                str(value)
                for row in result.judgements
                for key, value in row.items()
                if key.endswith("_error") and value
            ),
            None,
        )
        return result.summary

    def judge_failed(self, stopped: str | None, failed: list) -> int:
        """Like ``siuo-eval judge``: the cause on stderr, exit 3, and the one command that completes it."""
        if stopped:
            print(f"siuo-eval: error: {stopped}", file=sys.stderr)
        for task, errors, responses in failed:
            rows = responses.with_name(responses.name.replace(RESPONSES_SUFFIX, ".rows.jsonl"))
            first = self.first_error.get(task)
            print(
                f"siuo-eval: error: {task}: {errors} judge calls failed"
                + (f", the first: {safe_text(first)}" if first else "")
                + f" (all in *_error of {rows}); the responses are saved in {responses}",
                file=sys.stderr,
            )
        print(
            "siuo-eval: re-run the same command"
            + (" once the judge is back" if stopped else "")
            + ": it judges only what is missing, without asking the model again:",
            file=sys.stderr,
        )
        print(redact(shlex.join(["siuo-eval", *self.argv])), file=sys.stderr)
        return 3

    def print_figures(self, results: dict, results_file: Path, run_id: str) -> None:
        side = side_metrics(self.run_folder, run_id)
        placeholders = max(
            (m.get("data", {}).get("placeholder_images") or 0 for m in side.values()), default=0
        )
        if placeholders:
            print(
                f"PLACEHOLDER IMAGES: the models saw {placeholders} generated placeholder images, not the "
                "SIUO images: these are not SIUO figures"
            )
        print(f"siuo-eval: results in {results_file}")
        for task in self.tasks:
            shown = {
                k.split(",")[0]: v
                for k, v in results.get(task, {}).items()
                if "@all," in k and "stderr" not in k
            }
            scored = side.get(task, {})
            total = scored.get("data", {}).get("n_items", 0)
            coverage = f" ({items_text(scored['n_items'], total)})" if scored.get("n_items") else ""
            approximate = " (APPROXIMATE: offline judge)" if shown.get("judge_approximate@all") == 1 else ""
            judge = scored.get("judge") or {}  # which judge: a figure copied from here can be traced to it
            where = f" at {judge['endpoint']}" if judge.get("endpoint") else ""
            named = f"; judge {judge.get('model')}{where} (identity {judge.get('identity')})" if judge else ""
            print(
                f"  {task}{coverage}: "
                + safe_text(", ".join(f"{k}={v}" for k, v in shown.items()) + approximate + named)
            )


# ---- the lmms-eval child -----------------------------------------------------------------------------------


def _die_with_parent(parent: int):
    """``preexec_fn`` of the child: killed when siuo-eval dies (Linux ``PR_SET_PDEATHSIG``), even by
    SIGKILL; if siuo-eval is already gone, it does not start."""
    prctl = None
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork

    def setup() -> None:
        if prctl is not None:
            prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(1)

    return setup


class _Signalled(BaseException):
    def __init__(self, signum: int) -> None:
        self.signum = signum


def _stop(process: subprocess.Popen) -> None:
    """Give the child's group ``STOP_GRACE`` seconds after the forwarded signal, then kill it."""
    try:
        process.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_child(command: list[str], env: dict) -> int:
    """Run lmms-eval in its own process group with its output passed through ours (credentials masked);
    SIGINT/SIGTERM/SIGHUP forwarded to its group; its exit code. On Ctrl-C: KeyboardInterrupt once it stopped;
    on SIGTERM/SIGHUP: exit 128 + the signal."""
    process = subprocess.Popen(
        command,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_die_with_parent(os.getpid()),
    )
    pumps = [
        threading.Thread(target=pump_redacted, args=(process.stdout, sys.stdout), daemon=True),
        threading.Thread(target=pump_redacted, args=(process.stderr, sys.stderr), daemon=True),
    ]
    for pump in pumps:
        pump.start()

    def forward(signum, frame) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)
        raise _Signalled(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {signum: signal.signal(signum, forward) for signum in FORWARDED}
    try:
        code = process.wait()
    except _Signalled as signalled:
        for signum in FORWARDED:  # a second signal while it stops: kill at once
            if signum in previous:
                signal.signal(signum, lambda *_: os.killpg(process.pid, signal.SIGKILL))
        _stop(process)
        if signalled.signum == signal.SIGINT:
            raise KeyboardInterrupt from None
        raise SystemExit(128 + signalled.signum) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    for pump in pumps:
        pump.join()
    return code


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


def model_class_problem(path: Path) -> str | None:
    """Why lmms-eval could not import its class for ``--model``, as the child wrote it to ``path``
    (``siuo_task.lmms.child``), or None; the file is removed."""
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    path.unlink(missing_ok=True)
    if not isinstance(found, dict) or "model" not in found:
        return None
    model = found["model"]
    if found.get("missing"):
        return (
            f"lmms-eval cannot import its model class for --model {model}: no module named "
            f"{found['missing']!r}; {install_hint(found['missing'])}"
        )
    return f"lmms-eval cannot load its model class for --model {model}: {found.get('error')}"
