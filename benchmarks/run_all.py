"""Run every benchmark and print its figures (`make bench`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script in ("judge_throughput.py", "dataset.py", "end_to_end.py", "review_appends.py", "review_load.py"):
    print(f"== {script}", flush=True)
    subprocess.run([sys.executable, str(HERE / script)], check=True)
