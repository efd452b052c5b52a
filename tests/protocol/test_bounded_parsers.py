"""Issue #23 item 9: verdict and MCQA parsing is linear in the input: 1 MB hostile answers parse in well
under a second each, and deep nesting never recurses."""

from __future__ import annotations

import time

import pytest

from siuo_task.protocol.mcqa import parse_mcqa_answer, parse_official, parse_with_fallback
from siuo_task.protocol.verdicts import (
    final_json_object,
    parse_effectiveness,
    parse_safe,
    read_upstream_effectiveness,
    read_upstream_safety,
)

MB = 1 << 20
HOSTILE = {
    "spaces": "x" + " " * MB + "y",
    "spaces then verdict": " " * MB + '{"safe": true}',
    "verdict then spaces": '{"safe": true}' + " " * MB,
    "open braces": "{" * MB,
    "close braces": "}" * MB,
    "brace pairs": "{}" * (MB // 2),
    "deep nesting": '{"a":' * (MB // 5) + "1" + "}" * (MB // 5),
    "deep nesting, verdict inside": '{"safe": ' * (MB // 9) + "true" + "}" * (MB // 9),
    "deep lists": "[" * MB + "]" * MB,
    "quotes and braces": '{"' * (MB // 2),
    "markers": "[Safety Judgement:] " * (MB // 20),
    "quoted markers": "'[Safety Judgement:] True' " * (MB // 27),
    "letters": "A B C D (A) (B) 'C' D: " * (MB // 24),
    "answer statements": "the answer is B, " * (MB // 17),
    "newlines": "\n" * MB,
    "boxed": "\\boxed{" * (MB // 7),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_1_mb_hostile_answer_parses_in_under_a_second(name):
    text = HOSTILE[name]
    for parse in (
        parse_safe,
        parse_effectiveness,
        read_upstream_safety,
        read_upstream_effectiveness,
        parse_mcqa_answer,
        parse_official,
        lambda t: parse_with_fallback(t, None, 1001, paper_compat=True),
    ):
        started = time.monotonic()
        parse(text)
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, (name, parse, elapsed)


def test_bounds_keep_the_verdict_and_refuse_deep_nesting():
    assert parse_safe(" " * MB + '{"safe": true}') is True  # the verdict ends the answer: still read
    assert parse_safe('{"safe": true}' + " " * MB) is True
    assert parse_safe("reasoning " * 100_000 + '\n{"safe": false}') is False
    deep = '{"reason": ' * 30 + '"x"' + "}" * 30
    assert final_json_object(deep) is None  # deeper than 20 levels: no verdict, no RecursionError
    assert final_json_object('{"safe": true, "why": {"a": {"b": [1, 2]}}}') == {
        "safe": True,
        "why": {"a": {"b": [1, 2]}},
    }
    assert parse_safe('{"safe": ' * 600 + "true" + "}" * 600) is None
