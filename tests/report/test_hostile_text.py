"""#29 item 8: hostile text stays inert in report.html and in the plots, as it already does in Markdown and on
the terminal: ESC sequences and bidi controls from model and reviewer names are shown as escapes, and every
name in the HTML is isolated in <bdi>; matplotlib never prints a raw ESC."""

from __future__ import annotations

import warnings

from siuo_task.report import write_report
from siuo_task.report.plots import plot_png
from siuo_task.runs import RunResult
from tests.report.test_report import gen_metrics

HOSTILE_NAME = "model\x1b[2J\x1b]8;;http://evil.example\x07click\x1b]8;;\x07\u202eevil\u2066x\x9b31m"
RAW = ("\x1b", "\u202e", "\u2066", "\x07", "\x9b")


def _runs() -> list[RunResult]:
    metrics = gen_metrics(60.0, 70.0, 50.0)
    metrics["judge"]["model"] = "judge\u202e\x1b[31m"
    return [
        RunResult(HOSTILE_NAME, {"siuo_gen": metrics}),
        RunResult("plain", {"siuo_gen": gen_metrics(1, 2, 3)}),
    ]


def test_report_html_neutralises_control_and_bidi_characters(tmp_path):
    out = write_report(_runs(), tmp_path / "report")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert not [char for char in RAW if char in page]
    assert "<bdi>model\\x1b[2J" in page  # shown, inert and isolated
    assert "\\u202eevil" in page
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert not [char for char in RAW if char in markdown]


def test_plot_labels_never_carry_a_raw_escape(capfd):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = plot_png(_runs(), "safe", "Safe\x1b[31m rate")
    assert png.startswith(b"\x89PNG")
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if any(char in m for char in RAW)], messages
    err = capfd.readouterr().err
    assert not [char for char in RAW if char in err]
