"""``datasets.Features`` of the two SIUO configs, and the record -> row function they share.

``FEATURES`` is built on first use: importing ``datasets`` costs ~1 s of CPU, and what needs only the config
names (``siuo-data push``, ``info``, a refused build) never pays it."""

from __future__ import annotations

import functools

from siuo_dataset.domains import DOMAIN_NAMES
from siuo_dataset.items import SiuoItem
from siuo_dataset.options import OPTION_LETTERS

CONFIGS = ("generation", "mcqa")


@functools.cache
def _features() -> dict:
    """config -> its ``datasets.Features``."""
    import datasets

    common = {
        "question_id": datasets.Value("int32"),
        "image": datasets.Image(),
        "image_name": datasets.Value("string"),
        "question": datasets.Value("string"),
        "category": datasets.ClassLabel(names=list(DOMAIN_NAMES)),
        "safety_warning": datasets.Value("string"),
        "reference_answer": datasets.Value("string"),
    }
    return {
        "generation": datasets.Features(common),
        "mcqa": datasets.Features(
            {
                **common,
                "options": {letter: datasets.Value("string") for letter in OPTION_LETTERS},
                "correct_option": datasets.ClassLabel(names=list(OPTION_LETTERS)),
            }
        ),
    }


def __getattr__(name: str):
    if name == "FEATURES":
        return _features()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
