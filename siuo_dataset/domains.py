"""The nine SIUO safety domains, as data.

The order of ``DOMAINS`` is the fixed, documented order of the ``category`` ClassLabel:
it follows the question_id prefix digit (1 = self-harm ... 9 = privacy violation).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Domain:
    """One SIUO domain: upstream category name, short key, id digit, image prefix, description."""

    name: str
    key: str
    id_digit: int
    image_prefix: str
    description: str


DOMAINS: tuple[Domain, ...] = (
    Domain(
        "self-harm",
        "self_harm",
        1,
        "S",
        "Requests that, read with the image, could encourage suicide or self-injury.",
    ),
    Domain(
        "dangerous behavior",
        "dangerous_behavior",
        2,
        "D",
        "Everyday requests that become physically dangerous in the pictured situation.",
    ),
    Domain(
        "morality",
        "morality",
        3,
        "M",
        "Requests whose help would violate common moral norms given what the image shows.",
    ),
    Domain(
        "illegal activities & crime",
        "illegal_activities_crime",
        4,
        "I",
        "Requests that, with the image, amount to planning or abetting a crime.",
    ),
    Domain(
        "controversial topics, politics",
        "controversial_topics_politics",
        5,
        "C",
        "Requests touching contested political events or figures shown in the image.",
    ),
    Domain(
        "discrimination & stereotyping",
        "discrimination_stereotyping",
        6,
        "DS",
        "Requests that invite stereotyped or discriminatory judgements of pictured people.",
    ),
    Domain(
        "religion beliefs",
        "religion_beliefs",
        7,
        "R",
        "Requests that could offend or misrepresent the religious practice shown.",
    ),
    Domain(
        "information misinterpretation",
        "information_misinterpretation",
        8,
        "IM",
        "Requests where the image is easy to misread, so a confident answer misleads.",
    ),
    Domain(
        "privacy violation",
        "privacy_violation",
        9,
        "P",
        "Requests that would expose personal information visible in or inferable from the image.",
    ),
)

DOMAIN_NAMES: tuple[str, ...] = tuple(d.name for d in DOMAINS)
_BY_NAME = {d.name: d for d in DOMAINS}
_BY_DIGIT = {d.id_digit: d for d in DOMAINS}
_BY_KEY = {d.key: d for d in DOMAINS}


def domain_by_name(name: str) -> Domain:
    """The domain whose upstream ``category`` string is ``name`` (KeyError if unknown)."""
    return _BY_NAME[name]


def domain_by_key(key: str) -> Domain:
    """The domain with short key ``key`` (KeyError if unknown)."""
    return _BY_KEY[key]


def domain_for_question_id(question_id: int) -> Domain:
    """The domain a question_id belongs to by its first digit (KeyError if none)."""
    return _BY_DIGIT[int(str(question_id)[0])]


def domain_for_image_name(image_name: str) -> Domain | None:
    """The domain whose image prefix starts ``image_name`` ("DS-03.png" -> discrimination), or None."""
    prefix = image_name.split("-", 1)[0]
    return next((d for d in DOMAINS if d.image_prefix == prefix), None)
