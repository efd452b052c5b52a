"""The one reader of every JSONL file the tools accept: generation responses, MCQA answers, lmms-eval samples
logs, judgements, human reviews (and, for ``judge.batch``, batch output lines through ``numbered_rows``).

Reading is strict (regular files only, capped in size, JSON at most 64 levels deep, no NaN/Infinity, no key
twice); every problem is one ``InputFileError`` in the form
``FILE:LINE: what is wrong — the fix`` (``FILE: ...`` for the file as a whole), raised before any work is
done on the rows. Blank lines are skipped. The row shapes are in ``siuo_task.records``.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonlines

from siuo_dataset.json_depth import MAX_JSON_DEPTH, json_depth_exceeds
from siuo_task.files import InputFileError, clean_text
from siuo_task.protocol.judge_prompts import ASPECTS
from siuo_task.protocol.model_prompts import RESPONSES_PER_ITEM
from siuo_task.records import (
    FINGERPRINT_FIELD,
    REVIEW_FIELDS,
    AnswerRow,
    JudgementRow,
    ResponsesRow,
    ReviewLine,
)

FAILED_REQUEST_MARKERS = ("[LMMS_EVAL_REQUEST_FAILED", "[LMMS_EVAL_BUDGET_EXCEEDED]")
JUDGEMENT_FIELDS = ("question_id", "response_index", "category", "response", "safe", "effective")
RESPONSES_LINE = '{"question_id": 1001, "responses": ["...", ...]}'
EXAMPLE_FIELD = (
    "example"  # on every line of the packaged example files, and in the metrics of runs made from them
)
ANSWER_LINE = '{"question_id": 1001, "response": "..."}'


MAX_FILE_BYTES = 2 << 30  # the largest input file read (2 GiB); a bigger one (or /dev/zero) is refused
MAX_JSON_BYTES = 64 << 20  # the largest single JSON file (metrics, validation, baselines) read


class JsonShapeError(ValueError):
    """JSON we refuse: too deep, NaN/Infinity, or a key given twice."""


def _no_constant(name: str) -> object:
    raise JsonShapeError(f"{name} is not a JSON number")


def _unique_pairs(pairs: list[tuple[str, object]]) -> dict:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        twice = next(key for key in keys if keys.count(key) > 1)
        raise JsonShapeError(f"the key {twice!r} appears twice")
    return dict(pairs)


_STRICT = json.JSONDecoder(parse_constant=_no_constant, object_pairs_hook=_unique_pairs)
_NAN_AS_NONE = json.JSONDecoder(parse_constant=lambda name: None, object_pairs_hook=_unique_pairs)


def strict_json(text: str, *, nan_as_none: bool = False) -> Any:
    """``text`` as JSON, strictly: at most ``MAX_JSON_DEPTH`` deep, no NaN/Infinity (``nan_as_none``: read as
    null, for lmms-eval's own files), no key twice; ``ValueError`` (``json.JSONDecodeError`` or
    ``JsonShapeError``) otherwise."""
    if json_depth_exceeds(text):
        raise JsonShapeError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    decoder = _NAN_AS_NONE if nan_as_none else _STRICT
    value, end = decoder.raw_decode(text, len(text) - len(text.lstrip()))
    if text[end:].strip():
        raise json.JSONDecodeError("Extra data", text, end)
    return value


def open_regular(path: str | Path, limit: int = MAX_FILE_BYTES):
    """``path`` opened for binary reading if it is a regular file of at most ``limit`` bytes; else one
    ``InputFileError`` (FIFOs, devices, sockets and folders are refused without blocking on them)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file — check the path") from None
    except OSError as error:
        raise InputFileError(f"{path}: cannot be read ({error.strerror}) — check the path") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise InputFileError(f"{path}: not a regular file (a FIFO, device or folder) — pass a plain file")
    if info.st_size > limit:
        os.close(fd)
        raise InputFileError(
            f"{path}: {info.st_size} bytes, more than the {limit} read — pass the right file"
        )
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def within(path: str | Path, root: str | Path) -> bool:
    """Whether ``path``, symlinks resolved, stays inside the folder ``root`` (resolved)."""
    return Path(path).resolve().is_relative_to(Path(root).resolve())


def read_json_file(path: str | Path, limit: int = MAX_JSON_BYTES, *, nan_as_none: bool = False) -> Any:
    """One JSON file, regular and capped, parsed strictly (``strict_json``); ``InputFileError`` otherwise."""
    with open_regular(path, limit) as handle:
        data = handle.read(limit + 1)
    try:
        return strict_json(data.decode("utf-8"), nan_as_none=nan_as_none)
    except UnicodeDecodeError as error:
        raise InputFileError(f"{path}: not UTF-8 text ({error.reason}) — save the file as UTF-8") from None
    except ValueError as error:
        raise InputFileError(f"{path}: not valid JSON ({getattr(error, 'msg', error)})") from None


class _NumberedLines:
    """The lines of a binary file, remembering the number of the last one handed out (``jsonlines`` reads them
    and names the line of an error; the rows it returns are numbered from here)."""

    def __init__(self, handle):
        self._lines = enumerate(handle, start=1)
        self.number = 0

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        self.number, line = next(self._lines)
        return line


def numbered_rows(
    path: str | Path, *, shared_lock: bool = False, nan_as_none: bool = False
) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` for every non-blank line of the JSONL file ``path`` (a regular file, capped),
    read by ``jsonlines.Reader`` with our strict ``loads`` (``strict_json``: no NaN/Infinity, no key twice,
    not too deep). ``shared_lock``: read under the appenders' lock (shared), so a line being appended is never
    seen half written."""
    path = Path(path)
    loads = functools.partial(strict_json, nan_as_none=nan_as_none)
    with open_regular(path) as handle:
        if shared_lock:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
        lines = _NumberedLines(handle)
        reader = jsonlines.Reader(lines, loads=loads)
        try:
            for row in reader.iter(allow_none=True, skip_empty=True):
                yield lines.number, row
        except jsonlines.InvalidLineError as error:
            cause = error.__cause__
            if isinstance(cause, UnicodeDecodeError):
                raise InputFileError(
                    f"{path}:{error.lineno}: not UTF-8 text ({cause.reason}) — save the file as UTF-8"
                ) from None
            raise InputFileError(
                f"{path}:{error.lineno}: not valid JSON ({getattr(cause, 'msg', None) or cause or error}) — "
                "write one JSON object per line"
            ) from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _question_id(
    where: str, row: object, field: str, example: str, items_by_id: Mapping[int, object], seen: set[int]
) -> int:
    """The question_id of an input row holding ``field``: a SIUO item's, not seen before (then it is)."""
    if not isinstance(row, dict) or "question_id" not in row or field not in row:
        raise InputFileError(
            f"{where}: expected an object with question_id and {field} — one {example} per line"
        )
    qid = row["question_id"]
    if not _is_int(qid) or qid not in items_by_id:
        raise InputFileError(
            f"{where}: unknown question_id {qid!r} (not a SIUO item) — use the integer "
            "question_id of the SIUO annotations"
        )
    if qid in seen:
        raise InputFileError(f"{where}: question_id {qid} appears twice — keep one line per item")
    seen.add(qid)
    return qid


# ---- generation responses ------------------------------------------------------------------------


def check_responses(
    numbered: Iterable[tuple[int, object]],
    items_by_id: Mapping[int, object],
    source: str,
    responses_per_item: int = RESPONSES_PER_ITEM,
) -> list[ResponsesRow]:
    """Validate ``{"question_id", "responses": [str] * N}`` rows; the first problem raises naming its line."""
    if responses_per_item < 1:
        raise InputFileError(f"--responses-per-item must be at least 1 (got {responses_per_item})")
    rows: list[ResponsesRow] = []
    seen: set[int] = set()
    for line, row in numbered:
        where = f"{source}:{line}"
        qid = _question_id(where, row, "responses", RESPONSES_LINE, items_by_id, seen)
        responses = row["responses"]
        if not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
            raise InputFileError(
                f"{where}: responses must be a list of strings — one string per sampled response"
            )
        if len(responses) != responses_per_item:
            raise InputFileError(
                f"{where}: {len(responses)} responses for question_id {qid}, expected "
                f"{responses_per_item} (set --responses-per-item to change)"
            )
        rows.append({"question_id": qid, "responses": responses})
    if not rows:
        raise InputFileError(f"{source}: no responses found — one {RESPONSES_LINE} per line")
    return rows


def read_responses(
    path: str | Path, items_by_id: Mapping[int, object], responses_per_item: int = RESPONSES_PER_ITEM
) -> list[ResponsesRow]:
    """A generation responses file, checked against the SIUO items."""
    return check_responses(numbered_rows(path), items_by_id, str(path), responses_per_item)


def is_failed_request(response: str) -> bool:
    """True for lmms-eval's placeholder text of a model request it gave up on (not a model response)."""
    return response.lstrip().startswith(FAILED_REQUEST_MARKERS)


def _sample_record(sample: dict) -> dict | None:
    """Our per-item generation record in a sample line (the "siuo" block or any metric record)."""
    if isinstance(sample.get("siuo"), dict):
        return sample["siuo"]
    return next(
        (
            value
            for value in sample.values()
            if isinstance(value, dict) and "question_id" in value and "responses" in value
        ),
        None,
    )


def lmms_samples(path: str | Path) -> Iterator[tuple[int, ResponsesRow]]:
    """``(line, {"question_id", "responses"})`` per line of an lmms-eval samples log of the siuo_gen task: the
    responses our task recorded (exactly what it judged), else lmms-eval's ``filtered_resps``."""
    for line, sample in numbered_rows(path):
        where = f"{path}:{line}"
        if not isinstance(sample, dict):
            raise InputFileError(
                f"{where}: not an lmms-eval sample object — pass a samples log written with --log_samples"
            )
        if any(isinstance(value, dict) and "parsed" in value for value in sample.values()):
            raise InputFileError(
                f"{where}: a siuo_mcqa sample — score MCQA runs with lmms-eval or score-mcqa"
            )
        record = _sample_record(sample)
        doc = sample.get("doc") if isinstance(sample.get("doc"), dict) else {}
        question_id = record.get("question_id") if record else doc.get("question_id")
        responses = record.get("responses") if record else sample.get("filtered_resps")
        if isinstance(responses, list) and responses and isinstance(responses[0], list):
            responses = responses[0]  # lmms-eval's shape for one request with repeats: [[r1, r2, r3]]
        if not _is_int(question_id) or not isinstance(responses, list):
            raise InputFileError(
                f"{where}: not a siuo_gen sample (no question_id / responses) — pass the "
                "*_samples_siuo_gen.jsonl (or siuo_gen_text) written with --log_samples"
            )
        if not all(isinstance(r, str) for r in responses):
            raise InputFileError(
                f"{where}: responses must be strings — pass the samples log as lmms-eval wrote it"
            )
        if any(is_failed_request(r) for r in responses):
            raise InputFileError(
                f"{where}: holds a model request that failed in lmms-eval (not a "
                "response) — re-run the model for this item"
            )
        yield line, {"question_id": question_id, "responses": responses}


def read_lmms_responses(
    path: str | Path, items_by_id: Mapping[int, object], responses_per_item: int = RESPONSES_PER_ITEM
) -> list[ResponsesRow]:
    """The responses of an lmms-eval siuo_gen samples log, checked against the SIUO items."""
    return check_responses(lmms_samples(path), items_by_id, str(path), responses_per_item)


# ---- MCQA answers --------------------------------------------------------------------------------


def read_answers(path: str | Path, items_by_id: Mapping[int, object]) -> list[AnswerRow]:
    """An MCQA answers file ``{"question_id", "response"}`` per line (lone surrogates replaced)."""
    rows: list[AnswerRow] = []
    seen: set[int] = set()
    for line, row in numbered_rows(path):
        where = f"{path}:{line}"
        qid = _question_id(where, row, "response", ANSWER_LINE, items_by_id, seen)
        if not isinstance(row["response"], str):
            raise InputFileError(f"{where}: response must be a string — the model's answer text")
        rows.append({"question_id": qid, "response": clean_text(row["response"])})
    if not rows:
        raise InputFileError(f"{path}: no answers found — one {ANSWER_LINE} per line")
    return rows


# ---- judgements ----------------------------------------------------------------------------------


def read_judgements(path: str | Path) -> list[JudgementRow]:
    """The rows of a judgements.jsonl / siuo_gen.rows.jsonl, each response once, verdicts true/false/null."""
    rows: list[JudgementRow] = []
    seen: set[tuple[int, int]] = set()
    for line, row in numbered_rows(path):
        where = f"{path}:{line}"
        if (
            not isinstance(row, dict)
            or any(name not in row for name in JUDGEMENT_FIELDS)
            or not _is_int(row["question_id"])
            or not _is_int(row["response_index"])
        ):
            raise InputFileError(
                f"{where}: not a judgements row (needs question_id, response_index, "
                "category, response, safe, effective) — pass a judgements.jsonl written by "
                "siuo-eval"
            )
        if not all(row[field] is None or isinstance(row[field], bool) for field in ("safe", "effective")):
            raise InputFileError(
                f"{where}: safe and effective must be true, false or null — pass the file "
                "as siuo-eval wrote it"
            )
        key = (row["question_id"], row["response_index"])
        if key in seen:
            raise InputFileError(
                f"{where}: question_id {key[0]} response {key[1]} appears twice — keep one row per response"
            )
        seen.add(key)
        rows.append(row)
    return rows


# ---- human reviews -------------------------------------------------------------------------------


def review_problem(row: object) -> str | None:
    """What makes ``row`` not a reviews.jsonl line, or None."""
    if not isinstance(row, dict):
        return "expected a JSON object"
    missing = [name for name in REVIEW_FIELDS if name not in row]
    if missing:
        return f"missing {', '.join(missing)}"
    if not _is_int(row["question_id"]) or not _is_int(row["response_index"]):
        return "question_id and response_index must be integers"
    if row["aspect"] not in ASPECTS:
        return f"aspect must be one of {', '.join(ASPECTS)}"
    if not isinstance(row["verdict"], bool) or not isinstance(row["blind"], bool):
        return "verdict and blind must be true or false"
    if (
        not all(isinstance(row[name], str) for name in ("reviewer", "time", "note"))
        or not row["reviewer"].strip()
    ):
        return "reviewer (non-empty), time and note must be strings"
    if not _is_time(row["time"]):
        return "time must be an ISO 8601 time such as 2026-01-31T12:00:00.000000+00:00"
    if FINGERPRINT_FIELD in row and not (
        isinstance(row[FINGERPRINT_FIELD], str) and _FINGERPRINT.fullmatch(row[FINGERPRINT_FIELD])
    ):
        return "fingerprint must be the hex string siuo-eval review wrote"
    return None


def _is_time(text: str) -> bool:
    """An ISO 8601 date or time (informational: labels are ordered by line, never by time)."""
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return len(text) <= 40


_FINGERPRINT = re.compile(r"[0-9a-f]{32}")


# The longest reviews.jsonl line read (bytes): a label the page writes (a note of at most 2,000 characters,
# each at most 12 bytes as JSON escapes) fits about three times; a longer line is refused without being read
# whole, so another reviewer's 100 MB "note" never costs a page load.
MAX_REVIEW_LINE = 64 << 10


def review_label(path: str | Path, number: int, raw: bytes) -> ReviewLine | None:
    """Line ``number`` of the reviews file ``path`` (``raw``: its bytes, newline or not) as a label; None
    for a blank line; else one ``InputFileError`` naming ``FILE:LINE``."""
    if len(raw) > MAX_REVIEW_LINE:
        raise InputFileError(
            f"{path}:{number}: a line longer than {MAX_REVIEW_LINE} bytes, not a label siuo-eval review "
            "writes (its notes are at most 2,000 characters) — delete the line"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputFileError(
            f"{path}:{number}: not UTF-8 text ({error.reason}) — save the file as UTF-8"
        ) from None
    if not text.strip():
        return None
    try:
        row = strict_json(text)
    except ValueError as error:
        raise InputFileError(
            f"{path}:{number}: not valid JSON ({getattr(error, 'msg', None) or error}) — write one JSON "
            "object per line"
        ) from None
    problem = review_problem(row)
    if problem:
        raise InputFileError(
            f"{path}:{number}: not a review label ({problem}) — fix or delete the line (siuo-eval review "
            "writes them)"
        )
    kept = {name: row[name] for name in REVIEW_FIELDS}
    if FINGERPRINT_FIELD in row:
        kept[FINGERPRINT_FIELD] = row[FINGERPRINT_FIELD]
    return kept


def review_lines(handle) -> Iterator[bytes]:
    """The lines of an open reviews file from its position, each read at most ``MAX_REVIEW_LINE`` + 1 bytes
    at a time (a longer one is yielded cut there, for ``review_label`` to refuse)."""
    while raw := handle.readline(MAX_REVIEW_LINE + 1):
        yield raw


def read_reviews(paths: str | Path | Sequence[str | Path]) -> list[ReviewLine]:
    """Every label line of one or more reviews files, in file order; a missing file is an empty one. Read
    under the appenders' lock (shared); a line over ``MAX_REVIEW_LINE`` bytes is refused naming it."""
    rows: list[ReviewLine] = []
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        if not Path(path).exists():
            continue
        with open_regular(path) as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
            for number, raw in enumerate(review_lines(handle), start=1):
                label = review_label(path, number, raw)
                if label is not None:
                    rows.append(label)
    return rows


def is_example_file(path: str | Path) -> bool:
    """An example input file (``siuo-eval examples``): its first row says ``"example": true``."""
    first = next((row for _, row in numbered_rows(path)), None)
    return isinstance(first, dict) and first.get(EXAMPLE_FIELD) is True


def is_reviews_file(path: str | Path) -> bool:
    """A reviews.jsonl (label lines with an aspect and a verdict) rather than judgements."""
    first = next((row for _, row in numbered_rows(path)), None)
    return isinstance(first, dict) and "aspect" in first and "verdict" in first
