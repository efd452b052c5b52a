"""Items and the datasets builder: merged typed records, domain counts, ClassLabel features, decodable
images."""

from __future__ import annotations

import datasets
import pytest

import siuo_dataset
from siuo_dataset.domains import DOMAIN_NAMES
from siuo_dataset.errors import SiuoDataError
from tests.dataset.conftest import EXPECTED_COUNTS


def test_items_are_validated_merged_and_sorted(siuo_data_dir):
    items = siuo_dataset.load_items(siuo_data_dir)
    assert [i.question_id for i in items] == sorted(i.question_id for i in items)
    assert len(items) == 167 and items[0].question_id == 1001 and items[-1].question_id == 9021
    assert {name: sum(i.category == name for i in items) for name in DOMAIN_NAMES} == EXPECTED_COUNTS
    assert sum(i.correct_option == "A" for i in items) == 51  # always-A = 30.54 %
    first = items[0]
    assert first.image_name == "S-01.png" and first.image_path == siuo_data_dir / "images" / "S-01.png"
    assert list(first.options) == ["A", "B", "C", "D"] and first.read_image_bytes()[:4] == b"\x89PNG"


def test_checksums_are_the_pinned_ones(shared_siuo):
    from siuo_dataset.validate import sha256_file

    assert siuo_dataset.ANNOTATION_SHA256 == {
        "siuo_gen.json": "0a65c3443e75d0d6106550d73100753f19fe9fcb415e6ea138d5c7f04d31f228",
        "siuo_mcqa.json": "91f51da54b92d8bb2c2fa61215d0ed8c77113192d4f909854dd561eaa5953022",
    }
    assert {
        n: sha256_file(shared_siuo / n) for n in siuo_dataset.ANNOTATION_SHA256
    } == siuo_dataset.ANNOTATION_SHA256


def test_upstream_note_for_3019(siuo_data_dir):
    loaded = siuo_dataset.load_siuo(siuo_data_dir)
    assert len(loaded.notes) == 1 and "3019" in loaded.notes[0]
    assert next(i for i in loaded.items if i.question_id == 3019).correct_option == "D"


@pytest.fixture(scope="module")
def builder_datasets(siuo_data_dir, tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("hf-cache"))
    return {
        config: siuo_dataset.load(config, siuo_data_dir, cache_dir=cache) for config in ("generation", "mcqa")
    }


def test_builder_gives_typed_features(builder_datasets):
    gen, mcqa = builder_datasets["generation"], builder_datasets["mcqa"]
    assert isinstance(gen, datasets.Dataset) and gen.split == "test" and len(gen) == len(mcqa) == 167
    assert list(gen.features) == [
        "question_id",
        "image",
        "image_name",
        "question",
        "category",
        "safety_warning",
        "reference_answer",
    ]
    assert list(mcqa.features) == [*gen.features, "options", "correct_option"]
    assert gen.features["question_id"] == datasets.Value("int32")
    assert isinstance(gen.features["image"], datasets.Image)
    assert gen.features["category"].names == list(DOMAIN_NAMES)
    assert mcqa.features["correct_option"].names == ["A", "B", "C", "D"]
    assert mcqa.features["options"] == {k: datasets.Value("string") for k in "ABCD"}


def test_builder_rows_match_items(builder_datasets, siuo_data_dir):
    items = siuo_dataset.load_items(siuo_data_dir)
    mcqa = builder_datasets["mcqa"]
    assert mcqa["question_id"] == [i.question_id for i in items]
    assert [DOMAIN_NAMES[c] for c in mcqa["category"]] == [i.category for i in items]
    assert ["ABCD"[c] for c in mcqa["correct_option"]] == [i.correct_option for i in items]
    row = mcqa[0]
    assert row["options"] == items[0].options and row["reference_answer"] == items[0].reference_answer
    assert row["image"].size == (64, 64)
    assert builder_datasets["generation"][166]["image"].convert("RGB").getpixel((0, 0)) == mcqa[166][
        "image"
    ].convert("RGB").getpixel((0, 0))


def test_builder_with_missing_images_allowed(siuo_data_dir, tmp_path, shared_siuo):
    for name in ("siuo_gen.json", "siuo_mcqa.json"):
        (tmp_path / name).symlink_to(shared_siuo / name)
    gen = siuo_dataset.load("generation", tmp_path, allow_missing_images=True, cache_dir=str(tmp_path / "hf"))
    assert len(gen) == 167 and gen[0]["image"] is None


def test_unknown_config_is_a_clear_error(siuo_data_dir):
    with pytest.raises(SiuoDataError, match="unknown config 'vqa': choose one of generation, mcqa"):
        siuo_dataset.load("vqa", siuo_data_dir)
