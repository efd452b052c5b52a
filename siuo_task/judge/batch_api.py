"""A resumable round trip of judge requests on an OpenAI-compatible Batch API: split into parts the API
accepts, ``files.create`` -> ``batches.create`` -> poll -> download the output and error files, with the
batch ids recorded in a state file first so a re-run resumes instead of paying twice. The lines themselves are
``siuo_task.judge.batch_format``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from siuo_task.files import write_bytes_atomic, write_json_atomic, write_jsonl_atomic
from siuo_task.judge.base import JudgeReply
from siuo_task.judge.batch_format import BATCH_URL, Outcome, one_line, read_batch_output

FINAL_STATUSES = ("completed", "expired", "cancelled", "failed")
STATE_FILE = "state.json"  # in the batch folder: the batches it waits for
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
    state_path = folder / STATE_FILE
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
            one_line(getattr(e, "message", e)) for e in (getattr(batch.errors, "data", None) or [])
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
    (folder / STATE_FILE).unlink(missing_ok=True)
