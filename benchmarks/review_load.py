"""Issue #29's measure of the review server under load: `siuo-eval review` on a judged run of all 167 items,
its reviews.jsonl holding 6,000 labels, 20 clients asking for item pages; and the same server on an empty
reviews.jsonl, the lean reference. The load generator runs in its own process (this script, `--client`),
on loopback only, bounded in requests and in time. Prints requests/s and the p50/p95 latency of both, and the
ratio. Then, with the server's file limit at 1,024, 1,100 connections that never send a request are opened
and a page is asked for: its status and time, and how many idle connections the server closed. Exit 1 if any
request failed.

    python benchmarks/review_load.py [--labels 6000] [--clients 20] [--requests 2000] [--seconds 60]
                                     [--idle 1100]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.review_load import Server, fake_run, fingerprinted_labels  # noqa: E402

LOOPBACK = "127.0.0.1"


def write_labels(run: Path, count: int) -> None:
    """``count`` fingerprinted labels of the run's responses from 12 reviewers, notes up to 2,000 chars."""
    labels = fingerprinted_labels(run, count, reviewers=12, note_words=400)
    (run / "reviews.jsonl").write_text("".join(json.dumps(label) + "\n" for label in labels))


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


def idle_main(url: str, token: str, idle: int) -> None:
    """Open ``idle`` connections that never send a request, then ask for a page; print one JSON line: the
    page's status and time, how many idle connections were closed at once and within 12 s."""
    parts = urlsplit(url)
    if parts.hostname != LOOPBACK:
        raise SystemExit(f"refusing to load {parts.hostname}: loopback only")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sockets = []
    for _ in range(idle):
        try:
            sockets.append(socket.create_connection((LOOPBACK, parts.port), timeout=5))
        except OSError:
            break
    time.sleep(0.5)

    def closed(sock: socket.socket, wait: float) -> bool:
        sock.settimeout(wait)
        try:
            return sock.recv(1) == b""
        except TimeoutError:
            return False
        except OSError:
            return True

    started = time.perf_counter()
    try:
        connection = http.client.HTTPConnection(LOOPBACK, parts.port, timeout=15)
        connection.request("GET", "/item?" + urlencode({"token": token}))
        status = connection.getresponse().status
    except OSError as error:
        status = f"no page ({error.__class__.__name__})"
    page_ms = (time.perf_counter() - started) * 1000
    at_once = sum(closed(sock, 0.001) for sock in sockets)
    deadline = time.monotonic() + 12
    later = sum(closed(sock, max(deadline - time.monotonic(), 0.001)) for sock in sockets)
    for sock in sockets:
        sock.close()
    print(
        json.dumps(
            {"opened": len(sockets), "status": status, "ms": page_ms, "at_once": at_once, "later": later}
        )
    )


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


def measure_idle(run: Path, args) -> dict:
    """The server started with a file limit of 1,024 (as on many machines), then ``idle_main``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))  # inherited by the server only
    server = Server(run, args.data_dir, "alice", run.parent / f"{run.name}-idle-server.log")
    try:
        server.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        command = [
            sys.executable,
            __file__,
            "--idle-client",
            server.url,
            server.token,
            "--idle",
            str(args.idle),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    finally:
        server.stop()
    return json.loads(result.stdout)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", nargs=3, metavar=("URL", "TOKEN", "QIDS"), help=argparse.SUPPRESS)
    parser.add_argument("--idle-client", nargs=2, metavar=("URL", "TOKEN"), help=argparse.SUPPRESS)
    parser.add_argument("--idle", type=int, default=1100, help="idle connections opened (0: skip)")
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
    if args.idle_client:
        idle_main(*args.idle_client, args.idle)
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
        idle = measure_idle(run, args) if args.idle else None
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
    if idle:
        print(
            f"{idle['opened']:,} idle connections (server's file limit 1,024): page {idle['status']} in "
            f"{idle['ms']:.0f} ms; {idle['at_once']} closed by the server at once, {idle['later']} within "
            "12 s"
        )
    failed = any(f["failed"] for f in figures.values()) or (idle and idle["status"] != 200)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
