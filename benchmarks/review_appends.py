"""Issue #23's measure of the review page's appends: two `siuo-eval review` servers on one run folder, 300
labels each with 2,000-character notes (emoji and control characters), kill -9 at random points (each
server restarted, which sets a torn last line aside): every label answered 200 must be in reviews.jsonl,
which must stay readable. Prints the figures; exit 1 if anything answered 200 was lost.

    python benchmarks/review_appends.py [--kills 6] [--labels 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.review_load import hammer, lost, timed  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--labels", type=int, default=300)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("SIUO_DATA_DIR", "../shared/siuo"))
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run"
        (load, rows), seconds = timed(
            hammer,
            run,
            args.data_dir,
            servers=args.servers,
            labels=args.labels,
            kills=args.kills,
            seed=args.seed,
        )
        missing = lost(load, rows)
        torn = run / "reviews.jsonl.torn"
        torn_lines = len(torn.read_bytes().splitlines()) if torn.exists() else 0
        print(
            f"review appends: {args.servers} servers x {args.labels} labels (2,000-character notes), "
            f"{load.kills} kill -9: {len(load.saved)} answered 200, {load.failed} not answered (killed "
            f"mid-request), {len(rows)} lines in reviews.jsonl (all valid), {len(missing)} answered-200 "
            f"labels lost, {torn_lines} torn lines set aside; {seconds:.1f} s"
        )
        for error in load.errors:
            print(f"error: {error}", file=sys.stderr)
    return 1 if missing or load.errors else 0


if __name__ == "__main__":
    sys.exit(main())
