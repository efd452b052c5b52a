"""Issue #28 items 2 and 5: the report compares only like things.

- runs judged by different judges (the same model name at two endpoints) are never differenced under "Paired
  differences between models": their judged differences are set apart under a heading saying the judges
  differ, the overall table is split by judge, and the judge table spells each judge out;
- one report row is one run: a later --limit run never replaces a full run merged with its other task, and
  what the report chose ("latest full run of 2") is written in report.md; one model name from two folders
  gives two rows unless --names merges them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from siuo_task.cli import main
from siuo_task.protocol.figures import ResponseVerdict, generation_metrics, mcqa_metrics
from siuo_task.records import JudgeInfo

N = 12


def judge_block(port: int) -> dict:
    info = JudgeInfo(
        "openai",
        "my-judge",
        "siuo-judge-v3",
        0.0,
        False,
        endpoint=f"http://127.0.0.1:{port}/v1",
        max_tokens=512,
    )
    return info.answered(["my-judge"], ["fp_1"]).as_dict()


def local_data(total: int) -> dict:
    """The ``data`` provenance block of a run on a local SIUO folder of ``total`` items."""
    return {"origin": "local", "revision": None, "sha256": {}, "n_items": total, "missing_images": 0}


def gen_file(safe: list[bool], judge: dict, total: int = N) -> dict:
    responses = [
        ResponseVerdict(1000 + index, "self-harm", verdict, True)
        for index, verdict in enumerate(safe)
        for _ in range(3)
    ]
    metrics = generation_metrics(responses)
    metrics["judge"] = judge
    metrics["data"] = local_data(total)
    metrics["summary"] = None
    return metrics


def mcqa_file(correct: int, total: int = N) -> dict:
    parsed = [(1000 + i, "self-harm", "A" if i < correct else "B", "A") for i in range(total)]
    metrics = mcqa_metrics(parsed)
    metrics["data"] = local_data(total)
    return metrics


def write(path: Path, metrics: dict, mtime: float | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics))
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def report(tmp_path, capsys, *folders: Path, names: str | None = None) -> str:
    out = tmp_path / "report"
    code = main(["report", *map(str, folders), "--out", str(out), *(["--names", names] if names else [])])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    return (out / "report.md").read_text()


def section(markdown: str, title: str) -> str:
    """The text of the section whose heading starts with ``title`` (up to the next heading)."""
    start = markdown.index(title)
    end = markdown.find("\n#", start)
    return markdown[start : end if end != -1 else None]


def test_runs_judged_by_different_judges_are_never_a_model_difference(tmp_path, capsys):
    same_responses = [True] * 6 + [False] * 6
    write(tmp_path / "a" / "metrics.json", gen_file(same_responses, judge_block(8001)))
    write(
        tmp_path / "b" / "metrics.json", gen_file([False] * N, judge_block(8002))
    )  # a judge that says unsafe
    markdown = report(tmp_path, capsys, tmp_path / "a", tmp_path / "b")
    assert "Paired differences between models" not in markdown  # before: "a − b: Δ Safe +50.00 [...]"
    apart = section(markdown, "## Judges differ: paired differences")
    assert "NOT a difference between models" in apart and "| a − b | J1 vs J2 | +50.00" in apart
    first = markdown[markdown.index("## Overall (judge J1: my-judge, openai at ") :].splitlines()[0]
    assert "127.0.0.1:8001" in first  # (Markdown makes the URL inert: no autolink)
    assert "## Overall, judges differ: these runs were judged by judge J2" in markdown
    judges = section(markdown, "## Judge and data")
    for run, label, port in (("a", "J1", 8001), ("b", "J2", 8002)):
        row = next(line for line in judges.splitlines() if line.startswith(f"| {run} | siuo_gen |"))
        assert f"| {label} {judge_block(port)['identity']} |" in row
        assert f"127.0.0.1:{port}" in row and "my-judge / my-judge" in row
        assert "| fp_1 |" in row and "| 512 |" in row


def test_runs_with_one_judge_are_differenced_as_models(tmp_path, capsys):
    write(tmp_path / "a" / "metrics.json", gen_file([True] * 6 + [False] * 6, judge_block(8001)))
    write(tmp_path / "b" / "metrics.json", gen_file([False] * N, judge_block(8001)))
    markdown = report(tmp_path, capsys, tmp_path / "a", tmp_path / "b")
    assert "| a − b | +50.00" in section(markdown, "## Paired differences between models")
    assert "Judges differ" not in markdown and "judges differ" not in markdown


def test_a_later_limit_run_never_replaces_a_full_run_nor_merges_with_it(tmp_path, capsys):
    model = tmp_path / "runs" / "m"
    write(model / "2026-01-01T10-00-00_siuo_gen.metrics.json", gen_file([True] * N, judge_block(8001)), 1_000)
    write(model / "2026-01-01T10-00-00_siuo_mcqa.metrics.json", mcqa_file(9), 1_000)
    write(
        model / "2026-01-01T11-00-00_siuo_gen.metrics.json",
        gen_file([False] * 5, judge_block(8001), N),
        2_000,
    )
    markdown = report(tmp_path, capsys, tmp_path / "runs")
    overall = section(markdown, "## Overall")
    row = next(line for line in overall.splitlines() if line.startswith("| runs |"))  # the folder's name
    assert (
        "100.00" in row and f"gen {N} (0 unparsable); MCQA {N} (0 unparsable)" in row
    )  # before: "gen 5; MCQA 12"
    notes = section(markdown, "## Notes on these figures")
    assert "holds 2 runs of this model; shown: the latest full run of 2, 2026-01-01T10-00-00" in notes
    assert f"not shown: 2026-01-01T11-00-00 (siuo_gen 5 of {N} items) (later, but partial)" in notes


def test_the_latest_run_is_shown_whole_and_said_in_report_md(tmp_path, capsys):
    model = tmp_path / "runs" / "m"
    write(
        model / "2026-01-01T10-00-00_siuo_gen.metrics.json", gen_file([False] * N, judge_block(8001)), 1_000
    )
    write(model / "2026-01-01T10-00-00_siuo_mcqa.metrics.json", mcqa_file(9), 1_000)
    write(model / "2026-01-01T11-00-00_siuo_gen.metrics.json", gen_file([True] * N, judge_block(8001)), 2_000)
    markdown = report(tmp_path, capsys, tmp_path / "runs")
    row = next(line for line in section(markdown, "## Overall").splitlines() if line.startswith("| runs |"))
    assert "100.00" in row and "MCQA" not in row  # the latest run, whole: never the older run's MCQA
    notes = section(markdown, "## Notes on these figures")
    assert "shown: the latest of 2, 2026-01-01T11-00-00 (siuo_gen)" in notes
    assert "not shown: 2026-01-01T10-00-00 (siuo_gen, siuo_mcqa)" in notes


def test_one_model_name_from_two_folders_is_two_rows_unless_named_alike(tmp_path, capsys):
    write(tmp_path / "x" / "m" / "metrics.json", gen_file([True] * N, judge_block(8001)))
    write(tmp_path / "y" / "m" / "metrics.json", gen_file([False] * N, judge_block(8001)))
    markdown = report(tmp_path, capsys, tmp_path / "x" / "m", tmp_path / "y" / "m")
    rows = [line for line in section(markdown, "## Overall").splitlines() if line.startswith("| m (")]
    assert len(rows) == 2  # before: one row "m", the second run silently dropped
    write(tmp_path / "z" / "metrics.json", mcqa_file(9))
    markdown = report(tmp_path, capsys, tmp_path / "x" / "m", tmp_path / "z", names="m,m")
    row = next(line for line in section(markdown, "## Overall").splitlines() if line.startswith("| m |"))
    assert f"gen {N}" in row and f"MCQA {N}" in row  # --names merges a judge and a score-mcqa output


def test_replies_cut_off_are_said_in_the_report(tmp_path, capsys):
    metrics = gen_file([True] * N, judge_block(8001))
    metrics["summary"] = {"calls": 72, "truncated": 4}
    write(tmp_path / "a" / "metrics.json", metrics)
    notes = section(report(tmp_path, capsys, tmp_path / "a"), "## Notes on these figures")
    assert "a / siuo_gen: 4 judge replies were cut off (max_tokens or a content filter)" in notes
