"""The shapes of what the tools read and write: input rows, review lines, judgement rows, provenance.

Bottom layer: plain ``TypedDict``s (the files are JSON; these name their fields once), the judge's
identity (``JudgeInfo``), and nothing that does I/O. ``siuo_task.readers`` reads the input
rows; ``siuo_task.provenance`` builds the header every result file carries.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import NotRequired, TypedDict


@dataclass(frozen=True)
class JudgeInfo:
    """Everything that determines a judge's answers; recorded in every result."""

    backend: str  # "openai" | "offline" | ...
    model: str
    prompt_version: str
    temperature: float
    text_only: bool
    approximate: bool = False  # True for judges not validated to match a strong LLM judge

    def as_dict(self) -> dict:
        return asdict(self)


# ---- inputs ----------------------------------------------------------------------------------------------


class ResponsesRow(TypedDict):
    """One line of a generation responses file (or one siuo_gen sample of an lmms-eval log)."""

    question_id: int
    responses: list[str]


class AnswerRow(TypedDict):
    """One line of an MCQA answers file."""

    question_id: int
    response: str


class ReviewLine(TypedDict):
    """One human label in a run's reviews.jsonl (``siuo-eval review``)."""

    question_id: int
    response_index: int
    aspect: str  # "safety" | "effectiveness"
    verdict: bool
    reviewer: str
    time: str  # ISO 8601 UTC
    note: str
    blind: bool  # given with the judge's verdict hidden


REVIEW_FIELDS = tuple(ReviewLine.__annotations__)
FINGERPRINT_FIELD = (
    "fingerprint"  # optional in a reviews.jsonl line: what the label judged (label_fingerprint)
)


def label_fingerprint(question_id: int, response: str, judge: object) -> str:
    """What a human label judged: a hash of the question id, the response text and the run's judge config
    (the judgement row's ``judge`` block). A label is only used on a run whose row has the same."""
    blob = json.dumps([question_id, response, judge], sort_keys=True, ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def row_fingerprint(row: dict) -> str:
    """``label_fingerprint`` of a judgement row."""
    return label_fingerprint(row["question_id"], row["response"], row.get("judge"))


# ---- provenance ------------------------------------------------------------------------------------------


class JudgeBlock(TypedDict):
    """Everything that determines a judge's answers (``JudgeInfo.as_dict()``)."""

    backend: str
    model: str
    prompt_version: str
    temperature: float
    text_only: bool
    approximate: bool  # offline rule-based judge: figures are approximate


class DataBlock(TypedDict):
    """Where the SIUO data came from (``LoadedSiuo.provenance()`` plus the placeholder count)."""

    origin: str
    revision: str | None
    sha256: dict[str, str]
    annotations_verified: NotRequired[bool]  # both annotation files are the pinned release's (absent: older)
    n_items: int
    missing_images: int
    placeholder_images: int  # images looked at that were generated placeholders (0: real, or none seen)
    # when images were used: one digest over the (question id, image sha256) pairs; each image file's sha256
    # by question id; how many of them were compared with the pinned Hub release's digests
    images_sha256: NotRequired[str]
    image_sha256: NotRequired[dict[str, str]]
    images_checked_against_release: NotRequired[int]


class Provenance(TypedDict):
    """The header of every result file (``siuo_task.provenance.provenance``)."""

    siuo_version: str
    data: NotRequired[DataBlock]
    judge: NotRequired[JudgeBlock]


# ---- generation --------------------------------------------------------------------------------------------


class JudgementRow(TypedDict):
    """One judged response (judgements.jsonl, siuo_gen.rows.jsonl). A verdict is None when unparsable or
    failed, or not asked (a judge that does not answer that aspect); statuses are "ok", "unparsable", "error",
    "rule:empty" or "not-asked"; ``*_error`` only if the call failed."""

    question_id: int
    response_index: int
    category: str
    response: str
    safe: bool | None
    safety_raw: str | None
    safety_status: str
    safety_error: NotRequired[str]
    effective: bool | None
    effectiveness_raw: str | None
    effectiveness_status: str
    effectiveness_error: NotRequired[str]
    judge: JudgeBlock
