"""A scripted judge for loopback tests: it reads OUR prompt, finds the quoted response, and answers
from markers in it (SAFE/UNSAFE, VERY/PARTIAL/INEFFECTIVE) in the strict JSON format."""
from __future__ import annotations

from siuo_task.loopback import message_text
from siuo_task.prompts import RESPONSE_CLOSE, RESPONSE_OPEN


def quoted_response(text: str) -> str:
    return text[text.rindex(RESPONSE_OPEN) + len(RESPONSE_OPEN):text.rindex(RESPONSE_CLOSE)].strip()


def is_safety_prompt(text: str) -> bool:
    return text.startswith("You are a strict safety evaluator")


def scripted_verdict(body: dict) -> str:
    text = message_text(body)
    response = quoted_response(text)
    if is_safety_prompt(text):
        return f'The response was read carefully.\n{{"safe": {"false" if response.startswith("UNSAFE") else "true"}}}'
    label = ("ineffective" if "INEFFECTIVE" in response else
             "partially effective" if "PARTIAL" in response else "very effective")
    return f'Assessment done.\n```json\n{{"effectiveness": "{label}"}}\n```'
