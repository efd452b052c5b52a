"""Simulated runs for the human-calibrated figures (``siuo_task.protocol.calibration``): known human verdicts
on 167 items, a judge of known error, a uniform random sample of labelled items, the estimator's interval.

Each simulation draws a fresh run (which items humans call safe, at an exact rate; which ones the judge gets
wrong, each with its known chance, so the run's share of errors varies around the setting's). Its coverage
is computed **exactly** over every sample of the size (the interval depends on the sample only through how
many items of each kind of disagreement it holds, a multivariate hypergeometric count), so a setting's
coverage carries no noise from drawing samples; the widths are those of one seeded sample per run.
``python -m tests.protocol.calibration_sim`` prints the table in docs/protocol.md.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass

from siuo_task.protocol.calibration import score_interval, wilson

N_ITEMS = 167
SIMULATIONS = 1000
SIZES = (20, 50, 100)
HUMAN_RATES = (0.3, 0.5, 0.8)
# name -> (expected share of items the judge calls 1 where humans say 0, of those it calls 0 where humans
# say 1);
# "uninformative" is a fair coin whatever the item.
JUDGES = {
    "unbiased, agrees on 90%": (0.05, 0.05),
    "unbiased, agrees on 80%": (0.10, 0.10),
    "biased towards safe, agrees on 85%": (0.15, 0.0),
    "biased towards unsafe, agrees on 85%": (0.0, 0.15),
    "uninformative (a coin)": None,
}


@dataclass(frozen=True)
class Outcome:
    coverage: float  # mean over the simulated runs of the share of samples whose interval holds the true rate
    width: float  # mean width of the calibrated interval, points
    human_width: float  # mean width of the human-only (Wilson) interval on the same sample, points
    narrower: float  # share of simulations where the calibrated interval is the narrower one
    agreement: float  # mean share of items where judge and humans agree


_COMB = [[float(math.comb(n, k)) for k in range(n + 1)] for n in range(N_ITEMS + 1)]


@functools.cache
def exact_coverage(higher: int, lower: int, size: int, population: int = N_ITEMS) -> float:
    """P(the interval holds the true mean difference) over all samples of ``size`` from a run with ``higher``
    items where humans say 1 and the judge 0 and ``lower`` the other way round (the judge's rate shifts the
    interval and the truth alike, and clipping to [0, 100] never drops a true rate)."""
    truth = (higher - lower) / population
    rest = population - higher - lower
    covered = 0.0
    for b in range(min(higher, size) + 1):
        for c in range(max(0, size - b - rest), min(lower, size - b) + 1):
            _, low, high = score_interval(float(b), float(c), size, population)
            if low - 1e-12 <= truth <= high + 1e-12:
                covered += _COMB[higher][b] * _COMB[lower][c] * _COMB[rest][size - b - c]
    return covered / _COMB[population][size]


def simulate(judge: str, human_rate: float, size: int, sims: int = SIMULATIONS, seed: int = 0) -> Outcome:
    rng = random.Random(f"{judge}/{human_rate}/{size}/{seed}")
    errors = JUDGES[judge]
    positives = round(human_rate * N_ITEMS)
    narrower = 0
    covered = width = human_width = agreement = 0.0
    items = range(N_ITEMS)
    for _ in range(sims):
        chosen = set(rng.sample(items, positives))
        human = [int(i in chosen) for i in items]
        if errors is None:
            bits = rng.getrandbits(N_ITEMS)
            judged = [(bits >> i) & 1 for i in items]
        else:  # each item wrong with its known chance: the run's share of errors varies around the setting's
            flip = (errors[0] / (1 - human_rate), errors[1] / human_rate)
            judged = [1 - h if rng.random() < flip[h] else h for h in human]
        sample = rng.sample(items, size)
        b = sum(human[i] > judged[i] for i in sample)
        c = sum(human[i] < judged[i] for i in sample)
        judge_rate = sum(judged) / N_ITEMS
        _, low, high = score_interval(float(b), float(c), size, N_ITEMS)
        low, high = max(0.0, judge_rate + low), min(1.0, judge_rate + high)
        covered += exact_coverage(
            sum(h > j for h, j in zip(human, judged)), sum(h < j for h, j in zip(human, judged)), size
        )
        h_low, h_high = wilson(sum(human[i] for i in sample) / size, size)
        width += high - low
        human_width += h_high - h_low
        narrower += high - low < h_high - h_low
        agreement += sum(h == j for h, j in zip(human, judged)) / N_ITEMS
    return Outcome(
        covered / sims, 100 * width / sims, 100 * human_width / sims, narrower / sims, agreement / sims
    )


def table(human_rate: float = 0.5) -> str:
    """The Markdown table of docs/protocol.md: per judge and sample size, coverage and mean widths."""
    lines = [
        "| judge | labelled items | coverage | calibrated width | human-only width |",
        "|---|---|---|---|---|",
    ]
    for judge in JUDGES:
        for size in SIZES:
            out = simulate(judge, human_rate, size)
            lines.append(
                f"| {judge} | {size} | {100 * out.coverage:.1f}% | {out.width:.1f} | {out.human_width:.1f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    for judge in JUDGES:
        for rate in HUMAN_RATES:
            for size in SIZES:
                out = simulate(judge, rate, size)
                print(
                    f"{judge:38s} p={rate} n={size:3d} coverage={out.coverage:.3f} width={out.width:5.1f} "
                    f"human={out.human_width:5.1f} narrower={out.narrower:.2f} agree={out.agreement:.2f}"
                )
    print(table())
