"""SIUO items as plain typed records: the two annotation files merged by question_id.

``load_items`` is what the scoring layer uses to look items up; the ``datasets`` builder
yields the same records as rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SiuoItem:
    """One SIUO item (generation fields + MCQA options)."""

    question_id: int
    image_name: str
    image_path: Path | None  # None when images are absent and explicitly allowed
    question: str
    category: str
    safety_warning: str
    reference_answer: str
    options: dict[str, str]  # "A".."D" -> option text
    correct_option: str

    def read_image_bytes(self) -> bytes | None:
        """The encoded image file's bytes, or None when there is no image."""
        return None if self.image_path is None else self.image_path.read_bytes()
