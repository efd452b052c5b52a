"""Importing the dataset package and the CLI (what every ``siuo-eval`` / ``siuo-data`` start does) loads no
Pillow and changes none of its process-wide settings; the pixel limit holds only while an image is checked."""

from __future__ import annotations

import json
import subprocess
import sys

from siuo_dataset.validate import MAX_IMAGE_PIXELS, check_image
from tests.helpers import REPO

IMPORTS = "import siuo_dataset, siuo_task.cli"


def run_python(code: str) -> dict:
    """``code`` in a fresh interpreter of this environment, from the repository; what it printed as JSON."""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True, text=True, timeout=120
    )
    return json.loads(result.stdout)


def test_importing_the_package_and_the_cli_does_not_import_pillow():
    found = run_python(f"import json, sys; {IMPORTS}; print(json.dumps(sorted(m for m in sys.modules)))")
    assert "siuo_task.cli" in found and not [m for m in found if m == "PIL" or m.startswith("PIL.")]


def test_importing_the_package_and_the_cli_leaves_the_pillow_pixel_limit_alone():
    limits = run_python(
        "import json; import PIL.Image as image; before = image.MAX_IMAGE_PIXELS; "
        f"{IMPORTS}; print(json.dumps([before, image.MAX_IMAGE_PIXELS]))"
    )
    assert limits[0] == limits[1] != MAX_IMAGE_PIXELS


def test_checking_an_image_restores_the_pillow_pixel_limit(tmp_path):
    from PIL import Image

    path = tmp_path / "S-01.png"
    Image.new("RGB", (4, 4)).save(path)
    before = Image.MAX_IMAGE_PIXELS
    assert check_image(path, path.name, allow_missing=False) == path
    assert Image.MAX_IMAGE_PIXELS == before


def test_building_a_judge_imports_no_sdk_and_only_its_own_backend():
    """Backends are found by name and imported when asked for; the SDK loads on a judge's first call."""
    found = run_python(
        f"import json, sys; {IMPORTS}; from siuo_task.judge.config import JudgeConfig; "
        "JudgeConfig(model='m').build(); print(json.dumps(sorted(m for m in sys.modules)))"
    )
    assert "siuo_task.judge.backends.openai" in found
    assert not [m for m in found if m == "openai" or m.startswith("openai.")]
    assert "siuo_task.judge.backends.azure" not in found and "siuo_task.judge.backends.offline" not in found
