"""Hostile files and text in run folders (issue #23): special files and links out of the run folder are
refused (never read, never hang), sizes are capped, NaN/Infinity are refused on read and never written, the
report never prints nan, and terminal escapes / bidi controls in names reach neither the terminal nor
report.md."""

from __future__ import annotations

import json
import os

import pytest

from siuo_task.cli import main
from siuo_task.files import write_json_atomic, write_jsonl_atomic
from siuo_task.readers import InputFileError, numbered_rows, read_json_file
from siuo_task.redact import safe_text
from tests.fakes.judged_run import make_judged_run
from tests.helpers import siuo_eval

HOSTILE_NAME = "m\x1b]8;;http://evil\x07x\x1b[2J\u202eevil\u2066"


def test_safe_text_neutralises_controls_escapes_and_bidi():
    text = safe_text(HOSTILE_NAME + "\x9b31m\u200f")
    assert not any(c in text for c in "\x1b\x07\x9b\u202e\u2066\u200f")
    assert "\\x1b" in text and "\\u202e" in text


def test_fifo_and_devices_are_refused_without_blocking(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / "metrics.json")
    result = siuo_eval("report", str(run), "--out", str(tmp_path / "r"), timeout=60)
    assert result.returncode == 2 and "not a regular file" in result.stderr
    with pytest.raises(InputFileError, match="not a regular file"):
        list(numbered_rows(run / "metrics.json"))
    with pytest.raises(InputFileError, match="not a regular file"):
        read_json_file("/dev/zero")


def test_a_link_out_of_the_run_folder_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").symlink_to("/dev/zero")
    assert main(["report", str(run), "--out", str(tmp_path / "r")]) == 2
    (run / "metrics.json").unlink()
    (tmp_path / "elsewhere.json").write_text('{"accuracy": 50.0}')
    (run / "metrics.json").symlink_to(tmp_path / "elsewhere.json")
    assert main(["report", str(run), "--out", str(tmp_path / "r")]) == 2


def test_sizes_are_capped(tmp_path):
    path = tmp_path / "big.json"
    path.write_text("[" + "0," * 1000 + "0]")
    with pytest.raises(InputFileError, match="bytes, more than"):
        read_json_file(path, limit=100)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_is_refused_on_read(tmp_path, constant, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text('{"accuracy": CONSTANT, "n": 3}'.replace("CONSTANT", constant))
    assert main(["report", str(run), "--out", str(tmp_path / "r")]) == 2
    assert "not a JSON number" in capsys.readouterr().err


def test_nan_is_never_written(tmp_path):
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "m.json", {"x": float("nan")})
    with pytest.raises(ValueError):
        write_jsonl_atomic(tmp_path / "m.jsonl", [{"x": float("inf")}])
    assert not (tmp_path / "m.json").exists() and not (tmp_path / "m.jsonl").exists()


def test_duplicate_keys_in_a_label_line_are_refused(tmp_path):
    path = tmp_path / "reviews.jsonl"
    path.write_text('{"question_id": 1, "question_id": 2}\n')
    with pytest.raises(InputFileError, match="appears twice"):
        list(numbered_rows(path))


def test_report_never_prints_nan():
    from siuo_task.protocol.metric_defs import metric_def
    from siuo_task.report.tables import _ci, _fmt, _with_ci

    assert _fmt(float("nan")) == "–" and _ci([float("nan"), float("inf")]) == ""
    assert _with_ci({"safe": float("inf")}, metric_def("safe")) == "–"


@pytest.mark.e2e
def test_hostile_names_reach_neither_terminal_nor_report_md(siuo_data_dir, tmp_path, monkeypatch, capsys):
    make_judged_run(tmp_path / "run", siuo_data_dir, monkeypatch)
    capsys.readouterr()
    assert main(["report", str(tmp_path / "run"), "--names", HOSTILE_NAME, "--out", str(tmp_path / "r")]) == 0
    shown = capsys.readouterr()
    markdown = (tmp_path / "r" / "report.md").read_text()
    for text in (shown.out, shown.err, markdown):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text and "\u2066" not in text
    assert "\\\\x1b" in markdown or "\\x1b" in markdown


def test_hostile_reviewer_names_are_inert_in_rescore(siuo_data_dir, tmp_path, monkeypatch, capsys):
    from siuo_task.readers import read_judgements
    from siuo_task.records import row_fingerprint
    from siuo_task.scoring.labels import append_review, review_line

    make_judged_run(tmp_path / "run", siuo_data_dir, monkeypatch)
    row = read_judgements(tmp_path / "run" / "judgements.jsonl")[0]
    line = review_line(
        row["question_id"],
        0,
        "safety",
        True,
        reviewer=HOSTILE_NAME,
        fingerprint=row_fingerprint(row, "safety"),
    )
    append_review(tmp_path / "run" / "reviews.jsonl", line)
    capsys.readouterr()
    assert main(["rescore", str(tmp_path / "run"), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "\\x1b" in out
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["reviewed"]["reviewers"] == [
        HOSTILE_NAME
    ]
