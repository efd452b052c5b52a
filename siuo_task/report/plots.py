"""Plots of the report: a grouped bar chart of one metric by domain (PNG bytes, matplotlib's Agg backend)."""

from __future__ import annotations

import io

from siuo_dataset.domains import DOMAIN_NAMES
from siuo_task.redact import safe_text
from siuo_task.runs import RunResult, task_for


def plot_png(runs: list[RunResult], metric: str, label: str, marks: list[str] = ()) -> bytes:
    """A grouped bar chart of ``metric`` by domain, one bar per model (PNG bytes); missing values are not
    drawn. Every label is ``safe_text`` (a raw ESC or bidi control in a model name would be drawn as a missing
    glyph and printed raw in matplotlib's warning).
    ``marks`` (APPROXIMATE, PLACEHOLDER IMAGES) are printed under the title, so a copied plot keeps them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    task = task_for(metric)
    runs = [run for run in runs if task in run.tasks]
    figure, axis = plt.subplots(figsize=(10, 4.2), dpi=90)
    width = 0.8 / max(len(runs), 1)
    for index, run in enumerate(runs):
        per_domain = run.tasks[task].get("per_domain", {})
        points = [(i, per_domain.get(name, {}).get(metric)) for i, name in enumerate(DOMAIN_NAMES)]
        points = [(i, value) for i, value in points if value is not None]
        axis.bar(
            [i + index * width for i, _ in points],
            [value for _, value in points],
            width,
            label=safe_text(run.name),
        )
    axis.set_xticks([i + 0.4 - width / 2 for i in range(len(DOMAIN_NAMES))])
    axis.set_xticklabels(DOMAIN_NAMES, fontsize=8, rotation=25, ha="right")
    axis.set_ylabel(safe_text(f"{label} (%)"))
    axis.set_ylim(0, 105)
    axis.set_title(
        safe_text(f"{label} by domain") + "".join(f"\n{safe_text(mark)}" for mark in marks),
        **({"color": "#b00000"} if marks else {}),
    )
    axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()
