"""The one JSONL reader: every file kind; each problem is one line naming FILE:LINE, the fault and the fix."""

from __future__ import annotations

import json

import pytest

from siuo_task.files import InputFileError, clean_text
from siuo_task.readers import (
    check_responses,
    is_reviews_file,
    lmms_samples,
    numbered_rows,
    read_answers,
    read_judgements,
    read_lmms_responses,
    read_responses,
    read_reviews,
)

ITEMS = {1001: object(), 1002: object()}
GOOD = {"question_id": 1001, "responses": ["a", "b", "c"]}
RECORD = {
    "task": "siuo_gen",
    "question_id": 1001,
    "domain": "Self-Harm",
    "responses": ["a", "b", "c"],
    "failed_requests": 0,
}
JUDGEMENT = {
    "question_id": 1001,
    "response_index": 0,
    "category": "self-harm",
    "response": "r",
    "safe": True,
    "effective": None,
}
REVIEW = {
    "question_id": 1001,
    "response_index": 0,
    "aspect": "safety",
    "verdict": True,
    "reviewer": "ann",
    "time": "2026-01-01T00:00:00",
    "note": "",
    "blind": False,
}


def write(tmp_path, *lines, name="f.jsonl"):
    path = tmp_path / name
    path.write_bytes(
        b"".join(
            (
                line
                if isinstance(line, bytes)
                else (line if isinstance(line, str) else json.dumps(line)).encode()
            )
            + b"\n"
            for line in lines
        )
    )
    return path


def test_blank_lines_are_skipped_and_numbers_are_file_lines(tmp_path):
    path = write(tmp_path, GOOD, "", "   ", {**GOOD, "question_id": 1002})
    assert [line for line, _ in numbered_rows(path)] == [1, 4]
    assert [row["question_id"] for row in read_responses(path, ITEMS)] == [1001, 1002]


@pytest.mark.parametrize(
    "lines, message",
    [
        ([GOOD, "{not json"], r"f\.jsonl:2: not valid JSON \(.*\) — write one JSON object per line"),
        ([GOOD, b"\xff\xfe{}"], r"f\.jsonl:2: not UTF-8 text .* — save the file as UTF-8"),
    ],
)
def test_unreadable_lines_name_their_line(tmp_path, lines, message):
    with pytest.raises(InputFileError, match=message):
        list(numbered_rows(write(tmp_path, *lines)))


def test_a_missing_file_names_the_path(tmp_path):
    with pytest.raises(InputFileError, match=r"nope\.jsonl: no such file — check the path"):
        list(numbered_rows(tmp_path / "nope.jsonl"))


@pytest.mark.parametrize(
    "lines, per_item, message",
    [
        (
            [GOOD, {**GOOD, "question_id": 1002, "responses": ["a"]}],
            3,
            r"f\.jsonl:2: 1 responses for question_id 1002, expected 3 \(set --responses-per-item",
        ),
        (
            [{"question_id": "1001", "responses": []}],
            3,
            r"f\.jsonl:1: unknown question_id '1001' .* — use the integer",
        ),
        ([{"question_id": True, "responses": ["a", "b", "c"]}], 3, r"f\.jsonl:1: unknown question_id True"),
        ([GOOD, GOOD], 3, r"f\.jsonl:2: question_id 1001 appears twice — keep one line per item"),
        ([{"question_id": 1001}], 3, r"f\.jsonl:1: expected an object with question_id and responses — one"),
        ([{**GOOD, "responses": [1, 2, 3]}], 3, r"f\.jsonl:1: responses must be a list of strings — "),
        ([], 3, r"f\.jsonl: no responses found — one"),
        ([GOOD], 0, r"--responses-per-item must be at least 1"),
    ],
)
def test_responses_problems(tmp_path, lines, per_item, message):
    with pytest.raises(InputFileError, match=message):
        read_responses(write(tmp_path, *lines), ITEMS, per_item)


def test_rows_already_numbered_are_checked_the_same_way():
    assert check_responses([(1, GOOD)], ITEMS, "x") == [GOOD]
    with pytest.raises(InputFileError, match=r"^x:7: 3 responses for question_id 1001, expected 2"):
        check_responses([(7, GOOD)], ITEMS, "x", responses_per_item=2)


def test_lmms_samples_prefer_our_record_then_the_logged_responses(tmp_path):
    path = write(
        tmp_path,
        {"doc_id": 0, "filtered_resps": [[" a", "b ", "c"]], "rate_safe@all": RECORD},
        {"doc": {"question_id": 1002}, "filtered_resps": [["r1", "r2", "r3"]]},
    )
    assert list(lmms_samples(path)) == [
        (1, {"question_id": 1001, "responses": ["a", "b", "c"]}),
        (2, {"question_id": 1002, "responses": ["r1", "r2", "r3"]}),
    ]
    assert len(read_lmms_responses(path, ITEMS)) == 2


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ({"doc_id": 1, "filtered_resps": [["a"]]}, r"f\.jsonl:2: not a siuo_gen sample .* — pass the"),
        (
            {"mcqa_accuracy@all": {"question_id": 1001, "response": "A", "parsed": "A"}},
            r"f\.jsonl:2: a siuo_mcqa sample",
        ),
        (
            {"siuo": {**RECORD, "responses": ["ok", "[LMMS_EVAL_REQUEST_FAILED after 5 retries] 500", "ok"]}},
            r"f\.jsonl:2: holds a model request that failed .* — re-run the model",
        ),
        ({"siuo": {**RECORD, "responses": ["ok", None, "ok"]}}, r"f\.jsonl:2: responses must be strings"),
        ([1, 2], r"f\.jsonl:2: not an lmms-eval sample object"),
        ({"siuo": {**RECORD, "question_id": 1001}}, r"f\.jsonl:2: question_id 1001 appears twice"),
    ],
)
def test_lmms_sample_problems(tmp_path, bad_line, message):
    with pytest.raises(InputFileError, match=message):
        read_lmms_responses(write(tmp_path, {"siuo": RECORD}, bad_line), ITEMS)


@pytest.mark.parametrize(
    "lines, message",
    [
        ([{"question_id": 1001}], r"f\.jsonl:1: expected an object with question_id and response — one"),
        ([{"question_id": 9, "response": "A"}], r"f\.jsonl:1: unknown question_id 9"),
        ([{"question_id": 1001, "response": "A"}] * 2, r"f\.jsonl:2: question_id 1001 appears twice"),
        ([{"question_id": 1001, "response": 1}], r"f\.jsonl:1: response must be a string"),
        ([], r"f\.jsonl: no answers found"),
    ],
)
def test_answers_problems(tmp_path, lines, message):
    with pytest.raises(InputFileError, match=message):
        read_answers(write(tmp_path, *lines), ITEMS)


def test_answers_replace_lone_surrogates(tmp_path):
    assert read_answers(write(tmp_path, '{"question_id": 1001, "response": "B \\ud800"}'), ITEMS) == [
        {"question_id": 1001, "response": clean_text("B \ud800")}
    ]


@pytest.mark.parametrize(
    "lines, message",
    [
        (
            [{k: v for k, v in JUDGEMENT.items() if k != "safe"}],
            r"f\.jsonl:1: not a judgements row .* — pass a",
        ),
        ([{**JUDGEMENT, "effective": "yes"}], r"f\.jsonl:1: safe and effective must be true, false or null"),
        ([JUDGEMENT, JUDGEMENT], r"f\.jsonl:2: question_id 1001 response 0 appears twice"),
    ],
)
def test_judgements_problems(tmp_path, lines, message):
    with pytest.raises(InputFileError, match=message):
        read_judgements(write(tmp_path, *lines))


def test_reviews_and_judgements_tell_apart(tmp_path):
    judgements, reviews = write(tmp_path, JUDGEMENT, name="j.jsonl"), write(tmp_path, REVIEW, name="r.jsonl")
    assert read_judgements(judgements) == [JUDGEMENT]
    assert read_reviews([reviews, tmp_path / "none"]) == [REVIEW]
    assert is_reviews_file(reviews) and not is_reviews_file(judgements)
    bad = r"r2\.jsonl:1: not a review label \(verdict and blind .*\) — fix"
    with pytest.raises(InputFileError, match=bad):
        read_reviews(write(tmp_path, {**REVIEW, "verdict": "yes"}, name="r2.jsonl"))


def test_every_jsonl_file_goes_through_jsonlines_with_our_strict_loads_and_dumps(tmp_path, monkeypatch):
    """The named stack: jsonlines reads and writes our JSONL files, with our strict ``loads`` (no NaN, no
    Infinity, no key twice, bad UTF-8 named by line) and ``dumps`` (``allow_nan=False``); the output bytes are
    the ones we always wrote (compact for whole files, spaced for appended label lines)."""
    import jsonlines

    from siuo_task.files import append_jsonl_line, write_jsonl_atomic

    used = []

    class Reader(jsonlines.Reader):
        def __init__(self, *args, **kwargs):
            used.append(("reader", kwargs.get("loads")))
            super().__init__(*args, **kwargs)

    class Writer(jsonlines.Writer):
        def __init__(self, *args, **kwargs):
            used.append(("writer", kwargs.get("dumps")))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(jsonlines, "Reader", Reader)
    monkeypatch.setattr(jsonlines, "Writer", Writer)
    row = {"question_id": 1001, "responses": ["é", "b", "c"], "x": [1.5, None]}
    write_jsonl_atomic(tmp_path / "w.jsonl", [row, row])
    assert (tmp_path / "w.jsonl").read_bytes() == (
        json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
    ).encode() * 2
    append_jsonl_line(tmp_path / "a.jsonl", row)
    assert (tmp_path / "a.jsonl").read_bytes() == (json.dumps(row, ensure_ascii=False) + "\n").encode()
    assert [line for line, _ in numbered_rows(tmp_path / "w.jsonl")] == [1, 2]
    assert [kind for kind, _ in used] == ["writer", "writer", "reader"] and all(f for _, f in used)
    with pytest.raises(ValueError):
        write_jsonl_atomic(tmp_path / "nan.jsonl", [{"a": float("nan")}])
    with pytest.raises(ValueError):
        append_jsonl_line(tmp_path / "nan2.jsonl", {"a": float("inf")})
    bad = {
        b'{"a": NaN}': r"bad\.jsonl:2: not valid JSON \(NaN is not a JSON number\)",
        b'{"a": -Infinity}': r"bad\.jsonl:2: not valid JSON \(-Infinity is not a JSON number\)",
        b'{"a": 1, "a": 2}': r"bad\.jsonl:2: not valid JSON \(the key 'a' appears twice\)",
        b'{"a": "\xff"}': r"bad\.jsonl:2: not UTF-8 text \(invalid start byte\) — save the file as UTF-8",
        b"[" * 70 + b"]" * 70: r"bad\.jsonl:2: not valid JSON \(nested deeper than 64 levels\)",
        b"null": None,
    }
    for line, message in bad.items():
        (tmp_path / "bad.jsonl").write_bytes(b"{}\n" + line + b"\n")
        if message is None:  # jsonlines refuses null by default; our readers name the shape instead
            assert list(numbered_rows(tmp_path / "bad.jsonl")) == [(1, {}), (2, None)]
            continue
        with pytest.raises(InputFileError, match=message):
            list(numbered_rows(tmp_path / "bad.jsonl"))
