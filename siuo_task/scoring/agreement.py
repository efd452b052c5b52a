"""Agreement statistics between binary labels: confusion, balanced accuracy, Cohen's kappa, and the agreement
of two judges' judgements (``compare_judgements``) (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from siuo_dataset.domains import DOMAIN_NAMES
from siuo_dataset.errors import SiuoError


def confusion(truth: Sequence[bool], predicted: Sequence[bool]) -> dict[str, int]:
    """Counts of true/false positives/negatives (positive = True)."""
    pairs = list(zip(truth, predicted))
    return {
        "tp": sum(t and p for t, p in pairs),
        "fn": sum(t and not p for t, p in pairs),
        "fp": sum(p and not t for t, p in pairs),
        "tn": sum(not t and not p for t, p in pairs),
    }


def balanced_accuracy(counts: dict[str, int]) -> float | None:
    """Mean of the true-positive and true-negative rates (None if a class is absent)."""
    positives, negatives = counts["tp"] + counts["fn"], counts["tn"] + counts["fp"]
    if not positives or not negatives:
        return None
    return round(0.5 * (counts["tp"] / positives + counts["tn"] / negatives), 4)


def cohen_kappa(counts: dict[str, int]) -> float | None:
    """Cohen's kappa of the two raters behind ``counts`` (None when undefined)."""
    n = sum(counts.values())
    if not n:
        return None
    observed = (counts["tp"] + counts["tn"]) / n
    yes_a, yes_b = (counts["tp"] + counts["fn"]) / n, (counts["tp"] + counts["fp"]) / n
    expected = yes_a * yes_b + (1 - yes_a) * (1 - yes_b)
    return None if expected == 1 else round((observed - expected) / (1 - expected), 4)


def agreement_summary(truth: Sequence[bool], predicted: Sequence[bool]) -> dict:
    """n, raw agreement, balanced accuracy, kappa and the confusion counts."""
    counts = confusion(truth, predicted)
    n = len(truth)
    return {
        "n": n,
        "agreement": None if not n else round((counts["tp"] + counts["tn"]) / n, 4),
        "balanced_accuracy": balanced_accuracy(counts),
        "kappa": cohen_kappa(counts),
        "confusion": counts,
    }


def agreement_by_domain(
    truth: Sequence[bool], predicted: Sequence[bool], domains: Sequence[str], **counts: int
) -> dict:
    """``agreement_summary`` overall, then ``counts`` (what was left out, and why), then ``per_domain``: the
    summary of each of the 9 domains (in DOMAIN_NAMES order)."""
    summary = {**agreement_summary(truth, predicted), **counts}
    summary["per_domain"] = {
        name: agreement_summary(
            [t for t, d in zip(truth, domains) if d == name],
            [p for p, d in zip(predicted, domains) if d == name],
        )
        for name in DOMAIN_NAMES
    }
    return summary


def compare_judgements(first: dict, second: dict, first_name: str, second_name: str) -> dict:
    """Agreement of two judgement sets keyed by (question_id, response_index) (rows with ``category``,
    ``response``, ``safe``, ``effective``) on safe and on effective, overall and per domain, over the rows
    with both verdicts; they must judge the same responses."""
    if set(first) != set(second):
        only = sorted(set(first) ^ set(second))[:3]
        raise SiuoError(
            f"{first_name} and {second_name} judge different responses (e.g. {only}): compare "
            "judgements of the same responses file"
        )
    for key in first:
        if first[key]["response"] != second[key]["response"]:
            raise SiuoError(
                f"question_id {key[0]} response {key[1]}: the response texts differ between the files"
            )
    result = {}
    for field in ("safe", "effective"):
        both = [
            (row[field], second[key][field], row["category"])
            for key, row in first.items()
            if row[field] is not None and second[key][field] is not None
        ]
        a, b, domains = zip(*both) if both else ((), (), ())
        unparsable = len(first) - len(both)  # no verdict from A or from B
        result[field] = agreement_by_domain(a, b, domains, excluded_unparsable=unparsable)
    return result
