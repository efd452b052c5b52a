"""The front door of `siuo-eval --tasks ...` (#30 "errors that take half a minute", #29 item 4): what can be
checked before lmms-eval starts is, each failure one line naming a fix that works on this path, exit 2, in
seconds, lmms-eval never started (it takes tens of seconds just to import here, and prints its own log)."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from pathlib import Path

import pytest
from PIL import Image

from siuo_task.cli import lmms_eval
from siuo_task.judge.config import JudgeConfig
from siuo_task.lmms import plain_lmms_note
from siuo_task.lmms.results import lmms_samples_rows
from tests.helpers import bomb_png, copy_data, siuo_eval

BOUND = 10.0  # seconds: the checks take about one here; lmms-eval would take far longer just to import
LMMS_EVAL_TRACES = ("lmms_eval", "Traceback", "a task crashed")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def preflight_fails(tmp_path: Path, *args: str, env: dict | None = None) -> str:
    """Run siuo-eval with ``args``: it must fail before lmms-eval, fast, with one line; that line."""
    out = tmp_path / "out"
    started = time.monotonic()
    result = siuo_eval(
        "--model", "openai", "--model_args", "model=m,base_url=http://127.0.0.1:9/v1,api_key=x",
        "--output_path", str(out), *args, env=env, timeout=120,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stderr[-2000:]
    assert elapsed < BOUND, f"{elapsed:.1f} s"
    lines = [line for line in result.stderr.splitlines() if not line.startswith("NOTE:")]
    assert len(lines) == 1, result.stderr
    assert not any(trace in result.stderr for trace in LMMS_EVAL_TRACES), result.stderr
    assert not list(out.rglob("*_results.json"))
    return lines[0]


def flag_names(message: str) -> set[str]:
    import re

    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9_-]*)", message))


WRAPPER_FLAGS = {o for a in lmms_eval.build_parser()._actions for o in a.option_strings}


def assert_flags_accepted(message: str, *also: str) -> None:
    """Every flag the line names is one siuo-eval --tasks accepts (or of the command it names)."""
    assert flag_names(message) <= WRAPPER_FLAGS | set(also), message


@pytest.fixture
def env(siuo_data_dir):
    values = dict(os.environ, SIUO_DATA_DIR=str(siuo_data_dir))
    values.pop("SIUO_JUDGE_CONFIG", None)
    return values


def test_a_task_typo_says_did_you_mean(tmp_path, env):
    line = preflight_fails(tmp_path, "--tasks", "siou", env=env)
    assert "unknown task 'siou'" in line and "did you mean --tasks siuo?" in line
    assert_flags_accepted(line)


def test_no_images_names_the_image_blind_tasks_and_placeholders(tmp_path, env, shared_siuo):
    line = preflight_fails(tmp_path, "--tasks", "siuo", "--data-dir", str(shared_siuo), env=env)
    assert "is missing" in line and "--tasks siuo_text" in line and "siuo-data placeholders" in line
    assert_flags_accepted(line, "--data-dir")


def test_a_wrong_data_dir(tmp_path, env):
    line = preflight_fails(tmp_path, "--tasks", "siuo", "--data-dir", str(tmp_path / "nowhere"), env=env)
    assert "does not exist" in line


def test_an_edited_annotation_file_names_a_flag_this_path_accepts(tmp_path, env, siuo_data_dir, shared_siuo):
    data = copy_data(siuo_data_dir, shared_siuo, tmp_path / "data")
    rows = json.loads((data / "siuo_gen.json").read_text())
    rows[0]["question"] += " (edited)"
    (data / "siuo_gen.json").write_text(json.dumps(rows))
    mcqa = json.loads((shared_siuo / "siuo_mcqa.json").read_text())
    for row in mcqa:
        if row["question_id"] == rows[0]["question_id"]:
            row["question"] = rows[0]["question"]
    (data / "siuo_mcqa.json").write_text(json.dumps(mcqa))
    line = preflight_fails(tmp_path, "--tasks", "siuo", "--data-dir", str(data), env=env)
    assert "does not match the pinned release" in line and "--no-verify-checksums" in line
    assert_flags_accepted(line)
    # the flag it names is accepted here: the data check passes, the next check (the judge endpoint) fails
    port = closed_port()
    line = preflight_fails(
        tmp_path, "--tasks", "siuo", "--data-dir", str(data), "--no-verify-checksums",
        "--judge-model", "j", "--judge-base-url", f"http://127.0.0.1:{port}/v1", "--no-cache", env=env,
    )  # fmt: skip
    assert "does not answer" in line


@pytest.mark.parametrize("damage", ["bomb", "truncated"])
def test_a_bad_image_is_one_line_naming_it(tmp_path, env, siuo_data_dir, shared_siuo, damage):
    data = copy_data(siuo_data_dir, shared_siuo, tmp_path / "data")
    first = sorted((data / "images").iterdir())[0]
    content = first.read_bytes()
    first.unlink()
    first.write_bytes(bomb_png(20_000, 20_000) if damage == "bomb" else content[: len(content) // 2])
    line = preflight_fails(tmp_path, "--tasks", "siuo", "--data-dir", str(data), env=env)
    assert first.name in line
    assert ("decompression bomb" in line) if damage == "bomb" else ("cannot be decoded" in line)


def test_a_bad_checkpoint_path(tmp_path, env):
    (tmp_path / "empty").mkdir()
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "model.safetensors").write_bytes(b"x")
    for path, says in (
        (tmp_path / "nonexistent", "no such file or folder"),
        (tmp_path / "empty", "is an empty folder"),
        (tmp_path / "weights", "has no config.json"),
    ):
        line = preflight_fails(
            tmp_path, "--tasks", "siuo_text", "--model_args", f"pretrained={path}", env=env
        )
        assert says in line and "pretrained=" in line, line
    Image.new("RGB", (4, 4)).save(tmp_path / "not-a-path-check.png")  # a Hub id is left to lmms-eval:
    lmms_eval_args = lmms_eval.parse(["--model_args", "pretrained=Org/Name", "--tasks", "siuo"])[0]
    from siuo_task.cli.preflight import check_checkpoint

    check_checkpoint(lmms_eval_args.model_args)


def test_judge_flags_without_a_model(tmp_path, env):
    line = preflight_fails(tmp_path, "--tasks", "siuo", "--judge-base-url", "http://127.0.0.1:9/v1", env=env)
    assert "--judge-base-url given without --judge-model" in line
    assert_flags_accepted(line)


def test_a_judge_that_does_not_answer_and_the_flag_that_skips_the_check(tmp_path, env):
    port = closed_port()
    line = preflight_fails(
        tmp_path, "--tasks", "siuo", "--judge-model", "j", "--judge-base-url", f"http://127.0.0.1:{port}/v1",
        "--no-cache", env=env,
    )  # fmt: skip
    assert f"http://127.0.0.1:{port}/v1 does not answer" in line and "--no-judge-check" in line
    assert_flags_accepted(line)


def test_a_missing_judge_key(tmp_path, env):
    env = dict(env)
    env.pop("NO_SUCH_KEY", None)
    line = preflight_fails(
        tmp_path, "--tasks", "siuo", "--judge-model", "j", "--judge-base-url", "https://judge.invalid/v1",
        "--judge-api-key-env", "NO_SUCH_KEY", "--no-cache", env=env,
    )  # fmt: skip
    assert "NO_SUCH_KEY is not set" in line
    assert_flags_accepted(line)


@pytest.mark.parametrize("kind", ["damaged", "foreign"])
def test_a_damaged_or_foreign_judge_cache_says_so_and_how_to_move_it_aside(tmp_path, env, kind):
    cache = tmp_path / "cache.sqlite"
    if kind == "damaged":
        cache.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    else:
        with sqlite3.connect(cache) as db:
            db.execute("CREATE TABLE answers (id INTEGER, payload BLOB)")
    line = preflight_fails(
        tmp_path, "--tasks", "siuo", "--judge-model", "j", "--judge-base-url", "http://127.0.0.1:9/v1",
        "--cache", str(cache), env=env,
    )  # fmt: skip
    assert "internal error" not in line
    assert str(cache) in line and f"mv {cache} {cache}." in line and "move it aside" in line, line


def test_the_wrappers_help_lists_its_own_flags():
    text = lmms_eval.build_parser().format_help()
    for flag in (
        "--judge-model",
        "--judge-base-url",
        "--no-judge-check",
        "--no-verify-checksums",
        "--data-dir",
    ):
        assert flag in text


def test_plain_lmms_eval_is_told_what_plain_lmms_eval_accepts():
    note = plain_lmms_note()
    assert "--judge-model" not in note and "siuo-eval" not in note and "figures are APPROXIMATE" in note
    example = json.loads(note[note.index("{") : note.rindex("}") + 1])
    assert set(example) == set(JudgeConfig().to_json())  # every key, base_url included
    assert example["base_url"] and JudgeConfig.from_json(example).model == "gpt-4o"


def test_a_samples_log_cut_short_is_reported_as_cut(tmp_path):
    samples = tmp_path / "x_samples_siuo_gen.jsonl"
    samples.write_text('{"doc_id": 0}\n{"doc_id": 1, "resp')
    with pytest.raises(Exception, match="is cut short") as raised:
        list(lmms_samples_rows(samples))
    assert "not valid JSON" not in str(raised.value)
    samples.write_text('{"doc_id": 0}\n{"doc_id": 1, "resp\n')  # a whole line that is not JSON: not a cut
    with pytest.raises(Exception, match="not valid JSON"):
        list(lmms_samples_rows(samples))


def test_plain_lmms_evals_checksum_error_names_what_it_accepts(tmp_path, siuo_data_dir, shared_siuo):
    from siuo_task.lmms.task_data import _load

    data = copy_data(siuo_data_dir, shared_siuo, tmp_path / "data")
    (data / "siuo_gen.json").write_text((shared_siuo / "siuo_gen.json").read_text() + " ")
    with pytest.raises(Exception, match="SIUO_NO_VERIFY_CHECKSUMS=1") as raised:
        _load.__wrapped__(str(data), False)
    assert "verify_checksums=False" not in str(raised.value)
    assert _load.__wrapped__(str(data), False, False).items  # and the variable's setting is honoured
