"""Judge throughput: 1,002 judge calls of one model against an OpenAI-compatible judge server that runs
in its OWN process (as a real judge does) with a simulated latency, measured side by side in one run:

(a) a serial loop like the official script's (one blocking call after another, no cache), extrapolated from
    ``--serial-calls`` calls (pass 1002 to run all of it),
(r) a lean reference client of the same work: aiohttp on one event loop, ``--concurrency`` connections, the
    same request bodies, no cache, no verdict parsing,
(b) ours: a whole `siuo-eval judge` process at the same concurrency with a fresh cache (start-up, cache writes
    and parsing included),
(c) the same command again, answered from that cache.

For each: wall time, calls/s and client CPU seconds per call; then the ratios of (b) to (r) and to the
latency bound ceil(calls / concurrency) x latency. (r) and (b) alternate ``--repeat`` times (medians shown,
each ratio from a side-by-side pair), as a shared machine's load varies from second to second.
``--code DIR`` runs (b) and (c) from another checkout (e.g. the main branch, for before/after figures).

    python benchmarks/judge_throughput.py [--latency 0.2] [--concurrency 64] [--serial-calls 40] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from siuo_dataset import load_items
from siuo_demo.loopback import ScriptedServer
from siuo_task.files import write_jsonl_atomic
from siuo_task.judge.backends.openai import OpenAIJudge, request_body
from siuo_task.scoring.judging import build_calls

REPO = Path(__file__).resolve().parents[1]
KEY_ENV = "SIUO_BENCH_KEY"


def scripted_judge(body: dict) -> str:
    """Every safety question is answered safe, every effectiveness question very effective."""
    text = str(body["messages"])
    return '{"safe": true}' if '"safe"' in text else '{"effectiveness": "very effective"}'


class CountingJudge:
    """``scripted_judge`` that counts the requests it answered."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, body: dict) -> str:
        self.count += 1
        return scripted_judge(body)


def serve(latency: float) -> None:
    """The judge server process: prints its base URL, then answers 'count' lines on stdin until EOF."""
    judge = CountingJudge()
    with ScriptedServer(judge, latency=latency) as server:
        print(server.base_url, flush=True)
        for line in sys.stdin:
            if line.strip() == "count":
                print(judge.count, flush=True)


class ServerProcess:
    """The judge server in a child process."""

    def __init__(self, latency: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--latency", str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        self.base_url = self.process.stdout.readline().strip()

    def count(self) -> int:
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


async def reference_client(base_url: str, bodies: list[dict], concurrency: int) -> None:
    """The lean reference: aiohttp, one event loop, ``concurrency`` connections, no cache, no parsing."""
    import aiohttp

    semaphore = asyncio.Semaphore(concurrency)
    headers = {"Authorization": "Bearer bench-not-a-secret"}
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency), headers=headers
    ) as session:

        async def one(body: dict) -> None:
            async with semaphore, session.post(f"{base_url}/chat/completions", json=body) as reply:
                reply.raise_for_status()
                await reply.json()

        await asyncio.gather(*(one(body) for body in bodies))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def row(label: str, seconds: float, cpu: float | None, calls: int) -> str:
    cpu_text = "" if cpu is None else f"   client CPU {cpu:6.2f} s = {1000 * cpu / calls:5.2f} ms/call"
    return f"{label:<30} {seconds:8.2f} s   {calls / seconds:7.1f} calls/s{cpu_text}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--serial-calls", type=int, default=40, help="calls of the serial loop to time (1002 = all)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="side-by-side pairs of (r) and (b)")
    parser.add_argument("--code", type=Path, default=REPO, help="checkout whose siuo-eval runs (b) and (c)")
    parser.add_argument(
        "--data-dir", default=os.environ.get("SIUO_DATA_DIR", REPO.parent / "shared" / "siuo")
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.latency)
        return

    items = load_items(args.data_dir, allow_missing_images=True)
    rows = [
        {"question_id": item.question_id, "responses": [f"response {i} to {item.question}" for i in range(3)]}
        for item in items
    ]
    calls = build_calls({item.question_id: item for item in items}, rows, text_only=True)
    n = len(calls)
    os.environ[KEY_ENV] = "bench-not-a-secret"
    server = ServerProcess(args.latency)
    try:
        judge = OpenAIJudge("bench-judge", base_url=server.base_url, api_key_env=KEY_ENV, text_only=True)
        judge.complete(calls[-1])  # client built and connection open before the clock starts
        serial_calls = calls[: max(1, min(args.serial_calls, n))]
        start = time.perf_counter()
        for call in serial_calls:  # (a) the official script's shape: one blocking call after another
            judge.complete(call)
        serial = (time.perf_counter() - start) * n / len(serial_calls)

        bodies = [
            request_body(call, "bench-judge", text_only=True, max_tokens=judge.max_tokens) for call in calls
        ]

        def timed_reference() -> tuple[float, float]:
            before_count, cpu_before, start = server.count(), own_cpu(), time.perf_counter()
            asyncio.run(reference_client(server.base_url, bodies, args.concurrency))
            seconds, cpu = time.perf_counter() - start, own_cpu() - cpu_before
            assert server.count() - before_count == n
            return seconds, cpu

        with tempfile.TemporaryDirectory() as tmp:
            responses = Path(tmp) / "responses.jsonl"
            write_jsonl_atomic(responses, rows)

            def timed_run(name: str, out: str) -> tuple[float, float, int]:
                """Wall and CPU time of one whole `siuo-eval judge` process (start-up included), calls it
                made."""
                command = [
                    sys.executable,
                    "-m",
                    "siuo_task.cli",
                    "judge",
                    str(responses),
                    "--data-dir",
                    str(args.data_dir),
                    "--judge-model",
                    "bench-judge",
                    "--judge-base-url",
                    server.base_url,
                    "--judge-api-key-env",
                    KEY_ENV,
                    "--text-only",
                    "--quiet",
                    "--judge-concurrency",
                    str(args.concurrency),
                    "--cache",
                    str(Path(tmp) / f"{name}.sqlite"),
                    "--out",
                    str(Path(tmp) / out),
                ]
                before, cpu_before, start = server.count(), children_cpu(), time.perf_counter()
                subprocess.run(
                    command,
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env={**os.environ, "PYTHONPATH": str(args.code.resolve())},
                    cwd=args.code,  # `python -m` puts the working folder first on sys.path
                )
                return time.perf_counter() - start, children_cpu() - cpu_before, server.count() - before

            pairs = []
            for attempt in range(max(1, args.repeat)):
                reference = timed_reference()
                ours = timed_run(f"fresh{attempt}", f"out{attempt}")
                assert ours[2] == n, f"expected {n} calls, the run made {ours[2]}"
                pairs.append((reference, ours))
            cached, cached_cpu, cached_calls = timed_run(
                "fresh0", "cached"
            )  # the same command again: all from cache
    finally:
        server.close()

    bound = math.ceil(n / args.concurrency) * args.latency
    reference, reference_cpu = (statistics.median(pair[0][k] for pair in pairs) for k in (0, 1))
    ours, ours_cpu = (statistics.median(pair[1][k] for pair in pairs) for k in (0, 1))
    ratios = sorted(pair[1][0] / pair[0][0] for pair in pairs)
    print(
        f"calls per run: {n}; latency {args.latency * 1000:.0f} ms; concurrency {args.concurrency}; "
        f"judge server in its own process; serial loop timed on {len(serial_calls)} calls; "
        f"medians of {len(pairs)} pairs (r, b)"
    )
    print(row("(a) serial loop", serial, None, n))
    print(row("(r) lean reference (aiohttp)", reference, reference_cpu, n))
    print(row("(b) ours, siuo-eval judge", ours, ours_cpu, n))
    print(
        f"{'(c) ours, from cache':<30} {cached:8.2f} s   calls made: {cached_calls}   "
        f"client CPU {cached_cpu:.2f} s"
    )
    print(
        f"summary: (b)/(r) = {statistics.median(ratios):.2f}x the reference (pairs: "
        f"{', '.join(f'{r:.2f}' for r in ratios)}; target <= 1.3); "
        f"(b)/bound ({bound:.1f} s) = {ours / bound:.2f}; "
        f"(r)/bound = {reference / bound:.2f}; (a)/(b) = {serial / ours:.1f}x; CPU/call (b) "
        f"{1000 * ours_cpu / n:.2f} ms vs (r) {1000 * reference_cpu / n:.2f} ms"
    )


if __name__ == "__main__":
    main()
