"""The dataset card is generated from code: the committed dataset_card.md and a build's README.md must be
exactly what render_card gives."""

from __future__ import annotations

import json

import pytest
import yaml
from datasets.info import DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCardData

import siuo_dataset
from siuo_dataset.card import render_card
from siuo_dataset.publish import MANIFEST
from tests.dataset.conftest import EXPECTED_COUNTS
from tests.helpers import REPO


def test_committed_dataset_card_matches_code(shared_siuo):
    items = siuo_dataset.load_items(shared_siuo, allow_missing_images=True)
    assert (REPO / "dataset_card.md").read_text() == render_card(items), (
        "dataset_card.md drifted from siuo_dataset/card.py: regenerate it with `make card`"
    )


@pytest.mark.e2e
def test_built_readme_is_the_card(built, siuo_data_dir):
    build = json.loads((built / MANIFEST).read_text())
    assert build["placeholder_images"] == 167  # the test data's images are placeholders: the card says so
    assert (built / "README.md").read_text() == render_card(
        siuo_dataset.load_items(siuo_data_dir), build_id=build["build_id"], placeholder_images=167
    )
    assert "**PLACEHOLDER IMAGES.** 167 of 167 images" in (built / "README.md").read_text()


def test_card_front_matter_and_sections(shared_siuo):
    card = render_card(siuo_dataset.load_items(shared_siuo, allow_missing_images=True))
    _, header, body = card.split("---\n", 2)
    meta = yaml.safe_load(header)
    assert meta["license"] == "cc-by-nc-4.0" and "visual-question-answering" in meta["task_categories"]
    assert meta["extra_gated_prompt"]
    assert [(c["config_name"], c["data_files"][0]["path"]) for c in meta["configs"]] == [
        ("generation", "generation/test-*.parquet"),
        ("mcqa", "mcqa/test-*.parquet"),
    ]
    from siuo_dataset.schema import FEATURES

    card_data = DatasetCardData(**meta)  # read back through datasets' public API, as the Hub loader does
    infos = DatasetInfosDict.from_dataset_card_data(card_data)
    assert {name: info.features for name, info in infos.items()} == FEATURES
    assert MetadataConfigs.from_dataset_card_data(card_data).get_default_config_name() == "generation"
    for heading in (
        "Content warning",
        "## Domains",
        "## Fields",
        "## Example",
        "## How to load",
        "## Intended use",
        "## Known upstream issues",
        "## License",
        "## Citation",
    ):
        assert heading in body
    for name, count in EXPECTED_COUNTS.items():
        assert f"| {name} |" in body and f"` | {count} |" in body
    assert "arXiv:2406.15279" in body and "CC BY-NC 4.0" in body and "3019" in body


def test_the_card_uses_datasets_public_api_only():
    """card.py writes the configs and features through ``DatasetInfosDict``/``MetadataConfigs`` (public),
    never the private ``Features._to_yaml_list``, which a datasets release may rename."""
    source = (REPO / "siuo_dataset" / "card.py").read_text()
    assert "._to_yaml" not in source and "to_dataset_card_data" in source
