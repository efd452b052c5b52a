"""MCQA answer text -> option letter, deterministically. Unparsable is None, never a guess.

Accepted, in this order:
1. the whole answer is a letter: "A", "(B)", "C.", "D)", "'C'", "**B**", "b", "Option B", "Answer: b";
2. otherwise every letter the answer *asserts* is collected: any line that is a bare letter
   ("B" then an explanation), a leading "C. ...", "(A) ...", "D: ...", "Option D: ...", and statements
   ("Answer: B", "the correct option is C", "I choose (D)", "B is the correct answer");
   exactly one distinct letter -> that letter; two or more ("Answer: A ... the answer is B") -> None;
3. with no letter at all, the text of exactly one option quoted back (8+ characters) -> its letter.

Mentions are not assertions: "Option A is wrong, the answer is B" -> B. A lowercase "a" counts only
when it cannot be the article ("(a)", "a.", "option a"): "the answer is a good one" is no answer.

``paper_compat=True`` reproduces the official scripts' random fallback for unparsable answers, but
seeded per question_id (``random.Random(f"{seed}:{question_id}")``) so it is repeatable; such answers
are marked ``guessed`` and counted as unparsable in the metrics.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

LETTERS = ("A", "B", "C", "D")
PAPER_COMPAT_SEED = 2024

_MARKDOWN = re.compile(r"[*_`#]|[\u201c\u201d\u2018\u2019]")
_KEYWORD = r"(?i:answer|option|choice)"
_OPTION = r"(?i:option|choice)"


def _letter_pattern(tag: str) -> str:
    """A letter that stands alone: "option c", bracketed/quoted, uppercase A-D, lowercase b-d, or an "a"
    followed by punctuation or the end (never the article "a"). Group names start with ``tag``."""
    return (rf"(?:{_OPTION}\s+[\(\[]?(?P<{tag}0>[A-Da-d])[\)\]]?(?![\w'-])"
            rf"|[\(\[]\s*(?P<{tag}1>[A-Da-d])\s*[\)\]]|'(?P<{tag}2>[A-Da-d])'|\"(?P<{tag}3>[A-Da-d])\""
            rf"|(?P<{tag}4>[A-Db-d])(?![\w'-])|(?P<{tag}5>a)(?=\s*[.):;,]?\s*$|[.):;,]))")


_BARE = re.compile(rf"^\s*(?i:answer\s*[:\-=]?\s*)?{_letter_pattern('b')}\s*[.:)]?\s*$")
_LEADING = re.compile(rf"^\s*(?:[\(\[]\s*(?P<l>[A-Da-d])\s*[\)\]]|{_letter_pattern('l')}\s*[.:)\-])(?=\s|$)")
_STATEMENTS = [
    # "answer: B", "the correct option is (C)", "the best choice would be D", "correct option: option c"
    re.compile(rf"\b{_KEYWORD}(?i:\s+(?:here|for\s+this\s+question))?\s*"
               rf"(?i:is|would\s+be|will\s+be|should\s+be|:|-|=)\s*:?\s*{_letter_pattern('s')}"),
    # "I choose B", "I would pick option (C)", "I'll go with D"
    re.compile(rf"\b(?i:choose|pick|select|go\s+with)\s+{_letter_pattern('s')}"),
    # "B is the correct answer", "option c is correct"
    re.compile(rf"(?:^|(?<=\s)){_letter_pattern('s')}\s+(?i:is\s+(?:the\s+)?"
               rf"(?:correct|right|best|safest|most\s+appropriate))\b"),
]
_ALTERNATIVE = re.compile(rf"\s*(?:,|/|(?i:or|and))\s*{_letter_pattern('a')}")


@dataclass(frozen=True)
class McqaParse:
    """A parsed answer: the letter (or None) and whether it was guessed (paper_compat only)."""

    letter: str | None
    guessed: bool = False


def _letter(match: re.Match) -> str:
    return next(value for value in match.groupdict().values() if value).upper()


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def parse_mcqa_answer(text: str, options: dict[str, str] | None = None) -> str | None:
    """The option letter ``text`` commits to, or None if it commits to none or to several."""
    clean = _MARKDOWN.sub("", text or "").strip()
    if not clean:
        return None
    bare = _BARE.match(clean)
    if bare:
        return _letter(bare)
    candidates = {_letter(line) for line in map(_BARE.match, clean.splitlines()) if line}
    leading = _LEADING.match(clean)
    if leading:
        candidates.add(_letter(leading))
    for pattern in _STATEMENTS:
        for match in pattern.finditer(clean):
            candidates.add(_letter(match))
            alternative = _ALTERNATIVE.match(clean, match.end())  # "the answer is A or D": both asserted
            if alternative:
                candidates.add(_letter(alternative))
    if candidates:
        return candidates.pop() if len(candidates) == 1 else None
    if options:
        said = f" {_normalise(clean)} "
        quoted = [letter for letter, option in sorted(options.items())
                  if len(_normalise(option)) >= 8 and f" {_normalise(option)} " in said]
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
