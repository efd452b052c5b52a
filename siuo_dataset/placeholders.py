"""How placeholder images are recognised: the demo and the tests write small PNGs that carry a text chunk
saying they are placeholders (see ``siuo_demo.placeholders``), so results computed on them can say so
wherever the files go. Only the recognising lives in the product."""

from __future__ import annotations

from pathlib import Path

PLACEHOLDER_KEY = "siuo-placeholder"  # PNG tEXt keyword; written before the image data
_HEAD_BYTES = 256


def is_placeholder(path: str | Path) -> bool:
    """Whether the image file at ``path`` is one of our placeholders (reads only its first bytes)."""
    with open(path, "rb") as handle:
        return b"tEXt" + PLACEHOLDER_KEY.encode() + b"\0" in handle.read(_HEAD_BYTES)
