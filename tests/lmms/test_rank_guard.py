"""Aggregation on a rank other than 0 of a data-parallel run neither judges nor writes side files."""

from __future__ import annotations

from argparse import Namespace

from siuo_task.lmms import aggregation


def test_rank_1_neither_judges_nor_writes(monkeypatch, tmp_path):
    args = Namespace(output_path=str(tmp_path), model_args="pretrained=org/tiny")
    monkeypatch.setenv("RANK", "1")
    assert aggregation.judged_metrics([{"metric": "rate_safe@all", "task": "siuo_gen"}], args) == (
        aggregation.NOT_RANK_0
    )
    assert aggregation.mcqa_scored([{"metric": "mcqa_accuracy@all", "task": "siuo_mcqa"}], args) == (
        aggregation.NOT_RANK_0
    )
    aggregation.write_side_files(args, "siuo_mcqa", {"accuracy": 1.0}, [{"question_id": 1}])
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv("RANK", "0")
    aggregation.write_side_files(args, "siuo_mcqa", {"accuracy": 1.0}, [{"question_id": 1}])
    assert [p.name.split("_", 2)[2] for p in sorted((tmp_path / "org__tiny").iterdir())] == [
        "siuo_mcqa.metrics.json",
        "siuo_mcqa.rows.jsonl",
    ]
