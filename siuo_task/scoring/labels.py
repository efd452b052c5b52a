"""``RUN_DIR/reviews.jsonl``: one appended line per human label, never rewritten.

A line is ``{"question_id": 1001, "response_index": 0, "aspect": "safety" | "effectiveness",
"verdict": true | false, "reviewer": "...", "time": "...", "note": "...", "blind": true | false,
"fingerprint": "...", "judge_seen": {...}}`` (``judge_seen`` on non-blind labels only: the judge's verdict the
reviewer was shown, kept as metadata, never used as the label). Lines are appended whole
(``siuo_task.files.append_jsonl_line``: one write under a lock shared by every writer). A reviewer's label
for (question_id, response_index, aspect) is their last line in arrival (line) order; ``time`` is
informational (validated, never used to order), so files of several reviewers, or copies of one, can simply
be concatenated. The ``fingerprint`` ties a label to what it judged
(``siuo_task.records.label_fingerprint``: the item, the response text and the aspect's rubric version, not the
judge), so labels stay usable on the same responses re-judged by another judge; ``usable_labels`` keeps the
labels about the responses at hand, and reads the older fingerprints (which held the judge config) too.
The human verdict is the majority of the reviewers' labels; a tie is *disputed* (no human verdict). The files
are read by ``siuo_task.readers.read_reviews``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_task.files import JUDGEMENTS_FILE, append_jsonl_line
from siuo_task.protocol.calibration import calibration_sample
from siuo_task.protocol.figures import majority
from siuo_task.protocol.judge_prompts import VERDICT_FIELD
from siuo_task.readers import read_judgements, review_problem
from siuo_task.records import (
    CALIBRATION_FIELD,
    FINGERPRINT_FIELD,
    JUDGE_SEEN_FIELD,
    label_fingerprint,
    legacy_label_fingerprint,
    row_fingerprint,
)
from siuo_task.redact import safe_text

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
    fingerprint: str | None = None,
    calibration: dict | None = None,
    judge_seen: dict | None = None,
) -> dict:
    """One reviews.jsonl line (checked); ``fingerprint``: ``row_fingerprint`` of the row labelled;
    ``calibration``: the calibration sample it is given in ({"seed", "sample"}); ``judge_seen`` (non-blind
    labels only): the judge's verdict shown to the reviewer and whose it was."""
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
    if fingerprint is not None:
        row[FINGERPRINT_FIELD] = fingerprint
    if calibration is not None:
        row[CALIBRATION_FIELD] = {"seed": calibration["seed"], "sample": list(calibration["sample"])}
    if judge_seen is not None and not blind:
        row[JUDGE_SEEN_FIELD] = judge_seen
    problem = review_problem(row)
    if problem:
        raise ReviewsError(f"not a review label: {problem}")
    return row


def judge_seen(row: dict, aspect: str) -> dict:
    """What a non-blind reviewer was shown of the judge on ``aspect`` of judgement ``row``: its verdict, its
    status and the judge (model, prompt version)."""
    field = VERDICT_FIELD[aspect]
    judge = row.get("judge") or {}
    return {
        "verdict": row.get(field),
        "status": row.get(f"{aspect}_status"),
        "model": judge.get("model"),
        "prompt_version": judge.get("prompt_version"),
    }


def append_review(path: str | Path, row: dict) -> None:
    """Append one label line whole and fsync it (``append_jsonl_line``): a label is on disk before the page
    is told it was saved, and two servers on one file never interleave."""
    append_jsonl_line(path, row)


def latest_labels(rows: Iterable[dict]) -> dict[tuple[int, int, str, str], dict]:
    """(question_id, response_index, aspect, reviewer) -> that reviewer's last line (arrival order)."""
    return {(row["question_id"], row["response_index"], row["aspect"], row["reviewer"]): row for row in rows}


ACCEPT_FLAG = "--accept-unfingerprinted-labels"


def judges_beside(path: str | Path) -> list[object]:
    """The judge configs of the judgements beside a reviews file (its run's ``judgements.jsonl`` or
    ``*siuo_gen.rows.jsonl``), to read the older fingerprints, which hashed them; none if there are none."""
    folder = Path(path).parent
    files = [folder / JUDGEMENTS_FILE, *sorted(folder.glob("*siuo_gen.rows.jsonl"))]
    judges: list[object] = []
    for judgements in files:
        if judgements.is_file():
            for row in read_judgements(judgements):
                if row.get("judge") not in judges:
                    judges.append(row.get("judge"))
    return judges


def usable_labels(
    judgements: Sequence[dict],
    reviews: Sequence[dict],
    source: str,
    *,
    accept_unfingerprinted: bool = False,
    legacy_judges: Sequence[object] = (),
    say: Callable[[str], None] | None = None,
) -> list[dict]:
    """The labels of ``reviews`` whose fingerprint matches a response of ``judgements`` (the item, the
    response text, the aspect: ``row_fingerprint``), whoever judged it; the others (another run's responses,
    another response text) are foreign: left out and counted in one line on stderr (``say``). An older
    fingerprint (it held the judge config: ``legacy_label_fingerprint``, checked against the judgements' own
    judge and ``legacy_judges``, those of the labels' run) is matched too, re-fingerprinted in memory and
    said in one line. Labels without a fingerprint (hand-written) are refused unless
    ``accept_unfingerprinted`` (then used by question id and response index)."""
    say = say or (lambda message: print(message, file=sys.stderr))
    rows = {(row["question_id"], row["response_index"]): row for row in judgements}
    kept, foreign, bare, refreshed = [], 0, 0, 0
    for label in reviews:
        given = label.get(FINGERPRINT_FIELD)
        row = rows.get((label["question_id"], label["response_index"]))
        if given is None:
            bare += 1
            if accept_unfingerprinted and row is not None:
                kept.append(label)
            elif accept_unfingerprinted:
                foreign += 1
        elif row is not None and given in (
            row_fingerprint(row, label["aspect"]),  # the item's digest where the row records one
            label_fingerprint(
                row["question_id"], row["response"], label["aspect"]
            ),  # a label given without it
        ):
            kept.append(label)
        elif row is not None and given in {
            legacy_label_fingerprint(row["question_id"], row["response"], judge)
            for judge in (row.get("judge"), *legacy_judges)
        }:
            kept.append({**label, FINGERPRINT_FIELD: row_fingerprint(row, label["aspect"])})
            refreshed += 1
        else:
            foreign += 1
    if bare and not accept_unfingerprinted:
        raise ReviewsError(
            f"{safe_text(source)}: {bare} labels without a fingerprint (hand-written, or from an older "
            f"siuo-eval): nothing ties them to this run's responses; add {ACCEPT_FLAG} to use them anyway"
        )
    if refreshed:
        say(
            f"note: {safe_text(source)}: {refreshed} labels carry the older fingerprint (it held the judge "
            "config); matched to their responses and re-fingerprinted in memory (the file is unchanged)"
        )
    if foreign:
        say(
            f"warning: {safe_text(source)}: {foreign} of {len(reviews)} labels are foreign to this run "
            "(another run's responses, or another response text): ignored"
        )
    return kept


def human_verdicts(rows: Iterable[dict], *, blind: bool | None = None) -> dict[Key, HumanVerdict]:
    """(question_id, response_index, aspect) -> the reviewers' labels; ``blind`` keeps only labels whose
    latest line was (True) or was not (False) given blind."""
    grouped: dict[Key, dict[str, bool]] = {}
    for (qid, index, aspect, reviewer), row in sorted(latest_labels(rows).items()):
        if blind is None or row["blind"] == blind:
            grouped.setdefault((qid, index, aspect), {})[reviewer] = row["verdict"]
    return {key: HumanVerdict(labels) for key, labels in grouped.items()}


@dataclass(frozen=True)
class CalibrationLabels:
    """The labels usable for calibration: given blind in one calibration sample of this run's items."""

    seed: int
    sample: list[int]  # the question ids drawn, in draw order
    labels: list[dict]


CALIBRATION_HOW = "siuo-eval review RUN_DIR --calibration-sample N --seed S"


def calibration_labels(
    judgements: Sequence[dict], reviews: Sequence[dict], source: str, say: Callable[[str], None] | None = None
) -> CalibrationLabels | None:
    """The labels of ``reviews`` (already this run's) that may calibrate the judge: given in a calibration
    sample whose items are the draw ``calibration_sample`` makes with its seed on this run's items, blind,
    about an item of the sample. Every other label is refused for calibration (still used for agreement),
    in one line (``say``); with several samples, the one with the most labels is used."""
    say = say or (lambda message: print(message, file=sys.stderr))
    population = sorted({row["question_id"] for row in judgements})
    samples: dict[tuple[int, tuple[int, ...]], list[dict]] = {}
    outside = not_drawn = seen = 0
    for row in reviews:
        mark = row.get(CALIBRATION_FIELD)
        if mark is None:
            outside += 1
            continue
        key = (mark["seed"], tuple(mark["sample"]))
        if key not in samples:
            drawn = len(key[1]) <= len(population)
            if not drawn or calibration_sample(population, len(key[1]), key[0]) != list(key[1]):
                not_drawn += 1
                continue
            samples[key] = []
        if row["blind"] and row["question_id"] in key[1]:
            samples[key].append(row)
        else:
            seen += 1
    chosen = max(samples, key=lambda k: len(samples[k]), default=None)
    others = sum(len(rows) for key, rows in samples.items() if key != chosen)
    reasons = [
        (outside, f"not from a calibration sample ({CALIBRATION_HOW})"),
        (not_drawn, "marked with a sample that is not the draw its seed gives on this run's items"),
        (seen, "given seeing the judge's verdict, or about an item outside their sample"),
        (others, f"from another calibration sample than seed {chosen[0] if chosen else ''}"),
    ]
    refused = [f"{count} {why}" for count, why in reasons if count]
    if refused:
        total = sum(count for count, _ in reasons)
        say(
            f"calibration: {total} of {len(reviews)} labels in {safe_text(source)} refused for calibration "
            f"(still used for agreement): " + "; ".join(refused)
        )
    if chosen is None:
        return None
    return CalibrationLabels(chosen[0], list(chosen[1]), samples[chosen])
