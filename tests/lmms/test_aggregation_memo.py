"""A task's records are judged once, in the memo the task object owns (no process-wide cache): lmms-eval calls
an aggregation once per metric (``TaskOutput.calculate_aggregate_metric``: ``task.aggregation()[metric](items,
args=task.args)``), and ``SiuoTask.aggregation()`` binds ours to the task's ``scored``. lmms-eval is imported
inside the tests (see test_tasks.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from siuo_task.judge.base import Judge, JudgeReply
from siuo_task.lmms import SOURCE_TASKS_DIR
from siuo_task.records import JudgeInfo

N_DOCS = 3


class CountingJudge(Judge):
    """Safe when the response starts with "safe", effective when it says "help"; counts its calls."""

    info = JudgeInfo("fake", "counting-judge", "test", 0.0, text_only=True)

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def complete(self, call) -> JudgeReply:
        self.calls.append((call.aspect, call.response))
        if call.aspect == "safety":
            return JudgeReply(json.dumps({"safe": call.response.startswith("safe")}))
        effective = "very effective" if "help" in call.response else "ineffective"
        return JudgeReply(json.dumps({"effectiveness": effective}))


@pytest.fixture
def judge(monkeypatch):
    judge = CountingJudge()
    config = SimpleNamespace(build=lambda: judge, open_cache=lambda: None, run_options=dict)
    monkeypatch.setattr("siuo_task.lmms.aggregation.judge_config", lambda: config)
    return judge


@pytest.fixture
def new_task(monkeypatch, siuo_data_dir):
    """A fresh siuo_gen task object, built by lmms-eval's task loader."""
    from lmms_eval.tasks import TaskManager, get_task_dict

    monkeypatch.setenv("SIUO_DATA_DIR", str(siuo_data_dir))
    manager = TaskManager("ERROR", include_path=str(SOURCE_TASKS_DIR), include_defaults=False)

    def build():
        [task] = get_task_dict(["siuo_gen"], manager).values()
        return task

    return build


def per_metric_items(task, responses: list[str]) -> dict[str, list[dict]]:
    """metric -> its per-item values, as lmms-eval collects them from process_results."""
    results = [task.config.process_results(doc, responses) for doc in list(task.test_docs())[:N_DOCS]]
    return {name: [result[name] for result in results] for name in results[0]}


def aggregate(task, items: dict[str, list[dict]]) -> dict:
    """What lmms-eval's calculate_aggregate_metric does, metric by metric."""
    return {name: task.aggregation()[name](values, args=None) for name, values in items.items()}


def test_a_task_judges_each_response_once_over_all_its_metrics(judge, new_task):
    task = new_task()
    responses = ["safe, and here is help", "safe refusal", "unsafe help"]
    figures = aggregate(task, per_metric_items(task, responses))
    assert len(judge.calls) == N_DOCS * len(responses) * 2  # each response, safety and effectiveness, once
    assert len(task.scored) == 1  # one filter, one record list
    # 2 of 3 safe, 2 of 3 effective, 1 of 3 both, per item; the majority of each item decides
    assert figures["rate_safe@all"] == figures["rate_effective@all"] == 100.0
    assert figures["rate_safe_and_effective@all"] == 0.0
    assert figures["count_judge_errors@all"] == 0 and figures["judge_approximate@all"] == 0
    from siuo_task.lmms import aggregation

    fresh = aggregation.judged_metrics(per_metric_items(task, responses)["rate_safe@all"])  # no memo: judged
    assert fresh["safe"] == figures["rate_safe@all"] and len(judge.calls) == 2 * N_DOCS * len(responses) * 2


def test_two_tasks_in_one_process_score_their_own_records(judge, new_task):
    first, second = new_task(), new_task()
    safe = aggregate(first, per_metric_items(first, ["safe help"] * 3))
    unsafe = aggregate(second, per_metric_items(second, ["no"] * 3))
    assert safe["rate_safe@all"] == 100.0 and unsafe["rate_safe@all"] == 0.0
    assert first.scored.keys().isdisjoint(second.scored.keys())
    again = new_task()  # the same records in a new task: judged again, nothing kept from the first
    assert aggregate(again, per_metric_items(again, ["safe help"] * 3)) == safe
    assert len(judge.calls) == 3 * N_DOCS * 3 * 2


def test_the_aggregation_module_keeps_no_memo():
    from siuo_task.lmms import aggregation

    mutable = (dict, list, set)
    assert [
        name
        for name, value in vars(aggregation).items()
        if isinstance(value, mutable) and not name.isupper() and not name.startswith("__")
    ] == []
    assert not hasattr(aggregation, "_SCORED")
