"""The full offline demo (real lmms-eval, 167 items x 3 responses + MCQA, image-blind variants, three scripted
models, offline judge, validation, report): wall time and peak memory of the whole process tree.

    .venv/bin/python benchmarks/end_to_end.py [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", default=os.environ.get("SIUO_DATA_DIR", str(REPO.parent / "shared" / "siuo"))
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "siuo_demo", "--data-dir", args.data_dir, "--out", tmp, "--quiet"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"demo wall time: {seconds:.1f} s (target < 60 s on 2 cores)")
    print(f"peak RSS of the largest process: {peak_mb:.0f} MB")
    print(f"summary: end-to-end {seconds:.1f} s, peak memory {peak_mb:.0f} MB, cpus {os.cpu_count()}")


if __name__ == "__main__":
    main()
