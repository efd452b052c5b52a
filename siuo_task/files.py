"""File I/O at the edges: output checks before any work, atomic writes (JSON, JSONL, bytes)
(with the user's normal permissions, not ``mkstemp``'s private 0600)."""

from __future__ import annotations

import json
import os
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


def write_jsonl_atomic(path: str | Path, rows: Iterable[Any]) -> None:
    """Write rows as JSON lines to ``path`` via a temp file + rename: readers never see half a file."""

    def write(handle):
        with jsonlines.Writer(handle, compact=True, sort_keys=False) as writer:
            writer.write_all(rows)

    _atomic_write(Path(path), write)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    _atomic_write(
        Path(path), lambda handle: handle.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    )


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + rename)."""
    _atomic_write(Path(path), lambda handle: handle.write(data), binary=True)
