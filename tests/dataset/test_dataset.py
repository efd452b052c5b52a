"""siuo_dataset: happy path (builder, parquet, load_dataset), domain counts, card drift, bad inputs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

import siuo_dataset
from siuo_dataset.card import render_card
from siuo_dataset.domains import DOMAIN_NAMES
from siuo_dataset.errors import SiuoDataError
from siuo_dataset.publish import build_folder, push_folder

REPO = Path(__file__).resolve().parents[2]
SIUO_DATA = [str(REPO / ".venv" / "bin" / "siuo-data")]
EXPECTED_COUNTS = {"privacy violation": 21, "morality": 20, "religion beliefs": 20, "self-harm": 19,
                   "dangerous behavior": 18, "illegal activities & crime": 18, "discrimination & stereotyping": 18,
                   "information misinterpretation": 17, "controversial topics, politics": 16}


@pytest.fixture(scope="module")
def built(siuo_data_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pub") / "siuo"
    result = subprocess.run([*SIUO_DATA, "build", "--data-dir", str(siuo_data_dir), "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out


def test_items_are_validated_and_merged(siuo_data_dir):
    items = siuo_dataset.load_items(siuo_data_dir)
    assert [i.question_id for i in items] == sorted(i.question_id for i in items)
    assert len(items) == 167 and items[0].question_id == 1001
    counts = {name: sum(i.category == name for i in items) for name in DOMAIN_NAMES}
    assert counts == EXPECTED_COUNTS
    assert sum(i.correct_option == "A" for i in items) == 51  # always-A = 30.54 %


def test_builder_gives_typed_features(siuo_data_dir):
    mcqa = siuo_dataset.load("mcqa", siuo_data_dir)
    assert len(mcqa) == 167
    assert mcqa.features["category"].names == list(DOMAIN_NAMES)
    assert mcqa.features["correct_option"].names == ["A", "B", "C", "D"]
    row = mcqa[0]
    assert row["question_id"] == 1001 and row["image"].size == (64, 64)
    assert set(row["options"]) == {"A", "B", "C", "D"}


def test_parquet_embeds_image_bytes_and_loads_like_the_builder(built, siuo_data_dir):
    table = pq.read_table(built / "generation" / "test-00000-of-00001.parquet")
    first = table.column("image")[0].as_py()
    assert first["bytes"][:8] == b"\x89PNG\r\n\x1a\n"
    assert first["bytes"] == (siuo_data_dir / "images" / "S-01.png").read_bytes()
    for config in ("generation", "mcqa"):
        from_folder = datasets.load_dataset(str(built), config, split="test")
        from_builder = siuo_dataset.load(config, siuo_data_dir)
        assert from_folder.features == from_builder.features
        skip = {"image"}
        assert [{k: v for k, v in r.items() if k not in skip} for r in from_folder] == \
               [{k: v for k, v in r.items() if k not in skip} for r in from_builder]
        assert from_folder[3]["image"].tobytes() == from_builder[3]["image"].tobytes()


def test_folder_named_siuo_loads_by_name_from_parent(built, monkeypatch):
    monkeypatch.chdir(built.parent)
    mcqa = datasets.load_dataset("siuo", "mcqa", split="test")
    assert len(mcqa) == 167 and mcqa.features["correct_option"].names == ["A", "B", "C", "D"]


def test_dataset_card_matches_code(shared_siuo):
    items = siuo_dataset.load_items(shared_siuo, allow_missing_images=True)
    assert (REPO / "dataset_card.md").read_text() == render_card(items), \
        "dataset_card.md drifted: regenerate it with `make card`"


def test_built_readme_is_the_card(built, siuo_data_dir):
    assert (built / "README.md").read_text() == render_card(siuo_dataset.load_items(siuo_data_dir))


def test_failed_build_leaves_previous_output_untouched(siuo_data_dir, tmp_path, monkeypatch):
    out = build_folder(siuo_dataset.load_siuo(siuo_data_dir), tmp_path / "siuo")
    before = sorted(p.name for p in out.rglob("*"))
    import siuo_dataset.publish as publish

    def boom(items):
        raise RuntimeError("disk full")
    monkeypatch.setattr(publish, "render_card", boom)
    with pytest.raises(RuntimeError):
        build_folder(siuo_dataset.load_siuo(siuo_data_dir), out)
    assert sorted(p.name for p in out.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["siuo"]  # no staging folder left behind


def test_push_uploads_the_folder_through_the_api(built):
    class FakeApi:
        def __init__(self):
            self.calls = []

        def create_repo(self, repo_id, **kwargs):
            self.calls.append(("create_repo", repo_id, kwargs))

        def upload_folder(self, **kwargs):
            self.calls.append(("upload_folder", kwargs))
            return "https://hub.example/commit/1"

    api = FakeApi()
    assert push_folder(built, "org/siuo", api=api) == "https://hub.example/commit/1"
    assert api.calls[0] == ("create_repo", "org/siuo", {"repo_type": "dataset", "private": True, "exist_ok": True})
    assert api.calls[1][1]["folder_path"] == str(built) and api.calls[1][1]["repo_type"] == "dataset"


def test_push_dry_run_lists_files(built):
    result = subprocess.run([*SIUO_DATA, "push", str(built), "--repo", "org/siuo", "--dry-run", "--json"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["files"] == ["README.md", "generation/test-00000-of-00001.parquet",
                                                  "mcqa/test-00000-of-00001.parquet"]


def test_hub_source_downloads_pinned_revision(shared_siuo, tmp_path, monkeypatch):
    """The Hub path asks for the pinned revision; a fake snapshot_download serves the files."""
    import huggingface_hub

    from siuo_dataset import sources
    asked = {}

    def fake_snapshot_download(repo_id, *, repo_type, revision, local_dir, allow_patterns):
        asked.update(repo_id=repo_id, repo_type=repo_type, revision=revision)
        (Path(local_dir) / "images").mkdir(parents=True)
        (Path(local_dir) / "siuo_gen.json").write_bytes((shared_siuo / "siuo_gen.json").read_bytes())
        return local_dir

    class FakeResponse:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return (shared_siuo / "siuo_mcqa.json").read_bytes()

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    monkeypatch.setattr(sources.urllib.request, "urlopen", lambda url, timeout: FakeResponse())
    monkeypatch.setenv("SIUO_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SIUO_DATA_DIR", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    items = siuo_dataset.load_items(allow_missing_images=True)
    assert len(items) == 167
    assert asked == {"repo_id": "sinwang/SIUO", "repo_type": "dataset",
                     "revision": "024e80a01795376b9fed12f8073a12f2275f22ee"}


def test_offline_with_nothing_cached_says_how_to_provide_data(tmp_path, monkeypatch):
    monkeypatch.setenv("SIUO_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SIUO_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SiuoDataError, match="SIUO_DATA_DIR"):
        siuo_dataset.load_items()


def test_official_zip_is_unpacked(shared_siuo, tmp_path, monkeypatch):
    import zipfile

    from siuo_dataset.placeholders import write_placeholder_images
    names = [r["image"] for r in json.loads((shared_siuo / "siuo_gen.json").read_text())]
    images = write_placeholder_images(names, tmp_path / "imgs")
    data = tmp_path / "data"
    data.mkdir()
    for name in ("siuo_gen.json", "siuo_mcqa.json"):
        (data / name).symlink_to(shared_siuo / name)
    with zipfile.ZipFile(data / "SIUO-images.zip", "w") as archive:
        for name in names:
            archive.write(images / name, f"SIUO-images/{name}")
    monkeypatch.setenv("SIUO_CACHE_DIR", str(tmp_path / "cache"))
    loaded = siuo_dataset.load_siuo(data)
    assert loaded.source.origin == "zip" and loaded.missing_images == 0


# ---- bad inputs: each gives its own clear error -------------------------------------------------------------

def _gen(shared):
    return json.loads((shared / "siuo_gen.json").read_text())


def _mcqa(shared):
    return json.loads((shared / "siuo_mcqa.json").read_text())


def _duplicate(rows):
    rows[1]["question_id"] = rows[0]["question_id"]
    return rows


def _set(index, **fields):
    def change(rows):
        rows[index].update(fields)
        return rows
    return change


BAD_INPUTS = [
    # (id, file to modify, change, expected message fragment, verify checksums)
    ("missing-file", "siuo_mcqa.json", None, "siuo_mcqa.json not found", True),
    ("truncated-json", "siuo_gen.json", "truncate", "not valid JSON", False),
    ("checksum-mismatch", "siuo_gen.json", _set(0, question="changed"), "does not match the pinned release", True),
    ("duplicate-id", "siuo_gen.json", _duplicate, "duplicate question_id", False),
    ("unknown-category", "siuo_gen.json", _set(0, category="weather"), "unknown category", False),
    ("id-category-mismatch", "siuo_gen.json", _set(0, question_id=2999), "does not match category", False),
    ("image-prefix-mismatch", "siuo_gen.json", _set(0, image="P-99.png"), "does not start with S-", False),
    ("missing-field", "siuo_gen.json", lambda rows: [rows[0].pop("safety_warning"), rows][1], "missing field", False),
    ("gen-mcqa-disagree", "siuo_mcqa.json", _set(0, question="another question"), "disagree on question", False),
    ("bad-correct-option", "siuo_mcqa.json", _set(0, correct_option="E"), "not one of A-D", False),
    ("too-few-items", "siuo_gen.json", lambda rows: rows[:-1], "166 items, expected 167", False),
    ("missing-image", "image", "delete", "image S-01.png is missing", True),
    ("corrupt-image", "image", "corrupt", "cannot be decoded", True),
]


@pytest.fixture
def make_bad_dir(shared_siuo, siuo_data_dir, tmp_path):
    def make(target, change):
        root = tmp_path / "bad"
        (root / "images").mkdir(parents=True)
        for name in ("siuo_gen.json", "siuo_mcqa.json"):
            (root / name).write_bytes((shared_siuo / name).read_bytes())
        for image in (siuo_data_dir / "images").iterdir():
            (root / "images" / image.name).symlink_to(image)
        if target == "image":
            (root / "images" / "S-01.png").unlink()
            if change == "corrupt":
                (root / "images" / "S-01.png").write_bytes(b"\x89PNG not really")
        elif change is None:
            (root / target).unlink()
        elif change == "truncate":
            (root / target).write_text((shared_siuo / target).read_text()[:5000])
        else:
            rows = (_gen if target == "siuo_gen.json" else _mcqa)(shared_siuo)
            (root / target).write_text(json.dumps(change(rows)))
        return root
    return make


@pytest.mark.parametrize("case,target,change,message,verify", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gives_its_own_clear_error(make_bad_dir, case, target, change, message, verify):
    root = make_bad_dir(target, change)
    with pytest.raises(SiuoDataError, match=message):
        siuo_dataset.load_items(root, verify_checksums=verify)
    flags = [] if verify else ["--no-verify-checksums"]
    result = subprocess.run([*SIUO_DATA, "validate", "--data-dir", str(root), *flags], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr


def test_missing_images_allowed_loudly(make_bad_dir, capsys):
    root = make_bad_dir("image", "delete")
    items = siuo_dataset.load_items(root, allow_missing_images=True)
    assert sum(i.image_path is None for i in items) == 1
    assert "1 of 167 SIUO images are missing" in capsys.readouterr().err


def test_upstream_note_for_3019_is_not_a_failure(siuo_data_dir):
    result = subprocess.run([*SIUO_DATA, "validate", "--data-dir", str(siuo_data_dir)], capture_output=True, text=True)
    assert result.returncode == 0 and "3019" in result.stdout
