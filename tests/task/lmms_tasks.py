"""The task YAMLs as lmms-eval reads them: metric names and their aggregation functions."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

from siuo_task.lmms import SOURCE_TASKS_DIR


def _function(loader: yaml.SafeLoader, node: yaml.Node):
    module, _, name = loader.construct_scalar(node).rpartition(".")
    return getattr(importlib.import_module(module), name)


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!function", _function)


def task_config(name: str) -> dict:
    """One task YAML with its includes merged (as lmms-eval does) and every !function imported."""
    config = yaml.load((SOURCE_TASKS_DIR / f"{name}.yaml").read_text(), Loader=_Loader)
    if "include" in config:
        included = Path(config.pop("include"))
        base = (
            task_config(included.stem)
            if included.suffix == ".yaml"
            else yaml.load((SOURCE_TASKS_DIR / included).read_text(), Loader=_Loader)
        )
        config = {**base, **config}
    return config


def aggregations(task: str) -> dict:
    """metric name -> the aggregation function the task's YAML names, in YAML order."""
    return {entry["metric"]: entry["aggregation"] for entry in task_config(task)["metric_list"]}
