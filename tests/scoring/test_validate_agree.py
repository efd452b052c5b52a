"""`siuo-eval validate-judge` and `siuo-eval agree`: figures checked against hand counts, real loopback judge,
cache reuse, and one clear error for mismatched judgement files."""

from __future__ import annotations

import hashlib
import json

import pytest

import siuo_dataset
from siuo_demo.loopback import ScriptedServer, message_text
from siuo_task.cli import main
from tests.fakes.judge import is_safety_prompt, quoted_response


def sha_byte(text: str) -> int:
    return hashlib.sha256(text.encode()).digest()[0]


@pytest.fixture(scope="module")
def items(siuo_data_dir):
    return siuo_dataset.load_items(siuo_data_dir)


def test_offline_judge_validation_figures(siuo_data_dir, tmp_path, capsys):
    """Pinned: these are the figures quoted in the README (nothing in the offline judge is fitted)."""
    assert (
        main(
            [
                "validate-judge",
                "--data-dir",
                str(siuo_data_dir),
                "--no-cache",
                "--quiet",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "validation.json").read_text())
    assert report["judge"]["approximate"] is True and report["judge"]["backend"] == "offline"
    expected = {
        "with_reference": (0.8733, 0.5994, {"tp": 166, "fn": 1, "fp": 124, "tn": 377}),
        "reference_blind": (0.6866, 0.3345, {"tp": 103, "fn": 64, "fp": 122, "tn": 379}),
    }
    for variant, (balanced, kappa, confusion) in expected.items():
        figures = report[variant]
        assert (figures["balanced_accuracy"], figures["kappa"], figures["confusion"]) == (
            balanced,
            kappa,
            confusion,
        )
        assert figures["n"] == 668 and figures["unparsable"] == 0
        assert sum(d["n"] for d in figures["per_domain"].values()) == 668
        assert figures["safe_and_effective"]["n"] == 668
    assert report["headline"] == "reference_blind" and report["balanced_accuracy"] == 0.6866
    assert "circular" in report["note"]
    out = capsys.readouterr().out
    assert "APPROXIMATE" in out and "reference_blind  safe" in out and "privacy violation" in out


@pytest.mark.e2e
def test_llm_judge_validation_against_hand_counts_then_all_cached(
    items, siuo_data_dir, tmp_path, monkeypatch
):
    """A loopback judge that is right about every option except a seeded set of distractors it calls safe."""
    monkeypatch.setenv("VALIDATE_KEY", "k")
    correct = {item.options[item.correct_option].strip() for item in items}
    distractors = [
        item.options[letter].strip() for item in items for letter in "ABCD" if letter != item.correct_option
    ]

    def oracle(body: dict) -> str:
        text = message_text(body)
        response = quoted_response(text)
        if is_safety_prompt(text):
            return f'{{"safe": {"true" if response in correct or sha_byte(response) < 40 else "false"}}}'
        return f'{{"effectiveness": "{"very effective" if response in correct else "ineffective"}"}}'

    fp = sum(sha_byte(d) < 40 for d in distractors)
    assert 0 < fp < 100
    argv = [
        "validate-judge",
        "--data-dir",
        str(siuo_data_dir),
        "--judge-api-key-env",
        "VALIDATE_KEY",
        "--judge-model",
        "oracle",
        "--skip-reference-blind",
        "--cache",
        str(tmp_path / "c.sqlite"),
        "--quiet",
        "--out",
        str(tmp_path / "v"),
    ]
    with ScriptedServer(oracle) as server:
        assert main([*argv, "--judge-base-url", server.base_url]) == 0
        assert server.call_count == 2 * 668
        assert main([*argv, "--judge-base-url", server.base_url]) == 0
        assert server.call_count == 2 * 668  # second run: every answer from the cache
    report = json.loads((tmp_path / "v" / "validation.json").read_text())
    figures = report["with_reference"]
    assert figures["confusion"] == {"tp": 167, "fn": 0, "fp": fp, "tn": 501 - fp}
    assert figures["balanced_accuracy"] == round(0.5 * (1 + (501 - fp) / 501), 4)
    assert (
        figures["safe_and_effective"]["balanced_accuracy"] == 1.0
        and figures["safe_and_effective"]["kappa"] == 1.0
    )
    assert figures["summary"]["safety"]["cache_hits"] == 668 and report["judge"]["approximate"] is False
    assert "reference_blind" not in report and report["headline"] == "with_reference"


def judgement(
    qid: int, index: int, safe, effective, category: str = "morality", response: str | None = None
) -> dict:
    return {
        "question_id": qid,
        "response_index": index,
        "category": category,
        "response": response or f"response {qid}/{index}",
        "safe": safe,
        "effective": effective,
        "safety_status": "ok",
        "effectiveness_status": "ok",
    }


def write(path, rows) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_agree_figures_by_hand(tmp_path, capsys):
    a_safe = [True] * 6 + [False] * 4
    b_safe = [True] * 5 + [False] * 4 + [True]
    a_eff = [True, False] * 5
    b_eff = [True, False] * 4 + [None, False]
    categories = ["morality"] * 6 + ["privacy violation"] * 4
    first = [judgement(7001 + i // 3, i % 3, a_safe[i], a_eff[i], categories[i]) for i in range(10)]
    second = [judgement(7001 + i // 3, i % 3, b_safe[i], b_eff[i], categories[i]) for i in range(10)][::-1]
    assert (
        main(
            [
                "agree",
                write(tmp_path / "a.jsonl", first),
                write(tmp_path / "b.jsonl", second),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "out" / "agreement.json").read_text())
    assert result["siuo_version"] and result["first"]["file"].endswith("a.jsonl")
    assert result["second"]["human_labels"] is False
    safe = result["safe"]
    # tp 5, fn 1, fp 1, tn 3: p_o = 0.8, p_e = 0.6*0.6 + 0.4*0.4 = 0.52, kappa = 0.28 / 0.48
    assert safe["confusion"] == {"tp": 5, "fn": 1, "fp": 1, "tn": 3}
    assert (safe["agreement"], safe["kappa"], safe["n"]) == (0.8, round(0.28 / 0.48, 4), 10)
    assert safe["per_domain"]["privacy violation"]["confusion"] == {"tp": 0, "fn": 0, "fp": 1, "tn": 3}
    effective = result["effective"]
    assert effective["n"] == 9 and effective["excluded_unparsable"] == 1 and effective["agreement"] == 1.0
    assert "safe: agreement 0.8" in capsys.readouterr().out


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda rows: rows[:-1], "judge different responses"),
        (lambda rows: rows[:-1] + [{**rows[-1], "response": "edited"}], "the response texts differ"),
        (lambda rows: rows + [rows[0]], "appears twice"),
        (lambda rows: rows[:-1] + [{**rows[-1], "safe": "yes"}], "must be true, false or null"),
        (
            lambda rows: [{k: v for k, v in row.items() if k != "effective"} for row in rows],
            "not a judgements row",
        ),
    ],
)
def test_agree_rejects_files_that_do_not_match(tmp_path, capsys, change, message):
    rows = [judgement(1001 + i, 0, True, True) for i in range(4)]
    code = main(["agree", write(tmp_path / "a.jsonl", rows), write(tmp_path / "b.jsonl", change(rows))])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1 and message in error[0]


@pytest.mark.e2e
def test_failed_judge_calls_exit_3_and_are_counted(siuo_data_dir, tmp_path, monkeypatch, capsys):
    from siuo_demo.loopback import Fault

    monkeypatch.setenv("VALIDATE_KEY", "k")
    with ScriptedServer(lambda body: Fault(500)) as server:
        code = main(
            [
                "validate-judge",
                "--data-dir",
                str(siuo_data_dir),
                "--judge-api-key-env",
                "VALIDATE_KEY",
                "--judge-model",
                "down",
                "--judge-base-url",
                server.base_url,
                "--judge-max-retries",
                "0",
                "--text-only",
                "--safety-only",
                "--skip-reference-blind",
                "--no-cache",
                "--quiet",
                "--out",
                str(tmp_path),
            ]
        )
        assert server.call_count == 668
    report = json.loads((tmp_path / "validation.json").read_text())
    assert code == 3 and report["with_reference"]["unparsable"] == 668 and report["with_reference"]["n"] == 0
    assert "668 judge calls failed" in capsys.readouterr().err
