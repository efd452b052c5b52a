"""The side files' stamp uses lmms-eval's clock: its ``--timezone`` (default Asia/Singapore), as its results
and samples files do, not the local time, so a run's files sort together."""

from __future__ import annotations

import ast
import datetime
import importlib.util
from argparse import Namespace
from pathlib import Path
from zoneinfo import ZoneInfo

from siuo_task.lmms import aggregation


def stamp_time(stamp: str, zone: str) -> datetime.datetime:
    return datetime.datetime.strptime(stamp, "%Y%m%d_%H%M%S").replace(tzinfo=ZoneInfo(zone))


def lmms_eval_cli_default_timezone() -> str:
    """The default of lmms-eval's ``--timezone``, read from its CLI source (importing it takes seconds)."""
    main = Path(importlib.util.find_spec("lmms_eval").origin).with_name("__main__.py")
    for node in ast.walk(ast.parse(main.read_text())):
        if isinstance(node, ast.Call) and any(
            isinstance(a, ast.Constant) and a.value == "--timezone" for a in node.args
        ):
            return next(k.value.value for k in node.keywords if k.arg == "default")
    raise AssertionError("lmms-eval has no --timezone flag")


def test_the_default_zone_is_lmms_evals():
    assert aggregation.LMMS_EVAL_TIMEZONE == lmms_eval_cli_default_timezone()
    assert aggregation.lmms_eval_timezone(Namespace(output_path="x")) == aggregation.LMMS_EVAL_TIMEZONE
    assert aggregation.lmms_eval_timezone(Namespace(timezone="America/New_York")) == "America/New_York"


def test_the_stamp_is_now_in_that_zone_not_local_time():
    aggregation.run_stamp.cache_clear()  # one stamp per process: not one an earlier test took minutes ago
    for zone in ("Asia/Singapore", "Pacific/Kiritimati", "America/Los_Angeles"):  # UTC+8, UTC+14, UTC-8/-7
        stamp = aggregation.run_stamp(zone)
        now = datetime.datetime.now(datetime.timezone.utc)
        assert abs((now - stamp_time(stamp, zone)).total_seconds()) < 600, (zone, stamp)
    assert aggregation.run_stamp("Pacific/Kiritimati") != aggregation.run_stamp("America/Los_Angeles")


def test_side_files_carry_the_stamp_of_the_runs_timezone(monkeypatch, tmp_path):
    monkeypatch.setenv("RANK", "0")
    args = Namespace(output_path=str(tmp_path), model_args="model=org/tiny", timezone="Pacific/Kiritimati")
    aggregation.write_side_files(args, "siuo_mcqa", {"accuracy": 1.0}, [{"question_id": 1}])
    stamp = aggregation.run_stamp("Pacific/Kiritimati")
    assert sorted(p.name for p in (tmp_path / "org__tiny").iterdir()) == [
        f"{stamp}_siuo_mcqa.metrics.json",
        f"{stamp}_siuo_mcqa.rows.jsonl",
    ]
