"""`siuo-eval tasks-path`: print the folder holding the SIUO lmms-eval task YAMLs (for --include_path)."""

from __future__ import annotations

import argparse

from siuo_task.lmms import tasks_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    print(tasks_dir())
    return 0
