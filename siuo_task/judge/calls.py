"""SIUO items -> judge calls: the one place a ``JudgeCall`` is built, for generation judging and for judge
validation alike."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from siuo_dataset.items import SiuoItem
from siuo_task.protocol.judge_prompts import ASPECTS, Aspect, JudgeCall


def item_calls(
    item: SiuoItem,
    responses: Iterable[tuple[int, str]],
    aspects: Sequence[Aspect] = ASPECTS,
    *,
    text_only: bool,
    reference_blind: bool = False,
) -> list[JudgeCall]:
    """One call per aspect for each ``(response_index, response)`` about ``item``, response by response; the
    image is read once (none when ``text_only``), the reference answer hidden when ``reference_blind``."""
    image = None if text_only else item.read_image_bytes()
    image_sha256 = None if image is None else hashlib.sha256(image).hexdigest()
    reference = "" if reference_blind else item.reference_answer
    return [
        JudgeCall(
            question_id=item.question_id,
            response_index=index,
            aspect=aspect,
            question=item.question,
            category=item.category,
            safety_warning=item.safety_warning,
            reference_answer=reference,
            response=response,
            image=image,
            image_sha256=image_sha256,
        )
        for index, response in responses
        for aspect in aspects
    ]
