"""#29 item 3: data checked, not only decoded. Image digests in provenance (swapped pictures never carry the
same provenance), no image read from outside the data folder, annotation files parsed with a depth limit,
annotations that are not the pinned release marked in provenance and in the report."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from siuo_dataset.errors import SiuoDataError
from siuo_dataset.items import load_siuo
from siuo_task.provenance import data_block
from siuo_task.report.render import render_html, render_markdown
from siuo_task.report.tables import sections
from siuo_task.runs import RunResult
from tests.dataset.conftest import assert_one_line_error
from tests.helpers import copy_data, siuo_data


@pytest.fixture
def data(siuo_data_dir, shared_siuo, tmp_path):
    """A writable SIUO folder: annotations and (placeholder) images copied."""
    return copy_data(siuo_data_dir, shared_siuo, tmp_path / "data")


def test_image_digests_are_in_the_provenance_and_a_swap_changes_it(data):
    before = data_block(load_siuo(data, allow_missing_images=False), images_used=True)
    assert len(before["image_sha256"]) == 167 and len(before["images_sha256"]) == 64
    first, second = data / "images" / "S-01.png", data / "images" / "S-02.png"
    one, two = first.read_bytes(), second.read_bytes()
    first.write_bytes(two)
    second.write_bytes(one)
    after = data_block(load_siuo(data), images_used=True)
    assert after["images_sha256"] != before["images_sha256"]
    changed = {q for q in before["image_sha256"] if before["image_sha256"][q] != after["image_sha256"][q]}
    assert len(changed) == 2  # exactly the two items whose pictures moved
    assert sorted(before["image_sha256"].values()) == sorted(after["image_sha256"].values())  # same files


def test_a_run_that_never_looked_at_images_hashes_none(data):
    block = data_block(load_siuo(data, decode_images=False), images_used=False)
    assert "image_sha256" not in block and block["annotations_verified"] is True


def test_an_image_linked_from_outside_the_data_folder_is_refused(data, tmp_path):
    secret = tmp_path / "key.pem"
    secret.write_text("-----BEGIN PRIVATE KEY-----\n")
    (data / "images" / "S-01.png").unlink()
    (data / "images" / "S-01.png").symlink_to(secret)
    for command in ("validate", "info"):
        result = siuo_data(command, "--data-dir", data)
        assert_one_line_error(result, "image 'S-01.png' in")
        assert "is a link to a file outside the data folder" in result.stderr
    built = siuo_data("build", "--data-dir", data, "--out", tmp_path / "out")
    assert_one_line_error(built, "outside the data folder")
    assert not (tmp_path / "out").exists()  # never embedded in a build
    with pytest.raises(SiuoDataError, match="outside the data folder"):
        load_siuo(data, decode_images=False)


def test_a_link_between_images_of_the_folder_is_allowed(data):
    (data / "images" / "S-01.png").unlink()
    (data / "images" / "S-01.png").symlink_to(data / "images" / "S-02.png")
    loaded = load_siuo(data)
    assert (
        loaded.image_sha256[loaded.items[0].question_id] == loaded.image_sha256[loaded.items[1].question_id]
    )


def test_a_deeply_nested_annotation_file_is_one_line_not_a_recursion_error(data):
    (data / "siuo_gen.json").write_text("[" * 100_000 + "]" * 100_000)
    result = siuo_data("validate", "--data-dir", data, "--no-verify-checksums")
    assert_one_line_error(result, "siuo_gen.json: JSON nested deeper than 64 levels")
    assert "RecursionError" not in result.stderr


def _edited(data):
    rows = json.loads((data / "siuo_gen.json").read_text())
    rows[0]["reference_answer"] += " (edited)"
    (data / "siuo_gen.json").write_text(json.dumps(rows))
    return data


def test_unverified_annotations_are_marked_in_provenance_and_report(data, tmp_path):
    loaded = load_siuo(_edited(data), verify_checksums=False)
    block = data_block(loaded, images_used=False)
    assert block["annotations_verified"] is False
    metrics = {"safe": 50.0, "n_items": 167, "data": block, "judge": {"backend": "offline", "model": "m"}}
    runs = [RunResult("edited\x1b[31m", {"siuo_gen": metrics}), RunResult("ok", {})]
    blocks = sections(runs)
    assert blocks[0].kind == "warning" and "UNVERIFIED ANNOTATIONS" in blocks[0].payload
    plots = {block.payload[0]: b"" for block in blocks if block.kind == "plot"}
    assert "UNVERIFIED ANNOTATIONS" in render_markdown(blocks) and "UNVERIFIED" in render_html(blocks, plots)
    judge_table = next(b for b in blocks if b.title.startswith("Judge and data"))
    assert "UNVERIFIED" in judge_table.payload[1][0][-1]


def test_verified_annotations_carry_no_mark(data, tmp_path):
    block = data_block(load_siuo(data), images_used=True)
    assert block["annotations_verified"] is True
    runs = [RunResult("ok", {"siuo_gen": {"safe": 50.0, "n_items": 167, "data": block}})]
    assert "UNVERIFIED" not in render_markdown(sections(runs))


def test_images_of_a_hub_download_are_compared_with_the_release(siuo_data_dir, shared_siuo, isolated_cache):
    """A Hub download keeps huggingface_hub's record of each file (the pinned commit, the sha256 the Hub
    gave): images swapped there afterwards are refused, naming the first."""
    from siuo_dataset.sources import HUB_REVISION, hub_cache

    hub = copy_data(siuo_data_dir, shared_siuo, hub_cache())
    records = hub / ".cache" / "huggingface" / "download" / "images"
    records.mkdir(parents=True)
    for image in (hub / "images").iterdir():
        digest = hashlib.sha256(image.read_bytes()).hexdigest()
        (records / f"{image.name}.metadata").write_text(f"{HUB_REVISION}\n{digest}\n{time.time()}\n")
    loaded = load_siuo()  # no folder given: the cached Hub download
    assert loaded.source.origin == "hub" and loaded.release_checked_images == 167
    assert data_block(loaded, images_used=True)["images_checked_against_release"] == 167
    first, second = hub / "images" / "S-01.png", hub / "images" / "S-02.png"
    one, two = first.read_bytes(), second.read_bytes()
    first.write_bytes(two)
    second.write_bytes(one)
    with pytest.raises(
        SiuoDataError, match=r"image 'S-01.png' .* differs from the pinned sinwang/SIUO release"
    ):
        load_siuo()
    assert load_siuo(decode_images=False).release_checked_images == 0  # pixels unused: nothing hashed
    assert load_siuo(siuo_data_dir).release_checked_images == 0  # a local folder: no release manifest
