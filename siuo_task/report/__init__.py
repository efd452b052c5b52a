"""The SIUO report: run folders -> report.md + a self-contained report.html (+ plot PNGs).

``runs`` finds and reads the runs, ``tables`` turns them into blocks of rows, ``render`` writes the blocks as
Markdown and HTML (one function per block kind), ``plots`` draws the per-domain charts; ``write_report``
puts them together.
"""

from __future__ import annotations

from pathlib import Path

from siuo_task.files import write_bytes_atomic
from siuo_task.report.plots import plot_png
from siuo_task.report.render import render_html, render_markdown
from siuo_task.report.tables import sections
from siuo_task.runs import Found, RunResult, merge_runs, read_run, read_runs

__all__ = ["Found", "RunResult", "merge_runs", "read_run", "read_runs", "write_report"]


def write_report(
    runs: list[RunResult],
    out: str | Path,
    *,
    validation: dict | None = None,
    placeholder_images: bool = False,
    questions: dict[int, str] | None = None,
    baselines: dict | None = None,
) -> Path:
    """Write report.md (+ plot PNGs) and a self-contained report.html into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    blocks = sections(runs, validation, placeholder_images, questions, baselines)
    plots = {block.payload[0]: plot_png(runs, *block.payload) for block in blocks if block.kind == "plot"}
    for key, png in plots.items():
        write_bytes_atomic(out / f"plot_{key}.png", png)
    write_bytes_atomic(out / "report.md", render_markdown(blocks).encode("utf-8"))
    write_bytes_atomic(out / "report.html", render_html(blocks, plots).encode("utf-8"))
    return out
