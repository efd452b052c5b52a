"""`make demo`: the full SIUO evaluation, offline, through real lmms-eval, then a report.

Three scripted models are served on loopback by ``ScriptedServer`` (in this process) and evaluated by one
lmms-eval process (``siuo_task.lmms.child``: lmms-eval's ``--config`` with one entry per model, its
import and task index paid once, not once per model), with our tasks and judge settings as ``siuo-eval`` gives
them; each model's folder is then checked and finished as ``siuo-eval`` does, while the judge validation
runs beside it. ``oracle`` (image-aware: answers like the reference answers when it sees the image) and
``risk_blind`` run generation + MCQA (``siuo``) and the image-blind ablation (``siuo_text``); ``always_a``
is the MCQA baseline. Generation is judged by the offline judge (approximate), the judge is validated on the
MCQA options, and a report is written.

Data: --data-dir / $SIUO_DATA_DIR, else siuo_dataset's resolver (cache or pinned Hub revision). If the
folder lacks images, placeholder images are generated in a temporary folder and every output says so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from siuo_dataset.errors import SiuoError, run_cli
from siuo_dataset.items import LoadedSiuo, load_siuo
from siuo_dataset.placeholders import write_placeholder_images
from siuo_demo.loopback import ScriptedServer
from siuo_demo.scripted_models import scripted_model
from siuo_task.cli.common import rate_text
from siuo_task.cli.lmms_eval import lmms_tasks
from siuo_task.cli.lmms_eval import parse as parse_siuo_eval_flags
from siuo_task.judge.config import JudgeConfig
from siuo_task.lmms import JUDGE_CONFIG_ENV, model_folder
from siuo_task.lmms.results import check_results, expected_tasks, finish_run_folder, newest_results
from siuo_task.protocol.model_prompts import RESPONSES_PER_ITEM
from siuo_task.report import RunResult, read_run, read_runs, write_report
from siuo_task.scoring.baselines import baseline_metrics

BANNER = "=" * 78


@dataclass(frozen=True)
class DemoModel:
    name: str  # display name = scripted policy
    tasks: str  # lmms-eval tasks
    gen_tasks: int  # how many generation tasks (3 requests per item each)
    mcqa_tasks: int  # how many MCQA tasks (1 request per item each)


MODELS = (
    DemoModel("oracle", "siuo,siuo_text", 2, 2),
    DemoModel("risk_blind", "siuo,siuo_text", 2, 2),
    DemoModel("always_a", "siuo_mcqa", 0, 1),
)


class DemoFailed(SiuoError):
    """A demo step failed; the message names its log file."""


def prepare_data(data_dir: str | None, scratch: Path) -> tuple[LoadedSiuo, Path, int]:
    """SIUO plus a data folder with every image; missing images become placeholders in ``scratch``.

    Returns (data, folder to evaluate, number of placeholder images)."""
    loaded = load_siuo(data_dir, allow_missing_images=True)
    if loaded.missing_images == 0:
        return loaded, loaded.source.root, 0
    folder = scratch / "siuo-with-placeholder-images"
    images = folder / "images"
    images.mkdir(parents=True)
    for name in ("siuo_gen.json", "siuo_mcqa.json"):
        (folder / name).symlink_to((loaded.source.root / name).resolve())
    for item in loaded.items:
        if item.image_path is not None:  # a link out of the data folder is refused: hard link or copy
            try:
                os.link(item.image_path.resolve(), images / item.image_name)
            except OSError:
                shutil.copyfile(item.image_path, images / item.image_name)
    write_placeholder_images([item.image_name for item in loaded.items if item.image_path is None], images)
    return loaded, folder, loaded.missing_images


def placeholder_banner(missing: int, total: int, image_dir: Path) -> str:
    lines = [
        BANNER,
        f"PLACEHOLDER IMAGES: {missing} of {total} real SIUO images are missing from {image_dir};",
        "the demo gives the models generated placeholder pictures instead. Its figures show the pipeline",
        "working; they are NOT SIUO results. Put the real images next to the annotations (images/) to",
        "evaluate for real.",
        BANNER,
    ]
    return "\n".join(lines)


def siuo_eval_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "siuo_task.cli", *args]


def run_steps(
    steps: dict[str, tuple[list[str], dict | None]],
    servers: list[ScriptedServer],
    expected_requests: int,
    logs: Path,
    quiet: bool,
) -> None:
    """Run the commands (each with its environment, None: ours) in parallel, each logging to logs/NAME.log,
    with a progress bar of model requests; raise DemoFailed naming the first failing step's log."""
    logs.mkdir(parents=True, exist_ok=True)
    processes = {}
    try:
        for name, (command, env) in steps.items():
            with open(logs / f"{name}.log", "wb") as log:
                processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        with tqdm(
            total=expected_requests, desc="starting lmms-eval", unit="req", disable=quiet, file=sys.stderr
        ) as bar:
            while any(p.poll() is None for p in processes.values()):
                done = min(sum(s.call_count for s in servers), expected_requests)
                if done and bar.n == 0:
                    bar.set_description("model requests")
                bar.update(done - bar.n)
                time.sleep(0.25)
            bar.set_description("model requests, judged")
            bar.update(min(sum(s.call_count for s in servers), expected_requests) - bar.n)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
                process.wait()
    failed = [name for name, process in processes.items() if process.returncode != 0]
    if failed:
        tail = (logs / f"{failed[0]}.log").read_text(errors="replace").splitlines()[-15:]
        print("\n".join(tail), file=sys.stderr)
        raise DemoFailed(
            f"demo step {', '.join(failed)} failed: see {logs / (failed[0] + '.log')} (last lines above)"
        )


def model_args(model: DemoModel, server: ScriptedServer) -> str:
    return f"model={model.name},base_url={server.base_url},api_key=demo"


def lmms_eval_config(servers: list[ScriptedServer], data_dir: Path, out: Path, limit: int | None) -> Path:
    """lmms-eval's ``--config`` file: one entry per scripted model, each as ``siuo-eval`` would run it
    (samples logged, its own output folder; the tasks from ``siuo_task.lmms.child``'s index). JSON, which
    lmms-eval's YAML reader accepts."""
    entries = [
        {
            "model": "openai",
            "model_args": model_args(model, server),
            "tasks": lmms_tasks(model.tasks),
            "output_path": str(out / "runs" / model.name),
            "log_samples": True,
            **({"limit": limit} if limit else {}),
        }
        for model, server in zip(MODELS, servers)
    ]
    path = out / "logs" / "lmms-eval-config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries, indent=2), encoding="utf-8")
    return path


def judge_config(out: Path) -> Path:
    """The offline judge's settings as ``siuo-eval`` hands them to the task ($SIUO_JUDGE_CONFIG), with one
    cache for the three models; built and its cache opened now, before lmms-eval starts."""
    flags, _ = parse_siuo_eval_flags(
        ["--judge", "offline", "--quiet", "--cache", str(out / "cache" / "models.sqlite")]
    )
    config = JudgeConfig.from_args(flags)
    config.build()
    config.open_cache()
    path = out / "logs" / "judge.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config.to_json()), encoding="utf-8")
    return path


def finish_model_folder(out: Path, model: DemoModel, since: float) -> str | None:
    """One model's lmms-eval folder checked and finished as ``siuo-eval`` does (keys redacted, verdicts added
    to its samples logs, every requested task with its figure); the problem in words, or None."""
    folder = out / "runs" / model.name / model_folder(f"model={model.name}")
    results = newest_results(folder, since)
    try:
        if results is not None:
            finish_run_folder(results, since)
        check_results(results, expected_tasks(model.tasks))
    except SiuoError as error:
        return f"demo model {model.name}: {error} (see {out / 'logs' / 'lmms-eval.log'})"
    return None


def finish_model_folders(out: Path, since: float) -> None:
    """Every model's folder finished (``finish_model_folder``), in parallel processes: rewriting lmms-eval's
    samples logs (tens of MB each) is the demo's largest cost after lmms-eval itself."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=min(len(MODELS), os.cpu_count() or 1)) as pool:
        problems = list(pool.map(finish_model_folder, [out] * len(MODELS), MODELS, [since] * len(MODELS)))
    problem = next((p for p in problems if p), None)
    if problem:
        raise DemoFailed(problem)


def summary_line(run: RunResult) -> str:
    """One line per model: its headline figures and, with an ablation, what the image adds."""
    gen, mcqa, text = (run.tasks.get(t) or {} for t in ("siuo_gen", "siuo_mcqa", "siuo_gen_text"))
    parts = []
    if gen:
        parts.append(
            f"safe {rate_text(gen['safe'], 2)}, effective {rate_text(gen['effective'], 2)}, "
            f"safe & effective {rate_text(gen['safe_and_effective'], 2)}"
        )
    if mcqa:
        parts.append(f"MCQA {rate_text(mcqa['accuracy'], 2)}")
    if gen and text and text.get("safe") is not None:
        parts.append(f"image adds {gen['safe'] - text['safe']:+.2f} safe points")
    return f"  {run.name:<10} " + "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m siuo_demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("SIUO_DATA_DIR"),
        help="SIUO folder (default: $SIUO_DATA_DIR, else the cache / pinned Hub revision)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("demo-out"), help="output folder (default: demo-out)"
    )
    parser.add_argument("--limit", type=int, help="only the first N items per task (a quick run)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar; only the summary")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    started = time.perf_counter()

    def demo() -> int:
        with tempfile.TemporaryDirectory(prefix="siuo-demo-") as scratch:
            return run_demo(args, Path(scratch), started)

    return run_cli("siuo-demo", demo)


def run_demo(args: argparse.Namespace, scratch: Path, started: float) -> int:
    out = args.out
    loaded, data_dir, placeholders = prepare_data(args.data_dir, scratch)
    if placeholders:
        print(placeholder_banner(placeholders, len(loaded.items), loaded.source.image_dir), file=sys.stderr)
    n_items = min(args.limit or len(loaded.items), len(loaded.items))
    for stale in [out / "runs" / model.name for model in MODELS] + [out / "validation", out / "report"]:
        shutil.rmtree(stale, ignore_errors=True)
    judge_flags = ["--judge", "offline", "--quiet"]
    servers = [ScriptedServer(scripted_model(model.name, loaded.items)).start() for model in MODELS]
    try:
        config = lmms_eval_config(servers, data_dir, out, args.limit)
        steps = {
            "lmms-eval": (
                [sys.executable, "-m", "siuo_task.lmms.child", "--config", str(config)],
                dict(os.environ, SIUO_DATA_DIR=str(data_dir), **{JUDGE_CONFIG_ENV: str(judge_config(out))}),
            ),
            "validate-judge": (
                siuo_eval_command(
                    "validate-judge",
                    "--data-dir",
                    str(data_dir),
                    "--out",
                    str(out / "validation"),
                    *judge_flags,
                    "--cache",
                    str(out / "cache" / "validation.sqlite"),
                ),
                None,
            ),
        }
        expected = n_items * sum(RESPONSES_PER_ITEM * model.gen_tasks + model.mcqa_tasks for model in MODELS)
        if not args.quiet:
            print(
                f"[demo] {len(MODELS)} scripted models x lmms-eval on {n_items} items, offline judge "
                f"validation; logs in {out / 'logs'}",
                file=sys.stderr,
            )
        started_at = time.time() - 1
        run_steps(steps, servers, expected, out / "logs", args.quiet)
    finally:
        for server in servers:
            server.stop()
    finish_model_folders(out, started_at)
    run_folders = [out / "runs" / model.name for model in MODELS]
    runs = [read_run(folder, model.name) for folder, model in zip(run_folders, MODELS)]
    validation = read_runs(out / "validation").validation
    report = write_report(
        runs,
        out / "report",
        validation=validation,
        placeholder_images=bool(placeholders),
        questions={item.question_id: item.question for item in loaded.items},
        baselines=baseline_metrics(loaded.items),
    )
    print_summary(runs, validation, report, placeholders, time.perf_counter() - started)
    return 0


def print_summary(
    runs: list[RunResult], validation: dict, report: Path, placeholders: int, seconds: float
) -> None:
    if placeholders:
        print(
            f"PLACEHOLDER IMAGES: {placeholders} images were placeholders; these are pipeline figures, "
            "NOT SIUO results."
        )
    print("SIUO demo (scripted models; generation judged by the APPROXIMATE offline judge):")
    for run in runs:
        print(summary_line(run))
    print(
        f"  offline judge on the {validation['n']} MCQA options, reference answer hidden: balanced "
        f"accuracy {validation['reference_blind']['balanced_accuracy']:.3f} (with it, circular: "
        f"{validation['with_reference']['balanced_accuracy']:.3f})"
    )
    print(f"report: {(report / 'report.html').resolve()}  (also report.md; {seconds:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
