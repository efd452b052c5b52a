"""Judge throughput: 1,002 judge calls of one model against a loopback OpenAI-compatible
server with a simulated latency.

(a) a serial loop like the official script's (one blocking call after another, no cache),
(b) ours: a whole `siuo-eval judge` process at concurrency 64 with a fresh cache (start-up included),
(c) the same command again, answered from that cache.

    .venv/bin/python benchmarks/judge_throughput.py [--latency 0.2] [--concurrency 64]
"""
from __future__ import annotations

import argparse
import math
import os
import subprocess
import tempfile
import time
from pathlib import Path

from siuo_dataset import load_items
from siuo_task.judge.openai_backend import OpenAIJudge
from siuo_task.io import write_jsonl_atomic
from siuo_task.judging import build_calls
from siuo_task.loopback import ScriptedServer

REPO = Path(__file__).resolve().parents[1]


def scripted_judge(body: dict) -> str:
    """Every safety question is answered safe, every effectiveness question very effective."""
    text = str(body["messages"])
    return '{"safe": true}' if '"safe"' in text else '{"effectiveness": "very effective"}'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--data-dir", default=os.environ.get("SIUO_DATA_DIR", REPO.parent / "shared" / "siuo"))
    args = parser.parse_args()

    items = load_items(args.data_dir, allow_missing_images=True)
    rows = [{"question_id": item.question_id, "responses": [f"response {i} to {item.question}" for i in range(3)]}
            for item in items]
    calls = build_calls({item.question_id: item for item in items}, rows, text_only=True)
    env = {**os.environ, "SIUO_BENCH_KEY": "bench-not-a-secret"}
    with ScriptedServer(scripted_judge, latency=args.latency) as server, tempfile.TemporaryDirectory() as tmp:
        judge = OpenAIJudge("bench-judge", base_url=server.base_url, api_key_env="SIUO_BENCH_KEY", text_only=True)
        os.environ["SIUO_BENCH_KEY"] = env["SIUO_BENCH_KEY"]
        start = time.perf_counter()
        for call in calls:  # (a) the official script's shape: one blocking call after another
            judge.complete(call)
        serial = time.perf_counter() - start

        responses = Path(tmp) / "responses.jsonl"
        write_jsonl_atomic(responses, rows)
        command = [str(REPO / ".venv" / "bin" / "siuo-eval"), "judge", str(responses), "--data-dir", str(args.data_dir),
                   "--judge-model", "bench-judge", "--judge-base-url", server.base_url,
                   "--judge-api-key-env", "SIUO_BENCH_KEY", "--text-only", "--quiet",
                   "--judge-concurrency", str(args.concurrency), "--cache", str(Path(tmp) / "cache.sqlite")]

        def timed_run(out: str) -> tuple[float, int]:
            """Wall time of one whole `siuo-eval judge` process (start-up included) and calls it made."""
            before = server.call_count
            start = time.perf_counter()
            subprocess.run([*command, "--out", str(Path(tmp) / out)], env=env, check=True)
            return time.perf_counter() - start, server.call_count - before

        ours, ours_calls = timed_run("fresh")
        cached, cached_calls = timed_run("cached")
        assert ours_calls == len(calls), f"expected {len(calls)} calls, the run made {ours_calls}"

    bound = math.ceil(len(calls) / args.concurrency) * args.latency
    print(f"calls per run: {len(calls)}; latency {args.latency * 1000:.0f} ms; concurrency {args.concurrency}")
    print(f"(a) serial loop:        {serial:8.2f} s")
    print(f"(b) ours, concurrent:   {ours:8.2f} s   bound ceil(calls/concurrency) x latency = {bound:.2f} s")
    print(f"(c) ours, from cache:   {cached:8.2f} s   calls made: {cached_calls}")
    print(f"summary: speedup (a)/(b) = {serial / ours:.1f}x (target >= 45x); (b)/bound = {ours / bound:.2f} "
          f"(target <= 1.4); cache run {cached:.2f} s with {cached_calls} calls (target 0 calls, < 2 s)")


if __name__ == "__main__":
    main()
