"""Batch judging: export -> external engine -> import, import with failed and missing lines, and the Batch
API round trip (kill and resume, expired, failed, partially failed batches) against loopback servers, all 167
items, compared with a live run of the same responses."""

from __future__ import annotations

import json
import os
import shlex
import time

import jsonlines
import pytest

from siuo_demo.loopback import ScriptedServer, completion_body
from siuo_task.files import InputFileError
from siuo_task.judge.backends.openai import OpenAIJudge
from siuo_task.judge.base import JudgeReply
from siuo_task.judge.batch_api import run_batch, split_requests
from siuo_task.judge.batch_format import batch_requests, line_outcome, read_batch_output
from siuo_task.protocol.judge_prompts import ASPECTS, JudgeCall
from tests.fakes.batch import BatchServer, error_line, run_batch_file, run_batch_lines
from tests.fakes.judge import scripted_responses, scripted_verdict
from tests.helpers import run_tool, siuo_eval, start_tool

KEY_ENV = "SIUO_BATCH_TEST_KEY"
RUN_FIELDS_ONLY = ("summary", "judge_batch")  # how the answers were obtained, not what they are


def read_lines(path) -> list[dict]:
    with jsonlines.open(path) as reader:
        return list(reader)


def figures(out) -> tuple[dict, list[dict]]:
    """A run's figures and rows, the judge's endpoint (and so its identity digest) left out: the runs compared
    ask the same scripted judge, each on a loopback port of its own."""
    metrics = json.loads((out / "metrics.json").read_text())
    rows = read_lines(out / "judgements.jsonl")
    for block in [metrics.get("judge") or {}, *(row["judge"] for row in rows)]:
        block.pop("endpoint", None)
        block.pop("identity", None)
    return {k: v for k, v in metrics.items() if k not in RUN_FIELDS_ONLY}, rows


@pytest.fixture(scope="module")
def responses(gen_items, tmp_path_factory):
    path = tmp_path_factory.mktemp("batch") / "responses.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in scripted_responses(gen_items)))
    return path


@pytest.fixture(scope="module")
def gen_items(shared_siuo):
    return json.loads((shared_siuo / "siuo_gen.json").read_text())


@pytest.fixture(scope="module")
def live(responses, siuo_data_dir, tmp_path_factory):
    """A live run of the same responses: its figures, and the request bodies the judge server received."""
    tmp = tmp_path_factory.mktemp("live")
    with ScriptedServer(scripted_verdict) as server:
        result = siuo_eval(
            *judge_argv(responses, siuo_data_dir, tmp, server.base_url), env=env(**{KEY_ENV: "x"})
        )
        assert result.returncode == 0, result.stderr
        bodies = [json.dumps(body, sort_keys=True) for body in server.requests]
    return {"figures": figures(tmp / "out"), "bodies": bodies}


def env(**extra) -> dict:
    return {**{k: v for k, v in os.environ.items() if k != KEY_ENV}, **extra}


def judge_argv(responses, siuo_data_dir, tmp_path, base_url: str, out: str = "out") -> list[str]:
    return [
        "judge",
        str(responses),
        "--data-dir",
        str(siuo_data_dir),
        "--judge-model",
        "judge-1",
        "--judge-base-url",
        base_url,
        "--judge-api-key-env",
        KEY_ENV,
        "--cache",
        str(tmp_path / "cache.sqlite"),
        "--quiet",
        "--out",
        str(tmp_path / out),
    ]


@pytest.mark.e2e
def test_export_external_engine_import_gives_the_live_figures(responses, siuo_data_dir, live, tmp_path):
    requests_file, output_file = tmp_path / "requests.jsonl", tmp_path / "output.jsonl"
    with ScriptedServer(scripted_verdict) as server:
        argv = judge_argv(responses, siuo_data_dir, tmp_path, server.base_url)
        exported = siuo_eval(*argv, "--judge-batch-export", str(requests_file), env=env())  # no key needed
        assert exported.returncode == 0, exported.stderr
        assert not (tmp_path / "out").exists()  # nothing judged yet
        requests = read_lines(requests_file)
        assert {(r["method"], r["url"]) for r in requests} == {("POST", "/v1/chat/completions")}
        assert len({r["custom_id"] for r in requests}) == len(requests)
        # the exact bodies the live path sends (each once: the live path re-asks unparsable answers)
        assert sorted(json.dumps(r["body"], sort_keys=True) for r in requests) == sorted(set(live["bodies"]))
        run_batch_file(requests_file, output_file, scripted_verdict)  # as vLLM's run_batch would
        imported = siuo_eval(*argv, "--judge-batch-import", str(output_file), env=env())
        assert imported.returncode == 0, imported.stderr
        assert server.call_count == 0
        assert figures(tmp_path / "out") == live["figures"]
        metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
        assert metrics["judge_batch"]["stored"] == len(requests) and metrics["judge_batch"]["unanswered"] == 0
        assert (
            metrics["summary"]["calls_made"] == 0
            and metrics["summary"]["cache_hits"] == metrics["summary"]["calls"]
        )
        again = siuo_eval(*judge_argv(responses, siuo_data_dir, tmp_path, server.base_url, "out2"), env=env())
        assert again.returncode == 0, again.stderr
        assert server.call_count == 0 and figures(tmp_path / "out2") == live["figures"]  # answers cached
        reexport = siuo_eval(*argv, "--judge-batch-export", str(tmp_path / "rest.jsonl"), env=env())
        assert reexport.returncode == 0 and read_lines(tmp_path / "rest.jsonl") == []


@pytest.mark.e2e
def test_import_lists_failed_and_missing_requests_then_judges_them_live_on_request(
    responses, siuo_data_dir, live, tmp_path
):
    requests_file = tmp_path / "requests.jsonl"
    with ScriptedServer(scripted_verdict) as server:
        argv = judge_argv(responses, siuo_data_dir, tmp_path, server.base_url)
        assert siuo_eval(*argv, "--judge-batch-export", str(requests_file), env=env()).returncode == 0
        requests = read_lines(requests_file)
        plain = [r for r in requests if "GARBLE" not in json.dumps(r["body"])]  # answered once live
        dropped, errored, refused = plain[:3], plain[3:5], plain[5]
        lines = [
            line
            for line in run_batch_lines(requests, scripted_verdict)
            if line["custom_id"] not in {r["custom_id"] for r in [*dropped, *errored, refused]}
        ]
        lines.append(
            {
                "custom_id": refused["custom_id"],
                "error": None,
                "response": {"status_code": 500, "body": {"error": {"message": "overloaded"}}},
            }
        )
        lines.append(
            {
                "custom_id": "not-a-request-of-this-run",
                "error": None,
                "response": {"status_code": 200, "body": completion_body('{"safe": true}', "m", 9)},
            }
        )
        with jsonlines.open(tmp_path / "output.jsonl", "w") as writer:
            writer.write_all(lines)
        with jsonlines.open(tmp_path / "errors.jsonl", "w") as writer:
            writer.write_all([error_line(r, "server_error", 0) for r in errored])
        files = [str(tmp_path / "output.jsonl"), str(tmp_path / "errors.jsonl")]
        failed = siuo_eval(*argv, "--judge-batch-import", *files, env=env())
        assert failed.returncode == 3 and "6 judge requests not answered by the batch" in failed.stderr
        assert "Traceback" not in failed.stderr and server.call_count == 0
        # #21 item 5: the figures say they are partial; the last line is the one command that completes them
        assert failed.stdout.startswith("PARTIAL FIGURES (6 judge calls unanswered)")
        assert "these figures are PARTIAL" in failed.stderr
        last = shlex.split(failed.stderr.strip().splitlines()[-1])
        assert last[0] == "siuo-eval" and last[-1] == "--judge-batch-live-fallback"
        assert last[1:-1] == [*argv, "--judge-batch-import", *files]
        unanswered = read_lines(tmp_path / "out" / "judge-batch-unanswered.jsonl")
        reasons = {row["custom_id"]: row["reason"] for row in unanswered}
        assert reasons == {
            **{r["custom_id"]: "missing from the batch output" for r in dropped},
            **{r["custom_id"]: "batch error server_error: scripted server_error" for r in errored},
            refused["custom_id"]: "HTTP 500: overloaded",
        }
        metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
        assert metrics["complete"] is False and metrics["judge_errors"] == 6
        assert (
            metrics["judge_batch"]["unknown"] == 1 and metrics["judge_batch"]["stored"] == len(requests) - 6
        )
        done = run_tool(*last, env=env(**{KEY_ENV: "x"}))  # exactly the command printed
        assert done.returncode == 0, done.stderr
        assert server.call_count == 6  # only what the batch left
        assert "judging them live" in done.stderr
    assert figures(tmp_path / "out") == live["figures"]


@pytest.mark.e2e
def test_batch_api_round_trip_resumes_the_same_batch_after_a_kill(responses, siuo_data_dir, live, tmp_path):
    with BatchServer(scripted_verdict, polls=1) as api:
        argv = [
            *judge_argv(responses, siuo_data_dir, tmp_path, api.base_url),
            "--judge-batch",
            "--judge-batch-poll",
            "0.05",
        ]
        api.hold.set()  # the batch stays in progress until released
        process = start_tool("siuo-eval", *argv, env=env(**{KEY_ENV: "x"}))
        try:
            deadline = time.monotonic() + 120
            while api.retrievals < 3 and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.05)
            assert api.retrievals >= 3, "the run never polled its batch"
        finally:
            process.kill()
            process.wait()
        state = json.loads((tmp_path / "out" / "judge-batch" / "state.json").read_text())
        assert state["batch_ids"] == ["batch_1"] and api.uploads == 1
        api.hold.clear()
        resumed = siuo_eval(*argv, env=env(**{KEY_ENV: "x"}))
        assert resumed.returncode == 0, resumed.stderr
        assert api.uploads == 1 and list(api.batches) == ["batch_1"] and api.chat_calls == 0  # paid once
        assert figures(tmp_path / "out") == live["figures"]
        assert not (tmp_path / "out" / "judge-batch" / "state.json").exists()
        assert (tmp_path / "out" / "judge-batch" / "output-1.jsonl").is_file()
        rerun = siuo_eval(*argv, env=env(**{KEY_ENV: "x"}))
        assert (
            rerun.returncode == 0 and list(api.batches) == ["batch_1"] and api.chat_calls == 0
        )  # all cached


@pytest.mark.e2e
def test_batch_api_expired_then_partially_failed_then_live_fallback(responses, siuo_data_dir, live, tmp_path):
    def flaky(body: dict) -> str | None:  # once the batch completes, some plain lines fail
        text = json.dumps(body)
        return (
            "server_error"
            if api.final == "completed" and "answer 0 to 9" in text and "GARBLE" not in text
            else None
        )

    with BatchServer(
        scripted_verdict, polls=0, final="expired", answer_before_expiry=400, line_fault=flaky
    ) as api:
        argv = [
            *judge_argv(responses, siuo_data_dir, tmp_path, api.base_url),
            "--judge-batch",
            "--judge-batch-poll",
            "0.05",
        ]
        keyed = env(**{KEY_ENV: "x"})
        expired = siuo_eval(*argv, env=keyed)
        total = api.batches["batch_1"]["request_counts"]["total"]
        assert expired.returncode == 3 and f"{total - 400} judge requests not answered" in expired.stderr
        reasons = {row["reason"] for row in read_lines(tmp_path / "out" / "judge-batch-unanswered.jsonl")}
        assert reasons == {"batch error batch_expired: scripted batch_expired"}
        api.final = "completed"
        partial = siuo_eval(*argv, env=keyed)  # a new batch for the rest only
        second = api.batches["batch_2"]
        faulted = second["request_counts"]["failed"]
        assert second["request_counts"]["total"] == total - 400 and 0 < faulted < total - 400
        assert partial.returncode == 3 and f"{faulted} judge requests not answered" in partial.stderr
        done = siuo_eval(*argv, "--judge-batch-live-fallback", env=keyed)
        assert done.returncode == 0, done.stderr
        assert len(api.batches) == 3 and api.chat_calls == faulted  # the failed lines, judged live
    assert figures(tmp_path / "out") == live["figures"]


@pytest.mark.e2e
def test_failed_batch_reports_every_request_and_a_rerun_submits_a_new_one(responses, siuo_data_dir, tmp_path):
    with BatchServer(scripted_verdict, polls=0, final="failed") as api:
        argv = [
            *judge_argv(responses, siuo_data_dir, tmp_path, api.base_url),
            "--judge-batch",
            "--judge-batch-poll",
            "0.05",
        ]
        failed = siuo_eval(*argv, env=env(**{KEY_ENV: "x"}))
        total = api.batches["batch_1"]["request_counts"]["total"]
        assert failed.returncode == 3 and f"{total} judge requests not answered" in failed.stderr
        assert "batch batch_1 failed: scripted failure" in failed.stderr and api.chat_calls == 0
        api.final = "completed"
        assert siuo_eval(*argv, env=env(**{KEY_ENV: "x"})).returncode == 0 and len(api.batches) == 2


def test_batch_flags_need_an_llm_judge_and_the_cache(responses, siuo_data_dir, tmp_path):
    offline = siuo_eval(
        "judge",
        str(responses),
        "--data-dir",
        str(siuo_data_dir),
        "--out",
        str(tmp_path / "o"),
        "--judge-batch-export",
        str(tmp_path / "r.jsonl"),
    )
    assert offline.returncode == 2 and "batch judging needs an OpenAI-compatible judge" in offline.stderr
    no_cache = siuo_eval(
        *judge_argv(responses, siuo_data_dir, tmp_path, "http://127.0.0.1:9/v1"),
        "--no-cache",
        "--judge-batch-import",
        str(tmp_path / "r.jsonl"),
    )
    assert no_cache.returncode == 2 and "drop --no-cache" in no_cache.stderr
    stray = siuo_eval(
        *judge_argv(responses, siuo_data_dir, tmp_path, "http://127.0.0.1:9/v1"),
        "--judge-batch-live-fallback",
    )
    assert stray.returncode == 2 and "--judge-batch-live-fallback goes with" in stray.stderr


BODY = completion_body('x {"safe": true}', "m", 40)
LINES = [
    (
        "answer",
        {"response": {"status_code": 200, "body": BODY}, "error": None},
        JudgeReply(
            'x {"safe": true}',
            BODY["usage"]["prompt_tokens"],
            BODY["usage"]["completion_tokens"],
            model=BODY.get("model"),
            system_fingerprint=BODY.get("system_fingerprint"),
            finish_reason=BODY["choices"][0].get("finish_reason"),
        ),
    ),
    (
        "no-choices",
        {"response": {"status_code": 200, "body": {"choices": []}}},
        'not a chat completion: {"choices": []}',
    ),
    (
        "null-content",
        {"response": {"status_code": 200, "body": {**BODY, "choices": [{"message": {"content": None}}]}}},
        JudgeReply("", 10, 4, model=BODY.get("model")),
    ),
    (
        "batch-error",
        {"response": None, "error": {"code": "batch_expired", "message": "too late"}},
        "batch error batch_expired: too late",
    ),
    (
        "http-error",
        {"response": {"status_code": 429, "body": {"error": {"message": "slow\n down"}}}},
        "HTTP 429: slow down",
    ),
    ("no-response", {"error": None}, "batch line without response"),
    (
        "malformed-body",
        {"response": {"status_code": 200, "body": {"choices": "oops"}}},
        'not a chat completion: {"choices": "oops"}',
    ),
]


@pytest.mark.parametrize("case,line,expected", LINES, ids=[c[0] for c in LINES])
def test_line_outcome(case, line, expected):
    assert line_outcome({"custom_id": "k", **line}) == expected


def test_read_batch_output_prefers_answers_and_names_bad_lines(tmp_path):
    path = tmp_path / "out.jsonl"
    with jsonlines.open(path, "w") as writer:
        writer.write_all(
            [
                {"custom_id": "a", "response": None, "error": {"code": "x", "message": "m"}},
                {"custom_id": "a", "response": {"status_code": 200, "body": BODY}, "error": None},
                {"custom_id": "b", "response": {"status_code": 500, "body": {}}, "error": None},
            ]
        )
    outcomes = read_batch_output([path])
    assert isinstance(outcomes["a"], JudgeReply) and outcomes["b"].startswith("HTTP 500")
    path.write_text(path.read_text() + '{"response": {}}\n')
    with pytest.raises(InputFileError, match="out.jsonl:4: not a batch output line"):
        read_batch_output([path])


def test_split_requests_keeps_order_within_size_and_count():
    requests = [{"custom_id": str(i), "body": "x" * (i % 7)} for i in range(50)]
    parts = split_requests(requests, max_bytes=200, max_requests=8)
    assert len(parts) > 1 and [r for part in parts for r in part] == requests
    assert all(len(part) <= 8 and sum(len(json.dumps(r)) + 1 for r in part) <= 200 for part in parts)
    assert split_requests([]) == [] and split_requests([{"x": "y" * 500}], max_bytes=100) == [
        [{"x": "y" * 500}]
    ]


def test_round_trip_in_parts_answers_every_request_and_resumes_every_part(tmp_path):
    import openai

    judge = OpenAIJudge("judge-1")
    calls = [
        JudgeCall(1001, i, aspect, "q?", "c", "w", "ref", f"SAFE VERY {i}")
        for i in range(10)
        for aspect in ASPECTS
    ]
    requests = batch_requests(judge, calls)
    part_bytes = sum(len(json.dumps(r)) + 1 for r in requests) // 3 + 1
    with BatchServer(scripted_verdict, polls=1) as api:
        client = openai.OpenAI(base_url=api.base_url, api_key="x", max_retries=0)
        result = run_batch(
            client, requests, tmp_path, poll_seconds=0.01, progress=False, max_part_bytes=part_bytes
        )
        assert len(result.batch_ids) == api.uploads == len(api.batches) >= 3
        assert set(result.statuses) == {"completed"} and set(result.outcomes) == {
            r["custom_id"] for r in requests
        }
        assert all(isinstance(result.outcomes[r["custom_id"]], JudgeReply) for r in requests)
        again = run_batch(
            client, requests, tmp_path, poll_seconds=0.01, progress=False, max_part_bytes=part_bytes
        )
        assert again.batch_ids == result.batch_ids and api.uploads == len(
            result.batch_ids
        )  # resumed, not resent
        # killed after creating the batches but before recording their ids: the batches made from the recorded
        # uploads are found, not made again
        state = json.loads((tmp_path / "state.json").read_text())
        (tmp_path / "state.json").write_text(
            json.dumps({**state, "batch_ids": [None] * len(state["batch_ids"])})
        )
        found = run_batch(
            client, requests, tmp_path, poll_seconds=0.01, progress=False, max_part_bytes=part_bytes
        )
        assert found.batch_ids == result.batch_ids and len(api.batches) == len(result.batch_ids)
