"""#29 items 8 and 9: the review server under load and abuse. A page never re-reads reviews.jsonl (only what
was appended, by this server or another; a replaced file is read again); a label line over 64 KiB is one
error line, never read whole; connections that never send a request, or trickle it in, are closed, and the
number open is capped; images only of the review's items, only PNG/JPEG, only the picture the run recorded."""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time

import pytest
from starlette.testclient import TestClient

import siuo_dataset
import siuo_task.review.server as server_module
from siuo_task.files import REVIEWS_FILE
from siuo_task.readers import MAX_REVIEW_LINE, InputFileError, read_reviews
from siuo_task.records import row_fingerprint
from siuo_task.review.page import ReviewSession
from siuo_task.review.server import create_app, make_server
from siuo_task.runs import load_judged_run
from siuo_task.scoring.labels import append_review, review_line
from tests.fakes.review_load import fake_run, fingerprinted_labels

TOKEN = "test-token-456"


@pytest.fixture(scope="module")
def items(siuo_data_dir):
    return {item.question_id: item for item in siuo_dataset.load_items(siuo_data_dir)}


@pytest.fixture
def run_dir(siuo_data_dir, tmp_path):
    fake_run(tmp_path / "run", siuo_data_dir, n_items=20)
    return tmp_path / "run"


def labels(run_dir, count: int, reviewers: int = 50) -> list[dict]:
    """``count`` fingerprinted labels of the run's responses, from ``reviewers`` reviewers."""
    return fingerprinted_labels(run_dir, count, reviewers, note_words=12)


def write_labels(run_dir, rows: list[dict]) -> None:
    with open(run_dir / REVIEWS_FILE, "a", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(row) + "\n" for row in rows))


def browser(run_dir, items, **session) -> tuple[TestClient, object]:
    session = ReviewSession(load_judged_run(run_dir), items, "alice", TOKEN, **session)
    app = create_app(session)
    client = TestClient(app, base_url="http://127.0.0.1:8123")
    assert client.get(f"/?token={TOKEN}").status_code == 200
    return client, app.state.reviews_index


def test_pages_never_re_read_the_reviews_file(run_dir, items):
    rows = labels(run_dir, 6000)
    write_labels(run_dir, rows)
    client, index = browser(run_dir, items)
    qids = sorted({row["question_id"] for row in labels(run_dir, 60)})
    for number in range(30):
        assert client.get("/item", params={"q": qids[number % len(qids)]}).status_code == 200
    assert index.reads == 1  # read once, at the first page
    distinct = {(r["question_id"], r["response_index"], r["aspect"], r["reviewer"]) for r in rows}
    assert len(index.labels()) == len(distinct)  # the latest label per response, aspect and reviewer


def test_labels_appended_by_another_server_are_read_alone(run_dir, items):
    write_labels(run_dir, labels(run_dir, 600))
    client, index = browser(run_dir, items)
    qid = min(row["question_id"] for row in index.labels())
    client.get("/item", params={"q": qid})
    before = (index.reads, len(index.latest))
    judged = json.loads((run_dir / "judgements.jsonl").read_text().splitlines()[0])
    line = review_line(
        judged["question_id"],
        0,
        "safety",
        False,
        reviewer="bob\u202e",
        fingerprint=row_fingerprint(judged, "safety"),
    )
    append_review(run_dir / REVIEWS_FILE, line)  # another server's append
    page = client.get("/item", params={"q": judged["question_id"]})
    assert page.status_code == 200 and index.reads == before[0] + 1
    assert "bob\u202e" not in page.text and "<bdi>bob\\u202e</bdi>" in page.text  # another reviewer, inert
    assert index.latest[(judged["question_id"], 0, "safety", "bob\u202e")]["verdict"] is False
    assert len(index.latest) == before[1] + 1
    body = {"question_id": qid, "response_index": 0, "aspect": "safety", "verdict": True, "note": ""}
    assert client.post("/api/label", json=body, headers={"X-Review-Token": TOKEN}).status_code == 200
    assert index.latest[(qid, 0, "safety", "alice")]["verdict"] is True  # read on append


@pytest.mark.parametrize("how", ["replaced", "truncated", "rewritten"])
def test_a_reviews_file_changed_underneath_is_read_again(run_dir, items, how):
    write_labels(run_dir, labels(run_dir, 300, reviewers=5))
    client, index = browser(run_dir, items)
    index.labels()
    path = run_dir / REVIEWS_FILE
    fresh = labels(run_dir, 10, reviewers=1)
    for row in fresh:
        row["reviewer"] = "carol"
    text = "".join(json.dumps(row) + "\n" for row in fresh)
    if how == "replaced":
        (run_dir / "new.jsonl").write_text(text)
        os.replace(run_dir / "new.jsonl", path)
    elif how == "truncated":
        path.write_text(text)
    else:  # same inode, longer, but the old bytes changed
        old = path.read_bytes()
        path.write_bytes(text.encode() + b"\n" * (len(old) - len(text.encode()) + 10))
    assert client.get("/item").status_code == 200
    assert {key[3] for key in index.latest} == {"carol"}


def test_a_huge_label_line_is_one_error_line(run_dir, items):
    write_labels(run_dir, labels(run_dir, 3))
    client, _ = browser(run_dir, items)  # then another reviewer's 256 KiB "note" arrives
    row = labels(run_dir, 1)[0]
    row["note"] = "x" * (4 * MAX_REVIEW_LINE)
    write_labels(run_dir, [row])
    with pytest.raises(InputFileError, match=rf"reviews.jsonl:4: a line longer than {MAX_REVIEW_LINE} bytes"):
        read_reviews(run_dir / REVIEWS_FILE)
    with pytest.raises(InputFileError, match="a line longer than"):
        load_judged_run(run_dir)  # what `siuo-eval review`, `report` and `rescore` start with: one line
    page = client.get("/item")
    assert page.status_code == 500 and "reviews.jsonl:4: a line longer than" in page.text
    assert "\n" not in page.text.strip()


def test_images_only_as_recorded_by_the_run(run_dir, items, siuo_data_dir, tmp_path):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    first, second = sorted(items)[:2]
    digests = siuo_dataset.load_siuo(siuo_data_dir).image_sha256
    metrics["data"] = {"image_sha256": {str(first): digests[second], str(second): digests[second]}}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    fake = tmp_path / "S-01.png"
    fake.write_text("-----BEGIN PRIVATE KEY-----")
    mixed = dict(items)
    mixed[second] = items[second].__class__(**{**items[second].__dict__, "image_path": fake})
    client, _ = browser(run_dir, mixed)
    swapped = client.get(f"/image/{first}")
    assert swapped.status_code == 409 and "differs from the one the run's model saw" in swapped.text
    not_an_image = client.get(f"/image/{second}")
    assert not_an_image.status_code == 404 and b"PRIVATE KEY" not in not_an_image.content
    third = sorted(items)[2]
    assert client.get(f"/image/{third}").headers["content-type"] == "image/png"  # nothing recorded: served


# ---- connections -----------------------------------------------------------------------------------------


@pytest.fixture
def live(run_dir, items, monkeypatch):
    """The review app on uvicorn with the guards, in a thread; short timeouts and a small cap."""
    monkeypatch.setattr(server_module, "HEAD_TIMEOUT", 1.0)
    monkeypatch.setattr(server_module, "MAX_CONNECTIONS", 20)
    session = ReviewSession(load_judged_run(run_dir), items, "alice", TOKEN)
    server = make_server(create_app(session))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(10)


def get_page(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", f"/?token={TOKEN}")
    status = connection.getresponse().status
    connection.close()
    return status


def closed(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:  # reset by the server: closed too
        return True


def test_idle_connections_are_closed_and_capped(live):
    idle = [
        socket.create_connection(("127.0.0.1", live)) for _ in range(40)
    ]  # twice the cap, never a request
    started = time.monotonic()
    assert get_page(live) == 200  # the reviewer still gets the page at once
    assert time.monotonic() - started < 2
    assert all(closed(sock, 3) for sock in idle)  # the extra ones at once, the others after HEAD_TIMEOUT
    for sock in idle:
        sock.close()


def test_a_request_trickled_in_is_closed(live):
    slow = socket.create_connection(("127.0.0.1", live))
    slow.sendall(b"GET / HTTP/1.1\r\n")
    started = time.monotonic()
    for _ in range(10):
        try:
            slow.sendall(b"X")
        except OSError:
            break
        time.sleep(0.3)
        if closed(slow, 0.01):
            break
    assert time.monotonic() - started < 3 and closed(slow, 1)
    slow.close()
    kept = http.client.HTTPConnection("127.0.0.1", live, timeout=5)  # a kept-alive connection that goes idle
    kept.request("GET", f"/?token={TOKEN}")
    assert kept.getresponse().read() is not None
    assert closed(kept.sock, 7)  # uvicorn's keep-alive timeout (5 s) or ours
    kept.close()
