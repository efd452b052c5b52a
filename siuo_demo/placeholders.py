"""Small, distinct placeholder PNGs for machines without the real SIUO images.

Each placeholder shows its own file name on a colour derived from it, so two placeholders
never share bytes and a test can tell which image reached a model. Each also says in a PNG text chunk that
it is a placeholder (``siuo_dataset.placeholders.is_placeholder``), so results computed on it can say
so wherever the file goes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

from siuo_dataset.placeholders import PLACEHOLDER_KEY

PLACEHOLDER_SIZE = (64, 64)


def placeholder_png(image_name: str, path: Path) -> None:
    """Write a 64x64 PNG labelled with ``image_name`` to ``path``."""
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
