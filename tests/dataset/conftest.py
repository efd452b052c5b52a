"""Dataset fixtures: the parquet folder built once per session, an isolated cache."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import siuo_data

EXPECTED_COUNTS = {
    "privacy violation": 21,
    "morality": 20,
    "religion beliefs": 20,
    "self-harm": 19,
    "dangerous behavior": 18,
    "illegal activities & crime": 18,
    "discrimination & stereotyping": 18,
    "information misinterpretation": 17,
    "controversial topics, politics": 16,
}


def assert_one_line_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    """Non-zero exit, exactly one stderr line containing ``fragment``, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert fragment in result.stderr, result.stderr


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """Every dataset test gets its own SIUO cache and no SIUO_DATA_DIR, so none reads the user's cache."""
    cache = tmp_path / "siuo-cache"
    monkeypatch.setenv("SIUO_CACHE_DIR", str(cache))
    monkeypatch.delenv("SIUO_DATA_DIR", raising=False)
    return cache


@pytest.fixture(scope="session")
def built(siuo_data_dir, tmp_path_factory) -> Path:
    """A Hub-ready folder named ``siuo`` built once through the CLI."""
    out = tmp_path_factory.mktemp("pub") / "siuo"
    result = siuo_data("build", "--data-dir", str(siuo_data_dir), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def make_bad_dir(shared_siuo, siuo_data_dir, tmp_path):
    """``make(target, change)``: a copy of the SIUO folder with ``target`` (a json file or "image") changed.

    change: None deletes the file; "truncate" cuts the json; "delete"/"corrupt" act on images/S-01.png;
    a callable rewrites the parsed json rows.
    """

    def make(target: str, change) -> Path:
        root = tmp_path / "bad"
        (root / "images").mkdir(parents=True)
        for name in ("siuo_gen.json", "siuo_mcqa.json"):
            (root / name).write_bytes((shared_siuo / name).read_bytes())
        for image in (siuo_data_dir / "images").iterdir():
            shutil.copyfile(image, root / "images" / image.name)  # a link out of the folder is refused
        if target == "image":
            (root / "images" / "S-01.png").unlink()
            if change == "corrupt":
                good = (siuo_data_dir / "images" / "S-01.png").read_bytes()
                (root / "images" / "S-01.png").write_bytes(good[: len(good) // 2])
        elif change is None:
            (root / target).unlink()
        elif change == "truncate":
            (root / target).write_text((shared_siuo / target).read_text()[:5000])
        else:
            rows = json.loads((shared_siuo / target).read_text())
            (root / target).write_text(json.dumps(change(rows)))
        return root

    return make
