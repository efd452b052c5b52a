"""Issue #29's measure of the review server under load: `siuo-eval review` on a judged run of all 167 items,
its reviews.jsonl holding 6,000 labels, 20 clients asking for item pages; and the same server on an empty
reviews.jsonl, the lean reference. The load generator runs in its own process (this script, `--client`),
on loopback only, bounded in requests and in time. Prints requests/s and the p50/p95 latency of both, and the
ratio; exit 1 if any request failed.

    python benchmarks/review_load.py [--labels 6000] [--clients 20] [--requests 2000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siuo_task.records import row_fingerprint  # noqa: E402
from siuo_task.scoring.labels import review_line  # noqa: E402
from tests.fakes.review_load import Server, fake_run  # noqa: E402

LOOPBACK = "127.0.0.1"


def write_labels(run: Path, count: int) -> None:
    """``count`` fingerprinted labels of the run's responses from 12 reviewers, notes up to 2,000 chars."""
    rows = [json.loads(line) for line in (run / "judgements.jsonl").read_text().splitlines()]
    lines = []
    for number in range(count):
        row = rows[number % len(rows)]
        label = review_line(
            row["question_id"],
            row["response_index"],
            ("safety", "effectiveness")[number // len(rows) % 2],
            number % 3 == 0,
            reviewer=f"reviewer-{number % 12}",
            note="note " * (number % 400),
            fingerprint=row_fingerprint(row),
        )
        lines.append(json.dumps(label) + "\n")
    (run / "reviews.jsonl").write_text("".join(lines))


# ---- the load generator (its own process) ---------------------------------------------------------------


def client_main(url: str, token: str, clients: int, requests: int, seconds: float, qids: list[int]) -> None:
    """``clients`` threads, each on its own keep-alive connection, GET item pages until ``requests`` in all or
    ``seconds`` passed; prints one JSON line: done, failed, elapsed, latencies (ms)."""
    parts = urlsplit(url)
    if parts.hostname != LOOPBACK:
        raise SystemExit(f"refusing to load {parts.hostname}: loopback only")
    lock, latencies, failed = threading.Lock(), [], [0]
    budget = iter(range(requests))
    deadline = time.monotonic() + seconds

    def worker(number: int) -> None:
        connection = http.client.HTTPConnection(LOOPBACK, parts.port, timeout=30)
        step = number
        while time.monotonic() < deadline:
            with lock:
                if next(budget, None) is None:
                    break
            query = urlencode({"q": qids[step % len(qids)], "show": "all", "domain": "", "token": token})
            step += clients
            started = time.perf_counter()
            try:
                connection.request("GET", f"/item?{query}")
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                ok = False
                connection.close()
                connection = http.client.HTTPConnection(LOOPBACK, parts.port, timeout=30)
            with lock:
                if ok:
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    failed[0] += 1
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    print(json.dumps({"done": len(latencies), "failed": failed[0], "elapsed": elapsed, "ms": latencies}))


# ---- the measure -----------------------------------------------------------------------------------------


def measure(run: Path, data_dir: Path, qids: list[int], args) -> dict:
    server = Server(run, data_dir, "alice", run.parent / f"{run.name}-server.log")
    server.start()
    try:
        command = [sys.executable, __file__, "--client", server.url, server.token, json.dumps(qids)]
        command += ["--clients", str(args.clients), "--requests", str(args.requests)]
        command += ["--seconds", str(args.seconds)]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=args.seconds + 60, check=True
        )
    finally:
        server.stop()
    load = json.loads(result.stdout)
    ms = sorted(load["ms"]) or [float("nan")]
    return {
        "done": load["done"],
        "failed": load["failed"],
        "rps": load["done"] / load["elapsed"],
        "p50": ms[len(ms) // 2],
        "p95": ms[min(len(ms) - 1, int(len(ms) * 0.95))],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", nargs=3, metavar=("URL", "TOKEN", "QIDS"), help=argparse.SUPPRESS)
    parser.add_argument("--labels", type=int, default=6000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=2000, help="requests per measure (a bound)")
    parser.add_argument("--seconds", type=float, default=60, help="time per measure (a bound)")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("SIUO_DATA_DIR", "../shared/siuo"))
    )
    args = parser.parse_args()
    if args.client:
        url, token, qids = args.client
        client_main(url, token, args.clients, args.requests, args.seconds, json.loads(qids))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        figures = {}
        for name, labels in (
            ("lean reference (empty reviews.jsonl)", 0),
            (f"{args.labels:,} labels", args.labels),
        ):
            run = Path(folder) / f"run-{labels}"
            qids = fake_run(run, args.data_dir, n_items=167)
            if labels:
                write_labels(run, labels)
            figures[name] = measure(run, args.data_dir, qids, args)
    for name, figure in figures.items():
        print(
            f"review server, {args.clients} clients, {name}: {figure['rps']:.0f} requests/s, "
            f"p50 {figure['p50']:.0f} ms, p95 {figure['p95']:.0f} ms ({figure['done']} pages, "
            f"{figure['failed']} failed)"
        )
    lean, loaded = figures.values()
    print(
        f"with labels / lean: {loaded['rps'] / lean['rps']:.2f}x the requests/s, "
        f"p95 {loaded['p95'] / lean['p95']:.2f}x"
    )
    return 1 if any(f["failed"] for f in figures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
