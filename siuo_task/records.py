"""The shapes of what the tools read and write: input rows, review lines, judgement rows, provenance.

Bottom layer: plain ``TypedDict``s (the files are JSON; these name their fields once), the judge's
identity (``JudgeInfo``), and nothing that does I/O. ``siuo_task.readers`` reads the input
rows; ``siuo_task.provenance`` builds the header every result file carries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import NotRequired, TypedDict

from siuo_dataset.items import SiuoItem
from siuo_task.protocol.judge_prompts import RUBRIC_VERSION

# What defines a judge (its identity): everything that can change its answer to the same request. The cache
# key, the identity digest and the report's "same judge?" test are all made of these fields.
IDENTITY_FIELDS = (
    "backend",
    "endpoint",
    "model",
    "prompt_version",
    "temperature",
    "text_only",
    "max_tokens",
    "options",
)


@dataclass(frozen=True)
class JudgeInfo:
    """Everything that determines a judge's answers; recorded in every result (the ``judge`` block of every
    judgement row and every ``metrics.json``, lmms-eval's task metadata, the report's judge table).

    The configured identity (``IDENTITY_FIELDS``): backend, endpoint (the base URL, credentials masked; None
    for a judge without one), the model as requested, prompt version, temperature, text-only, the answer's
    token limit and the backend's ``--judge-arg`` options. What the endpoint said about itself is added once
    it answered (``answered``): the model name its replies carry (``served_models``) and their
    ``system_fingerprints``; those are not known before a call, so they are recorded but not in the cache
    key."""

    backend: str  # "openai" | "offline" | ...
    model: str  # as requested
    prompt_version: str
    temperature: float
    text_only: bool
    approximate: bool = False  # True for judges not validated to match a strong LLM judge
    endpoint: str | None = None  # where it is asked (masked base URL); None: no endpoint (offline)
    max_tokens: int | None = None  # the answer's token limit (None: the backend sets none)
    options: Mapping[str, object] = field(default_factory=dict, hash=False)  # --judge-arg KEY=VALUE
    served_models: tuple[str, ...] = ()  # the ``model`` its replies named (as answered)
    system_fingerprints: tuple[str, ...] = ()  # the replies' ``system_fingerprint``

    def as_dict(self) -> dict:
        block = asdict(self)
        block["options"] = dict(sorted(self.options.items()))
        block["served_models"] = list(self.served_models)
        block["system_fingerprints"] = list(self.system_fingerprints)
        block["identity"] = self.identity
        return block

    @property
    def identity(self) -> str:
        """The short digest of the configured identity (``judge_identity``)."""
        return judge_identity(asdict(self))

    def answered(self, served_models: Iterable[str], system_fingerprints: Iterable[str]) -> JudgeInfo:
        """This judge with what its replies said about it (sorted, each once)."""
        return replace(
            self,
            served_models=tuple(sorted(set(served_models))),
            system_fingerprints=tuple(sorted(set(system_fingerprints))),
        )


def identity_fields(block: Mapping) -> dict:
    """The configured identity of a judge block (a ``JudgeInfo`` dict, or one read from a result file; fields
    an older file lacks are None)."""
    fields = {name: block.get(name) for name in IDENTITY_FIELDS}
    fields["options"] = dict(sorted((fields["options"] or {}).items()))
    return fields


def judge_identity(block: Mapping) -> str:
    """A 16-hex digest of a judge block's configured identity: equal digests, same judge configuration."""
    blob = json.dumps(identity_fields(block), sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def same_judge_key(block: Mapping | None) -> tuple:
    """What two runs must share for their verdicts to be compared: the configured identity and the models the
    endpoint said it served (a system fingerprint may change between calls of one judge: shown, not
    compared); () for no judge block."""
    if not block:
        return ()
    return (judge_identity(block), tuple(block.get("served_models") or ()))


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
# optional in a reviews.jsonl line: the calibration sample it was given in, {"seed": S, "sample": [ids]}
# (siuo-eval review --calibration-sample; siuo_task.protocol.calibration)
CALIBRATION_FIELD = "calibration"
MAX_CALIBRATION_SAMPLE = 1_000  # SIUO has 167 items; a label line stays far below MAX_REVIEW_LINE
JUDGE_SEEN_FIELD = "judge_seen"  # optional, non-blind labels only: the judge's verdict the reviewer saw
LABEL_FINGERPRINT_VERSION = "siuo-label-v2"


def label_fingerprint(question_id: int, response: str, aspect: str, digest: str | None = None) -> str:
    """What a human label judged: a hash of the item (its question id, and its annotation digest,
    ``item_digest``, when the row records one), the response text and the aspect with its rubric version
    (``RUBRIC_VERSION``). Not the judge: the same responses re-judged by another judge, prompt version or
    ``--text-only`` keep every label."""
    blob = json.dumps(
        [LABEL_FINGERPRINT_VERSION, question_id, digest, aspect, RUBRIC_VERSION[aspect], response],
        ensure_ascii=True,
        allow_nan=False,
    )
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def item_digest(item: SiuoItem) -> str:
    """What identifies a SIUO item's annotation beyond its question id: a hash of the generation fields a
    judge or a reviewer sees (image file name, question, domain, safety warning, reference answer). The image
    bytes are not in it (a text-only run never reads them); the data files' sha256 is in the provenance."""
    fields = [
        item.question_id,
        item.image_name,
        item.question,
        item.category,
        item.safety_warning,
        item.reference_answer,
    ]
    blob = json.dumps(fields, ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def row_fingerprint(row: dict, aspect: str) -> str:
    """``label_fingerprint`` of a judgement row's response, for a label on ``aspect``."""
    return label_fingerprint(row["question_id"], row["response"], aspect, row.get("item_digest"))


def legacy_label_fingerprint(question_id: int, response: str, judge: object) -> str:
    """The fingerprint siuo-eval wrote before labels belonged to the response (it hashed the run's judge
    config too); read so that older reviews.jsonl files keep working."""
    blob = json.dumps([question_id, response, judge], sort_keys=True, ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# ---- provenance ------------------------------------------------------------------------------------------


class JudgeBlock(TypedDict):
    """Everything that determines a judge's answers (``JudgeInfo.as_dict()``; the fields after
    ``approximate`` are absent from files written before they existed)."""

    backend: str
    model: str
    prompt_version: str
    temperature: float
    text_only: bool
    approximate: bool  # offline rule-based judge: figures are approximate
    endpoint: NotRequired[str | None]
    max_tokens: NotRequired[int | None]
    options: NotRequired[dict]
    served_models: NotRequired[list[str]]
    system_fingerprints: NotRequired[list[str]]
    identity: NotRequired[str]  # judge_identity of the fields above


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
    item_digest: NotRequired[str]  # records.item_digest of the item (rows written since labels carry it)
    safe: bool | None
    safety_raw: str | None
    safety_status: str
    safety_error: NotRequired[str]
    effective: bool | None
    effectiveness_raw: str | None
    effectiveness_status: str
    effectiveness_error: NotRequired[str]
    judge: JudgeBlock
