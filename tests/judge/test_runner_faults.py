"""Judging at scale against a real loopback OpenAI-compatible server: faults, exact call counts,
cache, concurrency independence, and kill-and-resume."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time

import pytest

import siuo_dataset
from siuo_demo.loopback import Fault, ScriptedServer, message_text
from siuo_task.judge.backends.openai import OpenAIJudge
from siuo_task.judge.cache import JudgeCache
from siuo_task.scoring.judging import judge_responses
from tests.fakes.judge import marker_rows, scripted_verdict
from tests.helpers import cached_answers, siuo_eval, start_tool

HANG_TIMEOUT = 1.0  # client timeout in the fault test; the scripted hang outlasts it
FAULTS = (
    Fault(429, {"retry-after-ms": "10"}),
    Fault(500),
    Fault(503),
    Fault(delay=HANG_TIMEOUT + 0.5),
    Fault(drop=True),
    Fault(200, body="{malformed json"),
    "empty",
)


class FaultyJudgeServer:
    """Answers like scripted_verdict, but the FIRST attempt of a seeded ~20% of distinct calls fails."""

    def __init__(self, rate: float = 0.2) -> None:
        self.rate = rate
        self.attempts: dict[str, int] = {}
        self.faulted = 0
        self.lock = threading.Lock()

    def __call__(self, body: dict):
        text = message_text(body)
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
        with self.lock:
            attempt = self.attempts.get(text, 0)
            self.attempts[text] = attempt + 1
            faulty = attempt == 0 and digest[0] < 256 * self.rate
            self.faulted += faulty
        if not faulty:
            return scripted_verdict(body)
        fault = FAULTS[digest[1] % len(FAULTS)]
        return "" if fault == "empty" else fault


def expected_rates(rows: list[dict]) -> dict:
    """The paper metrics from the markers by hand (every verdict parsable, 3 responses: no ties)."""
    safe = effective = both = 0
    for row in rows:
        s = [not r.startswith("UNSAFE") for r in row["responses"]]
        e = ["INEFFECTIVE" not in r for r in row["responses"]]
        safe += sum(s) >= 2
        effective += sum(e) >= 2
        both += sum(a and b for a, b in zip(s, e)) >= 2
    return {
        "safe": round(100 * safe / len(rows), 2),
        "effective": round(100 * effective / len(rows), 2),
        "safe_and_effective": round(100 * both / len(rows), 2),
    }


@pytest.fixture(scope="module")
def items(siuo_data_dir):
    return {item.question_id: item for item in siuo_dataset.load_items(siuo_data_dir)}


@pytest.fixture(scope="module")
def rows(shared_siuo):
    return marker_rows(json.loads((shared_siuo / "siuo_gen.json").read_text()))


@pytest.fixture(autouse=True)
def judge_key(monkeypatch):
    monkeypatch.setenv("TEST_JUDGE_KEY", "k")


def make_judge(server, **kwargs) -> OpenAIJudge:
    """A real OpenAI judge on the loopback server; the generous default timeout keeps exact call counts exact
    on a loaded machine (tests of hangs pass a short one)."""
    return OpenAIJudge(
        "judge",
        base_url=server.base_url,
        api_key_env="TEST_JUDGE_KEY",
        timeout=kwargs.pop("timeout", 30.0),
        max_retries=kwargs.pop("max_retries", 3),
        **kwargs,
    )


@pytest.mark.e2e
def test_twenty_percent_faults_lose_nothing(items, rows, tmp_path):
    script = FaultyJudgeServer(0.2)
    with ScriptedServer(script) as server:
        result = judge_responses(
            make_judge(server, timeout=HANG_TIMEOUT),
            items,
            rows,
            cache=JudgeCache(tmp_path / "c.sqlite"),
            concurrency=32,
            progress=False,
        )
    assert len(result.judgements) == 501
    assert result.summary.ok == 1002 and result.summary.errors == 0 and result.summary.unparsable == 0
    assert 150 < script.faulted < 260  # about 20% of 1,002
    assert server.call_count == 1002 + script.faulted  # every fault costs exactly one retry or re-ask
    assert {k: result.metrics[k] for k in ("safe", "effective", "safe_and_effective")} == expected_rates(rows)


@pytest.mark.e2e
def test_retry_after_is_honoured(items, rows):
    answered = []

    def once_429(body):
        if not answered:
            answered.append(1)
            return Fault(429, {"Retry-After": "1"})
        return scripted_verdict(body)

    with ScriptedServer(once_429) as server:
        started = time.monotonic()
        result = judge_responses(make_judge(server), items, rows[:1], concurrency=1, progress=False)
        elapsed = time.monotonic() - started
    assert elapsed >= 1.0 and server.call_count == 7 and result.summary.ok == 6


@pytest.mark.e2e
def test_persistent_failures_become_explicit_errors_and_rerun_completes_them(items, rows, tmp_path):
    cache = JudgeCache(tmp_path / "c.sqlite")
    with ScriptedServer(lambda body: Fault(500)) as server:
        failed = judge_responses(
            make_judge(server, max_retries=1), items, rows[:2], cache=cache, concurrency=4, progress=False
        )
        assert server.call_count == 12 * 2  # each call tried twice (SDK max_retries=1)
    assert failed.summary.errors == 12 and failed.summary.ok == 0
    assert all(j["safe"] is None and j["safety_status"] == "error" for j in failed.judgements)
    assert failed.metrics["safe"] is None and failed.metrics["unparsable_items"] == 2
    with ScriptedServer(scripted_verdict) as server:
        done = judge_responses(
            make_judge(server), items, rows[:2], cache=cache, concurrency=4, progress=False
        )
        assert server.call_count == 12 and done.summary.ok == 12


def test_unparsable_answer_is_asked_once_more_then_recorded(items, rows):
    with ScriptedServer(lambda body: "I think it is fine.") as server:
        result = judge_responses(make_judge(server), items, rows[:1], concurrency=2, progress=False)
        assert server.call_count == 12  # 6 calls, each asked twice
    assert result.summary.unparsable == 6
    assert all(j["safe"] is None and j["safety_status"] == "unparsable" for j in result.judgements)
    assert result.metrics["unparsable_responses"] == 3 and result.metrics["unparsable_items"] == 1


@pytest.mark.e2e
def test_results_do_not_depend_on_concurrency_or_order(items, rows):
    import random

    jitter = random.Random(7)

    def slow_verdict(body):
        time.sleep(jitter.random() * 0.004)
        return scripted_verdict(body)

    outputs = []
    with ScriptedServer(slow_verdict) as server:  # one judge (one endpoint): only the concurrency differs
        runs = [
            judge_responses(
                make_judge(server, text_only=True), items, rows[:60], concurrency=concurrency, progress=False
            )
            for concurrency in (1, 32)
        ]
    for result in runs:
        outputs.append(
            (
                [{k: v for k, v in j.items()} for j in result.judgements],
                {k: v for k, v in result.metrics.items() if k != "summary"},
            )
        )
    assert outputs[0] == outputs[1]


@pytest.mark.e2e
def test_second_run_is_all_cache_hits(items, rows, tmp_path):
    cache = JudgeCache(tmp_path / "c.sqlite")
    with ScriptedServer(scripted_verdict) as server:
        first = judge_responses(make_judge(server), items, rows, cache=cache, concurrency=16, progress=False)
        second = judge_responses(make_judge(server), items, rows, cache=cache, concurrency=16, progress=False)
        assert server.call_count == 1002
    assert second.summary.calls_made == 0 and second.summary.cache_hits == 1002
    assert first.judgements == second.judgements


@pytest.mark.e2e
def test_sigkill_three_times_then_resume_repays_nothing_finished(siuo_data_dir, rows, tmp_path):
    """Killed at three points in a row; each re-run pays only what was not finished; the end equals a clean
    run."""
    responses = tmp_path / "responses.jsonl"
    responses.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cache = tmp_path / "cache.sqlite"
    env = dict(os.environ, TEST_JUDGE_KEY="k")
    concurrency = 4
    with ScriptedServer(scripted_verdict, latency=0.005) as server:
        args = [
            "judge",
            str(responses),
            "--data-dir",
            str(siuo_data_dir),
            "--judge-model",
            "judge",
            "--judge-base-url",
            server.base_url,
            "--judge-api-key-env",
            "TEST_JUDGE_KEY",
            "--judge-concurrency",
            str(concurrency),
            "--cache",
            str(cache),
            "--quiet",
            "--out",
            str(tmp_path / "out"),
        ]
        for kill_at in (200, 500, 800):
            before_calls, before_cached = server.call_count, cached_answers(cache)
            process = start_tool("siuo-eval", *args, env=env)
            deadline = time.monotonic() + 120
            while cached_answers(cache) < kill_at and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.01)
            process.send_signal(signal.SIGKILL)
            process.wait()
            newly_cached = cached_answers(cache) - before_cached
            paid = server.call_count - before_calls
            assert (
                newly_cached > 0 and not (tmp_path / "out" / "metrics.json").exists()
            )  # nothing half-written
            assert newly_cached <= paid <= newly_cached + concurrency  # only in-flight calls are lost
        finished, before_calls = cached_answers(cache), server.call_count
        rerun = siuo_eval(*args, env=env, timeout=600)
        assert rerun.returncode == 0, rerun.stderr
        assert server.call_count - before_calls == 1002 - finished
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert {k: metrics[k] for k in ("safe", "effective", "safe_and_effective")} == expected_rates(rows)
    assert metrics["summary"]["cache_hits"] == finished
