"""Shared fixtures: the real annotations from ../shared/siuo (never copied into the repo)
plus 167 placeholder PNGs made in a temp dir."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from siuo_dataset.placeholders import write_placeholder_images
from tests.helpers import REPO

SHARED_SIUO = Path(os.environ.get("SIUO_SHARED_DIR", REPO.parent / "shared" / "siuo"))


@pytest.fixture(scope="session")
def shared_siuo() -> Path:
    """The folder holding the upstream siuo_gen.json and siuo_mcqa.json."""
    if not (SHARED_SIUO / "siuo_gen.json").is_file():
        pytest.fail(f"SIUO annotations not found at {SHARED_SIUO}; set SIUO_SHARED_DIR")
    return SHARED_SIUO


@pytest.fixture(scope="session")
def siuo_data_dir(tmp_path_factory, shared_siuo) -> Path:
    """A complete local SIUO folder: links to the two annotation files + placeholder images/."""
    root = tmp_path_factory.mktemp("siuo_data")
    for name in ("siuo_gen.json", "siuo_mcqa.json"):
        (root / name).symlink_to(shared_siuo / name)
    names = [row["image"] for row in json.loads((shared_siuo / "siuo_gen.json").read_text())]
    write_placeholder_images(names, root / "images")
    return root
