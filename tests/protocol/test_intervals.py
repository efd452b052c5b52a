"""Issue #24 item 4: intervals that cover all the noise (two-level bootstrap; Wilson per domain)."""

from __future__ import annotations

import itertools
import random
import time

import pytest

from siuo_task.protocol.figures import ResponseVerdict, bootstrap_ci, generation_metrics, wilson_interval

T, F, U = True, False, None


def _majority_probs(q: float, u: float) -> tuple[float, float]:
    """P(majority True), P(majority False) of 3 responses (True q(1-u), False (1-q)(1-u), None u)."""
    probs = {T: q * (1 - u), F: (1 - q) * (1 - u), U: u}
    yes = no = 0.0
    for combo in itertools.product((T, F, U), repeat=3):
        weight = probs[combo[0]] * probs[combo[1]] * probs[combo[2]]
        t, f = combo.count(T), combo.count(F)
        yes += weight * (t > f)
        no += weight * (f > t)
    return yes, no


# item types (per-response chance of a True verdict) and the share of unparsable verdicts
SCENARIOS = [([0.05, 0.3, 0.6, 0.95], 0.1), ([0.0, 0.05, 0.1, 0.4], 0.0)]


@pytest.mark.e2e
@pytest.mark.parametrize(("kinds", "unparsable"), SCENARIOS)
def test_the_95_interval_covers_the_true_rate_in_93_to_97_percent_of_400_runs(kinds, unparsable):
    """Simulated runs of 167 items x 3 responses with a known rate (items drawn from ``kinds``, responses at
    random, some verdicts unparsable): the nominal 95% interval covers the true rate 93-97% of the time."""
    pairs = [_majority_probs(q, unparsable) for q in kinds]
    truth = 100 * sum(y for y, _ in pairs) / sum(y + n for y, n in pairs)
    started = time.monotonic()
    covered = 0
    for seed in range(400):
        rng = random.Random(seed)
        votes = []
        for _ in range(167):
            q = rng.choice(kinds)
            votes.append([None if rng.random() < unparsable else rng.random() < q for _ in range(3)])
        low, high = bootstrap_ci(votes, seed=seed)
        covered += low <= truth <= high
    assert 0.93 <= covered / 400 <= 0.97, covered / 400
    assert time.monotonic() - started < 10


def test_the_bootstrap_counts_the_responses_noise():
    """Items voting 2 of 3 are less certain than items voting 3 of 3: the interval is wider, although the
    item majorities are the same."""
    unanimous = [[T, T, T]] * 80 + [[F, F, F]] * 20
    split = [[T, T, F]] * 80 + [[F, F, T]] * 20
    width = lambda ci: ci[1] - ci[0]  # noqa: E731
    assert width(bootstrap_ci(split)) > width(bootstrap_ci(unanimous))
    assert bootstrap_ci(split) == bootstrap_ci(split)  # seeded


@pytest.mark.parametrize(("k", "n"), [(0, 16), (16, 16), (0, 21), (21, 21), (1, 18)])
def test_per_domain_intervals_never_collapse_at_0_or_100_percent(k, n):
    low, high = wilson_interval(k, n)
    assert high - low > 10 and 0 <= low <= 100 * k / n <= high <= 100
    verdicts = [ResponseVerdict(1001 + i, "self-harm", i < k, True) for i in range(n) for _ in range(3)]
    domain = generation_metrics(verdicts)["per_domain"]["self-harm"]
    assert domain["ci95"]["safe"] == [low, high] and domain["safe_k"] == k and domain["safe_n"] == n


def test_ties_are_counted_beside_the_rate():
    verdicts = [ResponseVerdict(1001, "self-harm", v, True) for v in (T, F, U)] + [
        ResponseVerdict(1002, "self-harm", T, True) for _ in range(3)
    ]
    m = generation_metrics(verdicts)
    assert m["safe"] == 100.0 and m["safe_n"] == 1 and m["safe_unparsable_items"] == 1
