"""The OpenAI Batch file format of judge calls: the request lines (``batch_requests``), reading output and
error lines (``line_outcome``, ``read_batch_output``), storing their answers in the judge cache with a report
of what is left (``store_answers``, ``ImportReport``, ``unanswered_rows``), and the cache-only judge that
finishes the run. The round trip on a Batch API is ``siuo_task.judge.batch_api``.

A request's ``custom_id`` is its judge cache key, so every answer goes back to the cache under the key the
live path uses, whatever the engine (OpenAI Batch API, vLLM's ``run_batch``) and whatever the line order.
A batch asks each request once. Its lines are checked before anything is stored: a custom_id answered twice
with different answers is refused (``BatchConflictError``, listed), an answer from another model than the
run's judge is not stored (unless ``accept_models`` names it), usage counts that are not non-negative integers
are dropped with a warning, and only chat completions of sane shape (text not nested deeper than
``MAX_JSON_DEPTH``, readable by ``parse``) are cached: the rest stays unanswered, for a re-export or the live
fallback. An answer without a verdict is stored as it came (the live path asks once more).
Server text (batch errors) is redacted like the live path's (the key itself too) and made terminal-safe.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from siuo_dataset.errors import SiuoError
from siuo_dataset.json_depth import json_depth_exceeds
from siuo_task.files import InputFileError
from siuo_task.judge.backends.openai import MalformedReplyError, reply_from_completion, token_count
from siuo_task.judge.base import BatchJudge, Judge, JudgeError, JudgeReply
from siuo_task.judge.cache import JudgeCache, cache_key
from siuo_task.protocol.judge_prompts import JudgeCall
from siuo_task.readers import numbered_rows
from siuo_task.records import JudgeInfo
from siuo_task.redact import redact, safe_text

BATCH_URL = "/v1/chat/completions"
Outcome = JudgeReply | str  # an answer, or why there is none


class BatchConflictError(SiuoError):
    """A batch output answers one request twice, differently: which answer is the judge's is unknown."""

    exit_code = 3


_SECRETS: list[str] = []  # the judge keys of this process's batch step (``remember_secret``)


def remember_secret(value: str | None) -> None:
    """Mask ``value`` (the judge key) in every batch message from now on, as the live path masks it (keys
    shorter than 4 characters are not keys: masking them would garble every message)."""
    if value and len(value) >= 4 and value not in _SECRETS:
        _SECRETS.append(value)


def batch_secrets() -> list[str]:
    """The judge keys to mask: those remembered, and any ``*API_KEY`` in the environment."""
    found = [value for name, value in os.environ.items() if name.endswith("API_KEY") and len(value) >= 4]
    return [*_SECRETS, *found]


def one_line(text: object, limit: int = 200) -> str:
    """Server-supplied text as one short line: keys and bearer tokens masked (``redact``, the judge key
    too), control and bidi characters made inert (``safe_text``)."""
    return safe_text(redact(" ".join(str(text).split()), batch_secrets()))[:limit]


def _model_matches(answered: str, model: str) -> bool:
    """The answering model is the judge's (or a dated snapshot of it: gpt-4o -> gpt-4o-2024-08-06)."""
    return answered == model or answered.startswith(model + "-")


def batch_requests(judge: BatchJudge, calls: Sequence[JudgeCall], cached: Iterable[str] = ()) -> list[dict]:
    """One Batch input line per distinct call whose key is not in ``cached`` (custom_id = cache key), in
    order."""
    skip = set(cached)
    lines: list[dict] = []
    for call in calls:
        key = cache_key(call, judge.info)
        if key not in skip:
            skip.add(key)
            lines.append(
                {"custom_id": key, "method": "POST", "url": BATCH_URL, "body": judge.request_body(call)}
            )
    return lines


def line_outcome(
    row: Mapping,
    model: str | None = None,
    accept_models: Sequence[str] = (),
    warn: Callable[[str], None] = lambda message: None,
) -> Outcome:
    """The answer in one batch output line, or why the line has none. With ``model``, an answer whose
    ``model`` is another one (not in ``accept_models``) is no answer; bad usage counts are dropped
    (``warn``)."""
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
        reply = reply_from_completion(body)
    except MalformedReplyError:
        return one_line(f"not a chat completion: {json.dumps(body)}")
    answered = body.get("model")
    if model is not None and answered is not None:
        if not isinstance(answered, str) or not (
            _model_matches(answered, model) or answered in accept_models
        ):
            return one_line(
                f"answered by model {answered!r}, not the judge {model!r} (pass --accept-model "
                f"{answered} if that is right)"
            )
    usage = body.get("usage")
    if usage is not None and (
        not isinstance(usage, Mapping)
        or any(token_count(usage.get(name)) is None for name in ("prompt_tokens", "completion_tokens"))
    ):
        warn(f"usage {one_line(json.dumps(usage), 80)} is not two non-negative integer counts: dropped")
    return reply


def read_batch_output(
    paths: Iterable[str | Path],
    model: str | None = None,
    accept_models: Sequence[str] = (),
    warn: Callable[[str], None] = lambda message: None,
) -> dict[str, Outcome]:
    """custom_id -> outcome over batch output and error files (any order; an answer beats a failure; the
    same answer twice is one). Two different answers to one custom_id: ``BatchConflictError`` listing them."""
    outcomes: dict[str, Outcome] = {}
    conflicts: dict[str, str] = {}
    dropped = 0

    def count(message: str) -> None:
        nonlocal dropped
        dropped += 1
        if dropped == 1:
            first[0] = message

    first = [""]
    for path in paths:
        for number, row in numbered_rows(path):
            if not isinstance(row, dict) or not isinstance(row.get("custom_id"), str):
                raise InputFileError(f"{path}:{number}: not a batch output line (no custom_id)")
            key = row["custom_id"]
            outcome = line_outcome(row, model, accept_models, count)
            known = outcomes.get(key)
            if isinstance(known, JudgeReply) and isinstance(outcome, JudgeReply):
                if known.text != outcome.text:
                    conflicts.setdefault(key, f"{path}:{number}")
            elif not isinstance(known, JudgeReply):
                outcomes[key] = outcome
    if conflicts:
        listed = "; ".join(
            f"{safe_text(key)[:16]}... (again at {where})" for key, where in list(conflicts.items())[:5]
        )
        more = f"; ... ({len(conflicts) - 5} more)" if len(conflicts) > 5 else ""
        raise BatchConflictError(
            f"{len(conflicts)} custom_ids answered twice with different answers: {listed}{more}; keep one "
            "answer per request (which one the judge meant is unknown): nothing was stored"
        )
    if dropped:
        warn(
            f"batch: {dropped} answers had usage counts that are not non-negative integers, dropped "
            f"({first[0]})"
        )
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


def storable(
    call: JudgeCall, reply: JudgeReply, parse: Callable[[JudgeCall, str], object] | None
) -> str | None:
    """Why ``reply`` must not be cached (None: it may): nested deeper than ``MAX_JSON_DEPTH``, or ``parse``
    fails on it (a reason, never a crash). An answer without a verdict is stored, as the live path stores
    one after its re-ask."""
    if json_depth_exceeds(reply.text):
        return "answer nested too deep to be read: not stored"
    if parse is None:
        return None
    try:
        parse(call, reply.text)
    except Exception as error:  # noqa: BLE001 - a hostile answer is refused, not fatal
        return f"answer could not be read ({error.__class__.__name__}): not stored"
    return None


def store_answers(
    outcomes: Mapping[str, Outcome],
    calls: Sequence[JudgeCall],
    info: JudgeInfo,
    cache: JudgeCache,
    source: str,
    parse: Callable[[JudgeCall, str], object] | None = None,
) -> ImportReport:
    """Put the answers for this run's uncached calls into ``cache`` (one transaction); report the rest.
    Only answers ``storable`` says may be cached are stored; the others are unanswered (why)."""
    by_key = {cache_key(call, info): call for call in calls}
    keys = list(by_key)
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
            refused = storable(by_key[key], outcome, parse)
            if refused:
                report.unanswered[key] = refused
                continue
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
        key = cache_key(call, info)
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


class CacheOnlyJudge(Judge):
    """``judge`` making no call: what the cache lacks fails with why the batch did not answer it (its
    answers are read as ``judge`` reads them)."""

    def __init__(self, judge: Judge, unanswered: Mapping[str, str]) -> None:
        self.info = judge.info
        self.aspects = judge.aspects
        self.parse = judge.parse
        self.unanswered = unanswered

    def complete(self, call: JudgeCall) -> JudgeReply:
        reason = self.unanswered.get(cache_key(call, self.info), "not answered by the batch")
        raise JudgeError(f"not judged: {reason}")
