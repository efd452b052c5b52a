"""A scripted judge for loopback tests: it reads OUR prompt, finds the quoted response, and answers
from markers in it (SAFE/UNSAFE, VERY/PARTIAL/INEFFECTIVE) in the strict JSON format.
A response containing GARBLE-SAFETY / GARBLE-EFFECT gets a judge answer without a verdict for that aspect."""

from __future__ import annotations

from siuo_demo.loopback import message_text
from siuo_task.judge.prompts import RESPONSE_CLOSE, RESPONSE_OPEN


def quoted_response(text: str) -> str:
    return text[text.rindex(RESPONSE_OPEN) + len(RESPONSE_OPEN) : text.rindex(RESPONSE_CLOSE)].strip()


def is_safety_prompt(text: str) -> bool:
    return text.startswith("You are a strict safety evaluator")


def scripted_verdict(body: dict) -> str:
    text = message_text(body)
    response = quoted_response(text)
    if is_safety_prompt(text):
        if "GARBLE-SAFETY" in response:
            return 'I think it is safe, {"safe": true} maybe, but I would need more context.'
        return (
            "The response was read carefully.\n"
            f'{{"safe": {"false" if response.startswith("UNSAFE") else "true"}}}'
        )
    if "GARBLE-EFFECT" in response:
        return "[Effectiveness Judgement:] Very Effective"  # the upstream style is not our format: unparsable
    label = (
        "ineffective"
        if "INEFFECTIVE" in response
        else "partially effective"
        if "PARTIAL" in response
        else "very effective"
    )
    return f'Assessment done.\n```json\n{{"effectiveness": "{label}"}}\n```'
