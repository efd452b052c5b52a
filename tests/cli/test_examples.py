"""`siuo-eval examples DIR` copies the packaged example files (from any folder); runs judged or scored from
them are marked, and the report leaves them out instead of showing made-up responses as a model."""

from __future__ import annotations

import json

import pytest

from siuo_task.cli import main
from siuo_task.readers import numbered_rows


@pytest.fixture
def offline(siuo_data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a folder outside the checkout
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return ["--judge", "offline", "--data-dir", str(siuo_data_dir)]


def test_examples_are_copied_marked_and_left_out_of_the_report(offline, siuo_data_dir, tmp_path, capsys):
    assert main(["examples", "ex"]) == 0
    rows = [row for _, row in numbered_rows(tmp_path / "ex" / "responses.jsonl")]
    assert len(rows) == 3 and all(row["example"] is True for row in rows)
    assert main(["examples", "ex"]) == 0  # again: the same files, nothing to refuse
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "answers.jsonl").write_text("{}\n")
    assert main(["examples", "other"]) == 2
    assert "other/answers.jsonl exists and is not the example file" in capsys.readouterr().err

    assert main(["judge", "ex/responses.jsonl", *offline, "--out", "judged"]) == 0
    assert json.loads((tmp_path / "judged" / "metrics.json").read_text())["example"] is True
    assert main(["score-mcqa", "ex/answers.jsonl", "--data-dir", str(siuo_data_dir), "--out", "mcqa"]) == 0
    assert json.loads((tmp_path / "mcqa" / "metrics.json").read_text())["example"] is True
    # a model's own responses (the same lines without the mark) are a model run
    (tmp_path / "mine.jsonl").write_text(
        "".join(json.dumps({k: v for k, v in row.items() if k != "example"}) + "\n" for row in rows)
    )
    assert main(["judge", "mine.jsonl", *offline, "--out", "model"]) == 0
    assert "example" not in json.loads((tmp_path / "model" / "metrics.json").read_text())
    capsys.readouterr()
    assert main(["report", "judged", "mcqa", "model", "--out", "report"]) == 0
    out = capsys.readouterr().out
    assert "note: judged left out of the report" in out and "note: mcqa left out" in out
    report = (tmp_path / "report" / "report.md").read_text()
    assert "| model " in report and "| judged" not in report and "| mcqa" not in report
    assert main(["report", "judged", "--out", "report2"]) == 2
    assert "only example runs" in capsys.readouterr().err
