"""The product never reads another module's stack frames (``sys._getframe``, ``inspect.currentframe``,
``f_locals``/``f_back``): what it needs from lmms-eval comes through lmms-eval's public seams (see
docs/local-models.md, "Chat and simple model classes")."""

from __future__ import annotations

import re

from tests.helpers import REPO
from tests.test_layering import PRODUCT, sources

FRAME_ACCESS = re.compile(r"_getframe|currentframe|\bf_locals\b|\bf_back\b|\bf_globals\b")


def test_no_product_source_reads_stack_frames():
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in sources(*PRODUCT)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if FRAME_ACCESS.search(line)
    ]
    assert found == []
