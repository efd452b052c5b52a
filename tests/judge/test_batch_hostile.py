"""Batch import against hostile batch output (issue #23): contradictory duplicate custom_ids, answers of
another model, hostile usage counts, an answer nested 600 levels deep, a poisoned cache, the cache path given
as a batch file, a key echoed in a batch error, terminal escapes in batch errors."""

from __future__ import annotations

import json

import pytest

from siuo_demo.loopback import completion_body
from siuo_task.judge.base import JudgeReply
from siuo_task.judge.batch_format import (
    BatchConflictError,
    line_outcome,
    read_batch_output,
    store_answers,
)
from siuo_task.judge.cache import JudgeCache, cache_key
from siuo_task.protocol.judge_prompts import JudgeCall
from siuo_task.protocol.verdicts import parse_verdict
from siuo_task.records import JudgeInfo
from tests.fakes.batch import run_batch_file
from tests.fakes.judge import scripted_verdict
from tests.helpers import siuo_eval
from tests.judge.test_batch import KEY_ENV, env, gen_items, judge_argv, read_lines, responses  # noqa: F401

INFO = JudgeInfo("openai", "judge-1", "v", 0.0, True)
DEEP = "[" * 600 + "]" * 600


def answer(custom_id: str, text: str, model: str = "judge-1", usage=None) -> dict:
    body = completion_body(text, model, 40)
    if usage is not None:
        body["usage"] = usage
    return {"custom_id": custom_id, "response": {"status_code": 200, "body": body}, "error": None}


def write(path, rows) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def call(qid: int = 1001, aspect: str = "safety") -> JudgeCall:
    return JudgeCall(qid, 0, aspect, "q", "c", "w", "r", "resp")


def test_contradictory_duplicates_are_listed_and_refused(tmp_path):
    rows = [answer("a", '{"safe": true}'), answer("a", '{"safe": false}'), answer("b", '{"safe": true}')]
    with pytest.raises(
        BatchConflictError, match="1 custom_ids answered twice with different answers"
    ) as caught:
        read_batch_output([write(tmp_path / "o.jsonl", rows)])
    assert caught.value.exit_code == 3
    same = [answer("a", '{"safe": true}'), answer("a", '{"safe": true}')]  # identical: one answer
    assert read_batch_output([write(tmp_path / "s.jsonl", same)])["a"].text == '{"safe": true}'


def test_answers_of_another_model_are_not_answers():
    line = answer("a", '{"safe": true}', model="other-judge-7b")
    assert "answered by model 'other-judge-7b'" in line_outcome(line, "judge-1")
    assert isinstance(line_outcome(line, "judge-1", ["other-judge-7b"]), JudgeReply)
    dated = answer("a", '{"safe": true}', model="judge-1-2024-08-06")  # a dated snapshot of the judge
    assert isinstance(line_outcome(dated, "judge-1"), JudgeReply)


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": "abc", "completion_tokens": 1},
        {"prompt_tokens": 1, "completion_tokens": -(10**9)},
        {"prompt_tokens": [1], "completion_tokens": 1},
        {"prompt_tokens": 1e308, "completion_tokens": 1},
        [1, 2],
    ],
)
def test_hostile_usage_is_dropped_with_a_warning(usage):
    warnings = []
    reply = line_outcome(answer("a", '{"safe": true}', usage=usage), "judge-1", warn=warnings.append)
    assert isinstance(reply, JudgeReply) and reply.prompt_tokens >= 0 and reply.completion_tokens >= 0
    assert warnings and "dropped" in warnings[0]


def test_nan_usage_line_is_refused_as_json(tmp_path):
    path = tmp_path / "o.jsonl"
    path.write_text(
        json.dumps(answer("a", "x")).replace('"prompt_tokens": 10', '"prompt_tokens": NaN') + "\n"
    )
    with pytest.raises(Exception, match="NaN"):
        read_batch_output([path])


def test_an_answer_600_levels_deep_is_not_cached(tmp_path):
    cache = JudgeCache(tmp_path / "cache.sqlite")
    calls = [call(1001), call(1002)]
    outcomes = {
        cache_key(calls[0], INFO): JudgeReply(DEEP, 1, 1),
        cache_key(calls[1], INFO): JudgeReply('{"safe": true}', 1, 1),
    }
    report = store_answers(outcomes, calls, INFO, cache, "t", lambda c, text: parse_verdict(c.aspect, text))
    assert report.stored == 1 and "too deep" in report.unanswered[cache_key(calls[0], INFO)]
    assert cache_key(calls[0], INFO) not in cache.get_many([cache_key(c, INFO) for c in calls])


def test_a_poisoned_cached_answer_is_judged_again_not_fatal(tmp_path):
    """An answer that makes the parser raise, already in the cache (an older version stored it): the run
    judges that call again and finishes."""
    from siuo_task.judge.runner import run_calls

    cache = JudgeCache(tmp_path / "cache.sqlite")
    first, second = call(1001), call(1002)
    cache.put_many(
        [
            (cache_key(first, INFO), JudgeReply("poison", 1, 1)),
            (cache_key(second, INFO), JudgeReply('{"safe": false}', 1, 1)),
        ]
    )

    class Judge:
        info = INFO
        asked = []

        def complete(self, c):
            self.asked.append(c.question_id)
            return JudgeReply('{"safe": true}', 1, 1)

    def parse(c, text):
        if text == "poison":
            raise RecursionError("maximum recursion depth exceeded")
        return parse_verdict(c.aspect, text)

    outcomes, summary = run_calls(Judge(), [first, second], parse, cache=cache, progress=False)
    assert Judge.asked == [1001]  # only the poisoned answer is asked again
    assert [o.verdict for o in outcomes] == [True, False]


def test_export_to_the_cache_path_is_refused(responses, siuo_data_dir, tmp_path):  # noqa: F811
    argv = judge_argv(responses, siuo_data_dir, tmp_path, "http://127.0.0.1:9/v1")
    cache = tmp_path / "cache.sqlite"
    JudgeCache(cache).put("k", JudgeReply("paid", 1, 1))
    result = siuo_eval(*argv, "--judge-batch-export", str(cache), env=env())
    assert result.returncode == 2 and "is the judge cache" in result.stderr
    assert JudgeCache(cache).get("k") == JudgeReply("paid", 1, 1)


@pytest.mark.e2e
def test_import_refuses_conflicts_and_masks_echoed_keys(responses, siuo_data_dir, tmp_path):  # noqa: F811
    requests_file, output_file = tmp_path / "requests.jsonl", tmp_path / "output.jsonl"
    argv = judge_argv(responses, siuo_data_dir, tmp_path, "http://127.0.0.1:9/v1")
    assert siuo_eval(*argv, "--judge-batch-export", str(requests_file), env=env()).returncode == 0
    run_batch_file(requests_file, output_file, scripted_verdict)
    lines = read_lines(output_file)
    flipped = dict(lines[0])
    body = json.loads(json.dumps(flipped["response"]["body"]))
    body["choices"][0]["message"]["content"] = "changed " + body["choices"][0]["message"]["content"]
    flipped["response"] = {**flipped["response"], "body": body}
    conflicting = write(tmp_path / "conflict.jsonl", [*lines, flipped])
    refused = siuo_eval(*argv, "--judge-batch-import", conflicting, env=env(**{KEY_ENV: "s3cret-echo-key"}))
    assert refused.returncode == 3 and "answered twice with different answers" in refused.stderr
    assert not (tmp_path / "out").exists()
    # a batch error echoing the key and a terminal escape: masked and inert everywhere
    lines[1] = {
        "custom_id": lines[1]["custom_id"],
        "response": None,
        "error": {"code": "bad", "message": "key s3cret-echo-key rejected \x1b]8;;http://evil\x07 \u202e"},
    }
    echoed = write(tmp_path / "echo.jsonl", lines)
    result = siuo_eval(*argv, "--judge-batch-import", echoed, env=env(**{KEY_ENV: "s3cret-echo-key"}))
    assert result.returncode == 3, result.stderr
    written = (tmp_path / "out" / "judgements.jsonl").read_text() + (
        tmp_path / "out" / "judge-batch-unanswered.jsonl"
    ).read_text()
    for text in (result.stderr, result.stdout, written):
        assert "s3cret-echo-key" not in text and "\x1b" not in text and "\u202e" not in text
    assert "***" in result.stderr
