"""The review server's copy of ``reviews.jsonl`` in memory: read whole once, then only the lines appended
since (this server's or another's), so a page costs the same with 6 or 6,000 labels.

Before every use the file is looked at (``os.stat``: one system call): the same inode, size and
modification time -> nothing to read; grown, with the bytes before the old end unchanged -> only the new lines
are read; a new inode (replaced, moved aside), a shorter file or changed bytes before the old end -> read
whole again. Lines are read under the appenders' shared lock, one ``MAX_REVIEW_LINE`` at most each
(``readers.review_label``: a longer line is one error naming it, never read whole). Kept: the latest usable
label per (question id, response, aspect, reviewer), the shape ``scoring.labels.latest_labels`` gives; a
counter (``version``) that changes whenever they may have, for the server to recompute what it derives from
them only then.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

from siuo_task.readers import open_regular, review_label, review_lines

TAIL_BYTES = 256  # the bytes before the end already read, compared before reading on (a rewrite is noticed)


class ReviewsIndex:
    """The usable labels of one reviews file, kept up to date incrementally.

    ``usable``: the run's filter of freshly read labels (``ReviewSession.labels``: foreign ones left out,
    labels without a fingerprint refused unless accepted)."""

    def __init__(self, path: str | Path, usable: Callable[[list[dict]], list[dict]]) -> None:
        self.path, self.usable = Path(path), usable
        self.version = 0
        self.reads = 0  # how many times the file was read (whole or from where it was left): for tests
        self._clear()

    def _clear(self) -> None:
        self.latest: dict[tuple, dict] = {}
        self._identity: tuple | None = None  # (device, inode, size, mtime) when last read
        self._offset = 0  # bytes read so far
        self._lines = 0  # lines read so far (for FILE:LINE in errors)
        self._tail = b""
        self._labels: list[dict] | None = []
        self.version += 1

    def labels(self) -> list[dict]:
        """The latest usable label per (question id, response index, aspect, reviewer), up to date."""
        self.refresh()
        if self._labels is None:
            self._labels = list(self.latest.values())
        return self._labels

    def refresh(self) -> int:
        """Read what changed since the last call; return ``version`` (changed iff the labels may have)."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            if self._identity is not None or self.latest:
                self._clear()
            return self.version
        identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        if identity == self._identity:
            return self.version
        with open_regular(self.path) as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
            now = os.fstat(handle.fileno())
            if not self._continues(handle, now):
                self._clear()
            self._read_on(handle)
            self._identity = (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns)
        return self.version

    def _continues(self, handle, now: os.stat_result) -> bool:
        """Whether the open file is the one read so far, grown or not (same inode, no shorter, same bytes
        before the old end)."""
        if (
            self._identity is None
            or (now.st_dev, now.st_ino) != self._identity[:2]
            or now.st_size < self._offset
        ):
            return False
        handle.seek(self._offset - len(self._tail))
        return handle.read(len(self._tail)) == self._tail

    def _read_on(self, handle) -> None:
        """Read the lines after ``_offset`` into ``latest`` (nothing is kept from a batch with a bad line: the
        error names it, and the next call reads from the same place)."""
        handle.seek(self._offset)
        offset, number, read = self._offset, self._lines, []
        for raw in review_lines(handle):
            number += 1
            label = review_label(self.path, number, raw)
            offset += len(raw)
            if label is not None:
                read.append(label)
        self.reads += 1
        kept = self.usable(read) if read else []
        if offset != self._offset:
            handle.seek(max(offset - TAIL_BYTES, 0))
            self._tail = handle.read(offset - max(offset - TAIL_BYTES, 0))
        self._offset, self._lines = offset, number
        for row in kept:
            self.latest[(row["question_id"], row["response_index"], row["aspect"], row["reviewer"])] = row
        self._labels = None
        self.version += 1
