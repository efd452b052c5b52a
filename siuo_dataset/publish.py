"""Write a Hub-ready folder (README card + one parquet per config with image bytes embedded),
and push it with huggingface_hub."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from pathlib import Path

import datasets

from siuo_dataset.card import render_card
from siuo_dataset.errors import SiuoDataError
from siuo_dataset.files import normal_mode
from siuo_dataset.items import LoadedSiuo
from siuo_dataset.placeholders import is_placeholder
from siuo_dataset.schema import CONFIGS, FEATURES, item_to_row

REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
# Rows per parquet row group, set explicitly (not left to the installed `datasets`: releases within
# `datasets>=3.0` wrote image datasets in 100-row groups). The Hub's dataset viewer reads a whole row group at
# once and refuses one over 286 MiB uncompressed (it recommends 100-300 MB); 16 rows keep a group under that
# even if every image were 16 MiB (SIUO's are photos of a few MB at most), and give 11 groups for the 167
# items, so the viewer's first page (100 rows) reads 7 groups, not the whole file.
ROW_GROUP_ROWS = 16
MANIFEST = ".siuo-build.json"  # written into every built folder: the only kind of folder a build replaces
BUILT_BY = "siuo-data build"


def config_dataset(loaded: LoadedSiuo, config: str) -> datasets.Dataset:
    """The config's rows with each image's encoded bytes inline (so parquet embeds them)."""
    rows = []
    for item in loaded.items:
        row = item_to_row(item, config)
        row["image"] = (
            None if item.image_path is None else {"bytes": item.read_image_bytes(), "path": item.image_name}
        )
        rows.append(row)
    return datasets.Dataset.from_list(rows, features=FEATURES[config])


def is_built_folder(folder: Path) -> bool:
    """Whether ``folder`` holds the manifest of a ``siuo-data build``."""
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("built_by") == BUILT_BY
    except (OSError, ValueError, AttributeError):
        return False


def check_build_target(out: Path, loaded: LoadedSiuo) -> Path:
    """``out`` resolved, if a build may write it: absent, an empty folder, or a folder an earlier build made.
    Never the working folder, the home folder, the data folder or a folder holding any of them."""
    resolved = out.expanduser().resolve()
    protected = {
        "the current folder": Path.cwd().resolve(),
        "your home folder": Path.home().resolve(),
        "the SIUO data folder": loaded.source.root.resolve(),
        "the SIUO images folder": loaded.source.image_dir.resolve(),
    }
    for what, path in protected.items():
        if resolved == path or resolved in path.parents:
            relation = "is" if resolved == path else "holds"
            raise SiuoDataError(
                f"--out {out} {relation} {what}: give a new folder for the build, e.g. --out siuo-hf"
            )
    if resolved.exists() and not resolved.is_dir():
        raise SiuoDataError(f"--out {out} exists and is not a folder: choose another --out")
    if resolved.is_dir() and any(resolved.iterdir()) and not is_built_folder(resolved):
        raise SiuoDataError(
            f"--out {out} exists and is not a SIUO build folder (no {MANIFEST}): a build only "
            "replaces a folder it made; choose another --out or empty it yourself"
        )
    return resolved


def count_placeholders(loaded: LoadedSiuo) -> int:
    """How many of the build's images are generated placeholders (``siuo-data placeholders``)."""
    return sum(item.image_path is not None and is_placeholder(item.image_path) for item in loaded.items)


def manifest(loaded: LoadedSiuo, build_id: str = "", placeholder_images: int = 0) -> dict:
    """What the build wrote, from which annotations (no local paths: the folder may be published)."""
    provenance = loaded.provenance()
    return {
        "built_by": BUILT_BY,
        "build_id": build_id,
        "configs": list(CONFIGS),
        "n_items": provenance["n_items"],
        "missing_images": provenance["missing_images"],
        "placeholder_images": placeholder_images,
        "annotation_sha256": provenance["sha256"],
    }


def read_manifest(folder: Path) -> dict:
    """The build manifest of ``folder``, or {}."""
    try:
        value = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def build_folder(loaded: LoadedSiuo, out: str | Path) -> Path:
    """Write ``out`` atomically: a temp sibling is filled, then renamed into place. Only a folder an earlier
    build made (it holds ``MANIFEST``) is replaced; see ``check_build_target``."""
    out = check_build_target(Path(out), loaded)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    bars_were_enabled = not datasets.utils.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # one-line CLI output, not per-config progress bars
    try:
        staging.chmod(
            normal_mode(directory=True)
        )  # mkdtemp makes it private; the published folder should not be
        digest = hashlib.sha256()
        for config in CONFIGS:
            (staging / config).mkdir()
            config_dataset(loaded, config).to_parquet(  # each batch is written as one row group
                staging / config / "test.parquet", batch_size=ROW_GROUP_ROWS
            )
            digest.update((staging / config / "test.parquet").read_bytes())
        # The build id in the data files' names: datasets keys its cache of a local folder by them, so a
        # rebuilt folder (new images, say) loads as new data, never as an earlier build from the cache.
        build_id = digest.hexdigest()[:16]
        for config in CONFIGS:
            (staging / config / "test.parquet").rename(staging / config / data_file_name(build_id))
        placeholders = count_placeholders(loaded)
        card = render_card(loaded.items, build_id=build_id, placeholder_images=placeholders)
        (staging / "README.md").write_text(card, encoding="utf-8")
        (staging / MANIFEST).write_text(
            json.dumps(manifest(loaded, build_id, placeholders), indent=2) + "\n", encoding="utf-8"
        )
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            staging.rename(out)
            shutil.rmtree(old)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if bars_were_enabled:
            datasets.enable_progress_bars()
    return out


def data_file_name(build_id: str) -> str:
    """A config's one parquet file (the card's ``test-*.parquet`` pattern)."""
    return f"test-{build_id}-00000-of-00001.parquet"


def upload_plan(folder: Path) -> list[str]:
    """The files a push would upload, relative to ``folder`` (not the build manifest)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def check_repo_id(repo_id: str) -> None:
    """Reject anything that is not ORG/NAME before talking to the Hub."""
    if not REPO_ID.fullmatch(repo_id):
        raise SiuoDataError(f"--repo {repo_id!r} is not a Hub repo id: use ORG/NAME")


def check_publishable(folder: Path, *, allow_placeholders: bool = False) -> None:
    """A built folder that may go to the Hub: never placeholder images passing as SIUO."""
    if not (folder / "README.md").is_file() or not all((folder / c).is_dir() for c in CONFIGS):
        raise SiuoDataError(
            f"{folder} is not a built SIUO folder: run `siuo-data build --out {folder}` first"
        )
    placeholders = read_manifest(folder).get("placeholder_images", 0)
    if placeholders and not allow_placeholders:
        raise SiuoDataError(
            f"{folder} was built with {placeholders} placeholder images, not the SIUO images: rebuild it "
            "with the real images (siuo-data build --data-dir DIR), or pass --allow-placeholders"
        )


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = True,
    api=None,
    allow_placeholders: bool = False,
) -> str:
    """Upload a built folder to the Hub dataset repo ``repo_id``; return the commit URL."""
    folder = Path(folder)
    check_publishable(folder, allow_placeholders=allow_placeholders)
    check_repo_id(repo_id)
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError

    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        commit = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type="dataset",
            commit_message="Upload SIUO (built by siuo-data)",
            ignore_patterns=[MANIFEST],
            delete_patterns=[f"{config}/*.parquet" for config in CONFIGS],  # an earlier build's data files
        )
    except LocalTokenNotFoundError:
        raise SiuoDataError(
            "not logged in to the Hub: run `hf auth login` or set HF_TOKEN, then push again"
        ) from None
    except (HfHubHTTPError, OSError) as error:
        detail = " ".join(str(error).split())[:300]
        raise SiuoDataError(
            f"upload to {repo_id} failed ({error.__class__.__name__}: {detail}); "
            "check your token's write access and network, then push again"
        ) from None
    return str(getattr(commit, "commit_url", commit))
