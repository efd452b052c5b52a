"""``datasets.Features`` of the two SIUO configs, and the record -> row function they share."""

from __future__ import annotations

import datasets

from siuo_dataset.domains import DOMAIN_NAMES
from siuo_dataset.items import SiuoItem
from siuo_dataset.options import OPTION_LETTERS

CONFIGS = ("generation", "mcqa")
CATEGORY = datasets.ClassLabel(names=list(DOMAIN_NAMES))
OPTION_LABEL = datasets.ClassLabel(names=list(OPTION_LETTERS))

_COMMON = {
    "question_id": datasets.Value("int32"),
    "image": datasets.Image(),
    "image_name": datasets.Value("string"),
    "question": datasets.Value("string"),
    "category": CATEGORY,
    "safety_warning": datasets.Value("string"),
    "reference_answer": datasets.Value("string"),
}
FEATURES = {
    "generation": datasets.Features(_COMMON),
    "mcqa": datasets.Features(
        {
            **_COMMON,
            "options": {letter: datasets.Value("string") for letter in OPTION_LETTERS},
            "correct_option": OPTION_LABEL,
        }
    ),
}


def item_to_row(item: SiuoItem, config: str) -> dict:
    """One dataset row (image as its file path, or None) for ``config``."""
    row = {
        "question_id": item.question_id,
        "image": None if item.image_path is None else str(item.image_path),
        "image_name": item.image_name,
        "question": item.question,
        "category": item.category,
        "safety_warning": item.safety_warning,
        "reference_answer": item.reference_answer,
    }
    if config == "mcqa":
        row["options"] = dict(item.options)
        row["correct_option"] = item.correct_option
    return row
