"""``RUN_DIR/reviews.jsonl``: one appended line per human label, never rewritten.

A line is ``{"question_id": 1001, "response_index": 0, "aspect": "safety" | "effectiveness",
"verdict": true | false, "reviewer": "...", "time": "...", "note": "...", "blind": true | false}``.
A reviewer's label for (question_id, response_index, aspect) is their latest line (by ``time``; the later
line wins a tie), so files of several reviewers, or copies of one, can simply be concatenated. The human
verdict is the majority of the reviewers' labels; a tie is *disputed* (no human verdict). The files are read
by ``siuo_task.readers.read_reviews``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import jsonlines

from siuo_dataset.errors import SiuoError
from siuo_task.readers import review_problem
from siuo_task.scoring.metrics import majority

Key = tuple[int, int, str]  # (question_id, response_index, aspect)


class ReviewsError(SiuoError):
    """A reviews file is malformed; the message names the file and line."""


@dataclass(frozen=True)
class HumanVerdict:
    """The reviewers' labels on one response aspect and their majority (None = disputed: a tie)."""

    labels: dict[str, bool]  # reviewer -> verdict

    @property
    def verdict(self) -> bool | None:
        return majority(self.labels.values())

    @property
    def disputed(self) -> bool:
        return self.verdict is None


def now() -> str:
    """UTC time with microseconds, ISO 8601: sorts as text in time order."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def review_line(
    question_id: int,
    response_index: int,
    aspect: str,
    verdict: bool,
    *,
    reviewer: str,
    note: str = "",
    blind: bool = False,
    time: str | None = None,
) -> dict:
    """One reviews.jsonl line (checked)."""
    row = {
        "question_id": question_id,
        "response_index": response_index,
        "aspect": aspect,
        "verdict": verdict,
        "reviewer": reviewer,
        "time": time or now(),
        "note": note,
        "blind": blind,
    }
    problem = review_problem(row)
    if problem:
        raise ReviewsError(f"not a review label: {problem}")
    return row


def append_review(path: str | Path, row: dict) -> None:
    """Append one line and fsync it: a label is on disk before the page is told it was saved."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        with jsonlines.Writer(handle, compact=True) as writer:
            writer.write(row)
        handle.flush()
        os.fsync(handle.fileno())


def latest_labels(rows: Iterable[dict]) -> dict[tuple[int, int, str, str], dict]:
    """(question_id, response_index, aspect, reviewer) -> that reviewer's latest line."""
    latest: dict[tuple[int, int, str, str], tuple[str, int, dict]] = {}
    for position, row in enumerate(rows):
        key = (row["question_id"], row["response_index"], row["aspect"], row["reviewer"])
        if key not in latest or (row["time"], position) >= latest[key][:2]:
            latest[key] = (row["time"], position, row)
    return {key: value[2] for key, value in latest.items()}


def human_verdicts(rows: Iterable[dict], *, blind: bool | None = None) -> dict[Key, HumanVerdict]:
    """(question_id, response_index, aspect) -> the reviewers' labels; ``blind`` keeps only labels whose
    latest line was (True) or was not (False) given blind."""
    grouped: dict[Key, dict[str, bool]] = {}
    for (qid, index, aspect, reviewer), row in sorted(latest_labels(rows).items()):
        if blind is None or row["blind"] == blind:
            grouped.setdefault((qid, index, aspect), {})[reviewer] = row["verdict"]
    return {key: HumanVerdict(labels) for key, labels in grouped.items()}
