"""The layer order of ``ARCHITECTURE.md``, checked on the source of every product module: a module imports
only from its own layer or a lower one, never in a circle. Every import statement counts (also inside
functions), and so does a string that is exactly a dotted module name (what ``importlib.import_module`` gets,
e.g. the CLI's dispatch table)."""

from __future__ import annotations

import ast
import functools
import re
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

PRODUCT = ("siuo_dataset", "siuo_task", "siuo_demo")
# Lowest first. A module belongs to the longest prefix listed; the modules of one rank may import each other
# (acyclically), except the sibling packages of one rank, which never import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("siuo_dataset",),
    ("siuo_task.protocol",),
    ("siuo_task", "siuo_task.records", "siuo_task.provenance", "siuo_task.files", "siuo_task.redact",
     "siuo_task.readers"),
    ("siuo_task.judge",),
    ("siuo_task.scoring",),
    ("siuo_task.runs",),
    ("siuo_task.report", "siuo_task.review"),
    ("siuo_task.lmms", "siuo_task.inspect"),
    ("siuo_task.cli",),
    ("siuo_demo",),
)  # fmt: skip
SIBLINGS = (("siuo_task.report", "siuo_task.review"), ("siuo_task.lmms", "siuo_task.inspect"))
LMMS_GLUE = "siuo_task.lmms"
INSPECT_GLUE = "siuo_task.inspect"
DOTTED_NAME = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache  # each test reads the whole product: parse each file once
def imported_modules(path: Path) -> frozenset[str]:
    """Every module ``path`` imports (relative imports resolved)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and DOTTED_NAME.fullmatch(node.value)
        ):
            found.add(node.value)
    return frozenset(found)


def sources(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (REPO / package).rglob("*.py"))


PRODUCT_MODULES = {module_name(path): path for path in sources(*PRODUCT)}


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def home(module: str) -> tuple[int, str] | None:
    """(rank, prefix) of the layer entry ``module`` belongs to: the longest listed prefix."""
    matches = [(len(prefix), rank, prefix) for rank, layer in enumerate(LAYERS) for prefix in layer]
    best = max((m for m in matches if within(module, m[2])), default=None)
    return None if best is None else (best[1], best[2])


def product_imports(module: str) -> set[str]:
    """The product modules ``module`` imports (a name imported from a module counts as that module)."""
    return {name for name in imported_modules(PRODUCT_MODULES[module]) if name in PRODUCT_MODULES} - {module}


def test_the_sources_are_found():
    assert len(PRODUCT_MODULES) > 40 and "siuo_task.lmms.task" in PRODUCT_MODULES
    assert "lmms_eval.api.task" in imported_modules(PRODUCT_MODULES["siuo_task.lmms.task"])
    assert "siuo_task.cli.lmms_eval" in imported_modules(
        PRODUCT_MODULES["siuo_task.cli"]
    )  # for import_module


def test_every_module_has_a_layer():
    assert [module for module in PRODUCT_MODULES if home(module) is None] == []


def test_no_module_imports_from_a_higher_layer():
    upward = [
        f"{module} ({home(module)[1]}) imports {name} ({home(name)[1]})"
        for module in PRODUCT_MODULES
        for name in product_imports(module)
        if home(name)[0] > home(module)[0]
    ]
    assert upward == []


@pytest.mark.parametrize("siblings", SIBLINGS)
def test_sibling_packages_never_import_each_other(siblings):
    crossing = [
        f"{module} imports {name}"
        for module in PRODUCT_MODULES
        for name in product_imports(module)
        for mine in siblings
        if within(module, mine) and any(within(name, other) for other in siblings if other != mine)
    ]
    assert crossing == []


def test_no_import_cycles():
    graph = {module: product_imports(module) for module in PRODUCT_MODULES}
    # A package's __init__ re-exporting its own modules is not a cycle of the layering.
    graph = {m: {n for n in names if not within(m, n)} for m, names in graph.items()}
    cycles, state = [], {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for name in sorted(graph[module]):
            if state.get(name) == "open":
                cycles.append(" -> ".join(trail[trail.index(name) :] + [module, name]))
            elif name not in state:
                visit(name, trail + [module] if name != module else trail)
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert cycles == []


PROTOCOL = "siuo_task.protocol"


def test_the_protocol_imports_only_the_standard_library_and_siuo_dataset():
    """The benchmark's rules are pure: no SDK, no lmms-eval, no I/O package of ours."""
    protocol = [module for module in PRODUCT_MODULES if within(module, PROTOCOL)]
    assert len(protocol) >= 5
    foreign = [
        f"{module} imports {name}"
        for module in protocol
        for name in imported_modules(PRODUCT_MODULES[module])
        if name.split(".")[0] not in sys.stdlib_module_names
        and not within(name, "siuo_dataset")
        and not within(name, PROTOCOL)
    ]
    assert foreign == []


def test_only_the_lmms_glue_imports_lmms_eval():
    outside = [module for module in PRODUCT_MODULES if not within(module, LMMS_GLUE)]
    assert [
        m for m in outside if any(within(n, "lmms_eval") for n in imported_modules(PRODUCT_MODULES[m]))
    ] == []


def test_only_the_inspect_glue_imports_inspect_ai():
    outside = [module for module in PRODUCT_MODULES if not within(module, INSPECT_GLUE)]
    assert [
        m for m in outside if any(within(n, "inspect_ai") for n in imported_modules(PRODUCT_MODULES[m]))
    ] == []
    assert "inspect_ai" in imported_modules(PRODUCT_MODULES["siuo_task.inspect.tasks"])


@pytest.mark.parametrize("forbidden", ["siuo_demo", "tests"])
def test_the_product_never_imports_demo_or_test_code(forbidden):
    product = [m for m in PRODUCT_MODULES if not within(m, "siuo_demo")]
    assert [
        m for m in product if any(within(n, forbidden) for n in imported_modules(PRODUCT_MODULES[m]))
    ] == []
