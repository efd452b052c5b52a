"""The layers, checked on the source: data -> scoring -> lmms-eval glue; demo and tests on top. Every import
statement counts (also inside functions), and so does a string that is exactly a dotted module name (what
``importlib.import_module`` gets, e.g. the CLI's dispatch table)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.paths import REPO

PRODUCT = ("siuo_dataset", "siuo_task")
LMMS_GLUE = "siuo_task.lmms"
DOTTED_NAME = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports (relative imports resolved)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            found.add(".".join(part for part in (base, node.module) if part))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and DOTTED_NAME.fullmatch(node.value)
        ):
            found.add(node.value)
    return found


def sources(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (REPO / package).rglob("*.py"))


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def offending(paths: list[Path], forbidden: str) -> list[str]:
    return [
        f"{path.relative_to(REPO)} imports {module}"
        for path in paths
        for module in imported_modules(path)
        if within(module, forbidden)
    ]


def test_the_sources_are_found():
    assert len(sources(*PRODUCT)) > 30 and (REPO / "siuo_task" / "lmms" / "task.py") in sources("siuo_task")
    assert "lmms_eval.api.task" in imported_modules(REPO / "siuo_task" / "lmms" / "task.py")
    assert "siuo_task.lmms.wrapper" in imported_modules(
        REPO / "siuo_task" / "cli.py"
    )  # a string for import_module


def test_the_dataset_package_never_imports_the_scoring_package():
    assert offending(sources("siuo_dataset"), "siuo_task") == []


def test_only_the_lmms_glue_imports_lmms_eval():
    outside = [path for path in sources(*PRODUCT) if not within(module_name(path), LMMS_GLUE)]
    assert offending(outside, "lmms_eval") == []


@pytest.mark.parametrize("forbidden", ["siuo_demo", "tests"])
def test_the_product_never_imports_demo_or_test_code(forbidden):
    assert offending(sources(*PRODUCT), forbidden) == []
