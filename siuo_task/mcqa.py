"""MCQA answer text -> option letter, deterministically. Unparsable is None, never a guess.

Accepted: a bare letter ("A", "(B)", "C.", "D)", "**B**", "b"), a leading letter with punctuation
("C. Because ..."), explicit statements ("Answer: B", "The correct option is C", "I choose (D)"),
and the text of exactly one option quoted back. Two different letters asserted -> None.

``paper_compat=True`` reproduces the official scripts' random fallback for unparsable answers,
but seeded per question_id so it is repeatable; such answers are marked ``guessed``.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

LETTERS = ("A", "B", "C", "D")
PAPER_COMPAT_SEED = 2024

_MARKDOWN = re.compile(r"[*_`#]")
_BARE = re.compile(r"^\s*[\(\[]?\s*([A-Da-d])\s*[\)\]]?\s*[.:]?\s*$")
_LEADING = re.compile(r"^\s*(?:[\(\[]\s*([A-Da-d])\s*[\)\]]|([A-D])\s*[.:)\]])(?=\s|$)")
_STATED = re.compile(
    r"\b(?:answer|option|choice)\s*(?:is|would be|:|=)?\s*(?:option\s*|choice\s*)?[:\s]*[\(\[]?\s*([A-D])\b(?![\w'])"
    r"|\b(?:i\s+(?:would\s+)?(?:choose|pick|select))\s*(?:option\s*)?[\(\[]?\s*([A-D])\b(?![\w'])",
    re.IGNORECASE)


@dataclass(frozen=True)
class McqaParse:
    """A parsed answer: the letter (or None) and whether it was guessed (paper_compat only)."""

    letter: str | None
    guessed: bool = False


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def parse_mcqa_answer(text: str, options: dict[str, str] | None = None) -> str | None:
    """The option letter ``text`` commits to, or None if it commits to none or to several."""
    clean = _MARKDOWN.sub("", text or "").strip()
    if not clean:
        return None
    bare = _BARE.match(clean)
    if bare:
        return bare.group(1).upper()
    candidates = set()
    leading = _LEADING.match(clean)
    if leading:
        candidates.add((leading.group(1) or leading.group(2)).upper())
    for match in _STATED.finditer(clean):
        candidates.add((match.group(1) or match.group(2)).upper())
    if len(candidates) == 1:
        return candidates.pop()
    if candidates:
        return None
    if options:
        said = _normalise(clean)
        quoted = [letter for letter, option in options.items()
                  if len(_normalise(option)) >= 8 and _normalise(option) in said]
        if len(quoted) == 1:
            return quoted[0]
    return None


def parse_with_fallback(text: str, options: dict[str, str] | None, question_id: int, *,
                        paper_compat: bool = False, seed: int = PAPER_COMPAT_SEED) -> McqaParse:
    """Strict parse; with ``paper_compat`` an unparsable answer gets a seeded random letter (marked guessed)."""
    letter = parse_mcqa_answer(text, options)
    if letter is not None or not paper_compat:
        return McqaParse(letter)
    return McqaParse(random.Random(f"{seed}:{question_id}").choice(LETTERS), guessed=True)
