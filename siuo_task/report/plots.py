"""Plots of the report, at print resolution: a grouped bar chart of one metric by domain, and the overall
figures of our models beside the paper's leaderboard rows. Each is drawn once and saved as a 200-dpi PNG (for
the page) and an SVG (vector, for a paper); bars carry their 95% intervals where the metrics hold them.
matplotlib's Agg backend, no window. Every label is ``safe_text`` (a raw ESC or bidi control in a model name
would be drawn as a missing glyph and printed raw in matplotlib's warning)."""

from __future__ import annotations

import io
import math

from siuo_dataset.domains import DOMAIN_NAMES
from siuo_task.protocol.metric_defs import Figure, MetricDef, metric_def, metric_defs
from siuo_task.redact import safe_text
from siuo_task.runs import RunResult

DPI = 200  # print resolution of the PNG
FONT_SIZE = 10  # points: every label, tick and legend entry is at least this (readable in print at 9 pt)
FORMATS = ("png", "svg")
OVERALL = "overall"  # the plot key of the overall chart
PAPER_COLOR = "#9e9e9e"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": FONT_SIZE, "svg.fonttype": "none", "svg.hashsalt": "siuo"})
    return plt


def _error(figure: Figure | None) -> tuple[float, float] | None:
    """(below, above) the rate: the 95% interval as error-bar lengths, or None without one."""
    if figure is None or figure.rate is None or not isinstance(figure.interval, (list, tuple)):
        return None
    if len(figure.interval) != 2 or not all(
        isinstance(v, (int, float)) and math.isfinite(v) for v in figure.interval
    ):
        return None
    low, high = figure.interval
    return max(figure.rate - low, 0.0), max(high - figure.rate, 0.0)


def _bars(axis, positions, values, errors, width, **style) -> None:
    """Bars at ``positions`` with their 95% intervals where known (None: no bar / no error bar)."""
    drawn = [(x, v, e) for x, v, e in zip(positions, values, errors) if v is not None]
    if not drawn:
        return
    axis.bar([x for x, _, _ in drawn], [v for _, v, _ in drawn], width, **style)
    with_error = [(x, v, e) for x, v, e in drawn if e is not None]
    if with_error:
        axis.errorbar(
            [x for x, _, _ in with_error],
            [v for _, v, _ in with_error],
            yerr=[[e[0] for _, _, e in with_error], [e[1] for _, _, e in with_error]],
            fmt="none",
            ecolor="#222222",
            elinewidth=0.8,
            capsize=2,
        )


def _finish(figure, axis, title: str, marks, ylabel: str) -> dict[str, bytes]:
    axis.set_ylabel(safe_text(ylabel))
    axis.set_ylim(0, 105)
    axis.set_title(safe_text(title))
    if marks:  # a plot is copied out alone: its warning goes with it, inside the image
        figure.text(
            0.01, 0.005, safe_text("; ".join(marks)), color="#b00000", fontsize=FONT_SIZE, va="bottom"
        )
    axis.legend(fontsize=FONT_SIZE, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    figure.tight_layout(rect=(0, 0.04 if marks else 0, 1, 1))
    files = {}
    for fmt in FORMATS:
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, dpi=DPI, metadata={"Date": None} if fmt == "svg" else None)
        files[fmt] = buffer.getvalue()
    return files


def domain_plot(runs: list[RunResult], metric: MetricDef, marks=()) -> dict[str, bytes]:
    """``metric`` by domain, one bar per model with its per-domain (Wilson) 95% interval."""
    plt = _pyplot()
    task = metric.task_def.lmms_task
    runs = [run for run in runs if task in run.tasks]
    figure, axis = plt.subplots(figsize=(9, 4.2))
    width = 0.8 / max(len(runs), 1)
    for index, run in enumerate(runs):
        per_domain = run.tasks[task].get("per_domain") or {}
        figures = [Figure.of(per_domain.get(name), metric) for name in DOMAIN_NAMES]
        _bars(
            axis,
            [i + index * width for i in range(len(DOMAIN_NAMES))],
            [f.rate if f is not None else None for f in figures],
            [_error(f) for f in figures],
            width,
            label=safe_text(run.name),
        )
    axis.set_xticks([i + 0.4 - width / 2 for i in range(len(DOMAIN_NAMES))])
    axis.set_xticklabels(DOMAIN_NAMES, rotation=25, ha="right")
    return _finish(figure, axis, f"{metric.label} by domain (95% CI)", marks, f"{metric.label} (%)")


def overall_plot(runs: list[RunResult], paper_rows, marks=()) -> dict[str, bytes]:
    """Every metric: our models (with their 95% intervals) beside the paper's leaderboard rows (grey,
    hatched: human-evaluated, no interval published)."""
    plt = _pyplot()
    metrics = list(metric_defs())
    series = [
        (
            safe_text(run.name),
            [Figure.of(run.tasks.get(m.task_def.lmms_task), m) for m in metrics],
            {},
        )
        for run in runs
    ]
    shades = ["#4d4d4d", "#7a7a7a", "#a6a6a6", "#c8c8c8", "#e0e0e0"]
    for index, (name, figures) in enumerate(paper_rows):
        rows = [Figure(figures.get(m.name), None, None, None, None) for m in metrics]
        series.append(
            (
                f"{name} (paper)",
                rows,
                {"color": shades[index % len(shades)], "hatch": "//", "edgecolor": "white"},
            )
        )
    figure, axis = plt.subplots(figsize=(9, 4.2))
    width = 0.85 / max(len(series), 1)
    for index, (name, figures, style) in enumerate(series):
        _bars(
            axis,
            [i + index * width for i in range(len(metrics))],
            [f.rate if f is not None else None for f in figures],
            [_error(f) for f in figures],
            width,
            label=name,
            **style,
        )
    axis.set_xticks([i + 0.425 - width / 2 for i in range(len(metrics))])
    axis.set_xticklabels([m.label for m in metrics])
    return _finish(
        figure,
        axis,
        "Ours (95% CI) beside the paper's leaderboard (grey, human-evaluated)",
        marks,
        "percent",
    )


def plot_files(runs: list[RunResult], key: str, marks=(), paper_rows=()) -> dict[str, bytes]:
    """The plot ``key`` (a metric name, or ``OVERALL``) as {"png": bytes, "svg": bytes}."""
    plt = _pyplot()
    try:
        if key == OVERALL:
            return overall_plot(runs, paper_rows, marks)
        return domain_plot(runs, metric_def(key), marks)
    finally:
        plt.close("all")


def plot_png(runs: list[RunResult], metric: str, label: str = "", marks=()) -> bytes:
    """A metric's by-domain chart as PNG bytes (``label`` is the metric's own)."""
    return plot_files(runs, metric, marks)["png"]
