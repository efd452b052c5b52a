"""`make demo`: the full SIUO evaluation, offline, through real lmms-eval.

Two scripted models served on loopback (an oracle that answers like the reference answers, and a
risk-blind one) run siuo (generation + MCQA) and the image-blind siuo_text; the always-A MCQA
baseline runs siuo_mcqa. Generation is judged by the offline judge (approximate), the judge is
validated on the MCQA options, and a report is written.

Data: --data-dir / $SIUO_DATA_DIR, else the pinned Hub revision. If the folder has no images,
placeholder images are generated and every output says so.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_dataset.items import load_siuo
from siuo_dataset.placeholders import write_placeholder_images
from siuo_task.loopback import ScriptedServer
from siuo_task.scripted_models import scripted_model

# (display name, scripted policy, lmms-eval tasks)
MODELS = (("oracle", "oracle", "siuo,siuo_text"), ("risk_blind", "risk_blind", "siuo,siuo_text"),
          ("always_a", "always_a", "siuo_mcqa"))
BANNER = "=" * 78


def prepare_data(data_dir: str | None, out: Path) -> tuple[Path, bool]:
    """A data folder with images; placeholders (loudly) when the given folder has none."""
    loaded = load_siuo(data_dir, allow_missing_images=True)
    if loaded.missing_images == 0:
        return loaded.source.root, False
    folder = out / "data-with-placeholder-images"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for name in ("siuo_gen.json", "siuo_mcqa.json"):
        link = folder / name
        if not link.exists():
            link.symlink_to((loaded.source.root / name).resolve())
    write_placeholder_images([item.image_name for item in loaded.items], folder / "images")
    print(f"{BANNER}\nPLACEHOLDER IMAGES: {loaded.missing_images} real SIUO images are missing from "
          f"{loaded.source.image_dir};\nthe demo uses generated placeholder pictures instead. The figures below show "
          f"the pipeline working,\nNOT SIUO results. Put the real images next to the annotations to evaluate for real."
          f"\n{BANNER}", file=sys.stderr)
    return folder, True


def siuo_eval(*args: str, quiet: bool) -> None:
    """Run a siuo-eval subcommand (a fresh process, as a user would), failing loudly."""
    command = [sys.executable, "-m", "siuo_task.cli", *args]
    completed = subprocess.run(command, stdout=subprocess.DEVNULL if quiet else None,
                               stderr=subprocess.DEVNULL if quiet else None)
    if completed.returncode != 0:
        raise SiuoError(f"demo step failed (exit {completed.returncode}): siuo-eval {' '.join(args[:3])} ...; "
                        "re-run without --quiet to see its log")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="siuo-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("SIUO_DATA_DIR"))
    parser.add_argument("--out", type=Path, default=Path("demo-out"))
    parser.add_argument("--limit", type=int, help="only the first N items per task (quick runs)")
    parser.add_argument("--quiet", action="store_true", help="only the final summary")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        data_dir, placeholders = prepare_data(args.data_dir, args.out)
        items = load_siuo(data_dir).items
        cache = str(args.out / "judge-cache.sqlite")
        judge_flags = ["--judge", "offline", "--cache", cache, *(["--quiet"] if args.quiet else [])]
        limit = ["--limit", str(args.limit)] if args.limit else []
        runs = []
        for name, policy, tasks in MODELS:
            with ScriptedServer(scripted_model(policy, items)) as server:
                print(f"[demo] {name}: lmms-eval --tasks {tasks} against a scripted model at {server.base_url}",
                      file=sys.stderr)
                siuo_eval("--model", "openai", "--model_args", f"model={name},base_url={server.base_url},api_key=demo",
                          "--tasks", tasks, "--data-dir", str(data_dir), "--output_path", str(args.out / "runs"),
                          "--log_samples", *limit, *judge_flags, quiet=args.quiet)
            runs.append(args.out / "runs" / name)
        print("[demo] validating the offline judge on the 668 MCQA options", file=sys.stderr)
        siuo_eval("validate-judge", "--data-dir", str(data_dir), "--out", str(args.out / "validation"),
                  *judge_flags, quiet=args.quiet)
        siuo_eval("report", *map(str, runs), "--out", str(args.out / "report"),
                  "--validation", str(args.out / "validation" / "validation.json"),
                  *(["--placeholder-images"] if placeholders else []), quiet=args.quiet)
    except SiuoError as error:
        print(f"siuo-demo: error: {error}", file=sys.stderr)
        return 2
    print_summary(runs, args.out, placeholders, time.perf_counter() - started)
    return 0


def print_summary(runs: list[Path], out: Path, placeholders: bool, seconds: float) -> None:
    from siuo_task.report import read_run

    if placeholders:
        print("NOTE: PLACEHOLDER IMAGES were used; these are pipeline figures, not SIUO results.")
    for folder in runs:
        run = read_run(folder)
        gen, mcqa = run.tasks.get("siuo_gen", {}), run.tasks.get("siuo_mcqa", {})
        line = f"{run.name:>10}: MCQA {mcqa.get('accuracy')}%"
        if gen:
            line += (f"; safe {gen['safe']}%, effective {gen['effective']}%, safe & effective "
                     f"{gen['safe_and_effective']}% (offline judge, approximate)")
        print(line)
    validation = json.loads((out / "validation" / "validation.json").read_text())
    print(f"offline judge on MCQA options: balanced accuracy {validation['balanced_accuracy']} "
          f"(reference-blind {validation['reference_blind']['balanced_accuracy']})")
    print(f"report: {(out / 'report' / 'report.html').resolve()}  ({seconds:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
