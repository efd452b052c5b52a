"""The review server against hostile requests (issue #23): the session cookie is not the token and is bound
to the port, POSTs from another origin are refused, malformed or huge bodies are 400/413 (never 500, never
read whole), a failed write is a JSON error the page can show, labels carry the response's fingerprint, and
blind mode's "reviewers disagree" filter reveals nothing before you label."""

from __future__ import annotations

import json
import os

import pytest
from starlette.testclient import TestClient

from siuo_task.readers import read_reviews
from siuo_task.records import row_fingerprint
from siuo_task.review.page import ReviewSession
from siuo_task.review.server import MAX_BODY, create_app
from siuo_task.runs import load_judged_run
from tests.fakes.judged_run import question_ids
from tests.review.test_server import TOKEN, client, items, post, run_dir  # noqa: F401 (fixtures)


def test_cookie_is_a_random_session_bound_to_the_port(run_dir, items):  # noqa: F811
    session = ReviewSession(load_judged_run(run_dir), items, "alice", TOKEN)
    app = create_app(session)
    here = TestClient(app, base_url="http://127.0.0.1:8123")
    first = here.get(f"/?token={TOKEN}")
    cookie = first.headers["set-cookie"]
    assert TOKEN not in cookie and "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    name, value = cookie.split(";")[0].split("=", 1)
    assert "8123" in name and value in session.cookies
    assert here.get("/item").status_code == 200  # the session cookie alone opens pages on this port
    # the token as a cookie value is worthless, and the cookie of another port is not this port's
    assert (
        TestClient(app, base_url="http://127.0.0.1:8123", cookies={name: TOKEN}).get("/item").status_code
        == 403
    )
    other_port = TestClient(app, base_url="http://127.0.0.1:9999", cookies={name: value})
    assert other_port.get("/item").status_code == 401
    assert session.cookie(9999) != name


def test_post_from_another_origin_is_refused(run_dir, items, siuo_data_dir):  # noqa: F811
    browser = client(run_dir, items)
    body = {"question_id": question_ids(siuo_data_dir)[0], "response_index": 0, "aspect": "safety"}
    body.update(verdict=True, note="")
    headers = {"X-Review-Token": TOKEN, "Origin": "http://127.0.0.1:9999"}
    assert browser.post("/api/label", json=body, headers=headers).status_code == 403
    headers["Origin"] = "http://127.0.0.1:8123"
    assert browser.post("/api/label", json=body, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 5000 + b"]" * 5000,  # deep nesting
        b'{"question_id": 1, "response_index": 0, "note": "\\ud800", "aspect": "safety", "verdict": true}',
        b'{"question_id": 1, "question_id": 2}',  # a key twice
        b'{"question_id": NaN}',
        b"\xff\xfe",
    ],
)
@pytest.mark.e2e
def test_malformed_bodies_are_400(run_dir, items, raw):  # noqa: F811
    browser = client(run_dir, items)
    reply = browser.post("/api/label", content=raw, headers={"X-Review-Token": TOKEN})
    assert reply.status_code == 400 and "error" in reply.json()


def test_response_index_true_and_lone_surrogate_note_refused(run_dir, items, siuo_data_dir):  # noqa: F811
    browser = client(run_dir, items)
    qid = question_ids(siuo_data_dir)[0]
    assert post(browser, "label", qid, True, aspect="safety", verdict=True).status_code == 400
    assert not (run_dir / "reviews.jsonl").exists()


@pytest.mark.e2e
def test_huge_body_refused_before_it_is_read(run_dir, items):  # noqa: F811
    browser = client(run_dir, items)
    declared = browser.post(
        "/api/label",
        content=b"{}",
        headers={"X-Review-Token": TOKEN, "Content-Length": str(64 << 20)},
    )
    assert declared.status_code == 413

    def chunks():
        for _ in range(64):
            yield b" " * (1 << 20)

    streamed = browser.post("/api/label", content=chunks(), headers={"X-Review-Token": TOKEN})
    assert streamed.status_code == 413 and MAX_BODY < 1 << 20


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_a_json_error(run_dir, items, siuo_data_dir):  # noqa: F811
    browser = client(run_dir, items)
    os.chmod(run_dir, 0o555)
    try:
        reply = post(browser, "label", question_ids(siuo_data_dir)[0], 0, aspect="safety", verdict=True)
    finally:
        os.chmod(run_dir, 0o755)
    assert reply.status_code == 500 and "could not write" in reply.json()["error"]


def test_write_failure_is_a_json_error(run_dir, items, siuo_data_dir, monkeypatch):  # noqa: F811
    """A folder that refuses the write (read-only, full disk): the page gets a JSON error it shows."""
    browser = client(run_dir, items)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("siuo_task.review.server.append_review", refuse)
    reply = post(browser, "label", question_ids(siuo_data_dir)[0], 0, aspect="safety", verdict=True)
    assert reply.status_code == 500 and "Permission denied" in reply.json()["error"]


def test_labels_carry_the_fingerprint_of_the_response(run_dir, items, siuo_data_dir):  # noqa: F811
    browser = client(run_dir, items)
    qid = question_ids(siuo_data_dir)[0]
    assert post(browser, "label", qid, 1, aspect="safety", verdict=True).status_code == 200
    (line,) = read_reviews(run_dir / "reviews.jsonl")
    row = next(
        r for r in load_judged_run(run_dir).judgements if (r["question_id"], r["response_index"]) == (qid, 1)
    )
    assert line["fingerprint"] == row_fingerprint(row, line["aspect"])
    # not the judge's: the same response re-judged by another judge keeps the label
    assert row_fingerprint({**row, "judge": {"model": "another judge"}}, "safety") == line["fingerprint"]
    assert row_fingerprint(row, "effectiveness") != line["fingerprint"]
    seen = line["judge_seen"]  # a non-blind label keeps the verdict the reviewer was shown
    assert (seen["verdict"], seen["model"]) == (row["safe"], row["judge"]["model"])


def test_blind_disputed_filter_reveals_nothing_before_you_label(run_dir, items, siuo_data_dir):  # noqa: F811
    ids = question_ids(siuo_data_dir)
    for reviewer, verdict in (("bob", True), ("carol", False)):  # bob and carol disagree on ids[0]
        other = client(run_dir, items, reviewer=reviewer)
        assert post(other, "label", ids[0], 0, aspect="safety", verdict=verdict).status_code == 200
    blind = client(run_dir, items, blind=True)
    before = blind.get("/item", params={"q": ids[0], "show": "disputed"}).text
    assert "item 0 of 0 shown" in before or "of 0 shown" in before
    assert post(blind, "label", ids[0], 0, aspect="safety", verdict=True).status_code == 200
    after = blind.get("/item", params={"q": ids[0], "show": "disputed"}).text
    assert "item 1 of 1 shown" in after


def test_foreign_and_hand_written_labels_are_not_shown(run_dir, items, siuo_data_dir):  # noqa: F811
    ids = question_ids(siuo_data_dir)
    line = {
        "question_id": ids[0],
        "response_index": 0,
        "aspect": "safety",
        "verdict": False,
        "reviewer": "mallory",
    }
    line.update(time="2026-01-01T00:00:00", note="", blind=False, fingerprint="0" * 32)
    (run_dir / "reviews.jsonl").write_text(json.dumps(line) + "\n")
    page = client(run_dir, items).get("/item", params={"q": ids[0]}).text
    assert "mallory" not in page
