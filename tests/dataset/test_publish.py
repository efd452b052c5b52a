"""The Hub-ready folder: embedded image bytes, load_dataset parity with the builder, load by folder name,
atomic writes, checked against the build manifest on load, push through the real HfApi to a loopback fake Hub
(only the files the build wrote, each checked by digest), dry run."""

from __future__ import annotations

import json
import shutil
import stat

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import siuo_dataset
import siuo_dataset.card as card
import siuo_dataset.publish as publish
from siuo_dataset.errors import SiuoDataError
from siuo_dataset.publish import build_folder, push_folder
from tests.dataset.conftest import assert_one_line_error
from tests.fakes.hub import FakeHub
from tests.helpers import run_tool, siuo_data


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

    monkeypatch.setattr(card, "render_card", boom)  # build_folder writes the card last
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


def hub_api(hub: FakeHub):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub.endpoint, token="hf_" + "x" * 34)  # a throwaway token, in memory only


def copy_built(built, tmp_path):
    copy = tmp_path / "siuo"
    shutil.copytree(built, copy, symlinks=True)
    return copy


def test_push_uploads_the_built_files_through_the_hub_api(built):
    with FakeHub() as hub:
        url = push_folder(built, "org/siuo", api=hub_api(hub), allow_placeholders=True)
        assert url == f"{hub.endpoint}/datasets/org/siuo/commit/{'1' * 40}"
        create = hub.called("POST", "/api/repos/create")[0].json()
        assert (create["name"], create["organization"], create["type"]) == ("siuo", "org", "dataset")
        assert hub.private == {"org/siuo": True}
        assert hub.called("PUT", "/settings") == []  # a private repo needs no gate
        uploaded = hub.repos["org/siuo"]
        assert sorted(uploaded) == sorted([".gitattributes", *files(built)])
        assert all(uploaded[name] == (built / name).read_bytes() for name in files(built))


def test_push_uploads_only_what_the_build_wrote(built, tmp_path):
    """#29 item 6: a token file, a notes folder, a link out of the folder and a file named with escape
    characters are never uploaded; the dry run says what is left out, with names printed inert."""
    folder = copy_built(built, tmp_path)
    (folder / ".env").write_text("HF_TOKEN=hf_secret\n")
    (folder / "notes").mkdir()
    (folder / "notes" / "todo.md").write_text("private")
    (tmp_path / "key.pem").write_text("KEY")
    (folder / "generation" / "key.pem").symlink_to(tmp_path / "key.pem")
    (folder / "evil\x1b[2J\u202e.txt").write_text("x")
    with FakeHub() as hub:
        push_folder(folder, "org/siuo", api=hub_api(hub), allow_placeholders=True)
        assert sorted(hub.repos["org/siuo"]) == sorted([".gitattributes", *files(built)])
        assert b"hf_secret" not in b"".join(r.body for r in hub.requests)
    dry = siuo_data("push", folder, "--repo", "org/siuo", "--dry-run", "--allow-placeholders")
    assert dry.returncode == 0, dry.stderr
    assert "\x1b" not in dry.stdout + dry.stderr and "\u202e" not in dry.stdout + dry.stderr
    assert "not uploaded (not written by the build): .env, evil\\x1b[2J\\u202e.txt, generation/key.pem" in (
        dry.stderr
    )
    assert "notes/todo.md" in dry.stderr and ".env" not in dry.stdout


@pytest.mark.parametrize("change", ["edit", "link", "manifest-escape"])
def test_push_refuses_a_built_file_that_is_not_what_the_build_wrote(built, tmp_path, change):
    folder = copy_built(built, tmp_path)
    parquet = folder / files(built)[1]
    if change == "edit":
        parquet.write_bytes(parquet.read_bytes()[:-10] + b"0123456789")
        message = "differs from the file the build wrote"
    elif change == "link":
        (tmp_path / "elsewhere.parquet").write_bytes(parquet.read_bytes())
        parquet.unlink()
        parquet.symlink_to(tmp_path / "elsewhere.parquet")
        message = "is a link"
    else:
        manifest = json.loads((folder / publish.MANIFEST).read_text())
        manifest["files"]["../outside\x1b.txt"] = "0" * 64
        (folder / publish.MANIFEST).write_text(json.dumps(manifest))
        message = "not a file of a build"
    with FakeHub() as hub:
        with pytest.raises(SiuoDataError, match=message) as raised:
            push_folder(folder, "org/siuo", api=hub_api(hub), allow_placeholders=True)
        assert hub.requests == []  # refused before anything reached the Hub
    assert "\x1b" not in str(raised.value)
    result = siuo_data("push", folder, "--repo", "org/siuo", "--dry-run", "--allow-placeholders")
    assert_one_line_error(result, message)


def test_push_refuses_a_build_from_before_the_file_list(built, tmp_path):
    folder = copy_built(built, tmp_path)
    manifest = json.loads((folder / publish.MANIFEST).read_text())
    del manifest["files"]
    (folder / publish.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(SiuoDataError, match="lists no files .* rebuild it"):
        push_folder(folder, "org/siuo", api=None, allow_placeholders=True)


def test_push_errors_are_one_clear_line(built, tmp_path):
    with FakeHub(fail_commit=403) as hub:
        with pytest.raises(SiuoDataError) as raised:
            push_folder(built, "org/siuo", api=hub_api(hub), allow_placeholders=True)
    assert "upload to org/siuo failed (HfHubHTTPError" in str(raised.value) and "\n" not in str(raised.value)


def test_push_rejects_bad_repo_and_unbuilt_folder(built, tmp_path):
    with pytest.raises(SiuoDataError, match="not a Hub repo id"):
        push_folder(built, "just-a-name", api=None, allow_placeholders=True)
    assert_one_line_error(
        siuo_data("push", str(tmp_path), "--repo", "org/siuo"), "is not a built SIUO folder"
    )


def _swap_first_two_images(parquet) -> None:
    table = pq.read_table(parquet)
    images = table.column("image").to_pylist()
    images[0], images[1] = images[1], images[0]
    index = table.schema.get_field_index("image")
    pq.write_table(
        table.set_column(index, table.schema.field("image"), pa.array(images, table.column("image").type)),
        parquet,
    )


def test_loading_a_built_folder_checks_it_against_its_manifest(built, tmp_path):
    """#29 item 3: two images swapped between items in a built folder are one error naming the items, even
    when the manifest's file digest was updated to match."""
    good = siuo_dataset.load("generation", built, cache_dir=str(tmp_path / "ok"))
    assert len(good) == 167
    manifest = json.loads((built / publish.MANIFEST).read_text())
    assert len(manifest["image_sha256"]) == 167 and manifest["annotations_verified"] is True
    folder = copy_built(built, tmp_path)
    parquet = folder / files(built)[1]
    first_two = sorted(int(q) for q in manifest["image_sha256"])[:2]
    _swap_first_two_images(parquet)
    with pytest.raises(SiuoDataError, match="differs from the file the build wrote"):
        siuo_dataset.load("generation", folder, cache_dir=str(tmp_path / "a"))
    manifest["files"][files(built)[1]] = publish.sha256_file(parquet)
    (folder / publish.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(SiuoDataError) as raised:
        siuo_dataset.load("generation", folder, cache_dir=str(tmp_path / "b"))
    assert f"question_id {first_two[0]}, {first_two[1]} differ from the ones the build recorded" in str(
        raised.value
    )


@pytest.mark.e2e
def test_push_dry_run_lists_files(built):
    allow = "--allow-placeholders"
    result = siuo_data("push", str(built), "--repo", "org/siuo", "--dry-run", "--json", allow)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "repo": "org/siuo",
        "files": files(built),
        "left_out": [],
        "gated": False,
    }
    text = siuo_data("push", str(built), "--repo", "org/siuo", "--dry-run", allow)
    assert text.returncode == 0 and "would upload to dataset repo org/siuo" in text.stdout
    assert all(name in text.stdout for name in files(built))


IMPORTS_OF = """
import sys
from siuo_dataset.cli import main
code = main(sys.argv[1:])
print(code, "datasets" in sys.modules)
"""


def test_push_and_a_refused_build_never_import_datasets(built, siuo_data_dir, tmp_path):
    """``datasets`` (~1 s of CPU to import) is only for writing and reading parquet."""
    push = ["push", str(built), "--repo", "org/siuo", "--dry-run", "--allow-placeholders"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    refused = ["build", "--data-dir", str(siuo_data_dir), "--out", str(tmp_path / "mine")]
    for args, code in ((push, 0), (refused, 2), (["info", "--data-dir", str(siuo_data_dir)], 0)):
        result = run_tool("python", "-c", IMPORTS_OF, *args)
        assert result.stdout.splitlines()[-1] == f"{code} False", (args, result.stdout, result.stderr)


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
        push_folder(built, "org/siuo", api=None)


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


def test_dry_run_says_whether_the_repo_will_be_gated(built):
    allow = "--allow-placeholders"
    for flags, gated in ((["--public"], True), (["--public", "--no-gate"], False), ([], False)):
        result = siuo_data("push", built, "--repo", "org/siuo", "--dry-run", "--json", allow, *flags)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["gated"] is gated
    text = siuo_data("push", built, "--repo", "org/siuo", "--dry-run", allow, "--public")
    assert "would upload to dataset repo org/siuo (public, gated):" in text.stdout


def test_inert_escapes_control_and_format_characters():
    assert publish.inert("a\x1b[2J\u202eb\x00\n\u2028c é") == "a\\x1b[2J\\u202eb\\x00\\x0a\\u2028c é"
