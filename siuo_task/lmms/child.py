"""lmms-eval's own CLI as siuo-eval and ``make demo`` run it, with a task index of the SIUO tasks alone.

lmms-eval 0.7.3 builds its task index (``TaskManager``) at every start, by parsing each of its ~2,000 task
YAMLs with PyYAML's pure-Python loader (~3 s of CPU), and once more for every entry of a ``--config`` file.
Where only SIUO tasks are asked for (siuo-eval checks that first; ``make demo`` asks for nothing else),
``python -m siuo_task.lmms.child ARGS`` runs ``lmms_eval``'s CLI on ARGS with an index of the SIUO task folder
(and any ``--include_path``) built once per process. ``TaskManager`` is the one name replaced in lmms-eval's
CLI module: the CLI builds it itself and no argument of the CLI leaves out the default tasks. Plain
``lmms-eval --tasks siuo`` is untouched.

Under siuo-eval ($SIUO_MODEL_CLASS_FILE set), the child first imports lmms-eval's class for ``--model``, as
lmms-eval would: if that fails (a package missing), it writes why to that file and exits 2 before the run,
where lmms-eval would log the failure and exit 0 with no results.

lmms-eval's registry imports Hugging Face ``evaluate`` at start-up for its ``hf_evaluate`` metrics, which
imports ``transformers.pipelines``: ~2.4 s of CPU of the ~5.6 s that importing lmms-eval's CLI costs. The
SIUO tasks use none of them, so the child puts a stand-in in its place (``defer_import``) that imports the
real module the first time anything asks it for a name. And for every metric it aggregates, lmms-eval tries to
import two other tasks' code (``OTHER_TASKS_CODE``: nltk, scipy.stats; ~1.3 s of CPU) to see whether the
aggregation is one of theirs, which needs bootstrapped standard errors; a SIUO aggregation never is (its
standard error is "N/A" either way), so the child answers those imports with ImportError, which lmms-eval
expects and passes over.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import types
from pathlib import Path

OTHER_TASKS_CODE = ("lmms_eval.tasks.amber_g.utils", "lmms_eval.tasks.coco_cap_chair.utils")


def defer_import(name: str) -> None:
    """Put a stand-in for the top-level module ``name`` in ``sys.modules`` that imports the real one on first
    use of any of its names (``import name`` then binds the stand-in); nothing if it is imported or absent."""
    spec = importlib.util.find_spec(name) if name not in sys.modules else None
    if spec is None:
        return
    stand_in = types.ModuleType(name)
    stand_in.__file__, stand_in.__spec__ = spec.origin, spec  # what inspect and pickle read without importing
    if spec.submodule_search_locations is not None:
        stand_in.__path__ = list(spec.submodule_search_locations)  # `import name.sub` still finds the package

    def load(attribute: str):
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
        return getattr(importlib.import_module(name), attribute)

    stand_in.__getattr__ = load
    sys.modules[name] = stand_in


def model_class_problem(argv: list[str]) -> dict | None:
    """Why lmms-eval cannot import its model class for ``--model`` in ``argv`` (``model``, the ``missing``
    module or None, the ``error``), or None."""
    from lmms_eval.models import get_model

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--model")
    parser.add_argument("--force_simple", action="store_true")
    given, _ = parser.parse_known_args(argv)
    if not given.model:
        return None
    try:
        get_model(given.model, force_simple=given.force_simple)
    except ModuleNotFoundError as error:
        return {"model": given.model, "missing": error.name, "error": str(error)}
    except Exception as error:  # noqa: BLE001 - any failure to load the class is what the file reports
        return {"model": given.model, "missing": None, "error": f"{type(error).__name__}: {error}"}
    return None


def main(argv: list[str]) -> None:
    defer_import("evaluate")
    for name in OTHER_TASKS_CODE:  # None in sys.modules: importing it raises ImportError
        sys.modules.setdefault(name, None)
    import lmms_eval.__main__ as cli

    from siuo_task.files import write_json_atomic
    from siuo_task.lmms import tasks_dir
    from siuo_task.lmms.results import MODEL_CLASS_ENV

    report = os.environ.get(MODEL_CLASS_ENV)
    problem = model_class_problem(argv) if report else None
    if problem is not None:
        write_json_atomic(Path(report), problem)
        sys.exit(2)

    task_manager = cli.TaskManager
    folders = [str(tasks_dir())]
    built: dict[tuple, object] = {}

    def siuo_task_manager(verbosity="INFO", include_path=None, include_defaults=True, model_name=None):
        extra = [include_path] if isinstance(include_path, str) else list(include_path or [])
        key = (verbosity, tuple(extra), model_name)
        if key not in built:
            built[key] = task_manager(
                verbosity, include_path=folders + extra, include_defaults=False, model_name=model_name
            )
        return built[key]

    cli.TaskManager = siuo_task_manager
    sys.argv = ["lmms_eval", *argv]
    cli.cli_evaluate()


if __name__ == "__main__":
    main(sys.argv[1:])
