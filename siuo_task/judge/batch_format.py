"""The OpenAI Batch file format of judge calls: the request lines (``batch_requests``), reading output and
error lines (``line_outcome``, ``read_batch_output``), storing their answers in the judge cache with a report
of what is left (``store_answers``, ``ImportReport``, ``unanswered_rows``), and the cache-only judge that
finishes the run. The round trip on a Batch API is ``siuo_task.judge.batch_api``.

A request's ``custom_id`` is its judge cache key, so every answer goes back to the cache under the key the
live path uses, whatever the engine (OpenAI Batch API, vLLM's ``run_batch``) and whatever the line order.
A batch asks each request once: an unparsable answer is stored as it came (the live path asks once more).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from siuo_task.files import InputFileError
from siuo_task.judge.base import JudgeCall, JudgeError, JudgeReply
from siuo_task.judge.cache import JudgeCache
from siuo_task.judge.openai_backend import MalformedReplyError, OpenAIJudge, reply_from_completion
from siuo_task.readers import numbered_rows
from siuo_task.records import JudgeInfo
from siuo_task.redact import redact

BATCH_URL = "/v1/chat/completions"
Outcome = JudgeReply | str  # an answer, or why there is none


def one_line(text: object, limit: int = 200) -> str:
    """Server-supplied text as one short line, keys and bearer tokens masked."""
    return redact(" ".join(str(text).split()))[:limit]


def batch_requests(judge: OpenAIJudge, calls: Sequence[JudgeCall], cached: Iterable[str] = ()) -> list[dict]:
    """One Batch input line per distinct call whose key is not in ``cached`` (custom_id = cache key), in
    order."""
    skip = set(cached)
    lines: list[dict] = []
    for call in calls:
        key = call.cache_key(judge.info)
        if key not in skip:
            skip.add(key)
            lines.append(
                {"custom_id": key, "method": "POST", "url": BATCH_URL, "body": judge.request_body(call)}
            )
    return lines


def line_outcome(row: Mapping) -> Outcome:
    """The answer in one batch output line, or why the line has none."""
    error, response = row.get("error"), row.get("response")
    if error:
        code = error.get("code") if isinstance(error, Mapping) else None
        message = error.get("message") if isinstance(error, Mapping) else error
        return one_line(f"batch error{f' {code}' if code else ''}: {message}")
    if not isinstance(response, Mapping):
        return "batch line without response"
    status, body = response.get("status_code"), response.get("body")
    if status != 200 or not isinstance(body, Mapping):
        detail = body.get("error", body) if isinstance(body, Mapping) else body
        if isinstance(detail, Mapping):
            detail = detail.get("message", detail)
        return one_line(f"HTTP {status}: {detail}")
    try:  # read as a live reply is; a malformed one is not an answer (never cached)
        return reply_from_completion(body)
    except MalformedReplyError:
        return one_line(f"not a chat completion: {json.dumps(body)}")


def read_batch_output(paths: Iterable[str | Path]) -> dict[str, Outcome]:
    """custom_id -> outcome over batch output and error files (any order; an answer beats a failure)."""
    outcomes: dict[str, Outcome] = {}
    for path in paths:
        for number, row in numbered_rows(path):
            if not isinstance(row, dict) or not isinstance(row.get("custom_id"), str):
                raise InputFileError(f"{path}:{number}: not a batch output line (no custom_id)")
            if not isinstance(outcomes.get(row["custom_id"]), JudgeReply):
                outcomes[row["custom_id"]] = line_outcome(row)
    return outcomes


@dataclass
class ImportReport:
    """What a batch output brought: answers stored, requests left unanswered (with why), stray lines."""

    source: str
    stored: int = 0
    unanswered: dict[str, str] = field(default_factory=dict)  # custom_id -> reason
    already_cached: int = 0
    unknown: int = 0  # lines for requests this run does not make (another run, another judge)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def as_dict(self) -> dict:
        return {**asdict(self), "unanswered": len(self.unanswered)}

    def line(self) -> str:
        return (
            f"batch {self.source}: {self.stored} answers stored in the judge cache ({self.prompt_tokens} / "
            f"{self.completion_tokens} tokens in / out), {len(self.unanswered)} requests unanswered, "
            f"{self.already_cached} already cached, {self.unknown} lines not for this run"
        )


def store_answers(
    outcomes: Mapping[str, Outcome],
    calls: Sequence[JudgeCall],
    info: JudgeInfo,
    cache: JudgeCache,
    source: str,
) -> ImportReport:
    """Put the answers for this run's uncached calls into ``cache`` (one transaction); report the rest."""
    keys = list(dict.fromkeys(call.cache_key(info) for call in calls))
    cached = cache.get_many(keys)
    report = ImportReport(
        source, already_cached=sum(key in outcomes for key in cached), unknown=len(set(outcomes) - set(keys))
    )
    answers = []
    for key in keys:
        if key in cached:
            continue
        outcome = outcomes.get(key, "missing from the batch output")
        if isinstance(outcome, JudgeReply):
            answers.append((key, outcome))
            report.prompt_tokens += outcome.prompt_tokens
            report.completion_tokens += outcome.completion_tokens
        else:
            report.unanswered[key] = outcome
    cache.put_many(answers)
    report.stored = len(answers)
    return report


def unanswered_rows(calls: Sequence[JudgeCall], info: JudgeInfo, unanswered: Mapping[str, str]) -> list[dict]:
    """One row per unanswered request: its custom_id, which judgement it is, and why."""
    rows, seen = [], set()
    for call in calls:
        key = call.cache_key(info)
        if key in unanswered and key not in seen:
            seen.add(key)
            rows.append(
                {
                    "custom_id": key,
                    "question_id": call.question_id,
                    "response_index": call.response_index,
                    "aspect": call.aspect,
                    "reason": unanswered[key],
                }
            )
    return rows


class CacheOnlyJudge:
    """A judge that makes no call: what the cache lacks fails with why the batch did not answer it."""

    def __init__(self, info: JudgeInfo, unanswered: Mapping[str, str]) -> None:
        self.info = info
        self.unanswered = unanswered

    def complete(self, call: JudgeCall) -> JudgeReply:
        reason = self.unanswered.get(call.cache_key(self.info), "not answered by the batch")
        raise JudgeError(f"not judged: {reason}")
