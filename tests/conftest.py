"""Shared fixtures: the real annotations from ../shared/siuo (never copied into the repo)
plus 167 placeholder PNGs made in a temp dir."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from siuo_dataset.placeholders import write_placeholder_images
from siuo_task.lmms.child import defer_import
from tests.helpers import REPO

# The tests that import lmms-eval into their own process get it as siuo-eval's child does: with HF evaluate
# deferred (lmms-eval imports it at start-up; the SIUO tasks never use it; ~2.4 s of CPU).
defer_import("evaluate")

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


# ---- running in parallel (`make test`: pytest -n 3 --dist loadscope --no-loadscope-reorder) ----------------
# Under pytest-xdist each worker is its own process with its own session fixtures. The scheduler below hands
# out work units: a module is one unit (its module fixtures are built once), except the modules below, where
# each test starts lmms-eval itself: their test functions are spread over the workers, and the tests that read
# one shared run sit in a class, which is one unit; the modules (and single tests) that import lmms-eval into
# the test process (~3 s of CPU each time) are one unit too, so one worker pays that import. (xdist's own
# `loadgroup` marks do nothing on pytest 9.2: pytest-xdist#1386.) The slowest modules are sent out first.
SPREAD = ("tests/lmms/test_local_models.py", "tests/lmms/test_e2e.py")
LMMS_EVAL_IN_PROCESS = (
    "tests/lmms/test_tasks.py",
    "tests/lmms/test_model_kinds.py",
    "tests/lmms/test_answers_first.py",
    "tests/lmms/test_aggregation_memo.py",
    "tests/lmms/test_child.py",
    "tests/scoring/test_new_metric.py",
    "tests/lmms/test_runs_by_model.py::test_model_folder_is_lmms_evals_own",
)
SLOWEST_FIRST = (
    "tests/lmms/test_local_models.py",
    "tests/lmms/test_e2e.py",
    "tests/inspect/test_e2e.py",
    "tests/lmms/test_runs_by_model.py",
    "tests/lmms/test_wrapper.py",
    "tests/lmms/test_tasks.py",
    "tests/test_readme.py",
    "tests/demo/test_demo.py",
)


def work_unit(nodeid: str) -> str:
    """The xdist work unit of a test: its module, or in a SPREAD module its class or else the test itself;
    the modules that import lmms-eval in process are one unit."""
    module, _, inside = nodeid.partition("::")
    if module in LMMS_EVAL_IN_PROCESS or nodeid in LMMS_EVAL_IN_PROCESS:
        return "lmms-eval in process"
    if module not in SPREAD:
        return module
    return nodeid.rsplit("::", 1)[0] if "::" in inside else nodeid


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, which the base install lacks
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadscope`` with our work units (``work_unit``); any other --dist is xdist's own."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class WorkUnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return WorkUnitScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In xdist workers, the slowest modules first and in them the shared runs (classes) first."""
    if not hasattr(config, "workerinput"):
        return  # not an xdist worker: collection order and fixtures as written

    def rank(indexed: tuple[int, pytest.Item]) -> tuple:
        index, item = indexed
        module = item.nodeid.split("::", 1)[0]
        slow = SLOWEST_FIRST.index(module) if module in SLOWEST_FIRST else len(SLOWEST_FIRST)
        return slow, item.cls is None, index

    items[:] = [item for _, item in sorted(enumerate(items), key=rank)]
