"""`make demo` smoke test: the real demo (one lmms-eval process for the three models, validation, report) on
2 items."""

from __future__ import annotations

import json
import os

import pytest

import siuo_task
from tests.helpers import run_tool


@pytest.mark.e2e
def test_demo_on_two_items_without_images_says_placeholder_everywhere(tmp_path, shared_siuo):
    out = tmp_path / "demo-out"
    env = dict(os.environ, SIUO_DATA_DIR=str(shared_siuo), HF_HUB_OFFLINE="1")
    result = run_tool(
        "python",
        "-m",
        "siuo_demo",
        "--limit",
        "2",
        "--quiet",
        "--out",
        str(out),
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("PLACEHOLDER IMAGES: 167 images were placeholders")
    assert "PLACEHOLDER IMAGES: 167 of 167 real SIUO images are missing" in result.stderr
    # items 1001 and 1002: the oracle is right with the image and wrong without it; both correct options are A
    assert (
        "  oracle     safe 100.00%, effective 100.00%, safe & effective 100.00%; MCQA 100.00%; "
        "image adds +100.00 safe points"
    ) in lines
    assert "  always_a   MCQA 100.00%" in lines
    assert any(line.startswith("  risk_blind safe 0.00%") for line in lines)
    markdown = (out / "report" / "report.md").read_text()
    assert markdown.splitlines()[0].startswith("**PLACEHOLDER IMAGES")
    assert "| oracle |" in markdown and "| risk_blind |" in markdown and "| always_a |" in markdown
    assert "Image-blind ablation: oracle" in markdown and "Judge validation" in markdown
    assert (out / "report" / "report.html").is_file() and lines[-1].startswith("report: ")
    # one lmms-eval process for the three models (#30: its import paid once), its config naming each
    logs = sorted(path.name for path in (out / "logs").glob("*.log"))
    assert logs == ["lmms-eval.log", "validate-judge.log"]
    config = json.loads((out / "logs" / "lmms-eval-config.yaml").read_text())
    assert [entry["model_args"].split(",")[0] for entry in config] == [
        "model=oracle",
        "model=risk_blind",
        "model=always_a",
    ]
    assert (out / "report" / "plot_overall.svg").is_file()
    assert not list(tmp_path.glob("siuo-demo-*"))  # placeholder images lived in a temp dir, now removed
    # the flag travels in every lmms-eval result's provenance: placeholders counted where the model saw images
    seen = {}
    for path in (out / "runs").rglob("*.metrics.json"):
        metrics = json.loads(path.read_text())
        task = path.name.split(".")[0].split("_", 2)[2]
        assert metrics["siuo_version"] == siuo_task.__version__, path
        seen[task] = metrics["data"]["placeholder_images"]
    assert seen == {"siuo_gen": 167, "siuo_mcqa": 167, "siuo_gen_text": 0, "siuo_mcqa_text": 0}
