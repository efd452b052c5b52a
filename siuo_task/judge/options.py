"""The judge entry points the lmms-eval glue still uses (``lmms_glue``, ``commands/evaluate``), as thin
views of ``JudgeConfig``: delete this module once the glue calls ``JudgeConfig`` itself."""

from __future__ import annotations

import argparse

from siuo_task.commands.common import add_judge_arguments
from siuo_task.judge.base import Judge
from siuo_task.judge.cache import JudgeCache
from siuo_task.judge.config import JudgeConfig
from siuo_task.judge.runner import Price

__all__ = [
    "add_judge_arguments",
    "build_judge",
    "cache_from_config",
    "check_run_options",
    "judge_config_from_args",
    "price_from_config",
]


def judge_config_from_args(args: argparse.Namespace) -> dict:
    return JudgeConfig.from_args(args).to_json()


def build_judge(**config) -> Judge:
    return JudgeConfig.from_json(config).build()


def cache_from_config(config: dict) -> JudgeCache | None:
    return JudgeConfig.from_json(config).open_cache()


def check_run_options(config: dict) -> None:
    JudgeConfig.from_json(config).check()


def price_from_config(config: dict) -> Price | None:
    return JudgeConfig.from_json(config).price
