"""The one result header: package version, data block with the placeholder count, judge block; the report
reads the placeholder flag from it."""

from __future__ import annotations

from PIL import Image

import siuo_task
from siuo_dataset.items import load_siuo
from siuo_dataset.placeholders import is_placeholder, write_placeholder_images
from siuo_task.judge.backends.offline import OfflineJudge
from siuo_task.provenance import provenance
from siuo_task.report.render import render_markdown
from siuo_task.report.tables import sections
from siuo_task.runs import RunResult


def test_placeholder_images_say_so_and_real_ones_do_not(tmp_path):
    write_placeholder_images(["p.png"], tmp_path)
    Image.new("RGB", (8, 8)).save(tmp_path / "real.png")
    assert is_placeholder(tmp_path / "p.png") and not is_placeholder(tmp_path / "real.png")


def test_header_counts_placeholders_only_when_images_were_looked_at(siuo_data_dir):
    loaded = load_siuo(siuo_data_dir)
    seen = provenance(loaded, judge=OfflineJudge().info, images_used=True)
    assert seen["siuo_version"] == siuo_task.__version__
    assert seen["data"]["placeholder_images"] == 167
    assert seen["data"]["sha256"]["siuo_gen.json"].startswith("0a65c344")
    assert seen["judge"] == {
        "backend": "offline",
        "model": "siuo-offline-rules-v2",
        "prompt_version": "offline-rules-v2 (no prompt)",  # its own version, never the LLM prompt's
        "temperature": 0.0,
        "text_only": True,
        "approximate": True,
        "endpoint": None,  # the rest of its identity: no endpoint, token limit or options
        "max_tokens": None,
        "options": {},
        "served_models": [],
        "system_fingerprints": [],
        "identity": OfflineJudge().info.identity,
    }
    assert provenance(loaded)["data"]["placeholder_images"] == 0 and "judge" not in provenance(loaded)
    assert provenance(seen["data"]) == {"siuo_version": siuo_task.__version__, "data": seen["data"]}


def test_report_takes_the_placeholder_flag_from_the_data_block(siuo_data_dir):
    header = provenance(load_siuo(siuo_data_dir), images_used=True)
    flagged = RunResult("m", tasks={"siuo_mcqa": {"accuracy": 50.0, **header}})
    plain = RunResult("m", tasks={"siuo_mcqa": {"accuracy": 50.0, **provenance(load_siuo(siuo_data_dir))}})
    assert render_markdown(sections([flagged])).startswith("**PLACEHOLDER IMAGES")
    assert "PLACEHOLDER" not in render_markdown(sections([plain]))
