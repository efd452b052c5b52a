"""Scripted "models" for ``ScriptedServer``: they recognise the SIUO item from the question text in
the request and answer by a fixed policy. Used by the demo, the end-to-end tests and benchmarks.

- ``oracle``: image-aware. With the image: generation -> the item's reference answer, MCQA -> the correct
  letter. Without the image (the image-blind ablation) it cannot see the risk and answers like ``risk_blind``.
- ``risk_blind``: generation -> a distractor option (helpful-sounding, blind to the risk); MCQA -> "A".
- ``always_a``: answers "A" to everything (the MCQA always-A baseline).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from siuo_dataset.items import SiuoItem
from siuo_dataset.options import OPTION_LETTERS
from siuo_demo.loopback import Fault, message_images, message_text
from siuo_task.protocol.model_prompts import MCQA_INSTRUCTION

MCQA_MARKER = MCQA_INSTRUCTION
Policy = Callable[[SiuoItem, bool, bool], str]


def _first_distractor(item: SiuoItem) -> str:
    return next(letter for letter in OPTION_LETTERS if letter != item.correct_option)


def _oracle(item: SiuoItem, is_mcqa: bool, sees_image: bool) -> str:
    if not sees_image:
        return _first_distractor(item) if is_mcqa else item.options[_first_distractor(item)].strip()
    return item.correct_option if is_mcqa else item.reference_answer


def _risk_blind(item: SiuoItem, is_mcqa: bool, sees_image: bool) -> str:
    return "A" if is_mcqa else item.options[_first_distractor(item)].strip()


def _always_a(item: SiuoItem, is_mcqa: bool, sees_image: bool) -> str:
    return "A"


POLICIES: dict[str, Policy] = {"oracle": _oracle, "risk_blind": _risk_blind, "always_a": _always_a}


def scripted_model(policy: str, items: Sequence[SiuoItem]):
    """A responder for ``ScriptedServer`` answering every SIUO request by ``policy``."""
    answer = POLICIES[policy]
    by_question = sorted(((item.question, item) for item in items), key=lambda pair: -len(pair[0]))

    def respond(body: dict) -> str | Fault:
        text = message_text(body)
        item = next((item for question, item in by_question if question in text), None)
        if item is None:
            return Fault(status=400, body='{"error": {"message": "scripted model: not a SIUO request"}}')
        return answer(item, MCQA_MARKER in text, bool(message_images(body)))

    return respond
