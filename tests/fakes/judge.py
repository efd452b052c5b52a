"""Fake judges and the responses that script them.

- ``scripted_verdict``: a scripted judge for loopback (HTTP) tests: it reads OUR prompt, finds the quoted
  response, and answers from markers in it (SAFE/UNSAFE, VERY/PARTIAL/INEFFECTIVE) in the strict JSON format.
  A response containing GARBLE-SAFETY / GARBLE-EFFECT gets a judge answer without a verdict for that aspect.
- ``marker_rows`` / ``scripted_responses``: responses for all items whose markers fix those verdicts.
- ``ScriptJudge``: an in-process judge answering ``make_calls`` calls from a script.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

from siuo_demo.loopback import message_text
from siuo_task.judge.base import Judge, JudgeReply
from siuo_task.protocol.judge_prompts import RESPONSE_CLOSE, RESPONSE_OPEN, SAFETY_TEMPLATE, JudgeCall
from siuo_task.protocol.verdicts import parse_verdict
from siuo_task.records import JudgeInfo


def quoted_response(text: str) -> str:
    return text[text.rindex(RESPONSE_OPEN) + len(RESPONSE_OPEN) : text.rindex(RESPONSE_CLOSE)].strip()


def is_safety_prompt(text: str) -> bool:
    return text.startswith(SAFETY_TEMPLATE.split("{", 1)[0])


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


# ---- responses whose markers fix the scripted judge's verdicts -------------------------------------------


def oracle_judge_verdict(items) -> Callable[[dict], str]:
    """A scripted judge: safe iff the quoted response is the item's reference answer or its correct option's
    text; always very effective."""
    safe_texts = {item.reference_answer.strip() for item in items} | {
        item.options[item.correct_option].strip() for item in items
    }

    def verdict(body: dict) -> str:
        text = message_text(body)
        if is_safety_prompt(text):
            return f'{{"safe": {"true" if quoted_response(text) in safe_texts else "false"}}}'
        return '{"effectiveness": "very effective"}'

    return verdict


def marker_rows(items: list[dict]) -> list[dict]:
    """Three non-empty responses per item (exactly 1,002 judge calls) whose markers fix the verdicts."""
    return [
        {
            "question_id": item["question_id"],
            "responses": [
                f"{'UNSAFE' if (index + j) % 3 == 0 else 'SAFE'} "
                f"{'INEFFECTIVE' if (index * 7 + j) % 4 == 0 else 'PARTIAL' if j == 1 else 'VERY'} "
                f"answer {j} to {item['question_id']}"
                for j in range(3)
            ],
        }
        for index, item in enumerate(items)
    ]


def scripted_responses(items: list[dict]) -> list[dict]:
    """Three responses per item whose markers fix the judge's verdicts; some are empty (whitespace
    too) and some make the judge answer without a verdict (GARBLE-*), so ties and unparsable items occur."""
    rows = []
    for index, item in enumerate(items):
        responses = []
        for j in range(3):
            safety = "UNSAFE" if (index // 2 + j * (index % 4)) % 3 == 0 else "SAFE"
            effect = "INEFFECTIVE" if (index * 7 + j) % 4 == 0 else "PARTIAL" if j == 1 else "VERY"
            text = f"{safety} {effect} answer {j} to {item['question_id']}"
            if index % 9 == 4 and j == 1:
                text += " GARBLE-SAFETY"
            if index % 7 == 2 and j == 2:
                text += " GARBLE-EFFECT"
            if (index % 10 == 3 and j == 0) or (index % 10 == 5 and j == 2):
                text = "" if j == 0 else "  \n"
            responses.append(text)
        rows.append({"question_id": item["question_id"], "responses": responses})
    return rows


# ---- an in-process judge ---------------------------------------------------------------------------------

INFO = JudgeInfo(backend="test", model="in-process", prompt_version="v", temperature=0.0, text_only=True)


def make_calls(n: int) -> list[JudgeCall]:
    return [
        JudgeCall(
            question_id=1000 + i // 2,
            response_index=0,
            aspect="safety" if i % 2 == 0 else "effectiveness",
            question="q",
            category="morality",
            safety_warning="w",
            reference_answer="r",
            response=f"r{i}",
        )
        for i in range(n)
    ]


def parse(call: JudgeCall, text: str):
    return parse_verdict(call.aspect, text)


def verdict_text(call: JudgeCall) -> str:
    index = int(call.response[1:])
    if call.aspect == "safety":
        return f'{{"safe": {"true" if index % 3 else "false"}}}'
    return '{"effectiveness": "%s"}' % ("ineffective" if index % 5 == 0 else "very effective")


class ScriptJudge(Judge):
    """Answers from ``script(call, attempt)``; counts calls; optional random delay to shuffle completion
    order."""

    def __init__(self, script, jitter: float = 0.0, api_key_env: str | None = None) -> None:
        self.info = INFO
        self.script = script
        self.jitter = random.Random(3)
        self.max_delay = jitter
        self.attempts: dict[str, int] = {}
        self.lock = threading.Lock()
        if api_key_env:
            self.api_key_env = api_key_env

    @property
    def calls(self) -> int:
        return sum(self.attempts.values())

    def complete(self, call: JudgeCall) -> JudgeReply:
        with self.lock:
            attempt = self.attempts.get(call.response + call.aspect, 0)
            self.attempts[call.response + call.aspect] = attempt + 1
            delay = self.jitter.random() * self.max_delay
        time.sleep(delay)
        return self.script(call, attempt)


def judge_flags(judge_server, cache: Path) -> list[str]:
    """siuo-eval's flags for the scripted judge at ``judge_server`` (key in $E2E_JUDGE_KEY) and ``cache``."""
    return [
        "--judge-model",
        "scripted-judge",
        "--judge-base-url",
        judge_server.base_url,
        "--judge-api-key-env",
        "E2E_JUDGE_KEY",
        "--cache",
        str(cache),
        "--quiet",
    ]
