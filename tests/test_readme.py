"""The README's walkthrough runs as written (#21 item 8): its bash blocks, in order, in a fresh folder,
against a loopback model and a loopback judge; only the environment variables the README names
(SIUO_DATA_DIR, MODEL_URL, JUDGE_URL) are set, to the loopback servers and the test data. The README stays
short and undated."""

from __future__ import annotations

import os
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest

import siuo_dataset
from siuo_demo.loopback import ScriptedServer
from siuo_demo.scripted_models import scripted_model
from tests.fakes.judge import scripted_verdict
from tests.helpers import BIN, REPO

README = REPO / "README.md"
WALKTHROUGH = "## Evaluate your model, start to finish"


def walkthrough_blocks() -> list[str]:
    text = README.read_text()
    section = text[text.index(WALKTHROUGH) :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.S)


def test_the_readme_is_short_with_the_two_commands_first_and_no_dates():
    text = README.read_text()
    assert len(text.splitlines()) <= 150
    first_block = re.search(r"```bash\n(.*?)```", text, flags=re.S).group(1)
    assert [line.split()[:2] for line in first_block.splitlines()] == [["make", "demo"], ["make", "test"]]
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b|\b\d+ passed\b", text)  # no dated counts or history
    setup, *blocks = walkthrough_blocks()
    assert setup.strip() == "make install && source .venv/bin/activate"  # siuo-eval is on PATH only then
    assert [block.split()[1] for block in blocks] == ["--model", "examples", "report", "review"]
    for path in re.findall(r"\]\(([^)#]+)", text):
        if not path.startswith("http"):
            assert (REPO / path).exists(), path
    assert blocks[1].splitlines()[0] == "siuo-eval examples examples"  # the files come with siuo-eval


@pytest.mark.e2e
def test_the_readme_walkthrough_runs_as_written(siuo_data_dir, tmp_path):
    """From a folder outside the checkout, with the tools on PATH only through the README's set-up line
    (``source .venv/bin/activate``, here the activate script of the environment running the tests)."""
    items = siuo_dataset.load_items(siuo_data_dir)
    assert not tmp_path.resolve().is_relative_to(REPO)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIUO_", "VIRTUAL_ENV"))}
    env.update(
        PATH=os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != BIN),
        HOME=str(tmp_path / "home"),  # the judge cache and lmms-eval's caches stay in the test's folder
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        SIUO_DATA_DIR=str(siuo_data_dir),
    )
    setup, *steps, review = walkthrough_blocks()
    activate = setup.split("&&", 1)[1].strip().replace(".venv/bin/activate", str(BIN / "activate"))
    steps = [f"{activate}\n{block}" for block in steps]
    review = f"{activate} && exec {review.strip()}"
    with ScriptedServer(scripted_model("oracle", items)) as model, ScriptedServer(scripted_verdict) as judge:
        env.update(MODEL_URL=model.base_url, JUDGE_URL=judge.base_url)
        for block in steps:
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", block],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert done.returncode == 0, (block, done.stdout[-2000:], done.stderr[-3000:])
        assert model.call_count == 167 * 4 and judge.call_count > 0
    assert (tmp_path / "runs" / "my-model").is_dir() and (tmp_path / "judged" / "metrics.json").is_file()
    assert (tmp_path / "mcqa" / "metrics.json").is_file()
    assert (tmp_path / "examples" / "responses.jsonl").is_file()  # copied by `siuo-eval examples`
    report = (tmp_path / "report" / "report.md").read_text()
    assert "| my-model " in report and "| judged" not in report  # the example run is no model row
    server = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", review],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/\?token=\S+", line).group(0)
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_manual_pages_carry_no_dates_or_test_counts():
    """Docs describe what is, not when it was measured or how many tests passed that day."""
    for name in ("usage", "install", "judging-at-scale", "report", "review", "performance"):
        text = (REPO / "docs" / f"{name}.md").read_text()
        # a date (not a model snapshot name like gpt-4o-2024-08-06, not a timestamp in a sample line)
        assert not re.search(r"(?<![\w-])20\d\d-\d\d-\d\d(?!T)|\b\d+ passed\b", text), name
