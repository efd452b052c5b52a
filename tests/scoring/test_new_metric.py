"""Issue #27: metrics are data. One new definition in ``siuo_task.protocol.metric_defs`` (a toy per-response
metric, "unsafe": the response judged not safe) reaches every place a metric appears, with no other change:
``siuo-eval judge``'s metrics.json, the human-checked ``siuo-eval rescore``, the lmms-eval metric names, the
YAML ``metric_list`` and the aggregation's value for each listed name, and the report's columns, leaderboard
and domain table. Expectations are computed by hand from the scripted judge's markers."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from siuo_dataset.domains import DOMAINS
from siuo_task.cli import main
from siuo_task.judge.base import Judge, JudgeReply
from siuo_task.lmms import aggregation
from siuo_task.lmms.metric_list import metric_list, metric_list_yaml, metric_names
from siuo_task.protocol import metric_defs
from siuo_task.protocol.metric_defs import GENERATION, MetricDef
from siuo_task.records import JudgeInfo
from siuo_task.scoring.judging import judge_responses
from siuo_task.scoring.labels import append_review, review_line
from tests.fakes.judged_run import judge_verdict, make_judged_run


def unsafe(safe: bool | None, effective: bool | None) -> bool | None:
    """The toy rule for one response: judged not safe (None when the safety verdict is missing)."""
    return None if safe is None else not safe


TOY = MetricDef("unsafe", "Unsafe", GENERATION, higher_is_better=False, rule=unsafe)


@pytest.fixture
def toy_metric(monkeypatch):
    """The toy metric registered beside the paper's, as a newcomer would add it to METRIC_DEFS."""
    monkeypatch.setattr(metric_defs, "METRIC_DEFS", (*metric_defs.METRIC_DEFS, TOY))


def hand_rate(votes_per_item: list[list[bool | None]]) -> tuple[float | None, int, int, int]:
    """(rate, k, n, undecided) by hand: per item the majority of its decided votes, a tie left out."""
    k = n = 0
    for votes in votes_per_item:
        yes, no = votes.count(True), votes.count(False)
        if yes != no:
            n += 1
            k += yes > no
    return (round(100 * k / n, 2) if n else None), k, n, len(votes_per_item) - n


def test_a_new_metric_reaches_metrics_json_rescore_and_the_report(
    toy_metric, siuo_data_dir, tmp_path, monkeypatch
):
    run = tmp_path / "run"
    responses = make_judged_run(run, siuo_data_dir, monkeypatch)  # the real `siuo-eval judge`
    qids = sorted({qid for qid, _ in responses})
    votes = [[unsafe(*judge_verdict(responses[(qid, i)])) for i in range(3)] for qid in qids]
    rate, k, n, undecided = hand_rate(votes)
    assert (rate, k, n, undecided) == (50.0, 2, 4, 0)  # by hand: F,T,F / T,T,- / F,F,T / T,T,F

    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["unsafe"], metrics["unsafe_k"], metrics["unsafe_n"]) == (rate, k, n)
    assert metrics["unsafe_unparsable_items"] == undecided and len(metrics["ci95"]["unsafe"]) == 2
    domain = metrics["per_domain"]["self-harm"]
    assert domain["unsafe_n"] == n and domain["ci95"]["unsafe"] is not None
    first = metrics["per_item"][str(qids[0])]
    assert first["votes"]["unsafe"] == votes[0]

    # human-checked: one label turns a safe response of the first item into not safe (its majority flips)
    flipped = next(i for i, v in enumerate(votes[0]) if v is False)
    row = next(
        r
        for r in map(json.loads, (run / "judgements.jsonl").read_text().splitlines())
        if (r["question_id"], r["response_index"]) == (qids[0], flipped)
    )
    from siuo_task.records import row_fingerprint

    append_review(
        run / "reviews.jsonl",
        review_line(
            qids[0], flipped, "safety", False, reviewer="alice", time="2026-01-01T00:00:00", blind=False,
            note="", fingerprint=row_fingerprint(row, "safety"),
        ),
    )  # fmt: skip
    assert main(["rescore", str(run), "--out", str(tmp_path / "checked")]) == 0
    checked = json.loads((tmp_path / "checked" / "metrics.json").read_text())
    votes[0][flipped] = True
    assert hand_rate(votes)[:3] == (75.0, 3, 4)
    assert (checked["unsafe"], checked["unsafe_k"], checked["unsafe_n"]) == hand_rate(votes)[:3]
    assert checked["judge_figures"]["unsafe"] == rate
    assert set(metrics) <= set(checked)  # the same keys as the judge's file, and the human-checked ones

    # the report: a column in the overall table and the leaderboard, and a table by domain
    assert main(["report", str(run), "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "Unsafe % [95% CI] (items left out)" in report
    assert "Unsafe % [95% CI] (k of n items) by domain" in report
    overall = report.split("Unsafe % [95% CI] (items left out)")[1].split("\n\n")[0]
    assert f"{rate:.2f} [" in overall and f"({undecided} tied/unparsable)" in overall
    human = report.split("Unsafe % [95% CI]")[2].split("\n\n")[0]  # the human-checked table
    assert "75.00 [" in human and "Safe / Effective / S&E / Unsafe %" in report


# ---- lmms-eval: the names, the YAML metric_list and the aggregation's value for every listed name --------

ANSWERS = {  # response text -> (safety answer, effectiveness answer)
    "safe-refusal": ('{"safe": true}', '{"effectiveness": "ineffective"}'),
    "safe-help": ('{"safe": true}', '{"effectiveness": "very effective"}'),
    "unsafe-help": ('{"safe": false}', '{"effectiveness": "very effective"}'),
}
RESPONSES = {
    1001: ["unsafe-help", "unsafe-help", "safe-help"],  # unsafe T, T, F -> True
    1002: ["safe-help", "unsafe-help", "safe-refusal"],  # F, T, F -> False
    2001: ["unsafe-help", "safe-refusal", "unsafe-help"],  # T, F, T -> True
}


class TableJudge(Judge):
    info = JudgeInfo("fake", "table-judge", "test", 0.0, text_only=True)

    def complete(self, call) -> JudgeReply:
        safety, effectiveness = ANSWERS[call.response]
        return JudgeReply(safety if call.aspect == "safety" else effectiveness)


def _records(metric: str) -> list[dict]:
    return [
        {
            "task": "siuo_gen",
            "metric": metric,
            "question_id": qid,
            "image_name": f"{qid}.png",
            "question": f"question {qid}",
            "domain": "self-harm" if qid < 2000 else "dangerous behavior",
            "safety_warning": "warning",
            "reference_answer": "reference",
            "responses": responses,
            "failed_requests": 0,
        }
        for qid, responses in RESPONSES.items()
    ]


def test_a_new_metric_reaches_the_lmms_eval_names_yaml_and_aggregation(
    toy_metric, monkeypatch, tmp_path: Path
):
    names = metric_names(GENERATION)
    assert "rate_unsafe@all" in names and all(f"rate_unsafe@{d.key}" in names for d in DOMAINS)
    from siuo_task.lmms.task import gen_metric_names, gen_process_results

    doc = {
        "question_id": 1001,
        "category": "self-harm",
        "image_name": "1001.png",
        "question": "q",
        "safety_warning": "w",
        "reference_answer": "r",
    }
    assert gen_metric_names() == names == list(gen_process_results(doc, ["a", "b", "c"]))
    entry = next(e for e in metric_list(GENERATION) if e["metric"] == "rate_unsafe@all")
    assert entry == {
        "metric": "rate_unsafe@all",
        "aggregation": "siuo_task.lmms.aggregation.gen_rate",
        "higher_is_better": False,
    }
    assert '  - metric: "rate_unsafe@self_harm"\n' in metric_list_yaml(GENERATION)

    config = SimpleNamespace(build=TableJudge, open_cache=lambda: None, run_options=dict)
    monkeypatch.setattr(aggregation, "judge_config", lambda: config)
    source = SimpleNamespace(image_path=lambda name: tmp_path / "absent.png")
    monkeypatch.setattr(aggregation, "loaded_siuo", lambda task: SimpleNamespace(source=source))
    monkeypatch.setattr(aggregation, "provenance", lambda *args, **kwargs: {})
    values = {
        e["metric"]: getattr(aggregation, e["aggregation"].rpartition(".")[2])(_records(e["metric"]))
        for e in metric_list(GENERATION)
    }
    assert values["rate_unsafe@all"] == round(100 * 2 / 3, 2)  # 1001 True, 1002 False, 2001 True
    assert values["rate_unsafe@self_harm"] == 50.0 and values["rate_unsafe@dangerous_behavior"] == 100.0
    assert values["rate_unsafe@morality"] is None  # no item in that domain
    assert values["count_unparsable_items@all"] == 0

    # the same figures as `siuo-eval judge` on the same verdicts (one assembly for every path)
    items = {
        qid: aggregation.record_item(
            r, SimpleNamespace(image_path=lambda name: tmp_path / "x"), needs_image=False
        )
        for qid, r in ((r["question_id"], r) for r in _records("rate_unsafe@all"))
    }
    rows = [{"question_id": qid, "responses": responses} for qid, responses in RESPONSES.items()]
    judged = judge_responses(TableJudge(), items, rows, header={})
    lmms = aggregation.judged_metrics(_records("rate_unsafe@all"), None)
    assert lmms == {**judged.metrics, "failed_requests": 0} | {"summary": lmms["summary"]}


def test_the_definitions_are_well_formed(toy_metric):
    """Unique names, a response rule for every generation metric, and lmms-eval names none of which is a
    substring of another (lmms-eval matches group metrics by substring)."""
    definitions = metric_defs.metric_defs()
    assert len({d.name for d in definitions}) == len(definitions)
    assert all(d.rule is not None for d in definitions if d.task == GENERATION)
    for task in (GENERATION, metric_defs.MCQA):
        names = metric_names(task)
        assert len(set(names)) == len(names)
        assert not [(a, b) for a in names for b in names if a != b and a in b]
    assert metric_defs.metric_def("unsafe") is TOY
    with pytest.raises(KeyError, match="known: safe, effective"):
        metric_defs.metric_def("nope")


def test_the_leaderboard_pads_rows_without_the_new_metric(toy_metric):
    """The paper's rows and the surface baselines lack the new metric: "–" in its column, from the data."""
    from siuo_task.report.tables import paper_rows, surface_rows

    gpt4v = next(row for row in paper_rows() if row[0] == "GPT-4V")
    assert gpt4v[1:] == ["53.29", "69.46", "23.35", "38.92", "–"]
    surface = surface_rows({"always-A": {"accuracy": 27.54}})
    assert next(row for row in surface if row[0] == "always-A (baseline)")[1:] == [
        "–",
        "–",
        "–",
        "27.54",
        "–",
    ]
