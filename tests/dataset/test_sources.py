"""The source resolver: local folder, flat images, official zip (in a folder or by path), the pinned Hub
revision (fake huggingface_hub + a real loopback HTTP server for the MCQA file), cache reuse, offline."""

from __future__ import annotations

import fnmatch
import shutil
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub.errors import LocalEntryNotFoundError

import siuo_dataset
from siuo_dataset import sources
from siuo_dataset.errors import SiuoDataError
from tests.dataset.conftest import assert_one_line_error
from tests.helpers import siuo_data

HUB_REVISION = "024e80a01795376b9fed12f8073a12f2275f22ee"


class StaticServer:
    """A real loopback HTTP server answering every GET with ``body`` (or 404 when None)."""

    def __init__(self, body: bytes | None) -> None:
        self.body, self.paths = body, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server.paths.append(self.path)
                if server.body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/sinwang20/SIUO/data/siuo_mcqa.json"

    def __enter__(self) -> StaticServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeHub:
    """Stands in for huggingface_hub's download functions, serving files from a folder and recording calls."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.calls = folder, []

    def snapshot_download(self, repo_id, *, repo_type, revision, local_dir, allow_patterns):
        self.calls.append(("snapshot_download", repo_id, repo_type, revision, tuple(allow_patterns)))
        for path in self.folder.rglob("*"):
            relative = path.relative_to(self.folder).as_posix()
            if path.is_file() and any(fnmatch.fnmatch(relative, p) for p in allow_patterns):
                (Path(local_dir) / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, Path(local_dir) / relative)
        return str(local_dir)

    def hf_hub_download(self, repo_id, filename, *, repo_type, revision, local_dir):
        self.calls.append(("hf_hub_download", repo_id, repo_type, revision, filename))
        shutil.copyfile(self.folder / filename, Path(local_dir) / filename)
        return str(Path(local_dir) / filename)


@pytest.fixture
def fake_hub(shared_siuo, siuo_data_dir, tmp_path, monkeypatch) -> FakeHub:
    """The pinned Hub repo's layout (siuo_gen.json + images/*.png) behind fake download functions."""
    folder = tmp_path / "fake-hub"
    shutil.copytree(siuo_data_dir / "images", folder / "images")
    shutil.copyfile(shared_siuo / "siuo_gen.json", folder / "siuo_gen.json")
    (folder / "unrelated.bin").write_bytes(b"not requested")
    hub = FakeHub(folder)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub.snapshot_download)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub.hf_hub_download)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    return hub


@pytest.fixture
def mcqa_server(shared_siuo, monkeypatch):
    with StaticServer((shared_siuo / "siuo_mcqa.json").read_bytes()) as server:
        monkeypatch.setattr(sources, "MCQA_URL", server.url)
        yield server


@pytest.fixture
def images_zip(siuo_data_dir, tmp_path) -> Path:
    """The official zip's shape: one top folder of PNGs plus macOS junk."""
    path = tmp_path / "download" / "SIUO-images.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as archive:
        for image in sorted((siuo_data_dir / "images").iterdir()):
            archive.write(image, f"SIUO-images/{image.name}")
        archive.writestr("__MACOSX/SIUO-images/._S-01.png", b"junk")
    return path


def test_pinned_urls():
    assert sources.HUB_REPO == "sinwang/SIUO" and sources.HUB_REVISION == HUB_REVISION
    assert sources.MCQA_URL == (
        "https://raw.githubusercontent.com/sinwang20/SIUO/"
        "18974b65d238ad636d65d238541c7d75279ebb3e/data/siuo_mcqa.json"
    )


def test_hub_download_is_pinned_complete_and_cached(fake_hub, mcqa_server, isolated_cache):
    loaded = siuo_dataset.load_siuo()
    assert loaded.source.origin == "hub" and loaded.source.revision == HUB_REVISION
    assert loaded.missing_images == 0 and len(loaded.items) == 167
    assert loaded.items[0].image_path == isolated_cache / f"hub-{HUB_REVISION[:12]}" / "images" / "S-01.png"
    assert fake_hub.calls == [
        ("snapshot_download", "sinwang/SIUO", "dataset", HUB_REVISION, ("siuo_gen.json", "images/*"))
    ]
    assert len(mcqa_server.paths) == 1
    assert not list(isolated_cache.rglob("unrelated.bin"))
    # Second use: straight from the cache, no download of any kind.
    again = siuo_dataset.load_items()
    assert [i.question_id for i in again] == [i.question_id for i in loaded.items]
    assert len(fake_hub.calls) == 1 and len(mcqa_server.paths) == 1


def test_builder_loads_from_the_hub_cache(fake_hub, mcqa_server, isolated_cache, tmp_path):
    dataset = siuo_dataset.load("generation", cache_dir=str(tmp_path / "hf"))
    assert len(dataset) == 167 and dataset[0]["image"].size == (64, 64)


def test_tampered_mcqa_download_is_rejected_and_not_cached(fake_hub, monkeypatch, isolated_cache):
    with StaticServer(b'[{"question_id": 1001}]') as server:
        monkeypatch.setattr(sources, "MCQA_URL", server.url)
        with pytest.raises(SiuoDataError, match="differs from the pinned release"):
            siuo_dataset.load_items()
    assert not list(isolated_cache.rglob("siuo_mcqa.json"))
    assert fake_hub.calls == []


def test_offline_with_nothing_cached_is_one_clear_error(monkeypatch, isolated_cache):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SiuoDataError, match=r"--data-dir DIR \(or set SIUO_DATA_DIR\).*go online"):
        siuo_dataset.load_items()
    assert not isolated_cache.exists() or not list(isolated_cache.rglob("*.json"))


@pytest.mark.e2e
def test_offline_cli_is_one_line(isolated_cache):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(isolated_cache.parent),
        "SIUO_CACHE_DIR": str(isolated_cache),
        "HF_HUB_OFFLINE": "1",
    }
    for command in ("info", "validate"):
        assert_one_line_error(siuo_data(command, env=env), "no SIUO data found")
    assert_one_line_error(
        siuo_data("build", "--out", str(isolated_cache.parent / "o"), env=env), "SIUO_DATA_DIR"
    )
    assert not (isolated_cache.parent / "o").exists()


def test_unreachable_network_fails_fast_before_hub_retries(fake_hub, monkeypatch):
    with StaticServer(None) as server:
        url = server.url
    monkeypatch.setattr(sources, "MCQA_URL", url)  # the server is closed: connection refused
    started = time.monotonic()
    with pytest.raises(SiuoDataError, match="no SIUO data found.*download of siuo_mcqa.json failed"):
        siuo_dataset.load_items()
    assert time.monotonic() - started < 5 and fake_hub.calls == []


def test_hub_failure_is_one_clear_error(fake_hub, mcqa_server, monkeypatch):
    def unreachable(*args, **kwargs):
        raise LocalEntryNotFoundError("cannot reach the Hub\nand nothing is cached")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", unreachable)
    with pytest.raises(
        SiuoDataError, match=r"SIUO_DATA_DIR.*Hub download failed: LocalEntryNotFoundError"
    ) as error:
        siuo_dataset.load_items()
    assert "\n" not in str(error.value)


def test_flat_images_folder(shared_siuo, siuo_data_dir, tmp_path):
    flat = tmp_path / "flat"
    shutil.copytree(siuo_data_dir / "images", flat)
    for name in ("siuo_gen.json", "siuo_mcqa.json"):
        (flat / name).symlink_to(shared_siuo / name)
    loaded = siuo_dataset.load_siuo(flat)
    assert loaded.source.image_dir == flat and loaded.missing_images == 0


def test_data_dir_from_environment(siuo_data_dir, monkeypatch):
    monkeypatch.setenv("SIUO_DATA_DIR", str(siuo_data_dir))
    assert siuo_dataset.load_siuo().source.root == siuo_data_dir
    # An explicit argument wins over the environment.
    monkeypatch.setenv("SIUO_DATA_DIR", "/nonexistent/siuo")
    assert siuo_dataset.load_siuo(siuo_data_dir).source.root == siuo_data_dir


def test_official_zip_beside_the_annotations(shared_siuo, images_zip, isolated_cache):
    data = images_zip.parent
    for name in ("siuo_gen.json", "siuo_mcqa.json"):
        (data / name).symlink_to(shared_siuo / name)
    loaded = siuo_dataset.load_siuo(data)  # a folder whose images are the zip
    assert loaded.source.origin == "zip" and loaded.missing_images == 0
    assert loaded.source.image_dir == isolated_cache / "zip-images" / "images"
    assert sorted(p.name for p in loaded.source.image_dir.iterdir()) == sorted(
        i.image_name for i in loaded.items
    )
    by_path = siuo_dataset.load_siuo(images_zip)  # the zip's own path
    assert by_path.source.root == data and by_path.source.image_dir == loaded.source.image_dir


def test_zip_alone_fetches_only_the_annotations_then_works_offline(
    images_zip, fake_hub, mcqa_server, monkeypatch
):
    loaded = siuo_dataset.load_siuo(images_zip)
    assert loaded.source.origin == "zip" and loaded.missing_images == 0
    assert fake_hub.calls == [("hf_hub_download", "sinwang/SIUO", "dataset", HUB_REVISION, "siuo_gen.json")]
    # Later, with no argument and no network, the cached zip images + cached annotations are found.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    images_zip.unlink()
    again = siuo_dataset.load_siuo()
    assert again.source.origin == "zip" and again.missing_images == 0 and len(fake_hub.calls) == 1


def test_corrupt_zip_is_a_clear_error(shared_siuo, tmp_path, isolated_cache):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("siuo_gen.json", "siuo_mcqa.json"):
        (data / name).symlink_to(shared_siuo / name)
    (data / "SIUO-images.zip").write_bytes(b"PK\x03\x04 truncated download")
    with pytest.raises(SiuoDataError, match="is not a valid zip file: re-download SIUO-images.zip"):
        siuo_dataset.load_items(data)
    assert not (isolated_cache / "zip-images" / "images").exists()
    assert_one_line_error(
        siuo_data("validate", "--data-dir", str(data / "SIUO-images.zip")), "not a valid zip file"
    )
