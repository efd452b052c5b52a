"""Appends that cannot tear or interleave (issue #23): every label line is one write() on an O_APPEND file
under a lock all writers share; a torn last line (a crash mid-line) is moved to reviews.jsonl.torn, never
appended onto; two servers with kill -9 lose nothing they answered 200 for."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from siuo_task.files import append_jsonl_line, set_aside_torn_tail
from siuo_task.readers import read_reviews
from siuo_task.scoring.labels import append_review, review_line
from tests.fakes.review_load import hammer, lost


def long_label(number: int) -> dict:
    note = (f"{number}: " + "\u00e9\U0001f600\x07 " * 2000)[:2000]  # > 6 KB as UTF-8 JSON
    return review_line(1001, number % 3, "safety", True, reviewer=f"r{number}", note=note)


def _append_many(path: str, start: int) -> None:
    for number in range(start, start + 40):
        append_review(path, long_label(number))


def test_concurrent_long_lines_never_interleave(tmp_path):
    path = tmp_path / "reviews.jsonl"
    workers = [multiprocessing.Process(target=_append_many, args=(str(path), n * 100)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    rows = read_reviews(path)
    assert len(rows) == 160 and len(path.read_bytes().splitlines()) == 160


def test_one_write_per_line(tmp_path, monkeypatch):
    import os

    writes = []
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: writes.append(bytes(data)) or real(fd, data))
    append_review(tmp_path / "reviews.jsonl", long_label(1))
    assert (
        len(writes) == 1 and writes[0].endswith(b"\n") and len(writes[0]) > 4096
    )  # the line and its newline


def test_torn_last_line_is_set_aside_not_appended_onto(tmp_path, capsys):
    path = tmp_path / "reviews.jsonl"
    whole = json.dumps(long_label(1))
    path.write_text(whole + "\n" + whole[:5000])  # a crash after the first 5000 bytes of a line
    append_review(path, long_label(2))
    assert [row["reviewer"] for row in read_reviews(path)] == ["r1", "r2"]
    assert (tmp_path / "reviews.jsonl.torn").read_text() == whole[:5000] + "\n"
    assert "torn" in capsys.readouterr().err
    path.write_text(whole + "\n" + whole[:10])
    assert set_aside_torn_tail(path) == 10 and path.read_text() == whole + "\n"
    assert set_aside_torn_tail(path) == 0


def test_writers_refuse_nan():
    with pytest.raises(ValueError):
        append_jsonl_line("/nonexistent/never-written", {"x": float("nan")})


@pytest.mark.e2e
def test_two_servers_with_kill_9_lose_nothing_answered(tmp_path, shared_siuo):
    load, rows = hammer(tmp_path / "run", shared_siuo, servers=2, labels=50, kills=1, seed=3)
    assert load.errors == [] and load.kills == 1 and len(load.saved) >= 98
    assert lost(load, rows) == []
    assert not (tmp_path / "run" / "reviews.jsonl.torn").exists()


@pytest.mark.e2e
def test_review_server_start_sets_a_torn_line_aside(siuo_data_dir, tmp_path, monkeypatch):
    """A crash left half a line: `siuo-eval review` starts anyway (the torn tail moved to .torn, a warning)
    and the next label lands on a line of its own."""
    import urllib.request

    from tests.fakes.judged_run import make_judged_run, serving

    make_judged_run(tmp_path / "run", siuo_data_dir, monkeypatch)
    path = tmp_path / "run" / "reviews.jsonl"
    path.write_text('{"question_id": 1001, "response_index": 0, "aspe')
    with serving(tmp_path / "run", siuo_data_dir, "--accept-unfingerprinted-labels") as url:
        base, token = url.split("/?token=")
        body = {"question_id": 1001, "response_index": 0, "aspect": "safety", "verdict": True, "note": ""}
        request = urllib.request.Request(
            f"{base}/api/label",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-Review-Token": token},
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            assert reply.status == 200
    assert [row["question_id"] for row in read_reviews(path)] == [1001]
    assert (tmp_path / "run" / "reviews.jsonl.torn").read_text().startswith('{"question_id": 1001')
    assert "torn" in (tmp_path / "review-server.log").read_text()
