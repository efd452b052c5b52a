"""Placeholder images, for running the image tasks on the annotations alone (``siuo-data placeholders``):
small, distinct PNGs, each showing its own file name on a colour derived from it (two placeholders never share
bytes, so a test can tell which image reached a model), and each carrying a PNG text chunk that says it is a
placeholder, so results computed on it say so wherever the file goes (``is_placeholder``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

PLACEHOLDER_KEY = "siuo-placeholder"  # PNG tEXt keyword; written before the image data
PLACEHOLDER_SIZE = (64, 64)
_HEAD_BYTES = 256


def is_placeholder(path: str | Path) -> bool:
    """Whether the image file at ``path`` is one of our placeholders (reads only its first bytes)."""
    with open(path, "rb") as handle:
        return b"tEXt" + PLACEHOLDER_KEY.encode() + b"\0" in handle.read(_HEAD_BYTES)


def placeholder_png(image_name: str, path: Path) -> None:
    """Write a 64x64 PNG labelled with ``image_name`` to ``path``."""
    from PIL import Image, ImageDraw
    from PIL.PngImagePlugin import PngInfo

    digest = hashlib.sha256(image_name.encode()).digest()
    image = Image.new("RGB", PLACEHOLDER_SIZE, tuple(digest[:3]))
    ImageDraw.Draw(image).text((2, 26), image_name.removesuffix(".png"), fill=(255, 255, 255))
    info = PngInfo()
    info.add_text(PLACEHOLDER_KEY, image_name)
    image.save(path, format="PNG", pnginfo=info)


def write_placeholder_images(image_names: Iterable[str], image_dir: str | Path) -> Path:
    """Write one placeholder PNG per name into ``image_dir`` (created); return the folder."""
    image_dir = Path(image_dir)
    image_dir.mkdir(parents=True, exist_ok=True)
    for name in image_names:
        placeholder_png(name, image_dir / name)
    return image_dir
