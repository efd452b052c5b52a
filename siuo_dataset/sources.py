"""One resolver for where the SIUO files come from.

Order: an explicit folder argument > ``SIUO_DATA_DIR`` > an unpacked official ``SIUO-images.zip``
beside the annotations in the cache > the pinned Hub revision (downloaded into the cache).
Nothing touches the network unless the first three find nothing.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from siuo_dataset.errors import SiuoDataError
from siuo_dataset.validate import GEN_FILE, MCQA_FILE

HUB_REPO = "sinwang/SIUO"
HUB_REVISION = "024e80a01795376b9fed12f8073a12f2275f22ee"
UPSTREAM_COMMIT = "18974b65d238ad636d65d238541c7d75279ebb3e"
MCQA_URL = f"https://raw.githubusercontent.com/sinwang20/SIUO/{UPSTREAM_COMMIT}/data/{MCQA_FILE}"
IMAGES_ZIP = "SIUO-images.zip"
HOW_TO_PROVIDE = (
    "no SIUO data found: pass --data-dir DIR (or set SIUO_DATA_DIR) to a folder holding siuo_gen.json, "
    "siuo_mcqa.json and the images (flat or under images/), or go online once so the pinned Hub revision "
    f"of {HUB_REPO} can be downloaded into {{cache}}")


@dataclass(frozen=True)
class SiuoSource:
    """A resolved SIUO folder: annotation files in ``root``, images in ``image_dir``."""

    root: Path
    image_dir: Path
    origin: str  # "local" | "zip" | "hub"
    revision: str | None = None

    def image_path(self, image_name: str) -> Path:
        return self.image_dir / image_name


def cache_dir() -> Path:
    """The user cache folder for SIUO downloads ($SIUO_CACHE_DIR, else XDG cache)."""
    if os.environ.get("SIUO_CACHE_DIR"):
        return Path(os.environ["SIUO_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "siuo"


def local_source(folder: str | Path, origin: str = "local", revision: str | None = None) -> SiuoSource:
    """A local SIUO folder; images are looked up under ``images/`` if that exists, else flat."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise SiuoDataError(f"data folder {root} does not exist: pass --data-dir/SIUO_DATA_DIR pointing at a SIUO folder")
    if not (root / GEN_FILE).is_file():
        raise SiuoDataError(f"{GEN_FILE} not found in {root}: this is not a SIUO folder (expected {GEN_FILE}, "
                            f"{MCQA_FILE} and images)")
    image_dir = root / "images" if (root / "images").is_dir() else root
    return SiuoSource(root, image_dir, origin, revision)


def unpack_images_zip(zip_path: Path, target: Path) -> Path:
    """Unpack the official images zip into ``target/images`` (atomically); return that folder."""
    images = target / "images"
    if images.is_dir():
        return images
    staging = target / ".images.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for member in archive.infolist():
                name = Path(member.filename).name
                if member.is_dir() or not name.lower().endswith((".png", ".jpg", ".jpeg")) or name.startswith("."):
                    continue
                staging.mkdir(parents=True, exist_ok=True)
                (staging / name).write_bytes(archive.read(member))
    except zipfile.BadZipFile:
        shutil.rmtree(staging, ignore_errors=True)
        raise SiuoDataError(f"{zip_path} is not a valid zip file: re-download {IMAGES_ZIP}") from None
    staging.rename(images)
    return images


def hub_source(target: Path) -> SiuoSource:
    """Download the pinned Hub revision (generation json + images) and the pinned MCQA json."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        snapshot_download(HUB_REPO, repo_type="dataset", revision=HUB_REVISION, local_dir=target,
                          allow_patterns=[GEN_FILE, "images/*", IMAGES_ZIP])
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as error:
        raise SiuoDataError(HOW_TO_PROVIDE.format(cache=target) + f" (download failed: {error.__class__.__name__})")
    if not (target / MCQA_FILE).is_file():
        partial = target / f".{MCQA_FILE}.partial"
        try:
            with urllib.request.urlopen(MCQA_URL, timeout=60) as response:
                partial.write_bytes(response.read())
        except OSError as error:
            raise SiuoDataError(HOW_TO_PROVIDE.format(cache=target) + f" (MCQA download failed: {error})")
        partial.rename(target / MCQA_FILE)
    if (target / IMAGES_ZIP).is_file() and not (target / "images").is_dir():
        unpack_images_zip(target / IMAGES_ZIP, target)
    return local_source(target, origin="hub", revision=HUB_REVISION)


def resolve_source(data_dir: str | Path | None = None, *, allow_download: bool = True) -> SiuoSource:
    """Find the SIUO files: argument > SIUO_DATA_DIR > cache (zip unpacked) > pinned Hub revision."""
    if data_dir is not None:
        return _with_zip_images(local_source(data_dir))
    if os.environ.get("SIUO_DATA_DIR"):
        return _with_zip_images(local_source(os.environ["SIUO_DATA_DIR"]))
    cached = cache_dir() / f"hub-{HUB_REVISION[:12]}"
    if (cached / GEN_FILE).is_file() and (cached / MCQA_FILE).is_file():
        return _with_zip_images(local_source(cached, origin="hub", revision=HUB_REVISION))
    if not allow_download or os.environ.get("HF_HUB_OFFLINE") == "1":
        raise SiuoDataError(HOW_TO_PROVIDE.format(cache=cached))
    return hub_source(cached)


def _with_zip_images(source: SiuoSource) -> SiuoSource:
    """If the folder has no images but holds the official zip, unpack it (once) and use it."""
    zip_path = source.root / IMAGES_ZIP
    if zip_path.is_file() and not any(source.image_dir.glob("*.png")):
        target = cache_dir() / "unpacked" / hashlib.sha256(str(zip_path.resolve()).encode()).hexdigest()[:16]
        return SiuoSource(source.root, unpack_images_zip(zip_path, target), "zip", source.revision)
    return source
