"""Red-team cases of siuo-eval: outputs never replace inputs and are checked before any judge call, no
``None%``, credentials masked in every message and file, report names inert, outputs with the user's
permissions, and images that need no decoding are not decoded."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from siuo_dataset.validate import MAX_IMAGE_PIXELS
from siuo_demo.demo import summary_line
from siuo_demo.loopback import Fault, ScriptedServer
from siuo_task.cli import main
from siuo_task.cli.lmms_eval import run_child
from siuo_task.files import OutputError, check_output_folder, write_json_atomic, write_jsonl_atomic
from siuo_task.redact import MASK, redact, redact_json, secrets_in
from siuo_task.report import RunResult
from tests.fakes.judge import scripted_verdict
from tests.fakes.judged_run import make_judged_run
from tests.helpers import bomb_png, copy_data, run_tool

GEN_ROW = {"question_id": 1001, "responses": ["one", "two", "three"]}


def siuo_eval(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``siuo-eval ARGS`` with the judge key LEAK_KEY (and ``env``) set."""
    return run_tool("siuo-eval", *args, env={**os.environ, "LEAK_KEY": "k", **env}, timeout=120)


def judge_args(server: ScriptedServer, data: Path, base_url: str | None = None) -> list[str]:
    return [
        "--data-dir",
        str(data),
        "--judge-model",
        "judge",
        "--judge-base-url",
        base_url or server.base_url,
        "--judge-api-key-env",
        "LEAK_KEY",
        "--no-cache",
        "--quiet",
        "--text-only",
    ]


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("siuo-eval: error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


# ---- outputs that are inputs; --out problems found before the first judge call -----------------------------


def test_judge_refuses_to_overwrite_its_own_input_before_any_call(siuo_data_dir, tmp_path):
    run = tmp_path / "RUN"
    run.mkdir()
    (run / "judgements.jsonl").write_text(json.dumps(GEN_ROW) + "\n")
    before = (run / "judgements.jsonl").read_bytes()
    with ScriptedServer(scripted_verdict) as server:
        result = siuo_eval(
            "judge", str(run / "judgements.jsonl"), "--out", str(run), *judge_args(server, siuo_data_dir)
        )
        assert server.call_count == 0
    assert result.returncode == 2
    assert f"would overwrite the input {run / 'judgements.jsonl'}" in one_error_line(result)
    assert (run / "judgements.jsonl").read_bytes() == before and sorted(os.listdir(run)) == [
        "judgements.jsonl"
    ]


def test_score_mcqa_refuses_to_overwrite_its_parses_input(siuo_data_dir, tmp_path):
    (tmp_path / "parses.jsonl").write_text(json.dumps({"question_id": 1001, "response": "A"}) + "\n")
    result = siuo_eval(
        "score-mcqa", str(tmp_path / "parses.jsonl"), "--out", str(tmp_path), "--data-dir", str(siuo_data_dir)
    )
    assert result.returncode == 2 and "would overwrite the input" in one_error_line(result)
    assert json.loads((tmp_path / "parses.jsonl").read_text()) == {"question_id": 1001, "response": "A"}


def test_rescore_refuses_to_replace_the_judges_metrics_it_reads(siuo_data_dir, tmp_path, monkeypatch):
    make_judged_run(tmp_path / "run", siuo_data_dir, monkeypatch)
    (tmp_path / "run" / "reviews.jsonl").write_text("")
    before = (tmp_path / "run" / "metrics.json").read_bytes()
    assert main(["rescore", str(tmp_path / "run"), "--out", str(tmp_path / "run")]) == 2
    assert (tmp_path / "run" / "metrics.json").read_bytes() == before


@pytest.mark.parametrize("where", ["an-existing-file", "inside-a-file", "unwritable"])
def test_bad_out_is_found_before_the_first_judge_call(siuo_data_dir, tmp_path, where):
    (tmp_path / "file.txt").write_text("mine")
    (tmp_path / "responses.jsonl").write_text(json.dumps(GEN_ROW) + "\n")
    out = {
        "an-existing-file": tmp_path / "file.txt",
        "inside-a-file": tmp_path / "file.txt" / "out",
        "unwritable": Path("/proc/siuo-no-such/out"),
    }[where]
    with ScriptedServer(scripted_verdict) as server:
        result = siuo_eval(
            "judge", str(tmp_path / "responses.jsonl"), "--out", str(out), *judge_args(server, siuo_data_dir)
        )
        assert server.call_count == 0  # nothing paid for
    assert result.returncode == 2
    assert ("not a folder" if where != "unwritable" else "is not writable") in one_error_line(result)
    assert (tmp_path / "file.txt").read_text() == "mine"


@pytest.mark.parametrize("command", ["score-mcqa", "baselines", "validate-judge", "report", "agree"])
def test_every_writing_command_checks_its_out(siuo_data_dir, tmp_path, command):
    (tmp_path / "file.txt").write_text("mine")
    answers = tmp_path / "a.jsonl"
    answers.write_text(json.dumps({"question_id": 1001, "response": "A"}) + "\n")
    args = {
        "score-mcqa": [str(answers), "--data-dir", str(siuo_data_dir)],
        "baselines": ["--data-dir", str(siuo_data_dir)],
        "validate-judge": ["--judge", "offline", "--data-dir", str(siuo_data_dir)],
        "report": [str(tmp_path)],
        "agree": [str(answers), str(answers)],
    }[command]
    result = siuo_eval(command, *args, "--out", str(tmp_path / "file.txt"))
    assert result.returncode == 2 and "is an existing file, not a folder" in one_error_line(result)


def test_the_check_leaves_nothing_behind(tmp_path):
    assert check_output_folder(tmp_path / "a" / "b", ["x.json"]) == tmp_path / "a" / "b"
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="would overwrite the input"):
        check_output_folder(tmp_path, ["x.json"], [tmp_path / "sub" / ".." / "x.json"])


# ---- no None% ----------------------------------------------------------------------------------------------


def test_summaries_say_n_a_when_nothing_is_parsable():
    line = summary_line(
        RunResult(
            "m",
            {
                "siuo_gen": {"safe": None, "effective": None, "safe_and_effective": None},
                "siuo_mcqa": {"accuracy": None},
            },
        )
    )
    assert "None" not in line and line.count("n/a (0 parsable)") == 4


# ---- credentials -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,kept",
    [
        ("http://user:pa55word@judge.local:8000/v1", "http://***@judge.local:8000/v1"),
        (
            "model=m,base_url=https://bob:hunter2@h/v1,api_key=abc123",
            "model=m,base_url=https://***@h/v1,api_key=***",
        ),
        ("api-key: 0123abc, next", "api-key: ***, next"),
        ('{"api_key": "abc"}', '{"api_key": "***"}'),
        ("Authorization: Bearer eyJhbGciOi.x-y", "Authorization: Bearer ***"),
        ("key sk-proj-abcdefgh12345678 leaked", "key sk-*** leaked"),
        ("token=hf_abcdefghij0123456789xyz", "token=***"),
        # every kind, in any case, alone in its text (the one-scan pre-check of redact must see each)
        ("a hf_abcdefghij0123456789xyz alone", "a hf_*** alone"),
        ("PASSWD=hunter2", "PASSWD=***"),
        ("Client-Secret: s3cr3t", "Client-Secret: ***"),
        ("Access_Token=abc", "Access_Token=***"),
        ("BEARER abcdefgh.1234", "BEARER ***"),
        ("pretrained=x,KEY=abc", "pretrained=x,KEY=***"),
        ("ftp://u:p@host/file", "ftp://***@host/file"),
        (
            "Bearer authentication is explained at https://example.com/page?a=1",
            None,
        ),  # prose and plain URLs stay
    ],
)
def test_redact_masks_credentials_and_leaves_prose(text, kept):
    assert redact(text) == (text if kept is None else kept)
    assert secrets_in(text) is (kept is not None)


def test_redact_json_masks_key_fields_and_strings():
    value = {
        "config": {"model_args": "base_url=http://u:p@h/v1,api_key=zz9", "api_key": "plain"},
        "n": 3,
        "list": ["Bearer abc.def-123456"],
    }
    assert redact_json(value) == {
        "config": {"model_args": "base_url=http://***@h/v1,api_key=***", "api_key": MASK},
        "n": 3,
        "list": ["Bearer ***"],
    }


def test_passed_through_output_is_masked_lines_and_progress_updates(capfd):
    script = (
        "import sys; print('openai (base_url=http://me:pw-777@h/v1,api_key=k-123)'); "
        "sys.stderr.write('50%|api_key=abc\\r100%|done\\n')"
    )
    assert run_child([sys.executable, "-c", script], dict(os.environ)) == 0
    out, err = capfd.readouterr()
    assert "pw-777" not in out and "k-123" not in out and "http://***@h/v1" in out
    assert "abc" not in err and "api_key=***\r100%|done" in err


def test_a_judge_url_with_a_password_is_refused_at_once_and_never_shown(siuo_data_dir, tmp_path):
    (tmp_path / "r.jsonl").write_text(json.dumps(GEN_ROW) + "\n")
    with ScriptedServer(scripted_verdict) as server:
        with_password = server.base_url.replace("http://", "http://alice:s3cret-pw@")
        result = siuo_eval(
            "judge",
            str(tmp_path / "r.jsonl"),
            "--out",
            str(tmp_path / "out"),
            *judge_args(server, siuo_data_dir, with_password),
        )
        assert server.call_count == 0
    assert result.returncode == 2 and "carries credentials (user:password@)" in one_error_line(result)
    assert "s3cret-pw" not in result.stdout + result.stderr and "http://***@127.0.0.1" in result.stderr


@pytest.mark.e2e
@pytest.mark.parametrize("status", [401, 403, 404])
def test_judge_refusals_are_one_line_without_credentials(siuo_data_dir, tmp_path, status):
    key = "sk-live-" + "5" * 32
    echo = json.dumps(
        {"error": {"message": f"Incorrect API key provided: {key} for http://alice:s3cret-pw@gw/v1"}}
    )
    (tmp_path / "r.jsonl").write_text(json.dumps(GEN_ROW) + "\n")
    with ScriptedServer(lambda body: Fault(status, body=echo)) as server:
        result = siuo_eval(
            "judge",
            str(tmp_path / "r.jsonl"),
            "--out",
            str(tmp_path / "out"),
            *judge_args(server, siuo_data_dir),
            LEAK_KEY=key,
        )
    assert result.returncode == 2 and f"({status} " in one_error_line(result) and "refused" in result.stderr
    assert key not in result.stdout + result.stderr and "s3cret-pw" not in result.stdout + result.stderr


def test_refusal_messages_mask_the_endpoint_credentials():
    import openai
    from httpx2 import Request, Response

    from siuo_task.judge.backends.openai import OpenAIJudge

    judge = OpenAIJudge("m", base_url="http://gw/v1")
    judge.base_url = "http://alice:s3cret-pw@gw/v1"  # as any endpoint text that reaches a message
    response = Response(401, request=Request("POST", "http://gw/v1/chat/completions"))
    message = str(judge._api_error(openai.AuthenticationError("no", response=response, body=None)))
    assert "s3cret-pw" not in message and "http://***@gw/v1" in message


@pytest.mark.e2e
def test_a_failing_call_that_echoes_credentials_leaves_none_in_the_judgements(siuo_data_dir, tmp_path):
    (tmp_path / "r.jsonl").write_text(json.dumps(GEN_ROW) + "\n")
    echo = json.dumps({"error": {"message": "bad request for http://alice:s3cret-pw@host api_key=key-42"}})
    with ScriptedServer(lambda body: Fault(400, body=echo)) as server:
        result = siuo_eval(
            "judge",
            str(tmp_path / "r.jsonl"),
            "--out",
            str(tmp_path / "out"),
            *judge_args(server, siuo_data_dir),
        )
    assert result.returncode == 3, result.stderr
    written = "".join(path.read_text() for path in (tmp_path / "out").iterdir())
    assert "_error" in written and "s3cret-pw" not in written + result.stderr and "key-42" not in written


# ---- report names ------------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_report_names_cannot_add_links_or_tags(tmp_path, siuo_data_dir, monkeypatch):
    from markdown_it import MarkdownIt

    make_judged_run(tmp_path / "run", siuo_data_dir, monkeypatch)
    name = (
        "[x](javascript:alert(1)) <img src=x onerror=alert(2)> ![i](http://evil/p.png) https://evil.example"
    )
    assert main(["report", str(tmp_path / "run"), "--names", name, "--out", str(tmp_path / "r")]) == 0
    rendered = MarkdownIt("commonmark").enable("table").render((tmp_path / "r" / "report.md").read_text())
    assert "<a " not in rendered and "<img" not in rendered.replace('<img src="plot_', "")
    assert "javascript:alert(1)" in rendered  # the name is still shown, as text
    page = (tmp_path / "r" / "report.html").read_text()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page


# ---- permissions -------------------------------------------------------------------------------------------


def test_written_files_get_the_users_normal_permissions(tmp_path):
    previous = os.umask(0o002)
    try:
        write_json_atomic(tmp_path / "a.json", {"x": 1})
        write_jsonl_atomic(tmp_path / "b.jsonl", [{"x": 1}])
    finally:
        os.umask(previous)
    assert {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()} == {0o664}


# ---- images that need no pixels are not decoded; a bomb is one line naming it ------------------------------


@pytest.fixture
def bomb_data(siuo_data_dir, shared_siuo, tmp_path) -> Path:
    data = copy_data(siuo_data_dir, shared_siuo, tmp_path / "data")
    (data / "images" / "S-01.png").unlink()
    (data / "images" / "S-01.png").write_bytes(bomb_png(12_000, 12_000))
    return data


def test_judge_with_images_refuses_a_bomb_in_one_line(bomb_data, tmp_path):
    (tmp_path / "r.jsonl").write_text(json.dumps(GEN_ROW) + "\n")
    with ScriptedServer(scripted_verdict) as server:
        args = [a for a in judge_args(server, bomb_data) if a != "--text-only"]
        result = siuo_eval("judge", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "out"), *args)
        assert server.call_count == 0
    assert result.returncode == 2
    assert f"S-01.png has more than {MAX_IMAGE_PIXELS:,} pixels" in one_error_line(result)


@pytest.mark.e2e
def test_text_only_judge_and_report_never_decode_images(bomb_data, tmp_path, monkeypatch):
    (tmp_path / "r.jsonl").write_text(json.dumps(GEN_ROW) + "\n")
    with ScriptedServer(scripted_verdict) as server:
        judged = siuo_eval(
            "judge", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "out"), *judge_args(server, bomb_data)
        )
    assert judged.returncode == 0, judged.stderr
    report = siuo_eval(
        "report", str(tmp_path / "out"), "--data-dir", str(bomb_data), "--out", str(tmp_path / "rep")
    )
    assert report.returncode == 0, report.stderr
