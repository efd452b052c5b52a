"""File I/O at the edges: output checks before any work, atomic writes (JSON, JSONL, bytes)
(with the user's normal permissions, not ``mkstemp``'s private 0600)."""

from __future__ import annotations

import fcntl
import functools
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonlines

from siuo_dataset.errors import SiuoError
from siuo_dataset.files import normal_mode

# The files our commands write into a run folder (``--out``), named once.
JUDGEMENTS_FILE = "judgements.jsonl"  # siuo-eval judge: one row per response, both verdicts
METRICS_FILE = "metrics.json"  # judge / score-mcqa / rescore: the figures
PARSES_FILE = "parses.jsonl"  # score-mcqa: the letter read from each answer
VALIDATION_FILE = "validation.json"  # validate-judge
BASELINES_FILE = "baselines.json"  # baselines
REVIEWS_FILE = "reviews.jsonl"  # siuo-eval review: one appended line per human label
UNANSWERED_FILE = "judge-batch-unanswered.jsonl"  # batch import: the calls no batch line answered
BATCH_FOLDER = "judge-batch"  # the recorded batch, its input, output and error files


class InputFileError(SiuoError):
    """An input file is missing or malformed; the message names the file and line."""


class OutputError(SiuoError):
    """An output location cannot be used: it is a file, not writable, or it would overwrite an input."""


def check_output_folder(
    out: str | Path, files: Iterable[str], inputs: Iterable[str | Path | None] = (), flag: str = "--out"
) -> Path:
    """Check, before any work is done or paid for, that ``files`` can be written into the folder ``out``: it
    is (or can be made) a writable folder, and none of the files would replace one of ``inputs``. Nothing is
    left behind by the check; returns ``out``."""
    out = Path(out)
    folder = out.expanduser().resolve()
    targets = {folder / name: name for name in files}
    for given in inputs:
        if given is not None and Path(given).expanduser().resolve() in targets:
            name = targets[Path(given).expanduser().resolve()]
            raise OutputError(
                f"{flag} {out} would overwrite the input {given} (with its {name}): choose another {flag}"
            )
    existing = next(path for path in (folder, *folder.parents) if path.exists())
    if not existing.is_dir():
        where = "is" if existing == folder else f"is inside {existing}, which is"
        raise OutputError(f"{flag} {out} {where} an existing file, not a folder: choose a folder")
    for target, name in targets.items():
        if target.is_dir():
            raise OutputError(f"{flag} {out}: {name} there is a folder, not a file: choose another {flag}")
    created = []
    try:
        for path in reversed([folder, *folder.parents][: len(folder.relative_to(existing).parts)]):
            path.mkdir()
            created.append(path)
        with tempfile.TemporaryFile(dir=folder, prefix=".siuo-write-check."):
            pass
    except OSError as error:
        raise OutputError(
            f"{flag} {out} is not writable ({error.strerror or error.__class__.__name__}): choose "
            "a folder you can write"
        ) from None
    finally:
        for path in reversed(created):
            path.rmdir()
    return out


def clean_text(text: str) -> str:
    """``text`` with lone surrogates (invalid UTF-8) replaced by U+FFFD, so it can be sent and stored."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _atomic_write(path: Path, write, binary: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, normal_mode())  # what open() would give the new file, not mkstemp's 0600
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# How our JSONL lines are written (``jsonlines.Writer(dumps=...)``): strict (no NaN/Infinity: ``allow_nan``
# off), UTF-8 as is; files we write whole are compact, appended label lines keep the spaced separators.
COMPACT_DUMPS = functools.partial(json.dumps, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
APPEND_DUMPS = functools.partial(json.dumps, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))


def write_jsonl_atomic(path: str | Path, rows: Iterable[Any]) -> None:
    """Write rows as JSON lines (``jsonlines.Writer``, strict ``dumps``) to ``path`` via a temp file + rename:
    readers never see half a file."""
    _atomic_write(Path(path), lambda handle: jsonlines.Writer(handle, dumps=COMPACT_DUMPS).write_all(rows))


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    _atomic_write(
        Path(path),
        lambda handle: handle.write(json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n"),
    )


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + rename)."""
    _atomic_write(Path(path), lambda handle: handle.write(data), binary=True)


# ---- appends: one write() per line, O_APPEND, under an advisory lock -------------------------------------


def _locked_append_fd(path: Path) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), normal_mode())
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def append_jsonl_line(path: str | Path, row: Any) -> None:
    """Append ``row`` as one JSON line: the file is opened ``O_APPEND`` and locked (``fcntl.flock``, shared by
    every appender of our files), the line goes out in one ``write()`` (looped only for a short write, still
    under the lock) and is fsynced before returning. Two processes appending to one file never interleave; a
    crash can leave at most a torn last line, which is moved away (``set_aside_torn_tail``) before the next
    append."""
    path = Path(path)
    buffer = io.BytesIO()
    jsonlines.Writer(buffer, dumps=APPEND_DUMPS).write(row)  # the whole line, so it goes out in one write()
    data = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _locked_append_fd(path)
    try:
        _torn_tail(fd, path)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)  # releases the lock


def _torn_tail(fd: int, path: Path) -> int:
    """Under the lock: when the file does not end in a newline (a crash mid-line), move the torn tail to
    ``PATH.torn`` (appended there), cut it off, and warn; returns the bytes moved."""
    size = os.fstat(fd).st_size
    if size == 0:
        return 0
    with open(path, "rb") as handle:
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        start = size
        block = 1 << 16
        while start > 0:
            begin = max(0, start - block)
            handle.seek(begin)
            chunk = handle.read(start - begin)
            at = chunk.rfind(b"\n")
            if at != -1:
                start = begin + at + 1
                break
            start = begin
        handle.seek(start)
        tail = handle.read(size - start)
    torn = path.with_name(path.name + ".torn")
    torn_fd = os.open(torn, os.O_WRONLY | os.O_APPEND | os.O_CREAT, normal_mode())
    try:
        os.write(torn_fd, tail + b"\n")
        os.fsync(torn_fd)
    finally:
        os.close(torn_fd)
    os.truncate(path, start)
    os.fsync(fd)
    print(
        f"warning: {path}: its last line was torn (a crash while writing, {len(tail)} bytes): "
        f"moved to {torn}",
        file=sys.stderr,
    )
    return len(tail)


def set_aside_torn_tail(path: str | Path) -> int:
    """Move a torn last line of ``path`` (no final newline) to ``PATH.torn`` with a warning, under the append
    lock; returns the bytes moved (0: the file is whole or absent)."""
    path = Path(path)
    if not path.is_file():
        return 0
    fd = _locked_append_fd(path)
    try:
        return _torn_tail(fd, path)
    finally:
        os.close(fd)
