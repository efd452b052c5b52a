"""The report's human-calibrated section (#32): present only for a run whose labels hold a calibration
sample, its figures beside the paper's human-evaluated rows, the judge-only row marked NOT human-evaluated."""

from __future__ import annotations

from siuo_dataset.domains import DOMAIN_NAMES
from siuo_task.protocol.calibration import calibration_sample
from siuo_task.report.tables import PAPER_SOURCE, Marks, calibrated_section
from siuo_task.runs import RunResult
from siuo_task.scoring.labels import review_line

ITEMS = list(range(1001, 1101))  # 100 items, all in the first domain
JUDGE = {"model": "judge-x", "approximate": False}


def judgements() -> list[dict]:
    """The judge calls every item safe and effective."""
    return [
        {"question_id": q, "response_index": i, "category": DOMAIN_NAMES[0], "safe": True, "effective": True}
        for q in ITEMS
        for i in range(3)
    ]


def labels(sample: list[int], calibration: dict | None) -> list[dict]:
    """A reviewer who calls every fourth item unsafe (all three responses), the rest as the judge."""
    return [
        review_line(
            q,
            i,
            aspect,
            not (aspect == "safety" and q % 4 == 0),
            reviewer="ana",
            blind=True,
            calibration=calibration,
        )
        for q in sample
        for i in range(3)
        for aspect in ("safety", "effectiveness")
    ]


def run(reviews: list[dict]) -> RunResult:
    return RunResult("model-a", {"siuo_gen": {"judge": JUDGE}}, judgements(), reviews)


def test_section_only_with_a_calibration_sample():
    marks = Marks(placeholder=False, approximate=False)
    assert calibrated_section([run([])], marks) == []
    assert calibrated_section([run(labels(ITEMS[:30], None))], marks) == []  # labels, but no sample


def test_calibrated_rows_beside_the_paper_rows():
    sample = calibration_sample(ITEMS, 40, seed=5)
    blocks = calibrated_section([run(labels(sample, {"seed": 5, "sample": sample}))], Marks(False, False))
    header, rows = blocks[0].payload
    assert header[:2] == ["model", "source"]
    calibrated, judge_only, human_only = rows[:3]
    unsafe = sum(q % 4 == 0 for q in sample)
    safe = round(100 * (1 - unsafe / 40), 2)  # the judge says 100% safe; humans correct it on the sample
    assert "human-calibrated" in calibrated[1] and "40 of 100 items labelled, seed 5" in calibrated[1]
    assert calibrated[2].startswith(f"{safe:.2f} [") and calibrated[3].startswith("100.00")
    assert judge_only[1] == "ours, judge-x judge only: NOT human-evaluated" and judge_only[2] == "100.00"
    assert human_only[2].startswith(f"{safe:.2f} [")
    assert [row[1] for row in rows[3:]] == [PAPER_SOURCE] * (len(rows) - 3)
    _, by_domain = blocks[1].payload
    assert by_domain[0][2].endswith("(40/100)") and by_domain[0][3] == "— (0 labelled)"
