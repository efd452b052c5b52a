"""lmms-eval glue: ``task`` (documents -> records), ``aggregation`` (scoring, side files) and ``results``
(the output folder of a ``siuo-eval --tasks`` run checked and finished, for the wrapper command).

This module says where the task YAMLs are; importing it does not import lmms-eval (only ``task`` and
``aggregation`` do). In a checkout the YAMLs are ``siuo_task/lmms/tasks/``; an installed wheel ships the same
files as ``lmms_eval/tasks/siuo/`` (see setup.py), where a plain ``lmms-eval --tasks siuo`` finds them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from siuo_dataset.errors import SiuoError

SOURCE_TASKS_DIR = Path(__file__).resolve().parent / "tasks"
SIDE_FOLDER = "siuo"  # the tasks' side files go to <lmms-eval --output_path>/siuo/


def installed_tasks_dir() -> Path | None:
    """``lmms_eval/tasks/siuo`` as our distribution installed it; None in a checkout or editable install."""
    spec = importlib.util.find_spec("lmms_eval")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "tasks" / "siuo"
    return folder if (folder / "siuo_gen.yaml").is_file() else None


def tasks_dir() -> Path:
    """The SIUO task folder for ``--include_path``: the source folder in a checkout, else the installed."""
    if SOURCE_TASKS_DIR.is_dir():
        return SOURCE_TASKS_DIR
    installed = installed_tasks_dir()
    if installed is None:
        raise SiuoError("the SIUO task YAMLs are missing: reinstall siuo (pip install 'siuo[lmms]')")
    return installed


def include_path_args() -> list[str]:
    """``--include_path`` for lmms-eval, unless it already finds our tasks in its own tasks folder."""
    return [] if installed_tasks_dir() is not None else ["--include_path", str(tasks_dir())]
