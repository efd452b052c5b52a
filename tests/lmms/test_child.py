"""siuo-eval's lmms-eval child (``siuo_task.lmms.child``): lmms-eval's own CLI with a task index of the SIUO
tasks alone (not lmms-eval's ~2,000 task YAMLs), built once per process. lmms-eval is imported inside the
tests (see test_tasks.py); its CLI entry is replaced by one that builds the index as the CLI does."""

from __future__ import annotations

import sys

import pytest

from siuo_task.lmms import child, tasks_dir
from siuo_task.lmms.results import GROUPS

SIUO_TASKS = {*GROUPS, *(task for tasks in GROUPS.values() for task in tasks)}


@pytest.fixture
def cli(monkeypatch):
    """lmms-eval's CLI module, restored after the test; ``cli.evaluated`` holds what each run saw."""
    import lmms_eval.__main__ as cli

    monkeypatch.setattr(cli, "TaskManager", cli.TaskManager)  # child.main replaces it: put back afterwards
    monkeypatch.setattr(sys, "argv", sys.argv)
    cli.evaluated = []

    def cli_evaluate():  # what lmms-eval's CLI does first: build the index for the run's model
        manager = cli.TaskManager("ERROR", include_path=None, model_name="openai")
        cli.evaluated.append((list(sys.argv), manager))

    monkeypatch.setattr(cli, "cli_evaluate", cli_evaluate)
    return cli


def test_the_child_indexes_the_siuo_tasks_alone_and_passes_the_arguments_on(cli):
    child.main(["--tasks", "siuo", "--limit", "2"])
    [(argv, manager)] = cli.evaluated
    assert argv == ["lmms_eval", "--tasks", "siuo", "--limit", "2"]
    assert set(manager.all_tasks) == SIUO_TASKS  # none of lmms-eval's own tasks
    assert manager.include_path == [str(tasks_dir())]


def test_the_index_is_built_once_per_process(cli):
    child.main(["--config", "entries.yaml"])
    built = cli.TaskManager("ERROR", include_path=None, model_name="openai")
    assert built is cli.evaluated[0][1]  # a --config entry asks again: the same index
    assert cli.TaskManager("ERROR", include_path=None, model_name="llava_hf") is not built


def test_a_deferred_module_is_imported_at_the_first_use_of_one_of_its_names(tmp_path, monkeypatch):
    package = tmp_path / "slowpkg"
    package.mkdir()
    (package / "__init__.py").write_text("import slowpkg.heavy\nload = slowpkg.heavy.load\n")
    (package / "heavy.py").write_text("def load(name):\n    return f'loaded {name}'\n")
    (package / "light.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("slowpkg", "slowpkg.heavy", "slowpkg.light"):
        monkeypatch.delitem(sys.modules, name, raising=False)

    child.defer_import("slowpkg")
    import slowpkg  # as lmms-eval's registry imports evaluate

    assert "slowpkg.heavy" not in sys.modules and slowpkg.__file__ == str(package / "__init__.py")
    import slowpkg.light  # a submodule is still found through the stand-in

    assert slowpkg.light.VALUE == 1 and "slowpkg.heavy" not in sys.modules
    assert slowpkg.load("bleu") == "loaded bleu"  # the first name asked for imports the real package
    real = sys.modules["slowpkg"]
    assert real is not slowpkg and "slowpkg.heavy" in sys.modules
    child.defer_import("slowpkg")
    assert sys.modules["slowpkg"] is real  # imported already: left alone
