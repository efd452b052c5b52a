"""Reading lmms-eval samples logs back into responses rows: strict, every error names its line."""
from __future__ import annotations

import json

import pytest

from siuo_task.io import InputFileError
from siuo_task.lmms_log import read_generation_responses

RECORD = {"task": "siuo_gen", "question_id": 1001, "domain": "Self-Harm", "responses": ["a", "b", "c"],
          "failed_requests": 0}


def write(tmp_path, *lines) -> str:
    path = tmp_path / "samples.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return str(path)


def test_recorded_responses_are_read_in_order(tmp_path):
    path = write(tmp_path, {"doc_id": 0, "filtered_resps": [[" a", "b ", "c"]], "rate_safe@all": RECORD},
                 {"doc_id": 1, "siuo": {**RECORD, "question_id": 1002, "responses": ["x", "y", "z"]}})
    assert list(read_generation_responses(path)) == [{"question_id": 1001, "responses": ["a", "b", "c"]},
                                                     {"question_id": 1002, "responses": ["x", "y", "z"]}]


def test_without_our_record_the_doc_and_filtered_responses_are_used(tmp_path):
    path = write(tmp_path, {"doc": {"question_id": 3005}, "filtered_resps": [["r1", "r2", "r3"]]})
    assert list(read_generation_responses(path)) == [{"question_id": 3005, "responses": ["r1", "r2", "r3"]}]


@pytest.mark.parametrize("bad_line, message", [
    ("{not json", "samples.jsonl:2"),
    ({"doc_id": 1, "filtered_resps": [["a"]]}, "samples.jsonl:2: not a siuo_gen sample"),
    ({"mcqa_accuracy@all": {"question_id": 1001, "response": "A", "parsed": "A"}},
     "samples.jsonl:2: a siuo_mcqa sample"),
    ({"siuo": {**RECORD, "responses": ["ok", "[LMMS_EVAL_REQUEST_FAILED after 5 retries] 500", "ok"]}},
     "samples.jsonl:2: holds a model request that failed"),
    ({"siuo": {**RECORD, "responses": ["ok", None, "ok"]}}, "samples.jsonl:2: responses must be strings"),
    ([1, 2], "samples.jsonl:2: not an lmms-eval sample object"),
])
def test_problems_name_the_line(tmp_path, bad_line, message):
    path = write(tmp_path, {"siuo": RECORD}, bad_line)
    with pytest.raises(InputFileError, match=message.replace("[", r"\[")):
        list(read_generation_responses(path))
