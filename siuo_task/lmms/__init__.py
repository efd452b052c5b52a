"""lmms-eval glue: ``task`` (documents -> records), ``aggregation`` (scoring, side files) and ``results``
(the output folder of a ``siuo-eval --tasks`` run checked and finished, for the wrapper command).

This module says where the task YAMLs are; importing it does not import lmms-eval (only ``task`` and
``aggregation`` do). In a checkout the YAMLs are ``siuo_task/lmms/tasks/``; an installed wheel ships the same
files as ``lmms_eval/tasks/siuo/`` (see setup.py), where a plain ``lmms-eval --tasks siuo`` finds them.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from siuo_dataset.errors import SiuoError

if TYPE_CHECKING:
    from siuo_task.judge.config import JudgeConfig

SOURCE_TASKS_DIR = Path(__file__).resolve().parent / "tasks"
# lmms-eval's results go to <output_path>/<model folder>/ (lmms_eval.loggers.evaluation_tracker); the
# tasks' side files go to the same folder, so each model run keeps its own files.
_MODEL_NAME_KEYS = ("peft=", "delta=", "pretrained=", "model=", "model_version=", "model_name=", "model_id=")
_MODEL_NAME_KEYS += ("path=", "engine=")


JUDGE_CONFIG_ENV = "SIUO_JUDGE_CONFIG"  # path of a JSON judge config (written by siuo-eval)


def plain_lmms_note() -> str:
    """How to configure a real judge under plain lmms-eval, in what plain lmms-eval accepts: the
    $SIUO_JUDGE_CONFIG file, with every key (an example to edit), never siuo-eval's flags."""
    from siuo_task.judge.cache import default_cache_path
    from siuo_task.judge.config import JudgeConfig

    example = JudgeConfig(
        kind="openai",
        model="gpt-4o",
        base_url="http://127.0.0.1:8001/v1",
        api_key_env="OPENAI_API_KEY",
        cache=str(default_cache_path()),
    ).to_json()
    return (
        f"NOTE: ${JUDGE_CONFIG_ENV} is not set, so the offline rule-based judge decides: a smoke test, its "
        "figures are APPROXIMATE. For a real judge, write a JSON file such as "
        f"{json.dumps(example)} (base_url: your judge's OpenAI-compatible endpoint, or null for "
        "api.openai.com; the key stays in the variable api_key_env names) and export "
        f"{JUDGE_CONFIG_ENV}=/path/to/that.json"
    )


@functools.cache
def say_plain_lmms_note() -> None:
    """``plain_lmms_note`` on stderr, once per process."""
    print(plain_lmms_note(), file=sys.stderr)


def judge_config() -> JudgeConfig:
    """The judge settings: the JSON file named by $SIUO_JUDGE_CONFIG, else the offline judge (approximate;
    how to configure a real one is said once, in what plain lmms-eval accepts)."""
    from siuo_task.judge.config import JudgeConfig

    path = os.environ.get(JUDGE_CONFIG_ENV)
    if not path:
        say_plain_lmms_note()
        return JudgeConfig(kind="offline")
    try:
        return JudgeConfig.from_json(json.loads(Path(path).read_text()))
    except (OSError, json.JSONDecodeError) as error:
        raise SiuoError(f"${JUDGE_CONFIG_ENV}={path} is not a readable JSON judge config ({error})") from None


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
