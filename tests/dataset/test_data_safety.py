"""Red-team cases of the dataset side: a build replaces only a folder it built, image names stay inside the
data folder, decompression bombs are one-line data errors, and what we create gets the user's normal
permissions."""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest

import siuo_dataset
from siuo_dataset.errors import SiuoDataError
from siuo_dataset.publish import MANIFEST, build_folder
from siuo_dataset.validate import MAX_IMAGE_PIXELS
from tests.dataset.conftest import assert_one_line_error
from tests.helpers import bomb_png, copy_data, siuo_data

# ---- a build replaces only a folder it built ---------------------------------------------------------------


@pytest.mark.e2e
def test_build_never_replaces_a_project_that_merely_has_a_readme(siuo_data_dir, tmp_path):
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / ".git").mkdir()
    (project / "README.md").write_text("my project")
    (project / "src" / "main.py").write_text("print('keep me')")
    for flags in ([], ["--allow-missing-images"], ["--no-verify-checksums"], ["--json"]):
        result = siuo_data("build", "--data-dir", str(siuo_data_dir), "--out", str(project), *flags)
        assert_one_line_error(result, f"is not a SIUO build folder (no {MANIFEST})")
    assert (project / "src" / "main.py").read_text() == "print('keep me')" and (project / ".git").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]  # no staging folder left


@pytest.mark.e2e
def test_a_built_folder_holds_the_manifest_and_a_rebuild_replaces_it(siuo_data_dir, tmp_path):
    out = build_folder(siuo_dataset.load_siuo(siuo_data_dir), tmp_path / "siuo")
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["built_by"] == "siuo-data build" and manifest["n_items"] == 167
    assert (
        str(siuo_data_dir) not in (out / MANIFEST).read_text()
    )  # no local path in a folder meant for the Hub
    (out / "stale.txt").write_text("from an older build")
    result = siuo_data("build", "--data-dir", str(siuo_data_dir), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert not (out / "stale.txt").exists() and (out / MANIFEST).is_file()


def test_an_empty_folder_may_be_built_into(siuo_data_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    assert (build_folder(siuo_dataset.load_siuo(siuo_data_dir), tmp_path / "empty") / MANIFEST).is_file()


@pytest.mark.e2e
@pytest.mark.parametrize(
    "where", ["dot", "cwd-absolute", "parent-of-cwd", "home", "data", "parent-of-data", "images", "a-file"]
)
def test_build_refuses_places_it_must_never_replace(siuo_data_dir, shared_siuo, tmp_path, where):
    data = copy_data(siuo_data_dir, shared_siuo, tmp_path / "area" / "data")
    work, home = tmp_path / "area" / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    (work / "keep.txt").write_text("keep")
    (work / "a-file").write_text("not a folder")
    out = {
        "dot": ".",
        "cwd-absolute": str(work),
        "parent-of-cwd": "..",
        "home": str(home),
        "data": str(data),
        "parent-of-data": str(data.parent),
        "images": str(data / "images"),
        "a-file": "a-file",
    }[where]
    environment = dict(os.environ, HOME=str(home))
    result = siuo_data("build", "--data-dir", str(data), "--out", out, env=environment, cwd=work)
    assert_one_line_error(result, f"--out {out} ")
    assert "internal error" not in result.stderr
    assert (work / "keep.txt").read_text() == "keep" and (data / "siuo_gen.json").is_file()


# ---- image names stay inside the data folder ---------------------------------------------------------------


@pytest.mark.e2e
def test_an_image_name_cannot_leave_the_data_folder_even_without_checksums(
    siuo_data_dir, shared_siuo, tmp_path
):
    data = copy_data(siuo_data_dir, shared_siuo, tmp_path / "data")
    (data / "images" / "S-x").mkdir()
    shutil.copyfile(
        siuo_data_dir / "images" / "S-01.png", tmp_path / "outside.png"
    )  # a readable outside file
    escape = "S-x/../../../outside.png"
    assert (data / "images" / escape).resolve() == (tmp_path / "outside.png").resolve()
    for name in ("siuo_gen.json", "siuo_mcqa.json"):
        rows = json.loads((data / name).read_text())
        rows[0]["image"] = escape
        (data / name).write_text(json.dumps(rows))
    with pytest.raises(SiuoDataError, match="not a plain file name inside the data folder"):
        siuo_dataset.load_siuo(data, verify_checksums=False)
    for command in ("validate", "build"):
        extra = ["--out", str(tmp_path / "out")] if command == "build" else []
        result = siuo_data(command, "--data-dir", str(data), "--no-verify-checksums", *extra)
        assert_one_line_error(result, f"image {escape!r} is not a plain file name inside the data folder")
    assert not (tmp_path / "out").exists()


# ---- decompression bombs -----------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("pixels", ["over-the-limit", "over-twice-the-limit"])
def test_a_decompression_bomb_is_one_line_naming_the_image(siuo_data_dir, shared_siuo, tmp_path, pixels):
    side = int((MAX_IMAGE_PIXELS * (1.2 if pixels == "over-the-limit" else 2.5)) ** 0.5)
    data = copy_data(siuo_data_dir, shared_siuo, tmp_path / "data")
    (data / "images" / "S-01.png").unlink()
    (data / "images" / "S-01.png").write_bytes(bomb_png(side, side))
    for command in ("validate", "build"):
        extra = ["--out", str(tmp_path / "out")] if command == "build" else []
        result = siuo_data(command, "--data-dir", str(data), *extra)
        assert_one_line_error(result, f"S-01.png has more than {MAX_IMAGE_PIXELS:,} pixels")
    assert (
        len(siuo_dataset.load_siuo(data, decode_images=False).items) == 167
    )  # no pixels needed: not decoded


# ---- permissions -------------------------------------------------------------------------------------------


@pytest.fixture
def umask_002():
    previous = os.umask(0o002)
    yield
    os.umask(previous)


def test_built_folders_get_the_users_normal_permissions(siuo_data_dir, tmp_path, umask_002):
    out = build_folder(siuo_dataset.load_siuo(siuo_data_dir), tmp_path / "siuo")
    assert stat.S_IMODE(out.stat().st_mode) == 0o775
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.rglob("*") if p.is_file()} == {0o664}


def test_unpacked_images_folder_gets_the_users_normal_permissions(siuo_data_dir, tmp_path, umask_002):
    import zipfile

    from siuo_dataset.sources import unpack_images_zip

    with zipfile.ZipFile(tmp_path / "SIUO-images.zip", "w") as archive:
        archive.write(siuo_data_dir / "images" / "S-01.png", "SIUO-images/S-01.png")
    images = unpack_images_zip(tmp_path / "SIUO-images.zip", tmp_path / "cache")
    assert stat.S_IMODE(images.stat().st_mode) == 0o775
