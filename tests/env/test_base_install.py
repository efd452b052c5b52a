"""The package alone (no extras) judges: `siuo-eval examples`, then `siuo-eval judge` against a loopback
judge, with the siuo-eval of this environment. `make check-latest` runs it in a fresh venv holding only
`pip install .` (and pytest), where SIUO_BASE_INSTALL=1 also checks that lmms-eval and torch are absent."""

from __future__ import annotations

import importlib.metadata
import json
import os

import pytest

from siuo_demo.loopback import ScriptedServer
from tests.fakes.judge import scripted_verdict
from tests.helpers import siuo_eval


def installed(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.base_install
def test_the_base_install_judges_against_a_loopback_judge(siuo_data_dir, tmp_path):
    if os.environ.get("SIUO_BASE_INSTALL") == "1":
        assert not installed("lmms-eval") and not installed("torch")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIUO_")}
    env.update(
        HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "cache"), SIUO_DATA_DIR=str(siuo_data_dir)
    )
    assert siuo_eval("examples", "ex", cwd=tmp_path, env=env).returncode == 0
    with ScriptedServer(scripted_verdict) as judge:
        done = siuo_eval(
            "judge",
            "ex/responses.jsonl",
            "--judge-model",
            "scripted",
            "--judge-base-url",
            judge.base_url,
            "--out",
            "judged",
            cwd=tmp_path,
            env=env,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert judge.call_count == 3 * 3 * 2  # 3 items, 3 responses, 2 aspects: the async client answered
    metrics = json.loads((tmp_path / "judged" / "metrics.json").read_text())
    assert metrics["n_items"] == 3 and metrics["example"] is True
