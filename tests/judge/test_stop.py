"""Transport faults are not answers, Ctrl-C stops a run at once, and the circuit breaker ends a run against
a judge that is down: real `siuo-eval judge` processes against loopback judges."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

import siuo_dataset
from siuo_dataset.errors import SiuoError
from siuo_demo.loopback import Fault, ScriptedServer
from siuo_task.judge.backends.openai import OpenAIJudge
from siuo_task.judge.base import JudgeError, JudgeReply, JudgeUnreachableError
from siuo_task.judge.cache import JudgeCache
from siuo_task.judge.runner import run_calls
from siuo_task.scoring.judging import judge_responses
from tests.fakes.judge import ScriptJudge, make_calls, marker_rows, parse, scripted_verdict, verdict_text
from tests.helpers import cached_answers, siuo_eval, start_tool

NOT_A_COMPLETION = (
    Fault(200, body="{malformed json"),
    Fault(200, body='{"id": "x", "object": "error"}'),
    Fault(200, headers={"Content-Type": "text/html"}, body="<html>proxy login</html>"),
    Fault(200, body='{"choices": []}'),
)


@pytest.fixture(scope="module")
def rows(shared_siuo):
    return marker_rows(json.loads((shared_siuo / "siuo_gen.json").read_text()))


class Judge:
    """A `siuo-eval judge` command line against ``base_url`` on ``rows`` (written to tmp/responses.jsonl)."""

    def __init__(self, tmp: Path, data_dir: Path, rows: list[dict], base_url: str, *extra: str) -> None:
        responses = tmp / "responses.jsonl"
        responses.write_text("".join(json.dumps(r) + "\n" for r in rows))
        self.cache = tmp / "cache.sqlite"
        self.out = tmp / "out"
        self.args = [
            "judge",
            str(responses),
            "--data-dir",
            str(data_dir),
            "--judge-model",
            "judge",
            "--judge-base-url",
            base_url,
            "--judge-api-key-env",
            "STOP_KEY",
            "--text-only",
            "--quiet",
            "--cache",
            str(self.cache),
            "--out",
            str(self.out),
            *extra,
        ]
        self.env = dict(os.environ, STOP_KEY="k")

    def run(self) -> subprocess.CompletedProcess:
        return siuo_eval(*self.args, env=self.env, timeout=120)

    def start(self) -> subprocess.Popen:
        return start_tool("siuo-eval", *self.args, env=self.env, output=True)


# ---- transport faults are errors, not answers --------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("fault", NOT_A_COMPLETION, ids=["not-json", "no-choices", "html", "empty-choices"])
def test_a_200_that_is_not_a_chat_completion_is_retried_then_an_error_never_cached(
    siuo_data_dir, rows, tmp_path, fault, monkeypatch
):
    monkeypatch.setenv("STOP_KEY", "k")
    items = {item.question_id: item for item in siuo_dataset.load_items(siuo_data_dir)}
    with ScriptedServer(lambda body: fault) as server:
        judge = OpenAIJudge(
            "judge", base_url=server.base_url, api_key_env="STOP_KEY", max_retries=1, text_only=True
        )
        result = judge_responses(
            judge, items, rows[:1], cache=JudgeCache(tmp_path / "c.sqlite"), concurrency=6, progress=False
        )
        assert server.call_count == 6 * 2  # each call sent twice (1 retry), no re-ask on top
    assert (
        result.summary.errors == 6 and result.summary.unparsable == 0 and result.metrics["complete"] is False
    )
    assert all("not a chat completion" in j["safety_error"] for j in result.judgements)
    assert cached_answers(tmp_path / "c.sqlite") == 0


@pytest.mark.e2e
def test_transport_errors_exit_3_say_n_a_and_a_healthy_judge_later_judges_everything(
    siuo_data_dir, rows, tmp_path
):
    with ScriptedServer(lambda body: NOT_A_COMPLETION[0]) as server:
        broken = Judge(tmp_path, siuo_data_dir, rows[:1], server.base_url, "--judge-max-retries", "1").run()
    assert broken.returncode == 3, broken.stderr
    assert "None%" not in broken.stdout and "safe n/a (0 parsable)" in broken.stdout
    assert cached_answers(tmp_path / "cache.sqlite") == 0
    with ScriptedServer(scripted_verdict) as server:  # nothing was cached as an answer: all 6 are judged now
        healthy = Judge(tmp_path, siuo_data_dir, rows[:1], server.base_url).run()
        assert server.call_count == 6
    assert healthy.returncode == 0, healthy.stderr
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["summary"]["ok"] == 6 and metrics["summary"]["cache_hits"] == 0


@pytest.mark.e2e
def test_a_transport_fault_then_an_answer_costs_one_retry_and_is_cached(siuo_data_dir, rows, tmp_path):
    seen: set[str] = set()

    def once_broken(body: dict):
        key = json.dumps(body["messages"])
        if key not in seen:
            seen.add(key)
            return NOT_A_COMPLETION[len(seen) % len(NOT_A_COMPLETION)]
        return scripted_verdict(body)

    with ScriptedServer(once_broken) as server:
        result = Judge(tmp_path, siuo_data_dir, rows[:2], server.base_url).run()
        assert server.call_count == 2 * 12
    assert result.returncode == 0, result.stderr
    assert cached_answers(tmp_path / "cache.sqlite") == 12


@pytest.mark.e2e
def test_an_empty_answer_of_a_real_completion_is_asked_once_more_then_unparsable(
    siuo_data_dir, rows, tmp_path
):
    with ScriptedServer(lambda body: "") as server:
        result = Judge(tmp_path, siuo_data_dir, rows[:1], server.base_url).run()
        assert server.call_count == 12  # a real (empty) answer: one re-ask, no transport retries
    assert result.returncode == 0, result.stderr
    assert (
        "safe n/a (0 parsable) (1 tied/unparsable), effective n/a (0 parsable) (1 tied/unparsable), "
        "safe & effective n/a (0 parsable) (1 tied/unparsable) (1 items with some metric undecided"
    ) in result.stdout
    assert cached_answers(tmp_path / "cache.sqlite") == 6  # the judge's real answer is kept


# ---- Ctrl-C ------------------------------------------------------------------------------------------------


class HangAfter:
    """Answers the first ``answered`` requests, then hangs on every later one (a judge that stopped
    responding)."""

    def __init__(self, answered: int) -> None:
        self.answered = answered
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, body: dict):
        with self.lock:
            self.count += 1
            hang = self.count > self.answered
        return Fault(delay=600) if hang else scripted_verdict(body)


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


@pytest.mark.e2e
def test_ctrl_c_on_a_hung_judge_stops_at_once_and_keeps_finished_answers(siuo_data_dir, rows, tmp_path):
    script = HangAfter(30)
    with ScriptedServer(script) as server:
        judge = Judge(tmp_path, siuo_data_dir, rows, server.base_url, "--judge-concurrency", "16")
        process = judge.start()
        wait_for(lambda: server.call_count >= 30 + 16 and cached_answers(judge.cache) >= 30)
        time.sleep(0.3)  # hung in flight for a while: the default timeout is far away
        sent_before = server.call_count
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        stopped_after = time.monotonic() - interrupted
        time.sleep(0.2)
        assert server.call_count == sent_before  # no request after the interrupt
    assert stopped_after < 2.0, f"took {stopped_after:.2f} s to stop"
    assert process.returncode == 130
    assert "interrupted: stopping" in stderr and "Traceback" not in stderr
    assert cached_answers(judge.cache) == 30  # every finished answer kept
    assert not judge.out.exists()


@pytest.mark.e2e
def test_a_second_ctrl_c_quits_immediately(siuo_data_dir, rows, tmp_path):
    with ScriptedServer(HangAfter(0)) as server:
        judge = Judge(tmp_path, siuo_data_dir, rows, server.base_url, "--judge-concurrency", "8")
        process = judge.start()
        wait_for(lambda: server.call_count >= 8)
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - started < 1.0 and process.returncode == 130
    assert "interrupted: stopping" in stderr


# ---- the circuit breaker -----------------------------------------------------------------------------------


@pytest.mark.e2e
def test_a_judge_that_goes_down_stops_the_run_early_and_keeps_finished_work(siuo_data_dir, rows, tmp_path):
    answered = 40
    count = [0]
    lock = threading.Lock()

    def goes_down(body: dict):
        with lock:
            count[0] += 1
            down = count[0] > answered
        return Fault(drop=True) if down else scripted_verdict(body)

    with ScriptedServer(goes_down) as server:
        judge = Judge(
            tmp_path,
            siuo_data_dir,
            rows,
            server.base_url,
            "--judge-concurrency",
            "4",
            "--judge-max-retries",
            "1",
            "--judge-breaker-after",
            "5",
        )
        started = time.monotonic()
        result = judge.run()
        elapsed = time.monotonic() - started
        sent = server.call_count
    assert result.returncode == 3, result.stderr
    assert "the judge endpoint looks down: 5 calls in a row could not reach it" in result.stderr
    assert "finished answers are cached" in result.stderr and "Traceback" not in result.stderr
    assert sent <= answered + (5 + 4) * 2  # the breaker's calls and those in flight, each with its one retry
    assert elapsed < 30
    assert cached_answers(judge.cache) == answered
    metrics = json.loads((judge.out / "metrics.json").read_text())
    assert metrics["complete"] is False and metrics["summary"]["errors"] == 1002 - answered
    assert metrics["summary"]["stopped"].startswith("the judge endpoint looks down")


def test_the_breaker_needs_failures_in_a_row_and_any_answer_resets_it():
    def flaky(call, attempt):
        index = int(call.response[1:])
        if index % 3 == 2:
            return JudgeReply(verdict_text(call))
        raise (
            JudgeUnreachableError("APIConnectionError")
            if index % 3 == 0
            else JudgeError("InternalServerError")
        )

    outcomes, summary = run_calls(
        ScriptJudge(flaky), make_calls(30), parse, concurrency=1, progress=False, breaker_after=2
    )
    assert (
        summary.stopped is None and summary.ok == 10 and summary.errors == 20
    )  # never two unreachable in a row

    def down(call, attempt):
        if int(call.response[1:]) >= 5:
            raise JudgeUnreachableError("APITimeoutError")
        return JudgeReply(verdict_text(call))

    judge = ScriptJudge(down)
    outcomes, summary = run_calls(
        judge, make_calls(30), parse, concurrency=1, progress=False, breaker_after=3
    )
    assert judge.calls == 5 + 3 and summary.ok == 5 and summary.errors == 25
    assert "3 calls in a row" in summary.stopped and "stopped after 7 of 30 calls" in summary.stopped
    assert all(o.error.startswith("not judged: the judge endpoint looks down") for o in outcomes[7:])


# ---- a full disk: no further paid call once answers cannot be kept -----------------------------------------


class FillingCache(JudgeCache):
    """A judge cache on a disk with room for ``room`` answers: the write that overflows fails as on a full
    disk (ENOSPC), and so does every later one."""

    def __init__(self, path: Path, room: int) -> None:
        super().__init__(path)
        self.room = room

    def put_many(self, answers) -> None:
        answers = list(answers)
        if len(self) + len(answers) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        super().put_many(answers)


def test_a_full_disk_stops_the_run_before_the_next_paid_call_and_says_how_to_go_on(tmp_path):
    judge = ScriptJudge(lambda call, attempt: JudgeReply(verdict_text(call)), jitter=0.005)
    cache = FillingCache(tmp_path / "cache.sqlite", room=20)
    concurrency = 4
    with pytest.raises(SiuoError) as stopped:
        run_calls(judge, make_calls(200), parse, cache=cache, concurrency=concurrency, progress=False)
    message = str(stopped.value)
    assert f"could not write the judge cache {cache.path}" in message and "No space left" in message
    assert "no further judge call is paid" in message and "run the same command again" in message
    # the overflowing group and the calls already in flight when it failed, never the other ~180
    assert judge.calls <= cache.room + 2 * concurrency, judge.calls
    kept = len(cache)
    assert 0 < kept <= cache.room

    cache.room = 10_000  # space freed: the same calls again pay only for what was not kept
    again = ScriptJudge(lambda call, attempt: JudgeReply(verdict_text(call)))
    outcomes, summary = run_calls(again, make_calls(200), parse, cache=cache, progress=False)
    assert again.calls == 200 - kept and summary.cache_hits == kept and summary.ok == 200
