"""`siuo-eval report` over many runs: builds N synthetic SIUO runs (generation + MCQA, 167 items x 3
responses, per-item verdicts as the protocol computes them) plus other tools' `metrics.json` files, then times
one whole `siuo-eval report` process against a lean reference (reading every metrics.json and writing a
Markdown table of the headline rates, in one process, no statistics).

    .venv/bin/python benchmarks/report_scale.py [--runs 200] [--judges 10] [--foreign 300] [--all-pairs]

``--judges`` spreads the runs over that many judge configurations (a sweep's usual shape: several judges,
several models each); pairs are computed only within one judge's runs unless ``--all-pairs``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIUO_EVAL = [sys.executable, "-m", "siuo_task.cli"]


def build_runs(root: Path, runs: int, judges: int, foreign: int) -> None:
    """``runs`` model folders in siuo-eval's layout (generation and MCQA metrics files) and ``foreign``
    metrics.json files of another tool."""
    from siuo_dataset.domains import DOMAIN_NAMES
    from siuo_task.protocol.figures import ResponseVerdict, generation_metrics, mcqa_metrics

    rng = random.Random(2024)
    items = [(1000 + i, DOMAIN_NAMES[i % len(DOMAIN_NAMES)]) for i in range(167)]
    for index in range(runs):
        judge = {
            "backend": "openai",
            "model": f"judge-{index % judges}",
            "prompt_version": "siuo-judge-v3",
            "temperature": 0.0,
            "text_only": False,
            "approximate": False,
        }
        p_safe, p_eff = rng.uniform(0.2, 0.9), rng.uniform(0.6, 1.0)
        verdicts = [
            ResponseVerdict(qid, domain, rng.random() < p_safe, rng.random() < p_eff)
            for qid, domain in items
            for _ in range(3)
        ]
        gen = {**generation_metrics(verdicts), "judge": judge, "siuo_version": "bench"}
        parsed = [(qid, domain, rng.choice("ABCD"), "A") for qid, domain in items]
        mcqa = {**mcqa_metrics(parsed), "siuo_version": "bench"}
        folder = root / "runs" / f"model-{index:03d}"  # siuo-eval's layout: one model folder
        folder.mkdir(parents=True)
        (folder / "20260101_siuo_gen.metrics.json").write_text(json.dumps(gen))
        (folder / "20260101_siuo_mcqa.metrics.json").write_text(json.dumps(mcqa))
    for index in range(foreign):
        other = root / "runs" / "other-tool" / f"exp-{index:03d}"
        other.mkdir(parents=True)
        (other / "metrics.json").write_text(json.dumps({"accuracy": 0.5, "f1": 0.4, "step": index}))


def reference(root: Path, out: Path) -> None:
    """Lean reference: read every metrics.json, write one Markdown table of the headline rates."""
    start_code = (
        "import json, pathlib, sys\n"
        "rows = []\n"
        "for path in sorted(pathlib.Path(sys.argv[1]).rglob('metrics.json')):\n"
        "    m = json.loads(path.read_text())\n"
        "    rows.append(f\"| {path.parent} | {m.get('safe')} | {m.get('accuracy')} |\")\n"
        "pathlib.Path(sys.argv[2]).write_text('\\n'.join(rows))\n"
    )
    subprocess.run([sys.executable, "-c", start_code, str(root / "runs"), str(out)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--judges", type=int, default=10)
    parser.add_argument("--foreign", type=int, default=300)
    parser.add_argument("--all-pairs", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        root = Path(tmp_name)
        build_runs(root, args.runs, args.judges, args.foreign)
        start = time.perf_counter()
        reference(root, root / "reference.md")
        lean = time.perf_counter() - start
        command = [*SIUO_EVAL, "report", *(["--all-pairs"] if args.all_pairs else [])]
        start = time.perf_counter()
        done = subprocess.run(
            [*command, str(root / "runs"), "--out", str(root / "report")],
            capture_output=True,
            text=True,
            env=dict(os.environ, HF_HUB_OFFLINE="1"),
        )
        ours = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(done.stderr[-2000:])
        pairs = sum(
            1 for line in (root / "report" / "report.md").read_text().splitlines() if " − " in line[:60]
        )
        load = os.getloadavg()
        print(
            f"report over {args.runs} runs ({args.judges} judges) and {args.foreign} foreign metrics.json: "
            f"{ours:.2f} s (lean reference {lean:.2f} s, {ours / lean:.1f}x); {pairs} paired rows; "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        )
        print("\n".join(line for line in done.stdout.splitlines() if "ignored" in line))


if __name__ == "__main__":
    main()
