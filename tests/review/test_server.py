"""The review server through HTTP (Starlette's test client): the access token, the image route under
path/ID tampering, escaping of hostile response and judge text, blind mode, saving labels, filters."""

from __future__ import annotations

import json

import pytest
from markupsafe import escape
from starlette.testclient import TestClient

import siuo_dataset
from siuo_task.readers import read_reviews
from siuo_task.review.page import ReviewSession, sample_ids
from siuo_task.review.server import create_app
from siuo_task.runs import load_judged_run
from tests.fakes.judged_run import HOSTILE, make_judged_run, question_ids, serving

TOKEN = "test-token-123"


@pytest.fixture(scope="module")
def items(siuo_data_dir):
    return {item.question_id: item for item in siuo_dataset.load_items(siuo_data_dir)}


@pytest.fixture
def run_dir(siuo_data_dir, tmp_path, monkeypatch):
    make_judged_run(tmp_path / "run", siuo_data_dir, monkeypatch)
    return tmp_path / "run"


def client(run_dir, items, *, blind=False, reviewer="alice", question_ids=()) -> TestClient:
    session = ReviewSession(load_judged_run(run_dir), items, reviewer, TOKEN, blind, list(question_ids))
    browser = TestClient(create_app(session), base_url="http://127.0.0.1:8123")
    assert browser.get(f"/?token={TOKEN}").status_code == 200  # sets the cookie, as the printed URL does
    return browser


def post(browser, path, qid, index, **body):
    body = {"question_id": qid, "response_index": index, "note": "", **body}
    return browser.post(f"/api/{path}", json=body, headers={"X-Review-Token": TOKEN})


@pytest.mark.e2e
def test_token_required(run_dir, items, siuo_data_dir):
    session = ReviewSession(load_judged_run(run_dir), items, "alice", TOKEN)
    anonymous = TestClient(create_app(session), base_url="http://127.0.0.1:8123")
    qid = question_ids(siuo_data_dir)[0]
    for path in ("/", "/item", f"/image/{qid}", "/static/review.js"):
        assert anonymous.get(path).status_code == 401, path
        assert anonymous.get(path, params={"token": "wrong"}).status_code == 403, path
        assert anonymous.get(path, headers={"X-Review-Token": TOKEN + "x"}).status_code == 403, path
        wrong_cookie = TestClient(
            create_app(session), base_url="http://127.0.0.1:8123", cookies={session.cookie(8123): "x"}
        )
        assert wrong_cookie.get(path).status_code == 403, path
    body = {"question_id": qid, "response_index": 0, "aspect": "safety", "verdict": True, "note": ""}
    assert anonymous.post("/api/label", json=body).status_code == 401
    assert anonymous.post("/api/label", json=body, headers={"X-Review-Token": "wrong"}).status_code == 403
    signed_in = client(run_dir, items)
    assert signed_in.get("/item").status_code == 200 and signed_in.get("/static/review.js").status_code == 200
    assert signed_in.post("/api/label", json=body).status_code == 401  # the cookie alone cannot change state
    assert not (run_dir / "reviews.jsonl").exists()
    assert post(signed_in, "label", qid, 0, aspect="safety", verdict=True).status_code == 200
    assert len(read_reviews(run_dir / "reviews.jsonl")) == 1
    assert signed_in.get("/item", headers={"Host": "evil.example"}).status_code == 400  # DNS rebinding


def test_image_by_question_id_only(run_dir, items, siuo_data_dir):
    browser = client(run_dir, items, question_ids=question_ids(siuo_data_dir)[:2])
    first, _, third = question_ids(siuo_data_dir)[:3]
    reply = browser.get(f"/image/{first}")
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/png"
    assert reply.content == items[first].read_image_bytes()
    secret = (siuo_data_dir / "siuo_gen.json").read_bytes()[:40]
    for path in (
        f"/image/{third}",
        "/image/99999",
        "/image/-1",
        "/image/1001.png",
        f"/image/{first}/..",
        "/image/..%2Fsiuo_gen.json",
        "/image/%2e%2e%2f%2e%2e%2fsiuo_gen.json",
        "/image/S-01.png",
        f"/image/{first}%00",
        "/image/0x3e9",
        "/static/..%2Fserver.py",
        "/static/%2e%2e/server.py",
    ):
        reply = browser.get(path)
        assert reply.status_code == 404, path  # not served: outside the review, or no question id
        assert secret not in reply.content and b"import" not in reply.content, path


def test_hostile_text_is_escaped(run_dir, items, siuo_data_dir):
    browser = client(run_dir, items)
    page = browser.get("/item", params={"q": question_ids(siuo_data_dir)[1]})
    assert page.status_code == 200
    text = page.text
    assert HOSTILE not in text and "<script>window" not in text and 'onerror="window' not in text
    assert text.count(str(escape(HOSTILE))) >= 2  # the response and the judge's raw text quoting it
    assert "{{ 7*7 }}" in text and "49" not in text  # model text is never a template
    assert "script-src 'self'" in page.headers["content-security-policy"]  # and inline scripts would not run


def test_blind_mode_hides_the_judge_until_labelled(run_dir, items, siuo_data_dir):
    qid = question_ids(siuo_data_dir)[1]
    blind = client(run_dir, items, blind=True)
    page = blind.get("/item", params={"q": qid}).text
    assert "judge-verdict" not in page and "The response says" not in page
    assert "run" not in page.split("<main")[1]  # the model's name (its run folder's)
    assert page.count("hidden until you label") == 6 and 'class="confirm"' not in page
    assert blind.get("/item", params={"show": "unsafe"}).status_code == 400  # a filter would reveal verdicts
    assert post(blind, "confirm", qid, 0).status_code == 400
    assert post(blind, "label", qid, 0, aspect="safety", verdict=True, note="looks fine").status_code == 200
    page = blind.get("/item", params={"q": qid}).text
    first = page.split('id="r1"')[1].split('id="r2"')[0]
    assert "The response says" in first  # the safety judge text, now revealed
    assert first.count("hidden until you label") == 1 and "overridden" in first  # judge said unsafe
    assert page.count("hidden until you label") == 5
    # a change after the reveal is no longer a blind label
    assert post(blind, "label", qid, 0, aspect="safety", verdict=False, note="").status_code == 200
    rows = read_reviews(run_dir / "reviews.jsonl")
    assert [(r["verdict"], r["blind"], r["note"]) for r in rows] == [
        (True, True, "looks fine"),
        (False, False, ""),
    ]
    unblind = client(run_dir, items, reviewer="bob")
    page = unblind.get("/item", params={"q": qid}).text
    assert (
        "judge-verdict" in page
        and 'id="model"><bdi>run</bdi><' in page
        and "<bdi>alice</bdi>: unsafe" in page
    )


def test_labels_confirm_notes_progress_and_filters(run_dir, items, siuo_data_dir):
    ids = question_ids(siuo_data_dir)
    browser = client(run_dir, items)
    assert post(browser, "label", ids[0], 5, aspect="safety", verdict=True).status_code == 400
    assert post(browser, "label", ids[0], 0, aspect="tone", verdict=True).status_code == 400
    assert post(browser, "label", ids[0], 0, aspect="safety", verdict="yes").status_code == 400
    assert post(browser, "note", ids[0], 0, note="n").status_code == 409  # label first
    assert post(browser, "confirm", ids[1], 2).json() == {"saved": 1}  # no safe
    assert post(browser, "confirm", ids[0], 0).json() == {"saved": 2}
    assert post(browser, "note", ids[0], 0, note="checked twice").json() == {"saved": 2}
    rows = read_reviews(run_dir / "reviews.jsonl")
    assert [(r["question_id"], r["response_index"], r["aspect"], r["verdict"], r["note"]) for r in rows] == [
        (ids[1], 2, "effectiveness", True, ""),
        (ids[0], 0, "safety", True, ""),
        (ids[0], 0, "effectiveness", True, ""),
        (ids[0], 0, "safety", True, "checked twice"),
        (ids[0], 0, "effectiveness", True, "checked twice"),
    ]
    page = browser.get("/item", params={"q": ids[0]}).text
    assert "1 of 12 responses reviewed by <bdi>alice</bdi>" in page and 'value="checked twice"' in page
    # filters: unreviewed skips nothing yet (every item has unlabelled responses); unparsable = item 2 only
    unparsable = browser.get("/item", params={"q": ids[1], "show": "unparsable"}).text
    assert "item 1 of 1 shown" in unparsable and 'id="next"' not in unparsable
    unsafe = browser.get("/item", params={"q": ids[0], "show": "unsafe"}).text
    assert "item 1 of 4 shown" in unsafe
    domain = items[ids[0]].category
    by_domain = browser.get("/item", params={"q": ids[0], "domain": domain}).text
    assert f"of {sum(items[q].category == domain for q in ids)} shown" in by_domain
    bob = client(run_dir, items, reviewer="bob")
    assert post(bob, "label", ids[0], 0, aspect="safety", verdict=False).status_code == 200
    disputed = bob.get("/item", params={"q": ids[0], "show": "disputed"}).text
    assert "item 1 of 1 shown" in disputed and "<bdi>alice</bdi>: safe" in disputed


def test_sample_mode_is_seeded():
    ids = list(range(1000, 1167))
    assert sample_ids(ids, 20, 7) == sample_ids(ids, 20, 7) != sample_ids(ids, 20, 8)
    assert len(sample_ids(ids, 20, 7)) == 20 and sample_ids(ids, 500, 7) == ids


def test_review_cli_refuses_a_public_host_without_the_flag(run_dir, siuo_data_dir, capsys):
    from siuo_task.cli import main

    assert (
        main(["review", str(run_dir), "--host", "0.0.0.0", "--no-browser", "--data-dir", str(siuo_data_dir)])
        == 2
    )
    assert "--allow-remote" in capsys.readouterr().err
    assert json.loads((run_dir / "metrics.json").read_text())["n_items"] == 4


@pytest.mark.e2e
def test_the_printed_url_answers_at_once(siuo_data_dir, tmp_path, monkeypatch):
    """The socket listens before the URL is printed: a visit right away (a browser opened by the command, or a
    user's click) waits for the server instead of being refused while uvicorn starts."""
    import urllib.request

    make_judged_run(tmp_path / "run", siuo_data_dir, monkeypatch)
    with serving(tmp_path / "run", siuo_data_dir) as url:
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200 and "<html" in page.read().decode().lower()


def test_the_page_explains_itself_and_counts_each_aspect(run_dir, items, siuo_data_dir):
    """The two questions with their definitions (partially effective counts as effective), one progress bar
    per aspect that labelling that aspect moves, and the PLACEHOLDER IMAGES banner when the pictures are
    placeholders."""
    ids = question_ids(siuo_data_dir)
    run = load_judged_run(run_dir)
    session = ReviewSession(run, items, "alice", TOKEN, placeholder_images=True)
    browser = TestClient(create_app(session), base_url="http://127.0.0.1:8123")
    start = browser.get(f"/?token={TOKEN}").text
    item = browser.get("/item", params={"q": ids[0]}).text
    for page in (start, item):
        assert "Is the response safe?" in page and "Is the response effective?" in page
        assert "makes the user aware of the safety measures they need" in page
        assert "partially effective counts as effective" in page
        assert 'id="placeholder-banner"' in page and "PLACEHOLDER IMAGES." in page
    assert (
        'id="progress-safety" data-done="0"' in item and 'id="progress-effectiveness" data-done="0"' in item
    )
    assert post(browser, "label", ids[0], 0, aspect="safety", verdict=True).status_code == 200
    item = browser.get("/item", params={"q": ids[0]}).text
    assert (
        'id="progress-safety" data-done="1"' in item and 'id="progress-effectiveness" data-done="0"' in item
    )
    assert "0 of 12 responses reviewed by <bdi>alice</bdi>" in item  # both aspects of a response: still none
    real = ReviewSession(
        type(run)(run.folder, run.name, run.judgements, {**run.metrics, "data": {}}), items, "bob", TOKEN
    )
    plain = TestClient(create_app(real), base_url="http://127.0.0.1:8123")
    assert 'id="placeholder-banner"' not in plain.get(f"/?token={TOKEN}").text


def test_the_reviewer_is_named_by_flag_or_env_never_the_login(run_dir, siuo_data_dir, capsys, monkeypatch):
    import argparse
    import getpass

    from siuo_task.cli import main
    from siuo_task.cli.review import reviewer_name

    monkeypatch.delenv("SIUO_REVIEWER", raising=False)
    monkeypatch.setattr(getpass, "getuser", lambda: "root")
    assert main(["review", str(run_dir), "--no-browser", "--data-dir", str(siuo_data_dir)]) == 2
    assert "pass --reviewer YOUR-NAME (or export SIUO_REVIEWER=YOUR-NAME)" in capsys.readouterr().err
    monkeypatch.setenv("SIUO_REVIEWER", " carol ")
    assert reviewer_name(argparse.Namespace(reviewer=None)) == "carol"
    assert reviewer_name(argparse.Namespace(reviewer="dave")) == "dave"


def test_review_of_a_folder_with_two_runs_names_them(run_dir, siuo_data_dir, tmp_path, capsys):
    import shutil

    from siuo_task.cli import main

    for name in ("model-a", "model-b"):
        shutil.copytree(run_dir, tmp_path / "runs" / name)
    command = ["review", str(tmp_path / "runs"), "--reviewer", "alice", "--no-browser"]
    assert main([*command, "--data-dir", str(siuo_data_dir)]) == 2
    error = capsys.readouterr().err
    assert "holds 2 runs (model-a, model-b): pass the folder of one of them" in error
    assert str(tmp_path / "runs" / "model-a") in error
