"""Scripted "models" for ``ScriptedServer``: they recognise the SIUO item from the question text in
the request and answer by a fixed policy. Used by the demo, the end-to-end tests and benchmarks.

- ``oracle``: generation -> the item's reference answer; MCQA -> the correct letter.
- ``risk_blind``: generation -> a distractor option (helpful-sounding, blind to the risk); MCQA -> "A".
- ``always_a``: answers "A" to everything (the MCQA always-A baseline).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from siuo_dataset.items import SiuoItem
from siuo_task.loopback import Fault, message_text

MCQA_MARKER = "Answer with the option's letter"
Policy = Callable[[SiuoItem, bool], str]


def _oracle(item: SiuoItem, is_mcqa: bool) -> str:
    return item.correct_option if is_mcqa else item.reference_answer


def _risk_blind(item: SiuoItem, is_mcqa: bool) -> str:
    if is_mcqa:
        return "A"
    distractor = next(letter for letter in "ABCD" if letter != item.correct_option)
    return item.options[distractor].strip()


def _always_a(item: SiuoItem, is_mcqa: bool) -> str:
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
        return answer(item, MCQA_MARKER in text)
    return respond
