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


# ---- running in parallel (`make test`: pytest -n 3 --dist loadgroup --no-loadscope-reorder) ----------------
# Under pytest-xdist each worker is its own process with its own session fixtures. A module's tests share its
# module-scoped fixtures, so each module runs on one worker (an xdist_group named after it), except the
# modules below, where each test starts lmms-eval itself: their tests are spread over the workers, and only
# the tests that read one shared run (fixture below) stay together. The slowest modules are sent out first.
SPREAD = ("tests/lmms/test_local_models.py", "tests/lmms/test_e2e.py")
SHARED_RUNS = ("one_and_two_processes", "oracle_run")
SLOWEST_FIRST = (
    "tests/lmms/test_local_models.py",
    "tests/lmms/test_e2e.py",
    "tests/inspect/test_e2e.py",
    "tests/lmms/test_runs_by_model.py",
    "tests/lmms/test_tasks.py",
    "tests/test_readme.py",
    "tests/demo/test_demo.py",
)


def xdist_group(item: pytest.Item) -> str | None:
    module = item.nodeid.split("::", 1)[0]
    if module not in SPREAD:
        return module
    return next((name for name in SHARED_RUNS if name in item.fixturenames), None)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):
        return  # not an xdist worker: collection order and fixtures as written
    for item in items:
        group = xdist_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))

    def rank(indexed: tuple[int, pytest.Item]) -> tuple:
        index, item = indexed
        module = item.nodeid.split("::", 1)[0]
        slow = SLOWEST_FIRST.index(module) if module in SLOWEST_FIRST else len(SLOWEST_FIRST)
        return slow, xdist_group(item) not in SHARED_RUNS, index  # a shared run (two lmms-eval runs) first

    items[:] = [item for _, item in sorted(enumerate(items), key=rank)]
