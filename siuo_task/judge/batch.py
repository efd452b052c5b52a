"""Batch engines for judge calls: the OpenAI Batch JSONL format (export, import) and a resumable round trip
on an OpenAI-compatible Batch API (``files.create`` -> ``batches.create`` -> poll -> download).

A request's ``custom_id`` is its judge cache key, so every answer goes back to the cache under the key the
live path uses, whatever the engine (OpenAI Batch API, vLLM's ``run_batch``) and whatever the line order.
A batch asks each request once: an unparsable answer is stored as it came (the live path asks once more).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from siuo_task.files import InputFileError, write_bytes_atomic, write_json_atomic, write_jsonl_atomic
from siuo_task.judge.base import JudgeCall, JudgeError, JudgeReply
from siuo_task.judge.cache import JudgeCache
from siuo_task.judge.openai_backend import MalformedReplyError, OpenAIJudge, reply_from_completion
from siuo_task.readers import numbered_rows
from siuo_task.records import JudgeInfo
from siuo_task.redact import redact

BATCH_URL = "/v1/chat/completions"
FINAL_STATUSES = ("completed", "expired", "cancelled", "failed")
Outcome = JudgeReply | str  # an answer, or why there is none


def _one_line(text: object, limit: int = 200) -> str:
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
        return _one_line(f"batch error{f' {code}' if code else ''}: {message}")
    if not isinstance(response, Mapping):
        return "batch line without response"
    status, body = response.get("status_code"), response.get("body")
    if status != 200 or not isinstance(body, Mapping):
        detail = body.get("error", body) if isinstance(body, Mapping) else body
        if isinstance(detail, Mapping):
            detail = detail.get("message", detail)
        return _one_line(f"HTTP {status}: {detail}")
    try:  # read as a live reply is; a malformed one is not an answer (never cached)
        return reply_from_completion(body)
    except MalformedReplyError:
        return _one_line(f"not a chat completion: {json.dumps(body)}")


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


MAX_PART_BYTES = 190 * 1024 * 1024  # the OpenAI Batch API takes input files up to 200 MB ...
MAX_PART_REQUESTS = 50_000  # ... and 50,000 requests


def split_requests(
    requests: Sequence[dict], max_bytes: int = MAX_PART_BYTES, max_requests: int = MAX_PART_REQUESTS
) -> list[list[dict]]:
    """``requests`` in order, cut into parts that each fit one batch input file."""
    parts: list[list[dict]] = [[]]
    size = 0
    for request in requests:
        line_bytes = len(json.dumps(request).encode()) + 1  # an upper bound of the compact JSONL line
        if parts[-1] and (size + line_bytes > max_bytes or len(parts[-1]) >= max_requests):
            parts.append([])
            size = 0
        parts[-1].append(request)
        size += line_bytes
    return parts if parts[0] else []


@dataclass
class BatchState:
    """The batches a folder is waiting for, recorded before anything is paid for."""

    input_sha256: str
    input_file_ids: list[str | None]
    batch_ids: list[str | None]


@dataclass(frozen=True)
class BatchResult:
    batch_ids: list[str]
    statuses: list[str]
    outcomes: dict[str, Outcome]  # every submitted request: its answer, or why there is none


def _read_state(path: Path) -> BatchState | None:
    try:
        return BatchState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def run_batch(
    client,
    requests: Sequence[dict],
    folder: Path,
    *,
    poll_seconds: float = 30.0,
    progress: bool = True,
    say: Callable[[str], None] = lambda message: None,
    max_part_bytes: int = MAX_PART_BYTES,
) -> BatchResult:
    """Submit ``requests`` to the Batch API of ``client`` (an ``openai.OpenAI``), as one batch per part that
    fits the API's limits, or resume the batches ``folder`` records for the same requests; wait for them and
    download their output and error files there."""
    folder.mkdir(parents=True, exist_ok=True)
    state_path = folder / "state.json"
    parts = split_requests(requests, max_part_bytes)
    payloads = []
    for number, part in enumerate(parts, start=1):
        write_jsonl_atomic(folder / f"input-{number}.jsonl", part)
        payloads.append((folder / f"input-{number}.jsonl").read_bytes())
    digest = hashlib.sha256(b"".join(payloads)).hexdigest()
    state = _read_state(state_path)
    if state is not None and (state.input_sha256 != digest or len(state.batch_ids) != len(parts)):
        say(f"{state_path}: recorded batches {state.batch_ids} were for other requests; submitting new ones")
        state = None
    if state is not None:
        say(f"resuming batches {', '.join(map(str, state.batch_ids))} recorded in {state_path}")
    state = state or BatchState(digest, [None] * len(parts), [None] * len(parts))
    for index, payload in enumerate(payloads):
        if state.input_file_ids[index] is None:
            state.input_file_ids[index] = client.files.create(
                file=(f"siuo-judge-batch-{index + 1}.jsonl", payload, "application/jsonl"), purpose="batch"
            ).id
            write_json_atomic(state_path, asdict(state))
        if (
            state.batch_ids[index] is None
        ):  # a run killed right after creating it: find that batch, do not pay twice
            state.batch_ids[index] = (
                _batch_of_file(client, state.input_file_ids[index])
                or client.batches.create(
                    input_file_id=state.input_file_ids[index],
                    endpoint=BATCH_URL,
                    completion_window="24h",
                    metadata={"source": "siuo-eval judge"},
                ).id
            )
            write_json_atomic(state_path, asdict(state))
            say(
                f"batch {state.batch_ids[index]} submitted ({len(parts[index])} requests), recorded in "
                f"{state_path}: a re-run of the same command resumes it"
            )
    batches = _wait(
        client, [str(batch_id) for batch_id in state.batch_ids], len(requests), poll_seconds, progress
    )
    outcomes: dict[str, Outcome] = {}
    for number, (part, batch) in enumerate(zip(parts, batches, strict=True), start=1):
        found: dict[str, Outcome] = {}
        for name, file_id in (
            (f"output-{number}.jsonl", batch.output_file_id),
            (f"errors-{number}.jsonl", batch.error_file_id),
        ):
            if file_id:
                write_bytes_atomic(folder / name, client.files.content(file_id).content)
                found.update(
                    (key, value)
                    for key, value in read_batch_output([folder / name]).items()
                    if not isinstance(found.get(key), JudgeReply)
                )
        errors = "; ".join(
            _one_line(getattr(e, "message", e)) for e in (getattr(batch.errors, "data", None) or [])
        )
        missing = (
            f"missing from the output of batch {batch.id}"
            if batch.status == "completed"
            else f"batch {batch.id} {batch.status}" + (f": {errors}" if errors else "")
        )
        outcomes.update({request["custom_id"]: found.get(request["custom_id"], missing) for request in part})
        outcomes.update((key, value) for key, value in found.items() if key not in outcomes)  # stray lines
    return BatchResult([b.id for b in batches], [b.status for b in batches], outcomes)


def _batch_of_file(client, input_file_id: str) -> str | None:
    """The id of a batch already made from ``input_file_id`` (the most recent ones are searched), if any."""
    for batch in client.batches.list(limit=100).data:
        if batch.input_file_id == input_file_id:
            return batch.id
    return None


def _wait(client, batch_ids: list[str], total: int, poll_seconds: float, progress: bool) -> list:
    """Poll the batches until each reaches a final status, with a progress bar of finished requests."""
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=f"batch {', '.join(batch_ids)}", unit="req", leave=False)
    batches = [client.batches.retrieve(batch_id) for batch_id in batch_ids]
    try:
        while True:
            if bar is not None:
                counts = [b.request_counts for b in batches if b.request_counts is not None]
                bar.n = sum((c.completed or 0) + (c.failed or 0) for c in counts)
                bar.set_postfix(
                    status="/".join(sorted({b.status for b in batches})),
                    failed=sum(c.failed or 0 for c in counts),
                )
            if all(b.status in FINAL_STATUSES for b in batches):
                return batches
            time.sleep(poll_seconds)
            batches = [b if b.status in FINAL_STATUSES else client.batches.retrieve(b.id) for b in batches]
    finally:
        if bar is not None:
            bar.close()


def forget_batch(folder: Path) -> None:
    """Drop the recorded batch once its answers are in the cache (the downloaded files stay)."""
    (folder / "state.json").unlink(missing_ok=True)
