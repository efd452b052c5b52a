"""The judged run folder a review is about: its per-response judgements, the judge's metrics, its labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_task.report.runs import read_run
from siuo_task.responses import read_reviews
from siuo_task.review.store import REVIEWS_FILE


@dataclass(frozen=True)
class JudgedRun:
    """A ``siuo-eval judge`` output or a ``siuo-eval`` (lmms-eval) run with its siuo_gen judgements."""

    folder: Path
    name: str  # the model's name (the run folder's, as in the report)
    judgements: list[dict]  # one row per response, as written by siuo_task.judging.judgement_rows
    metrics: dict  # the judge's generation metrics

    @property
    def reviews_path(self) -> Path:
        return self.folder / REVIEWS_FILE

    def reviews(self) -> list[dict]:
        return read_reviews(self.reviews_path)


def load_judged_run(folder: str | Path) -> JudgedRun:
    """The single judged generation run in ``folder``; one clear error if there is none."""
    folder = Path(folder)
    run = read_run(folder)
    if "siuo_gen" not in run.tasks or not run.gen_rows:
        raise SiuoError(
            f"{folder} holds no judged generation responses (judgements.jsonl or "
            "*siuo_gen.rows.jsonl): pass a `siuo-eval judge --out` folder or a siuo-eval run "
            "of the siuo task"
        )
    return JudgedRun(folder, run.name, run.gen_rows, run.tasks["siuo_gen"])
