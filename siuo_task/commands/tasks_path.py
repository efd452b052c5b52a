"""`siuo-eval tasks-path`: print the folder holding the SIUO lmms-eval task YAMLs."""
from __future__ import annotations

import argparse
from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parents[1] / "lmms" / "tasks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    print(TASKS_DIR)
    return 0
