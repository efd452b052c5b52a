"""lmms-eval glue: ``task`` (documents -> records), ``aggregation`` (scoring, side files) and ``results``
(the output folder of a ``siuo-eval --tasks`` run checked and finished, for the wrapper command).

This module says where the task YAMLs are; importing it does not import lmms-eval (only ``task`` and
``aggregation`` do). In a checkout the YAMLs are ``siuo_task/lmms/tasks/``; an installed wheel ships the same
files as ``lmms_eval/tasks/siuo/`` (see setup.py), where a plain ``lmms-eval --tasks siuo`` finds them.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from siuo_dataset.errors import SiuoError

SOURCE_TASKS_DIR = Path(__file__).resolve().parent / "tasks"
# lmms-eval's results go to <output_path>/<model folder>/ (lmms_eval.loggers.evaluation_tracker); the
# tasks' side files go to the same folder, so each model run keeps its own files.
_MODEL_NAME_KEYS = ("peft=", "delta=", "pretrained=", "model=", "model_version=", "model_name=", "model_id=")
_MODEL_NAME_KEYS += ("path=", "engine=")


def model_name(model_args) -> str:
    """The model's name in lmms-eval's ``--model_args`` as lmms-eval reads it (``GeneralConfigTracker``)."""
    if isinstance(model_args, dict):
        model_args = ",".join(f"{k}={v}" for k, v in model_args.items())
    model_args = model_args or ""
    for key in _MODEL_NAME_KEYS:
        if key in model_args:
            return model_args.split(key)[1].split(",")[0]
    return ""


def model_folder(model_args) -> str:
    """The folder lmms-eval writes a model's results to under ``--output_path`` (``sanitize_model_name``);
    "" (the output path itself) for a model without a name in its arguments."""
    parts = model_name(model_args).split("/")
    return re.sub(r"[\"<>:/\|\\?\*\[\]]+", "__", "/".join(parts[-2:]))


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
        raise SiuoError(
            "the SIUO task YAMLs are missing: reinstall siuo from its checkout (make install, or pip install "
            "'.[lmms]' there)"
        )
    return installed


def include_path_args() -> list[str]:
    """``--include_path`` for lmms-eval, unless it already finds our tasks in its own tasks folder."""
    return [] if installed_tasks_dir() is not None else ["--include_path", str(tasks_dir())]
