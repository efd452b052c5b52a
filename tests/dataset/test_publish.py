"""The Hub-ready folder: embedded image bytes, load_dataset parity with the builder, load by folder name,
atomic writes, push through a fake HfApi, dry run."""

from __future__ import annotations

import json
import stat

import datasets
import pyarrow.parquet as pq
import pytest
from httpx2 import Request, Response
from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError

import siuo_dataset
import siuo_dataset.publish as publish
from siuo_dataset.errors import SiuoDataError
from siuo_dataset.publish import build_folder, push_folder
from tests.dataset.conftest import assert_one_line_error
from tests.helpers import siuo_data


def files(built) -> list[str]:
    build_id = json.loads((built / publish.MANIFEST).read_text())["build_id"]
    return ["README.md", *(f"{c}/test-{build_id}-00000-of-00001.parquet" for c in ("generation", "mcqa"))]


def _rows(dataset):
    return [{k: v for k, v in row.items() if k != "image"} for row in dataset]


def test_parquet_holds_image_bytes_not_paths(built, siuo_data_dir):
    for config in ("generation", "mcqa"):
        (parquet,) = (built / config).glob("test-*.parquet")
        column = pq.read_table(parquet).column("image").to_pylist()
        assert len(column) == 167
        assert all(cell["bytes"] is not None and cell["bytes"][:8] == b"\x89PNG\r\n\x1a\n" for cell in column)
        assert column[0]["bytes"] == (siuo_data_dir / "images" / "S-01.png").read_bytes()
        assert column[0]["path"] == "S-01.png"  # a name, never a path on the build machine
        assert str(siuo_data_dir) not in json.dumps([c["path"] for c in column])


def test_parquet_row_groups_are_small_enough_for_the_hub_viewer(built):
    """An explicit row-group size (not whatever the installed datasets picks): 16 rows, 11 groups for 167."""
    for config in ("generation", "mcqa"):
        (parquet,) = (built / config).glob("test-*.parquet")
        meta = pq.ParquetFile(parquet).metadata
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        assert publish.ROW_GROUP_ROWS == 16 and sizes == [16] * 10 + [7]


def test_load_dataset_from_folder_equals_builder(built, siuo_data_dir, tmp_path):
    for config in ("generation", "mcqa"):
        from_folder = datasets.load_dataset(str(built), config, split="test", cache_dir=str(tmp_path / "a"))
        from_builder = siuo_dataset.load(config, siuo_data_dir, cache_dir=str(tmp_path / "b"))
        assert from_folder.features == from_builder.features
        assert _rows(from_folder) == _rows(from_builder)
        for index in (0, 80, 166):
            assert from_folder[index]["image"].tobytes() == from_builder[index]["image"].tobytes()


def test_folder_named_siuo_loads_by_name_from_parent(built, monkeypatch, tmp_path):
    monkeypatch.chdir(built.parent)
    mcqa = datasets.load_dataset("siuo", "mcqa", split="test", cache_dir=str(tmp_path / "c"))
    assert len(mcqa) == 167 and mcqa.features["correct_option"].names == ["A", "B", "C", "D"]
    gen = datasets.load_dataset(
        "siuo", split="test", cache_dir=str(tmp_path / "c")
    )  # generation is the default
    assert "options" not in gen.features and gen[0]["image"].size == (64, 64)


def test_build_output_layout(built):
    assert sorted(str(p.relative_to(built)) for p in built.rglob("*") if p.is_file()) == [
        publish.MANIFEST,
        *files(built),
    ]
    assert stat.S_IMODE(built.stat().st_mode) == 0o755
    assert not [p for p in built.parent.iterdir() if p.name.startswith(".")]  # no staging leftovers


def test_failed_rebuild_leaves_previous_output_untouched(siuo_data_dir, tmp_path, monkeypatch):
    out = build_folder(siuo_dataset.load_siuo(siuo_data_dir), tmp_path / "siuo")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def boom(items, **build):
        raise OSError("disk full")

    monkeypatch.setattr(publish, "render_card", boom)
    with pytest.raises(OSError, match="disk full"):
        build_folder(siuo_dataset.load_siuo(siuo_data_dir), out)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["siuo"]  # no staging folder left behind


def test_failed_first_build_leaves_nothing(siuo_data_dir, tmp_path, monkeypatch):
    def boom(loaded, config):
        raise OSError("disk full")

    monkeypatch.setattr(publish, "config_dataset", boom)
    with pytest.raises(OSError):
        build_folder(siuo_dataset.load_siuo(siuo_data_dir), tmp_path / "siuo")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.e2e
def test_build_refuses_to_overwrite_an_unrelated_folder(siuo_data_dir, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    result = siuo_data("build", "--data-dir", str(siuo_data_dir), "--out", str(tmp_path / "mine"))
    assert_one_line_error(result, "exists and is not a SIUO build folder")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_cli_build_of_bad_data_leaves_existing_output(built, make_bad_dir):
    before = {p: p.stat().st_mtime_ns for p in built.rglob("*")}
    root = make_bad_dir("siuo_gen.json", lambda rows: rows[:-1])
    result = siuo_data("build", "--data-dir", str(root), "--no-verify-checksums", "--out", str(built))
    assert_one_line_error(result, "166 items, expected 167")
    assert {p: p.stat().st_mtime_ns for p in built.rglob("*")} == before


class FakeApi:
    def __init__(self, fail: Exception | None = None):
        self.calls, self.fail = [], fail

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))
        if self.fail:
            raise self.fail

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs))
        return "https://hub.example/commit/1"


def test_push_uploads_the_folder_through_the_api(built):
    api = FakeApi()
    assert push_folder(built, "org/siuo", api=api, allow_placeholders=True) == "https://hub.example/commit/1"
    assert api.calls[0] == (
        "create_repo",
        "org/siuo",
        {"repo_type": "dataset", "private": True, "exist_ok": True},
    )
    assert api.calls[1][0] == "upload_folder"
    assert api.calls[1][1]["folder_path"] == str(built) and api.calls[1][1]["repo_id"] == "org/siuo"
    assert api.calls[1][1]["repo_type"] == "dataset"


@pytest.mark.parametrize(
    "error,message",
    [
        (LocalTokenNotFoundError("no token"), "not logged in to the Hub"),
        (
            HfHubHTTPError(
                "403 Forbidden\nyou cannot write",
                response=Response(403, request=Request("POST", "https://hub")),
            ),
            "upload to org/siuo failed (HfHubHTTPError: 403 Forbidden",
        ),
    ],
)
def test_push_errors_are_one_clear_line(built, error, message):
    with pytest.raises(SiuoDataError) as raised:
        push_folder(built, "org/siuo", api=FakeApi(fail=error), allow_placeholders=True)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_push_rejects_bad_repo_and_unbuilt_folder(built, tmp_path):
    with pytest.raises(SiuoDataError, match="not a Hub repo id"):
        push_folder(built, "just-a-name", api=FakeApi(), allow_placeholders=True)
    assert_one_line_error(
        siuo_data("push", str(tmp_path), "--repo", "org/siuo"), "is not a built SIUO folder"
    )


@pytest.mark.e2e
def test_push_dry_run_lists_files(built):
    allow = "--allow-placeholders"
    result = siuo_data("push", str(built), "--repo", "org/siuo", "--dry-run", "--json", allow)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"repo": "org/siuo", "files": files(built)}
    text = siuo_data("push", str(built), "--repo", "org/siuo", "--dry-run", allow)
    assert text.returncode == 0 and "would upload to dataset repo org/siuo" in text.stdout
    assert all(name in text.stdout for name in files(built))


@pytest.mark.e2e
def test_a_placeholder_build_is_marked_and_never_pushed_as_siuo(built):
    """#21 item 7: the manifest and card say so; push (and its dry run) refuse it unless told."""
    assert json.loads((built / publish.MANIFEST).read_text())["placeholder_images"] == 167
    assert "PLACEHOLDER IMAGES" in (built / "README.md").read_text()
    for extra in ([], ["--dry-run"]):
        refused = siuo_data("push", str(built), "--repo", "org/siuo", *extra)
        assert_one_line_error(refused, "167 placeholder images, not the SIUO images")
        assert "--allow-placeholders" in refused.stderr
    with pytest.raises(SiuoDataError, match="placeholder images"):
        push_folder(built, "org/siuo", api=FakeApi())


def test_a_rebuilt_folder_loads_the_new_data_not_a_cached_build(siuo_data_dir, shared_siuo, tmp_path):
    """datasets caches a local folder by its data files: the build id in their names makes a new key."""
    from PIL import Image

    other = tmp_path / "other"
    (other / "images").mkdir(parents=True)
    for name in ("siuo_gen.json", "siuo_mcqa.json"):
        (other / name).symlink_to(shared_siuo / name)
    for image in (siuo_data_dir / "images").iterdir():
        Image.new("RGB", (32, 32), (1, 2, 3)).save(other / "images" / image.name)
    out, cache = tmp_path / "siuo-hf", str(tmp_path / "hf-cache")
    build_folder(siuo_dataset.load_siuo(siuo_data_dir), out)
    first = datasets.load_dataset(str(out), "generation", split="test", cache_dir=cache)
    assert first[0]["image"].size == (64, 64)
    build_folder(siuo_dataset.load_siuo(other), out)
    second = datasets.load_dataset(str(out), "generation", split="test", cache_dir=cache)
    assert second[0]["image"].size == (32, 32)
    build_id = json.loads((out / publish.MANIFEST).read_text())["build_id"]
    assert build_id in (out / "README.md").read_text()
    assert [p.name for p in (out / "generation").iterdir()] == [f"test-{build_id}-00000-of-00001.parquet"]
