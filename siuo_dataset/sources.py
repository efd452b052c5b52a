"""One resolver for where the SIUO files come from.

Order: an explicit path argument (a SIUO folder, or the official ``SIUO-images.zip``) >
``SIUO_DATA_DIR`` > the user cache (a previous Hub download, or a previously unpacked zip) >
the pinned Hub revision (downloaded into the cache). Nothing touches the network unless the
earlier sources find nothing, and nothing at all happens at import time.

Cache layout (``cache_dir()``)::

    hub-<revision[:12]>/siuo_gen.json, siuo_mcqa.json, images/   pinned downloads
    zip-images/images/                                             the unpacked official zip
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from siuo_dataset.errors import SiuoDataError
from siuo_dataset.files import normal_mode
from siuo_dataset.validate import ANNOTATION_SHA256, GEN_FILE, MCQA_FILE, sha256_file

HUB_REPO = "sinwang/SIUO"
HUB_REVISION = "024e80a01795376b9fed12f8073a12f2275f22ee"
UPSTREAM_REPO = "sinwang20/SIUO"
UPSTREAM_COMMIT = "18974b65d238ad636d65d238541c7d75279ebb3e"
MCQA_URL = f"https://raw.githubusercontent.com/{UPSTREAM_REPO}/{UPSTREAM_COMMIT}/data/{MCQA_FILE}"
IMAGES_ZIP = "SIUO-images.zip"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
HOW_TO_PROVIDE = (
    "no SIUO data found: pass --data-dir DIR (or set SIUO_DATA_DIR) to a folder holding siuo_gen.json, "
    "siuo_mcqa.json and the images (flat, under images/, or as SIUO-images.zip), or go online once so the "
    f"pinned Hub revision of {HUB_REPO} can be downloaded into {{cache}}"
)


@dataclass(frozen=True)
class SiuoSource:
    """A resolved SIUO source: annotation files in ``root``, images in ``image_dir``."""

    root: Path
    image_dir: Path
    origin: str  # "local" | "zip" | "hub"
    revision: str | None = None

    def image_path(self, image_name: str) -> Path:
        return self.image_dir / image_name


def cache_dir() -> Path:
    """The SIUO download cache: $SIUO_CACHE_DIR, else $XDG_CACHE_HOME/siuo, else ~/.cache/siuo."""
    if os.environ.get("SIUO_CACHE_DIR"):
        return Path(os.environ["SIUO_CACHE_DIR"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "siuo"


def hub_cache() -> Path:
    """Where the pinned Hub revision (and the pinned MCQA file) is cached."""
    return cache_dir() / f"hub-{HUB_REVISION[:12]}"


def zip_cache() -> Path:
    """Where the official images zip is unpacked."""
    return cache_dir() / "zip-images"


def offline() -> bool:
    """True when the user asked for no network (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)."""
    flag = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return flag.strip().lower() in {"1", "true", "yes", "on"}


def has_images(folder: Path) -> bool:
    return folder.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir())


def has_annotations(folder: Path) -> bool:
    return (folder / GEN_FILE).is_file() and (folder / MCQA_FILE).is_file()


def local_source(folder: str | Path, origin: str = "local", revision: str | None = None) -> SiuoSource:
    """A local SIUO folder; images are looked up under ``images/`` if that exists, else flat."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise SiuoDataError(
            f"data folder {root} does not exist: pass --data-dir/SIUO_DATA_DIR pointing at a SIUO folder"
        )
    if not (root / GEN_FILE).is_file():
        raise SiuoDataError(
            f"{GEN_FILE} not found in {root}: this is not a SIUO folder "
            f"(expected {GEN_FILE}, {MCQA_FILE} and images)"
        )
    image_dir = root / "images" if (root / "images").is_dir() else root
    return SiuoSource(root, image_dir, origin, revision)


def _zip_identity(zip_path: Path) -> dict:
    stat = zip_path.stat()
    return {"zip": str(zip_path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def unpack_images_zip(zip_path: str | Path, target: Path | None = None) -> Path:
    """Unpack the official images zip (once per zip file) into ``target/images``; return that folder.

    Members are flattened to their file names; the folder appears atomically (staging + rename).
    """
    zip_path = Path(zip_path).expanduser()
    target = zip_cache() if target is None else target
    images, marker = target / "images", target / "source.json"
    if not zip_path.is_file():
        raise SiuoDataError(f"{zip_path} does not exist: give the path of the downloaded {IMAGES_ZIP}")
    identity = _zip_identity(zip_path)
    if images.is_dir() and marker.is_file() and json.loads(marker.read_text()) == identity:
        return images
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target, prefix=".images."))
    try:
        staging.chmod(normal_mode(directory=True))  # mkdtemp makes it private
        with zipfile.ZipFile(zip_path) as archive:
            for member in archive.infolist():
                name = Path(member.filename).name
                if member.is_dir() or name.startswith(".") or not name.lower().endswith(IMAGE_SUFFIXES):
                    continue
                (staging / name).write_bytes(archive.read(member))
    except (zipfile.BadZipFile, EOFError):
        shutil.rmtree(staging, ignore_errors=True)
        raise SiuoDataError(f"{zip_path} is not a valid zip file: re-download {IMAGES_ZIP}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(images, ignore_errors=True)
    staging.rename(images)
    marker.write_text(json.dumps(identity))
    return images


def _download_mcqa(target: Path) -> None:
    """Fetch the pinned upstream MCQA json into ``target`` (checked before it is cached)."""
    partial = target / f".{MCQA_FILE}.partial"
    try:
        import urllib.request  # only when downloading

        with urllib.request.urlopen(MCQA_URL, timeout=60) as response:
            partial.write_bytes(response.read())
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise SiuoDataError(
            HOW_TO_PROVIDE.format(cache=target) + f" (download of {MCQA_FILE} failed: "
            f"{' '.join(str(error).split())})"
        ) from None
    if sha256_file(partial) != ANNOTATION_SHA256[MCQA_FILE]:
        partial.unlink()
        raise SiuoDataError(
            f"{MCQA_URL} served a {MCQA_FILE} whose sha256 differs from the pinned release: "
            "use --data-dir with a verified copy"
        )
    partial.rename(target / MCQA_FILE)


def _hub_download(target: Path, *, images: bool) -> None:
    """Fetch the pinned Hub revision's generation json (and its images/ when ``images``) into ``target``."""
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        if images:
            huggingface_hub.snapshot_download(
                HUB_REPO,
                repo_type="dataset",
                revision=HUB_REVISION,
                local_dir=target,
                allow_patterns=[GEN_FILE, "images/*"],
            )
        else:
            huggingface_hub.hf_hub_download(
                HUB_REPO, GEN_FILE, repo_type="dataset", revision=HUB_REVISION, local_dir=target
            )
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as error:
        raise SiuoDataError(
            HOW_TO_PROVIDE.format(cache=target) + f" (Hub download failed: {error.__class__.__name__})"
        ) from None


def download_pinned(target: Path | None = None, *, images: bool = True) -> Path:
    """Make ``target`` (default ``hub_cache()``) hold the pinned annotations (and Hub images); return it.

    The small MCQA file is fetched first so an offline machine fails fast, before Hub retries.
    """
    target = hub_cache() if target is None else target
    if offline():
        raise SiuoDataError(HOW_TO_PROVIDE.format(cache=target) + " (offline: HF_HUB_OFFLINE is set)")
    target.mkdir(parents=True, exist_ok=True)
    if not (target / MCQA_FILE).is_file():
        _download_mcqa(target)
    if images or not (target / GEN_FILE).is_file():
        _hub_download(target, images=images)
    return target


def hub_image_digests(source: SiuoSource) -> dict[str, str]:
    """image name -> the sha256 the Hub gave for it at the pinned revision, for a source downloaded from the
    Hub: huggingface_hub records each file it downloads into the cache folder
    (``.cache/huggingface/download/images/NAME.metadata``: commit, then etag, which for a file in LFS is
    its sha256). Only records of the pinned revision with a sha256 etag count; {} for other sources (no
    release manifest to compare with)."""
    folder = source.root / ".cache" / "huggingface" / "download" / "images"
    if source.origin != "hub" or not folder.is_dir():
        return {}
    digests = {}
    for record in folder.glob("*.metadata"):
        try:
            commit, etag = record.read_text(encoding="utf-8").splitlines()[:2]
        except (OSError, ValueError):
            continue
        etag = etag.strip().strip('"')
        if commit.strip() == HUB_REVISION and re.fullmatch(r"[0-9a-f]{64}", etag):
            digests[record.name.removesuffix(".metadata")] = etag
    return digests


def _path_source(path: str | Path, allow_download: bool) -> SiuoSource:
    """A user-given path: the official images zip, or a SIUO folder (whose images may be a zip in it)."""
    path = Path(path).expanduser()
    if path.is_file() and path.suffix.lower() == ".zip":
        images = unpack_images_zip(path)
        if has_annotations(path.parent):
            return SiuoSource(path.parent, images, "zip")
        return SiuoSource(_cached_annotations(allow_download), images, "zip", HUB_REVISION)
    source = local_source(path)
    if (source.root / IMAGES_ZIP).is_file() and not has_images(source.image_dir):
        return SiuoSource(source.root, unpack_images_zip(source.root / IMAGES_ZIP), "zip")
    return source


def _cached_annotations(allow_download: bool) -> Path:
    """The cached pinned annotation folder, downloading just the two json files if needed."""
    if has_annotations(hub_cache()):
        return hub_cache()
    if not allow_download:
        raise SiuoDataError(HOW_TO_PROVIDE.format(cache=hub_cache()))
    return download_pinned(images=False)


def resolve_source(data_dir: str | Path | None = None, *, allow_download: bool = True) -> SiuoSource:
    """Find the SIUO files: argument > SIUO_DATA_DIR > cache (Hub download or unpacked zip) > pinned Hub."""
    if data_dir is not None and str(data_dir) != "":
        return _path_source(data_dir, allow_download)
    if os.environ.get("SIUO_DATA_DIR"):
        return _path_source(os.environ["SIUO_DATA_DIR"], allow_download)
    hub, unpacked = hub_cache(), zip_cache() / "images"
    if has_annotations(hub) and has_images(hub / "images"):
        return SiuoSource(hub, hub / "images", "hub", HUB_REVISION)
    if has_images(unpacked):
        return SiuoSource(_cached_annotations(allow_download), unpacked, "zip", HUB_REVISION)
    if not allow_download:
        raise SiuoDataError(HOW_TO_PROVIDE.format(cache=hub))
    download_pinned(hub, images=True)
    return SiuoSource(hub, hub / "images", "hub", HUB_REVISION)
