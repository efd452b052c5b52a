"""A SQLite (WAL) cache of judge answers, keyed by everything that determines them: the call and the judge's
whole identity (``JudgeInfo``'s ``IDENTITY_FIELDS``: backend, endpoint, model, prompt version, temperature,
text-only, max tokens, ``--judge-arg`` options), so two servers serving one model name at different URLs, or
one judge with another token limit, never share an answer. Each answer keeps what the reply said about the
judge (model, system fingerprint, finish reason).

Answers of this key scheme (``SCHEMA``) live in their own table (``TABLE``). The answers an older version
cached under keys of the backend and model name only (table ``answers``) are never read: they could be another
judge's. They stay in the file for that older version, and opening it says once how many there are and how to
move the file aside; a file whose ``answers`` table is not ours is refused with one line.

A run looks all its keys up at once (``get_many``) and writes answers through one ``CacheWriter``, which
commits them in groups (what finished in one turn of the runner's event loop), so answers are on disk within
milliseconds (a kill loses at most the last group) without a commit per answer.
Only real answers are stored (parsable, or unparsable after the one re-ask); errors are not.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Self

from siuo_dataset.errors import SiuoError
from siuo_dataset.sources import cache_dir
from siuo_task.judge.base import JudgeReply
from siuo_task.protocol.judge_prompts import JudgeCall
from siuo_task.records import JudgeInfo, identity_fields

QUERY_CHUNK = 500  # keys per SELECT ... IN (...), well under SQLite's bound-parameter limit


SCHEMA = 2  # 1: keys of backend + model name only (table ``answers``); 2: keys of the whole judge identity
TABLE = "answers_v2"  # this scheme's answers
LEGACY_TABLE = "answers"  # scheme 1's answers: counted, never read (older siuo versions still use it)
COLUMNS = ("text", "prompt_tokens", "completion_tokens", "model", "system_fingerprint", "finish_reason")


def cache_key(call: JudgeCall, info: JudgeInfo) -> str:
    """Hex digest of everything that determines the judge's answer to ``call``: the judge's configured
    identity (``identity_fields``) and the call."""
    payload = {
        **identity_fields(info.as_dict()),
        "aspect": call.aspect,
        "question_id": call.question_id,
        "question": call.question,
        "safety_warning": call.safety_warning,
        "reference_answer": call.reference_answer,
        "image": call.image_sha256 if call.image is not None else "text-only",
        "response": call.response,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8", "surrogatepass")).hexdigest()


def default_cache_path() -> Path:
    """judge-cache.sqlite in the SIUO user cache folder (``siuo_dataset.sources.cache_dir``)."""
    return cache_dir() / "judge-cache.sqlite"


class JudgeCache:
    """Thread-safe get/put of ``JudgeReply`` by cache key."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.legacy_answers = False  # the file holds answers of the older key scheme (never read)
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self._db:  # one transaction: two runs opening a new cache at once agree
                self._db.execute("BEGIN IMMEDIATE")
                self._check_schema()
        except BaseException:
            self._db.close()
            raise

    def _check_schema(self) -> None:
        """Create the tables of this key scheme (``TABLE``) when missing; note whether the file holds answers
        of the older scheme (``legacy_answers``: never read, they could be another judge's); refuse a file
        whose ``answers`` table is someone else's with one line."""
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if LEGACY_TABLE in tables:
            columns = [row[1] for row in self._db.execute(f"PRAGMA table_info({LEGACY_TABLE})")]
            if columns[:4] != ["key", "text", "prompt_tokens", "completion_tokens"]:
                raise SiuoError(
                    f"judge cache {self.path} is not a SIUO judge cache: move it aside (mv {self.path} "
                    f"{self.path}.old) or pass another --cache or --no-cache"
                )
            self.legacy_answers = bool(self._db.execute(f"SELECT 1 FROM {LEGACY_TABLE} LIMIT 1").fetchone())
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (key TEXT PRIMARY KEY, text TEXT NOT NULL, "
            "prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, model TEXT, "
            "system_fingerprint TEXT, finish_reason TEXT)"
        )

    def legacy_note(self) -> str | None:
        """One line when the file holds answers of the older key scheme (not used), else None."""
        if not self.legacy_answers:
            return None
        return (
            f"note: judge cache {self.path} holds answers cached by an older siuo under keys that did not "
            "hold the judge's endpoint, token limit or options; they are never used (they could be another "
            f"judge's), so those calls are made again. To drop them: mv {self.path} {self.path}.old"
        )

    def get(self, key: str) -> JudgeReply | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else JudgeReply(*row)

    def get_many(self, keys: Sequence[str]) -> dict[str, JudgeReply]:
        """The cached answers among ``keys`` (few queries for any number of keys)."""
        unique = list(dict.fromkeys(keys))
        found: dict[str, JudgeReply] = {}
        with self._lock:
            for start in range(0, len(unique), QUERY_CHUNK):
                chunk = unique[start : start + QUERY_CHUNK]
                rows = self._db.execute(
                    f"SELECT key, {', '.join(COLUMNS)} FROM {TABLE} WHERE key IN "
                    f"({','.join('?' * len(chunk))})",
                    chunk,
                )
                found.update((key, JudgeReply(*rest)) for key, *rest in rows)
        return found

    def put(self, key: str, reply: JudgeReply) -> None:
        self.put_many([(key, reply)])

    def put_many(self, answers: Iterable[tuple[str, JudgeReply]]) -> None:
        """Store ``(key, reply)`` pairs in one transaction (the same keys as live answers)."""
        with self._lock:
            self._db.executemany(
                f"INSERT OR REPLACE INTO {TABLE} (key, {', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        key,
                        r.text,
                        r.prompt_tokens,
                        r.completion_tokens,
                        r.model,
                        r.system_fingerprint,
                        r.finish_reason,
                    )
                    for key, r in answers
                ],
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CacheWriter:
    """The one writer of a run: ``put`` holds an answer, ``flush`` commits everything held in one transaction.
    The runner flushes once per event-loop turn, so a group is what finished in that turn (a kill loses at
    most that); ``close`` flushes the rest. Once a write has failed (disk full, the file gone), ``failed``
    says so: the runner starts no further call, since an answer that cannot be kept would be paid again."""

    def __init__(self, cache: JudgeCache) -> None:
        self.cache = cache
        self._held: list[tuple[str, JudgeReply]] = []
        self._error: Exception | None = None

    def put(self, key: str, reply: JudgeReply) -> None:
        self._held.append((key, reply))

    @property
    def pending(self) -> bool:
        return bool(self._held)

    @property
    def failed(self) -> bool:
        return self._error is not None

    def flush(self) -> None:
        """Commit the held answers; a failed write is remembered (``failed``) and reported by ``close``."""
        group, self._held = self._held, []
        if group and self._error is None:
            try:
                self.cache.put_many(group)
            except (OSError, sqlite3.Error) as error:
                self._error = error

    def close(self) -> None:
        """Commit the rest; raise once if any write failed."""
        self.flush()
        if self._error is not None:
            raise SiuoError(
                f"could not write the judge cache {self.cache.path} ({self._error}): the run stopped, no "
                "further judge call is paid while answers cannot be kept. Free space (or pass --cache "
                "another path) and run the same command again: the answers cached before are reused"
            ) from None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
