"""docs/architecture.md lists every product module once, and nothing that is not one."""

from __future__ import annotations

import re

from tests.helpers import REPO

LISTED = re.compile(r"^\| `((?:siuo_dataset|siuo_task|siuo_demo)/[\w/]+\.py)` \|", re.MULTILINE)


def test_the_module_table_matches_the_tree():
    listed = LISTED.findall((REPO / "docs" / "architecture.md").read_text())
    tree = sorted(
        str(path.relative_to(REPO))
        for package in ("siuo_dataset", "siuo_task", "siuo_demo")
        for path in (REPO / package).rglob("*.py")
        if path.name != "__main__.py" and "/tasks/" not in str(path)
    )
    assert sorted(listed) == tree
    assert len(listed) == len(set(listed))
