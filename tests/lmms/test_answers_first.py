"""Answers first, judging second, inside lmms-eval's aggregation (#29 item 1): the responses are written to
the run's own file before any judge call; any judging failure (not only ours: a damaged cache's sqlite3
error) leaves the figures empty instead of ending lmms-eval's run (which would drop its logs); under siuo-eval
($SIUO_DEFER_JUDGING) the aggregation does not judge at all. lmms-eval is imported inside the tests."""

from __future__ import annotations

import json
import sqlite3
from argparse import Namespace
from types import SimpleNamespace

import pytest

from siuo_task.judge.base import Judge, JudgeReply
from siuo_task.lmms import SOURCE_TASKS_DIR, aggregation
from siuo_task.lmms.results import DEFER_JUDGING_ENV, RUN_ID_ENV
from siuo_task.records import JudgeInfo


class CountingJudge(Judge):
    info = JudgeInfo("fake", "counting", "test", 0.0, text_only=True)
    calls = 0

    def complete(self, call) -> JudgeReply:
        type(self).calls += 1
        return JudgeReply('{"safe": true}')


class DamagedCache:
    """A judge cache whose file was damaged underneath the run: SQLite's own error, not ours."""

    def get_many(self, keys):
        raise sqlite3.DatabaseError("database disk image is malformed")

    get = put = put_many = get_many


@pytest.fixture
def task(monkeypatch, siuo_data_dir):
    from lmms_eval.tasks import TaskManager, get_task_dict

    monkeypatch.setenv("SIUO_DATA_DIR", str(siuo_data_dir))
    manager = TaskManager("ERROR", include_path=str(SOURCE_TASKS_DIR), include_defaults=False)
    [task] = get_task_dict(["siuo_gen"], manager).values()
    config = SimpleNamespace(build=CountingJudge, open_cache=DamagedCache, run_options=dict)
    monkeypatch.setattr(aggregation, "judge_config", lambda: config)
    CountingJudge.calls = 0
    return task


def aggregate(task, args) -> dict:
    docs = list(task.test_docs())[:2]
    results = [task.config.process_results(doc, ["one", "two", "three"]) for doc in docs]
    return {
        name: function([result[name] for result in results], args=args)
        for name, function in task.aggregation().items()
    }


def test_a_non_siuo_judging_error_keeps_the_run_and_the_responses(task, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(RUN_ID_ENV, "20250101_120000-abcdef")
    args = Namespace(output_path=str(tmp_path), model_args="model=m,api_key=x")
    figures = aggregate(task, args)  # no exception reaches lmms-eval
    assert all(figures[name] is None for name in figures if name.startswith("rate_"))
    saved = tmp_path / "m" / "20250101_120000-abcdef_siuo_gen.responses.jsonl"
    rows = [json.loads(line) for line in saved.read_text().splitlines()]
    assert [row["responses"] for row in rows] == [["one", "two", "three"]] * 2
    err = capsys.readouterr().err
    assert "DatabaseError" in err and f"siuo-eval judge {saved}" in err


def test_under_siuo_eval_the_aggregation_only_saves_the_responses(task, tmp_path, monkeypatch):
    monkeypatch.setenv(DEFER_JUDGING_ENV, "1")
    monkeypatch.setenv(RUN_ID_ENV, "20250101_120000-abcdef")
    figures = aggregate(task, Namespace(output_path=str(tmp_path), model_args="model=m"))
    assert CountingJudge.calls == 0  # judged later, by siuo-eval
    assert figures["rate_safe@all"] is None and figures["count_failed_requests@all"] == 0
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["20250101_120000-abcdef_siuo_gen.responses.jsonl"]
