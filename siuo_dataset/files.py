"""File modes for what we create through ``tempfile`` (which makes everything private)."""

from __future__ import annotations

import os


def umask() -> int:
    """The process umask (read by setting and restoring it; there is no read-only call)."""
    current = os.umask(0o022)
    os.umask(current)
    return current


def normal_mode(directory: bool = False) -> int:
    """The mode ``open``/``mkdir`` would give a new file (0o666) or folder (0o777) under the user's umask."""
    return (0o777 if directory else 0o666) & ~umask()
