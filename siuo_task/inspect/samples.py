"""SIUO items -> Inspect samples: the same model input as the lmms-eval path.

Generation: the user's question as it is; MCQA: the protocol's fixed prompt (``build_mcqa_prompt``). Either
way the image and the text go in one user turn, in ``MODEL_CONTENT_ORDER``; the image-blind variants send
the text alone. Each sample's id is the SIUO question id; its metadata holds the id, the domain
(``category``) and the image name (MCQA: the options too). SIUO is resolved, verified and validated once per
process.
"""

from __future__ import annotations

import functools
import os

from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageUser, ContentImage, ContentText

from siuo_dataset.items import LoadedSiuo, SiuoItem, load_siuo
from siuo_task.protocol.model_prompts import MODEL_CONTENT_ORDER, build_mcqa_prompt

DATA_DIR_ENV = "SIUO_DATA_DIR"


def data_dir(given: str | None) -> str | None:
    """The SIUO folder: the task's ``data_dir`` parameter, else $SIUO_DATA_DIR, else the resolver's."""
    return given or os.environ.get(DATA_DIR_ENV) or None


@functools.cache
def _load(folder: str | None, allow_missing_images: bool) -> LoadedSiuo:
    return load_siuo(
        folder,
        allow_missing_images=allow_missing_images,
        missing_fix="run the image-blind tasks (siuo_task/siuo_gen_text, siuo_task/siuo_mcqa_text), or "
        "make placeholders (siuo-data placeholders --data-dir DIR)",
    )


def loaded_siuo(given: str | None = None, *, with_image: bool = True) -> LoadedSiuo:
    """SIUO (from ``data_dir(given)``), loaded once per process; images may be missing only without them."""
    return _load(data_dir(given), not with_image)


def items_by_id(given: str | None = None, *, with_image: bool = True) -> dict[int, SiuoItem]:
    return {item.question_id: item for item in loaded_siuo(given, with_image=with_image).items}


def user_turn(item: SiuoItem, text: str, *, with_image: bool) -> ChatMessageUser:
    """One user turn: the item's image and ``text`` in the protocol's order (the text alone when
    image-blind)."""
    parts = {"text": ContentText(text=text)}
    if with_image:
        parts["image"] = ContentImage(image=str(item.image_path))
    return ChatMessageUser(content=[parts[kind] for kind in MODEL_CONTENT_ORDER if kind in parts])


def gen_sample(item: SiuoItem, *, with_image: bool) -> Sample:
    return Sample(
        input=[user_turn(item, item.question, with_image=with_image)],
        target=item.reference_answer,
        id=item.question_id,
        metadata={"question_id": item.question_id, "category": item.category, "image_name": item.image_name},
    )


def mcqa_sample(item: SiuoItem, *, with_image: bool) -> Sample:
    return Sample(
        input=[user_turn(item, build_mcqa_prompt(item.question, item.options), with_image=with_image)],
        target=item.correct_option,
        id=item.question_id,
        metadata={
            "question_id": item.question_id,
            "category": item.category,
            "image_name": item.image_name,
            "options": dict(item.options),
        },
    )


def siuo_dataset(kind: str, given: str | None = None, *, with_image: bool = True) -> MemoryDataset:
    """The samples of ``kind`` ("generation" or "mcqa"), in question id order."""
    make = gen_sample if kind == "generation" else mcqa_sample
    items = loaded_siuo(given, with_image=with_image).items
    return MemoryDataset([make(item, with_image=with_image) for item in items], name=f"siuo-{kind}")
