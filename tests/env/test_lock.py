"""The environment matches the lock, and the lock satisfies every requirement we declare."""

import importlib.metadata
import os
import re
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.helpers import REPO

REQUIREMENTS = REPO / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", re.MULTILINE)
# Installed by the interpreter's venv, not by the lock: the installer itself.
INSTALLER = {"pip"}


def pins(path: Path) -> dict[str, str]:
    """`name==version` lines of a requirements file, by canonical name."""
    return {canonicalize_name(name): version for name, version in PIN.findall(path.read_text())}


def declared(path: Path) -> list[Requirement]:
    """Requirement lines of a hand-written requirements file (comments and `-r` lines skipped)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


LOCK = pins(REQUIREMENTS / "lock.txt")
TORCH = pins(REQUIREMENTS / "torch.txt")
LMMS_EVAL = pins(REQUIREMENTS / "lmms-eval.txt")


def installed() -> dict[str, str]:
    return {canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}


def torch_requirements() -> set[str]:
    """Names the installed torch build requires (its CUDA libraries on GPU machines)."""
    return {canonicalize_name(Requirement(r).name) for r in importlib.metadata.requires("torch") or []}


@pytest.mark.skipif(
    os.environ.get("SIUO_UNLOCKED_ENV") == "1", reason="make check-latest: newest releases, no lock"
)
def test_installed_environment_is_the_lock() -> None:
    have = installed()
    expected = {**LOCK, **LMMS_EVAL}
    wrong = {
        name: (version, have.get(name)) for name, version in expected.items() if have.get(name) != version
    }
    assert not wrong, (
        f"installed versions differ from requirements/ (locked, installed): {wrong}; run `make install`"
    )
    torch_version = Version(have["torch"])
    assert torch_version.public == TORCH["torch"], f"torch {torch_version} is not {TORCH['torch']}"
    extra = set(have) - set(expected) - {"torch", canonicalize_name(project()["name"])} - INSTALLER
    assert not extra - torch_requirements(), (
        f"installed but not in the lock: {sorted(extra)}; run `make install`"
    )


def test_lock_satisfies_every_declared_requirement() -> None:
    extras = project()["optional-dependencies"]
    wanted = [
        Requirement(r)
        for r in [*project()["dependencies"], *extras["test"], *extras["lmms"], *extras["inspect"]]
    ]
    wanted += declared(REQUIREMENTS / "lmms-eval-light.txt") + declared(REQUIREMENTS / "torch.txt")
    locked = {**LOCK, **TORCH, **LMMS_EVAL}
    unmet = [
        str(r)
        for r in wanted
        if r.marker is None or r.marker.evaluate()
        if locked.get(canonicalize_name(r.name)) is None
        or not r.specifier.contains(locked[canonicalize_name(r.name)], prereleases=True)
    ]
    assert not unmet, f"the lock does not satisfy {unmet}: run `make lock`"


def test_lmms_extra_and_light_recipe_agree() -> None:
    """pyproject's `lmms` extra (plain pip users) and the light recipe carry the same lmms-eval and bounds."""
    extra = {
        canonicalize_name(r.name): r for r in map(Requirement, project()["optional-dependencies"]["lmms"])
    }
    assert str(extra.pop("lmms-eval").specifier) == f"=={LMMS_EVAL['lmms-eval']}"
    light = {canonicalize_name(r.name): r for r in declared(REQUIREMENTS / "lmms-eval-light.txt")}
    assert extra, "the lmms extra should carry lmms-eval's upper bounds"
    for name, bound in extra.items():
        assert name in light and light[name].specifier == bound.specifier, f"{name}: {bound} vs light recipe"
