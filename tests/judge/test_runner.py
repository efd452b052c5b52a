"""run_calls with in-process judges: alignment, re-ask, error capture, redaction, rate limit, cost,
cache contents, and stopping on a configuration error. (HTTP faults: test_runner_faults.py.)"""

from __future__ import annotations

import sqlite3
import time

import pytest

from siuo_dataset.errors import SiuoError
from siuo_task.judge.base import JudgeError, JudgeReply
from siuo_task.judge.cache import JudgeCache, default_cache_path
from siuo_task.judge.runner import Price, run_calls
from tests.fakes.judge import ScriptJudge, make_calls, parse, verdict_text


def test_outcomes_align_with_calls_whatever_the_completion_order():
    calls = make_calls(200)
    judge = ScriptJudge(lambda call, attempt: JudgeReply(verdict_text(call), 10, 2), jitter=0.003)
    outcomes, summary = run_calls(judge, calls, parse, concurrency=32, progress=False)
    assert [o.verdict for o in outcomes] == [parse(c, verdict_text(c)) for c in calls]
    assert (
        summary.calls_made == 200
        and summary.ok == 200
        and (summary.prompt_tokens, summary.completion_tokens) == (2000, 400)
    )


def test_every_call_ends_ok_unparsable_or_error_and_reask_happens_once():
    def script(call, attempt):
        index = int(call.response[1:])
        if index % 4 == 1:
            raise JudgeError("APITimeoutError")
        if index % 4 == 2:
            return JudgeReply("no verdict here")  # unparsable twice
        if index % 4 == 3 and attempt == 0:
            return JudgeReply("")  # empty, then fine on the re-ask
        return JudgeReply(verdict_text(call))

    judge = ScriptJudge(script)
    outcomes, summary = run_calls(judge, make_calls(40), parse, concurrency=8, progress=False)
    statuses = [o.status for o in outcomes]
    assert statuses == ["ok", "error", "unparsable", "ok"] * 10
    assert (summary.ok, summary.unparsable, summary.errors) == (20, 10, 10)
    assert judge.calls == 10 * (1 + 1 + 2 + 2) and summary.calls_made == 10 * (1 + 0 + 2 + 2)
    assert all(o.error == "JudgeError: APITimeoutError" for o in outcomes if o.status == "error")


def test_error_messages_never_carry_the_api_key(monkeypatch):
    monkeypatch.setenv("RUNNER_TEST_KEY", "very-secret-value-123")

    def leak(call, attempt):
        raise RuntimeError("401 for key very-secret-value-123 (Authorization: Bearer sk-abcdefghijklmnop)")

    outcomes, _ = run_calls(
        ScriptJudge(leak, api_key_env="RUNNER_TEST_KEY"), make_calls(2), parse, progress=False
    )
    assert all(o.status == "error" for o in outcomes)
    assert not any("very-secret" in o.error or "sk-abc" in o.error for o in outcomes)
    assert outcomes[0].error.startswith("RuntimeError: 401 for key ***")


def test_configuration_error_stops_the_run_without_starting_queued_calls():
    def misconfigured(call, attempt):
        time.sleep(0.01)
        raise SiuoError("environment variable X is not set")

    judge = ScriptJudge(misconfigured)
    with pytest.raises(SiuoError, match="X is not set"):
        run_calls(judge, make_calls(500), parse, concurrency=4, progress=False)
    assert judge.calls < 50


def test_rate_limit_spaces_call_starts():
    judge = ScriptJudge(lambda call, attempt: JudgeReply(verdict_text(call)))
    started = time.monotonic()
    run_calls(judge, make_calls(7), parse, concurrency=7, requests_per_minute=1200, progress=False)
    assert time.monotonic() - started >= 6 * 60 / 1200 - 0.01  # 7 starts, 0.05 s apart


def test_cost_estimate_from_token_prices():
    judge = ScriptJudge(lambda call, attempt: JudgeReply(verdict_text(call), 1000, 200))
    _, summary = run_calls(judge, make_calls(10), parse, price=Price(2.5, 10.0), progress=False)
    assert summary.cost_usd == pytest.approx((10_000 * 2.5 + 2_000 * 10.0) / 1e6)
    _, unpriced = run_calls(judge, make_calls(10), parse, progress=False)
    assert unpriced.cost_usd is None


def test_cache_stores_answers_with_usage_but_not_errors(tmp_path):
    def script(call, attempt):
        if call.response == "r1":
            raise JudgeError("InternalServerError: 500")
        return JudgeReply(verdict_text(call) if call.response != "r2" else "garbled", 7, 3)

    cache = JudgeCache(tmp_path / "c.sqlite")
    first, _ = run_calls(ScriptJudge(script), make_calls(4), parse, cache=cache, progress=False)
    assert [o.status for o in first] == ["ok", "error", "unparsable", "ok"]
    assert len(cache) == 3  # the error is not cached; the confirmed-unparsable answer is
    with sqlite3.connect(tmp_path / "c.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert sorted(
            db.execute("SELECT text, prompt_tokens, completion_tokens FROM answers_v2").fetchall()
        ) == sorted(
            [('{"safe": false}', 7, 3), ("garbled", 7, 3), ('{"effectiveness": "very effective"}', 7, 3)]
        )
    again = ScriptJudge(lambda call, attempt: JudgeReply(verdict_text(call)))
    second, summary = run_calls(again, make_calls(4), parse, cache=cache, progress=False)
    assert (
        again.calls == 1 and summary.cache_hits == 3 and summary.calls_made == 1
    )  # only the failed call is paid
    assert [o.status for o in second] == ["ok", "ok", "unparsable", "ok"] and second[2].cached


def test_cache_get_many_and_put_many_agree_with_get_and_put(tmp_path):
    cache = JudgeCache(tmp_path / "c.sqlite")
    cache.put_many(
        [(f"k{i}", JudgeReply(f"t{i}", i, 1)) for i in range(1200)]
    )  # more keys than one query holds
    cache.put("k0", JudgeReply("replaced", 0, 0))
    found = cache.get_many([f"k{i}" for i in range(0, 1300, 3)] + ["k3"])
    assert set(found) == {f"k{i}" for i in range(0, 1200, 3)}
    assert found["k0"] == cache.get("k0") == JudgeReply("replaced", 0, 0) and found["k3"] == JudgeReply(
        "t3", 3, 1
    )
    assert cache.get("k1300") is None and len(cache) == 1200


def test_default_cache_is_a_user_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("SIUO_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "siuo" / "judge-cache.sqlite"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_path() == tmp_path / "home" / ".cache" / "siuo" / "judge-cache.sqlite"
