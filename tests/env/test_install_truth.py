"""The install says the truth: what the product imports is declared (a base install can judge), nobody is told
to install `siuo` by name (it is not on the package index), `make install` says where the tools are and gives
pip no reason to print its timm/torchvision error, `make check-latest` also tests the base install, and the
GPU route's torch index is documented."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import REPO

PRODUCT = ("siuo_dataset", "siuo_task", "siuo_demo")
LMMS_ONLY = ("siuo_task/lmms/", "siuo_task/cli/lmms_eval.py")  # run only with the lmms extra
INSPECT_ONLY = ("siuo_task/inspect/",)  # run only with the inspect extra


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def names(requirements: list[str]) -> dict[str, Requirement]:
    return {canonicalize_name(r.name): r for r in map(Requirement, requirements)}


def third_party_imports(path) -> set[str]:
    """Top-level modules ``path`` imports that are neither the standard library nor ours."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name not in PRODUCT}


def test_every_import_of_the_product_is_declared():
    """Each third-party module the product imports comes from a distribution it declares: the base
    requirements, plus the lmms extra for the lmms-eval glue (no transitive luck: httpx2, pytz)."""
    base = names(project()["dependencies"])
    lmms = {**base, **names(project()["optional-dependencies"]["lmms"])}
    inspect = {**base, **names(project()["optional-dependencies"]["inspect"])}
    providers = importlib.metadata.packages_distributions()
    undeclared = []
    for package in PRODUCT:
        for path in sorted((REPO / package).rglob("*.py")):
            relative = path.relative_to(REPO).as_posix()
            declared = (
                lmms
                if relative.startswith(LMMS_ONLY)
                else inspect
                if relative.startswith(INSPECT_ONLY)
                else base
            )
            for module in sorted(third_party_imports(path)):
                dists = {canonicalize_name(d) for d in providers.get(module, [module])}
                if not dists & set(declared):
                    undeclared.append(f"{relative}: {module} ({', '.join(sorted(dists))})")
    assert not undeclared, undeclared


def test_the_judge_client_has_the_extra_it_needs():
    """The async judge client is openai's aiohttp one: the openai requirement carries the `aiohttp` extra and
    a lower bound at the first release built on httpx2 (3.0), whose pool limits the judge passes."""
    source = "".join(path.read_text() for path in (REPO / "siuo_task" / "judge").rglob("*.py"))
    openai = names(project()["dependencies"])["openai"]
    if "DefaultAioHttpClient" in source:
        assert "aiohttp" in openai.extras
    if "httpx2" in source:
        assert "3.0" in openai.specifier and "2.99" not in openai.specifier
        assert not openai.specifier.contains("2.54.0")


NAMED_INSTALL = re.compile(r"pip install\s+(-\S+\s+)*['\"]?siuo\b")


def test_nobody_is_told_to_pip_install_siuo_by_name():
    """`siuo` is not on the package index: docs and messages say `pip install '.[lmms]'` (a checkout)."""
    files = [REPO / "Makefile", *REPO.glob("*.md"), *(REPO / "docs").glob("*.md")]
    for package in PRODUCT:
        files += [p for p in (REPO / package).rglob("*") if p.suffix in (".py", ".md", ".html", ".yaml")]
    offenders = [
        f"{path.relative_to(REPO)}: {match.group(0)}"
        for path in files
        for match in NAMED_INSTALL.finditer(path.read_text())
    ]
    assert not offenders, offenders


def dry_run(target: str, tmp_path) -> list[str]:
    """The commands ``make TARGET`` would run (``-n -B``: printed, none run), in a throw-away venv path."""
    done = subprocess.run(
        ["make", "-n", "-B", "--no-print-directory", target, f"VENV={tmp_path / 'venv'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines()


def test_make_install_gives_pip_no_timm_torchvision_error_and_says_where_the_tools_are(tmp_path):
    """pip checks what it installs against what is installed: torch goes in before lmms-eval (installed
    without torchvision and timm on purpose), and every install after lmms-eval is --no-deps, so pip has
    nothing to complain about; the last lines say to activate the venv (else siuo-eval is not on PATH)."""
    lines = dry_run("install", tmp_path)
    installs = [line for line in lines if "/bin/pip install" in line]
    torch = next(i for i, line in enumerate(installs) if "requirements/torch.txt" in line)
    lmms = next(i for i, line in enumerate(installs) if "requirements/lmms-eval.txt" in line)
    assert torch < lmms
    assert all("--no-deps" in line for line in installs[lmms:])
    said = "\n".join(line for line in lines if line.startswith("echo"))
    assert "without torchvision and timm on purpose" in said
    assert f"source {tmp_path / 'venv'}/bin/activate" in said


def test_check_latest_also_judges_with_the_base_install_alone(tmp_path):
    lines = dry_run("check-latest", tmp_path)
    latest = [line for line in lines if "build/latest-venv/bin/pip install" in line]
    assert "lmms-eval==" in latest[-1] and "--no-deps" in latest[-1]  # nothing after it for pip to check
    base = [line for line in lines if "build/base-venv/bin/pip install" in line]
    assert base[0].split()[-1] == "." and "[" not in base[0]  # the package alone, no extras
    assert any("-m base_install" in line and "build/base-venv/bin/python" in line for line in lines)


def test_the_install_docs_give_the_checkout_route_and_the_gpu_torch_index():
    text = (REPO / "docs" / "install.md").read_text()
    assert "pip install '.[lmms]'" in text and "https://download.pytorch.org/whl/" in text
    readme = (REPO / "README.md").read_text()
    assert "make install && source .venv/bin/activate" in readme
