"""Issue #32: human-calibrated figures (the difference estimator / prediction-powered inference), validated on
simulated runs: coverage of the nominal 95% interval and its width against the human-only interval."""

from __future__ import annotations

import random
import time

import pytest

from siuo_dataset.domains import DOMAIN_NAMES
from siuo_task.protocol.calibration import (
    calibrate,
    calibrated_figures,
    calibration_sample,
    difference_interval,
    item_value,
    wilson,
)
from siuo_task.protocol.figures import wilson_interval
from tests.protocol.calibration_sim import HUMAN_RATES, JUDGES, SIZES, simulate

SIMULATIONS = 1000  # simulated runs per setting (each run's coverage exact over its samples)


@pytest.mark.parametrize("judge", list(JUDGES))
def test_the_95_interval_covers_the_true_human_rate_in_93_to_97_percent(judge):
    """Per judge, human rate (30/50/80%) and sample size (20/50/100 of 167): 1000 seeded simulated runs each,
    every run's coverage exact over its samples. Where a sample of 20 is expected to hold fewer than 4
    disagreements (judges agreeing on 85-90%) no interval on so few can be exact, and ours is conservative
    (up to 99.3%), never below 93%."""
    started = time.process_time()  # CPU time: the machine may be shared
    for rate in HUMAN_RATES:
        for size in SIZES:
            out = simulate(judge, rate, size, sims=SIMULATIONS)
            assert out.coverage >= 0.93, (judge, rate, size, out)
            if size * (1 - out.agreement) >= 4:
                assert out.coverage <= 0.97, (judge, rate, size, out)
    assert time.process_time() - started < 10


@pytest.mark.parametrize("judge", [name for name in JUDGES if "agrees" in name])
def test_narrower_than_the_human_only_interval_when_the_judge_agrees_on_80_percent_or_more(judge):
    """With a judge agreeing with humans on >= 80% of items, from 50 labels on, the calibrated interval is
    narrower than the human-only Wilson interval on the same labels, on average and in most samples, at
    SIUO-like rates (30%, 50%: the paper's safe and S&E rows are 16-53%; at 80% too for judges agreeing on
    85% or more)."""
    for rate in (0.3, 0.5, 0.8):
        for size in (50, 100):
            out = simulate(judge, rate, size, sims=400)
            assert out.agreement >= 0.79
            if rate == 0.8 and out.agreement < 0.85 and size == 50:
                continue  # an 80% judge at an 80% rate: no gain on 50 labels (next test)
            assert out.width < out.human_width and out.narrower >= 0.8, (judge, rate, size, out)


def test_where_the_judge_does_not_help_the_interval_is_wider_not_wrong():
    """An uninformative judge (a coin) buys nothing: the interval is wider than the human-only one and still
    covers (the first test); so is an 80% judge on 20 labels, or on 50 at a rate of 80% (its errors then vary
    more than the human verdicts do)."""
    for judge, rate, size in (
        ("uninformative (a coin)", 0.5, 50),
        ("unbiased, agrees on 80%", 0.5, 20),
        ("unbiased, agrees on 80%", 0.8, 50),
    ):
        out = simulate(judge, rate, size, sims=400)
        assert out.width > out.human_width, (judge, rate, size, out)


def test_the_point_estimate_is_the_judge_rate_plus_the_mean_difference():
    """rate = judge's rate on all items + mean(human - judge) on the labelled ones."""
    judge = {q: q % 2 == 0 for q in range(100)}  # 50% safe by the judge
    human = {q: (q % 2 == 0) or q in (1, 3, 5) for q in range(0, 40)}  # the judge missed 3 safe of 40
    out = calibrate(judge, human)
    assert out["judge_rate"] == 50.0
    assert out["rate"] == pytest.approx(50.0 + 100 * 3 / 40)
    assert out["human_rate"] == pytest.approx(100 * 23 / 40)
    assert out["n_labelled"] == 40 and out["n_items"] == 100
    assert out["ci95"][0] < out["rate"] < out["ci95"][1]
    assert out["human_ci95"] == wilson_interval(23, 40)


def test_a_sample_without_disagreement_still_has_an_interval():
    """No disagreement in 20 labels does not prove a perfect judge: the interval keeps its width (the plug-in
    variance would be 0)."""
    judge = {q: q < 50 for q in range(167)}
    out = calibrate(judge, {q: judge[q] for q in range(0, 167, 8)})
    assert out["rate"] == out["judge_rate"]
    assert out["ci95"][1] - out["ci95"][0] > 10


def test_every_item_labelled_gives_the_human_rate_exactly():
    """A census of the finite population: no sampling error is left (the finite-population correction)."""
    rng = random.Random(5)
    judge = {q: rng.random() < 0.6 for q in range(167)}
    human = {q: rng.random() < 0.4 for q in range(167)}
    out = calibrate(judge, human)
    truth = round(100 * sum(human.values()) / 167, 2)
    assert out["rate"] == truth and out["ci95"] == [truth, truth]


def test_the_interval_is_clipped_to_0_100():
    judge = {q: True for q in range(167)}
    out = calibrate(judge, dict.fromkeys(range(30), True))
    assert out["ci95"][1] == 100.0 and out["rate"] == 100.0


def test_undecided_items_count_one_half_on_both_sides():
    """One rule: an undecided majority (tie or no vote) counts 1/2, for the judge and for humans."""
    assert [item_value(v) for v in (True, False, None)] == [1.0, 0.0, 0.5]
    judge = {1: None, 2: True, 3: False, 4: True}
    out = calibrate(judge, {1: True, 2: None})
    assert out["judge_rate"] == pytest.approx(100 * 2.5 / 4)
    assert out["human_rate"] == 75.0
    assert out["rate"] == pytest.approx(100 * (2.5 / 4 + (0.5 - 0.5) / 2))
    delta, low, high = difference_interval([(1.0, 0.5), (0.5, 1.0)], 4)
    assert delta == 0.0 and low < 0 < high


def test_labels_of_items_the_judge_did_not_score_are_refused():
    with pytest.raises(ValueError):
        calibrate({1: True}, {2: True})
    with pytest.raises(ValueError):
        calibrate({1: True}, {})


def test_wilson_matches_the_figures_module():
    for k, n in ((0, 16), (7, 20), (20, 20)):
        low, high = wilson(k / n, n)
        assert [round(100 * low, 2), round(100 * high, 2)] == wilson_interval(k, n)


def test_the_calibration_sample_is_uniform_seeded_and_in_draw_order():
    ids = list(range(1001, 1168))
    first = calibration_sample(ids, 40, seed=3)
    assert first == calibration_sample(reversed(ids), 40, seed=3)  # the population's order does not matter
    assert first != calibration_sample(ids, 40, seed=4)
    assert len(set(first)) == 40 and set(first) <= set(ids)
    assert first != sorted(first)  # draw order: any first part is itself a random sample
    counts = dict.fromkeys(ids, 0)
    for seed in range(600):
        for q in calibration_sample(ids, 20, seed):
            counts[q] += 1
    expected = 600 * 20 / 167
    assert max(counts.values()) < 2 * expected and min(counts.values()) > expected / 3
    with pytest.raises(ValueError):
        calibration_sample(ids, 0, 1)
    with pytest.raises(ValueError):
        calibration_sample(ids, 168, 1)


def test_per_domain_figures_need_ten_labelled_items():
    rng = random.Random(2)
    judge_items, human_items = {}, {}
    for index, domain in enumerate(DOMAIN_NAMES):
        for k in range(18):
            qid = 1000 * (index + 1) + k
            row = {
                "category": domain,
                "safe": rng.random() < 0.5,
                "effective": True,
                "safe_and_effective": None,
            }
            judge_items[qid] = row
            if k < (12 if index == 0 else 4):
                human_items[qid] = {**row, "safe": not row["safe"] if k == 0 else row["safe"]}
    out = calibrated_figures(judge_items, human_items)
    assert set(out) == {"safe", "effective", "safe_and_effective"}
    first, second = out["safe"]["per_domain"][DOMAIN_NAMES[0]], out["safe"]["per_domain"][DOMAIN_NAMES[1]]
    assert first["n_labelled"] == 12 and first["rate"] is not None and first["n_items"] == 18
    assert second == {"rate": None, "n_labelled": 4, "n_items": 18}
    assert out["safe"]["n_labelled"] == 12 + 8 * 4 and out["safe"]["n_items"] == 9 * 18
    assert out["safe_and_effective"]["judge_rate"] == 50.0  # all undecided: one half each
