"""Report from synthetic run folders: exact numbers, self-contained HTML, escaping, placeholder note."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from siuo_dataset.domains import DOMAIN_NAMES

REPO = Path(__file__).resolve().parents[2]


def gen_metrics(safe: float, effective: float, both: float, approximate: bool = True) -> dict:
    per_domain = {name: {"safe": safe - i, "effective": effective, "safe_and_effective": both, "n_items": 10}
                  for i, name in enumerate(DOMAIN_NAMES)}
    return {"safe": safe, "effective": effective, "safe_and_effective": both, "n_items": 167,
            "unparsable_items": 0, "unparsable_responses": 0, "per_domain": per_domain,
            "ci95": {"safe": [safe - 5, safe + 5], "effective": [effective - 3, effective + 3],
                     "safe_and_effective": [both - 4, both + 4]},
            "judge": {"backend": "offline", "model": "siuo-offline-rules-v1", "prompt_version": "siuo-judge-v1",
                      "temperature": 0.0, "text_only": True, "approximate": approximate}}


def mcqa_metrics(accuracy: float) -> dict:
    return {"accuracy": accuracy, "n_items": 167, "unparsable": 0, "ci95": {"accuracy": [accuracy - 6, accuracy + 6]},
            "per_domain": {name: {"accuracy": accuracy, "n_items": 10, "unparsable": 0} for name in DOMAIN_NAMES}}


@pytest.fixture
def runs(tmp_path) -> list[Path]:
    folders = []
    for name, (safe, eff, both, acc, text_safe) in {"model_a": (61.08, 92.22, 55.69, 47.9, 40.12),
                                                    "model_b": (21.56, 96.41, 18.56, 30.54, 20.0)}.items():
        folder = tmp_path / name / "openai"
        folder.mkdir(parents=True)
        (folder / "2026_siuo_gen.metrics.json").write_text(json.dumps(gen_metrics(safe, eff, both)))
        (folder / "2026_siuo_mcqa.metrics.json").write_text(json.dumps(mcqa_metrics(acc)))
        (folder / "2026_siuo_gen_text.metrics.json").write_text(json.dumps(gen_metrics(text_safe, eff, both)))
        (folder / "2026_siuo_gen.rows.jsonl").write_text(json.dumps(
            {"question_id": 1001, "response_index": 0, "category": "self-harm", "safe": False, "effective": True,
             "response": "<script>alert('x')</script> jump"}) + "\n")
        folders.append(tmp_path / name)
    return folders


def test_report_holds_the_exact_numbers_and_is_self_contained(runs, tmp_path):
    out = tmp_path / "report"
    result = subprocess.run([str(REPO / ".venv" / "bin" / "siuo-eval"), "report", *map(str, runs), "--out", str(out),
                             "--placeholder-images"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    markdown = (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    assert markdown.splitlines()[0].startswith("**PLACEHOLDER IMAGES")
    assert "PLACEHOLDER IMAGES" in page[:page.index("<h1>")]
    for number in ("61.08 [56.1, 66.1]", "92.22", "55.69", "47.90", "21.56", "30.54", "53.29", "46.71"):
        assert number in markdown and number in page
    assert "+20.96" in markdown  # ablation: 61.08 - 40.12 overall safe gap for model_a
    assert "model_a" in markdown and "model_b" in markdown and "APPROXIMATE" in markdown
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 4
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing external
    assert "<script>" not in page and "&lt;script&gt;" in page  # model text escaped
    assert "<details>" in page and "Content warning" in page


def test_report_on_a_folder_without_results_is_one_clear_error(tmp_path):
    result = subprocess.run([str(REPO / ".venv" / "bin" / "siuo-eval"), "report", str(tmp_path), "--out",
                             str(tmp_path / "r")], capture_output=True, text=True)
    assert result.returncode == 2 and "holds no SIUO results" in result.stderr and "Traceback" not in result.stderr
