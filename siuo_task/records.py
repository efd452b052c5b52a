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
    safe: bool | None
    safety_raw: str | None
    safety_status: str
    safety_error: NotRequired[str]
    effective: bool | None
    effectiveness_raw: str | None
    effectiveness_status: str
    effectiveness_error: NotRequired[str]
    judge: JudgeBlock
