"""CONTRIBUTING.md's recipes name exact files: every path it names exists (a template path such as
``siuo_task/judge/backends/<name>.py`` must have its folder), and it holds the four recipes."""

from __future__ import annotations

import re

from tests.helpers import REPO

CONTRIBUTING = REPO / "CONTRIBUTING.md"
PATH = re.compile(r"`((?:siuo_dataset|siuo_task|siuo_demo|tests|docs|benchmarks)/[^`\s]*)`")
RECIPES = ("a judge backend", "a metric", "a report section", "a harness")


def named_paths() -> list[str]:
    return PATH.findall(CONTRIBUTING.read_text())


def test_the_four_recipes_are_there():
    headings = [line.lower() for line in CONTRIBUTING.read_text().splitlines() if line.startswith("## ")]
    assert [recipe for recipe in RECIPES if not any(recipe in heading for heading in headings)] == []


def existing_part(path: str) -> str:
    """The path itself, or for a template (``backends/<name>.py``) the folder it goes in."""
    return path.split("<")[0].rpartition("/")[0] if "<" in path else path


def test_every_file_a_recipe_names_exists():
    paths = named_paths()
    assert len(paths) >= 12
    assert [path for path in paths if not (REPO / existing_part(path)).exists()] == []
