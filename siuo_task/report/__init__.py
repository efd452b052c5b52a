"""The SIUO report: run folders -> report.md + a self-contained report.html (+ plots as PNG and SVG).

``runs`` finds and reads the runs, ``tables`` turns them into blocks of rows, ``render`` writes the blocks as
Markdown and HTML (one function per block kind), ``plots`` draws the charts; ``write_report`` puts them
together and replaces the report folder whole or not at all.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_task.report.plots import plot_files
from siuo_task.report.render import render_html, render_markdown
from siuo_task.report.tables import PAPER_ROWS, sections
from siuo_task.runs import Found, RunResult, merge_runs, read_run, read_runs

__all__ = ["Found", "ReportWriteError", "RunResult", "merge_runs", "read_run", "read_runs", "write_report"]


class ReportWriteError(SiuoError):
    """A report file could not be written (disk full, no permission); the message names the file."""


def write_report(
    runs: list[RunResult],
    out: str | Path,
    *,
    validation: dict | None = None,
    placeholder_images: bool = False,
    questions: dict[int, str] | None = None,
    baselines: dict | None = None,
    all_pairs: bool = False,
) -> Path:
    """Write report.md, the plots (plot_KEY.png at 200 dpi and plot_KEY.svg) and a self-contained
    report.html into the folder ``out``, replacing it whole or not at all: every file is written into a
    temporary folder beside it, which then takes its place, so a failure never leaves one report's
    report.md beside another's report.html. ``all_pairs``: paired differences for every pair of runs, not
    only those on the same items and judge."""
    out = Path(out)
    check_report_folder(out)
    blocks = sections(runs, validation, placeholder_images, questions, baselines, all_pairs)
    plots = {
        block.payload[0]: plot_files(runs, block.payload[0], block.payload[2], PAPER_ROWS)
        for block in blocks
        if block.kind == "plot"
    }
    files = {f"plot_{key}.{fmt}": data for key, formats in plots.items() for fmt, data in formats.items()}
    files["report.md"] = render_markdown(blocks).encode("utf-8")
    files["report.html"] = render_html(blocks, {key: f["png"] for key, f in plots.items()}).encode("utf-8")
    replace_folder(out, files)
    return out


def _is_report_file(name: str) -> bool:
    return name in ("report.md", "report.html") or (
        name.startswith("plot_") and name.endswith((".png", ".svg"))
    )


def check_report_folder(out: Path) -> None:
    """``out`` may be replaced whole: it does not exist yet, or it is an earlier report (only report files
    in it). Anything else in it would be lost, so it is refused before any work is done."""
    if not (out.exists() or out.is_symlink()):
        return
    if not out.is_dir():
        raise ReportWriteError(f"--out {out} is a file, not a folder: choose a folder for the report")
    others = sorted(path.name for path in out.iterdir() if not _is_report_file(path.name))
    if others:
        raise ReportWriteError(
            f"--out {out} holds other files than a report ({', '.join(others[:3])}"
            f"{', …' if len(others) > 3 else ''}); the report replaces its folder whole: choose an empty "
            "or new folder"
        )


def replace_folder(out: Path, files: dict[str, bytes]) -> None:
    """``out`` becomes a folder holding exactly ``files`` (name -> bytes), whole or not at all."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    except OSError as error:
        raise ReportWriteError(
            f"could not write the report folder {out}: {error.strerror or error}"
        ) from None
    try:
        staging.chmod(0o755)
        for name, data in files.items():
            path = staging / name
            try:
                path.write_bytes(data)
            except OSError as error:
                raise ReportWriteError(
                    f"could not write {out / name} ({error.strerror or error}): the report folder {out} "
                    "was left as it was"
                ) from None
        try:
            if out.exists() or out.is_symlink():
                old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
                old.rmdir()
                out.rename(old)
                staging.rename(out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                staging.rename(out)
        except OSError as error:
            raise ReportWriteError(
                f"could not put the report folder {out} in place ({error.strerror or error})"
            ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
