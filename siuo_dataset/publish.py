"""Write a Hub-ready folder (README card + one parquet per config with image bytes embedded), check it against
its build manifest when it is loaded or pushed, and push it with huggingface_hub.

The manifest (``MANIFEST``) lists every file the build wrote with its sha256, and the sha256 of every item's
image. ``push`` uploads exactly those files (regular files, no links, each checked by digest, the bytes
checked are the bytes sent), nothing else in the folder; ``load_built`` refuses a folder whose files or
images differ from their manifest."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import unicodedata
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from siuo_dataset.errors import SiuoDataError
from siuo_dataset.files import normal_mode
from siuo_dataset.items import LoadedSiuo
from siuo_dataset.placeholders import is_placeholder
from siuo_dataset.schema import CONFIGS, item_to_row
from siuo_dataset.validate import sha256_file

if TYPE_CHECKING:  # imported where parquet is written or read: checks and push need none of it (~1 s of CPU)
    import datasets

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
    import datasets

    from siuo_dataset.schema import FEATURES

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


def manifest(
    loaded: LoadedSiuo, build_id: str = "", placeholder_images: int = 0, files: dict[str, str] | None = None
) -> dict:
    """What the build wrote (``files``: path in the folder -> sha256), from which annotations and images
    (question id -> sha256 of the image bytes embedded); no local paths: the folder may be published."""
    provenance = loaded.provenance()
    return {
        "built_by": BUILT_BY,
        "build_id": build_id,
        "configs": list(CONFIGS),
        "n_items": provenance["n_items"],
        "missing_images": provenance["missing_images"],
        "placeholder_images": placeholder_images,
        "annotation_sha256": provenance["sha256"],
        "annotations_verified": provenance["annotations_verified"],
        **loaded.image_provenance(),
        "files": dict(sorted((files or {}).items())),
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
    import datasets

    from siuo_dataset.card import render_card

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
        written = ["README.md", *(f"{config}/{data_file_name(build_id)}" for config in CONFIGS)]
        files = {name: sha256_file(staging / name) for name in written}
        (staging / MANIFEST).write_text(
            json.dumps(manifest(loaded, build_id, placeholders, files), indent=2) + "\n", encoding="utf-8"
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


def inert(text: str) -> str:
    """``text`` safe to print: control and format characters (ESC, CR, bidi overrides such as U+202E) shown as
    ``\\x1b`` / ``\\u202e``, so a file name cannot move the cursor, recolour or reorder the terminal."""
    return "".join(
        (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
        if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")
        else c
        for c in text
    )


def _manifest_files(folder: Path) -> dict[str, str]:
    """The ``files`` of ``folder``'s manifest (path -> sha256), checked to be plain relative paths."""
    files = read_manifest(folder).get("files")
    if not isinstance(files, dict) or not files:
        raise SiuoDataError(
            f"{inert(str(folder))}: its build manifest lists no files (built by an older siuo-data): "
            f"rebuild it with `siuo-data build --out {inert(str(folder))}`"
        )
    for name, digest in files.items():
        parts = PurePosixPath(name).parts
        if (
            not isinstance(digest, str)
            or not parts
            or name.startswith("/")
            or "\\" in name
            or any(part in (".", "..") for part in parts)
            or name == MANIFEST
        ):
            raise SiuoDataError(
                f"{inert(str(folder))}: its build manifest lists {inert(repr(name))}, not a file of a build: "
                "rebuild the folder"
            )
    return files


def read_built_file(folder: Path, name: str, digest: str) -> bytes:
    """The bytes of ``folder/name``, a regular file reached through no link, whose sha256 is ``digest``; else
    one error naming it."""
    path = folder / name
    shown = inert(name)
    for step in [*reversed(path.relative_to(folder).parents[:-1]), path.relative_to(folder)]:
        if (folder / step).is_symlink():
            raise SiuoDataError(
                f"{inert(str(folder))}: {shown} is a link (or lies behind one), not a file the build wrote: "
                "rebuild the folder"
            )
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SiuoDataError(f"{inert(str(folder))}: {shown} is missing: rebuild the folder") from None
    except OSError as error:
        raise SiuoDataError(
            f"{inert(str(folder))}: {shown} cannot be read ({error.strerror or error.__class__.__name__}): "
            "rebuild the folder"
        ) from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise SiuoDataError(f"{inert(str(folder))}: {shown} is not a regular file: rebuild the folder")
        data = handle.read()
    if hashlib.sha256(data).hexdigest() != digest:
        raise SiuoDataError(
            f"{inert(str(folder))}: {shown} differs from the file the build wrote (sha256 does not match its "
            "manifest): rebuild the folder"
        )
    return data


def load_built(folder: str | Path, config: str = "generation", *, cache_dir: str | None = None):
    """The ``config`` of a built folder as a ``datasets.Dataset``, checked against its build manifest: every
    file's sha256, then every row's image bytes against the digest recorded for its question id (two images
    swapped between items, or one replaced, is one error naming the items)."""
    import datasets

    folder = Path(folder).expanduser()
    if not is_built_folder(folder):
        raise SiuoDataError(f"{inert(str(folder))} is not a folder `siuo-data build` made (no {MANIFEST})")
    for name, digest in sorted(_manifest_files(folder).items()):
        read_built_file(folder, name, digest)
    expected = read_manifest(folder).get("image_sha256")
    if not isinstance(expected, dict):
        raise SiuoDataError(
            f"{inert(str(folder))}: its build manifest records no image digests (an older siuo-data): "
            "rebuild it"
        )
    dataset = datasets.load_dataset(str(folder), config, split="test", cache_dir=cache_dir)
    raw = dataset.cast_column("image", datasets.Image(decode=False))
    wrong = [
        row["question_id"]
        for row in raw.select_columns(["question_id", "image"])
        if (hashlib.sha256(row["image"]["bytes"]).hexdigest() if row["image"] else None)
        != expected.get(str(row["question_id"]))
    ]
    if wrong:
        shown = ", ".join(map(str, wrong[:5])) + (f" and {len(wrong) - 5} more" if len(wrong) > 5 else "")
        raise SiuoDataError(
            f"{inert(str(folder))}: the images of question_id {shown} differ from the ones the build "
            "recorded (swapped or replaced): rebuild the folder from the SIUO data"
        )
    return dataset


def upload_plan(folder: Path) -> list[str]:
    """The files a push uploads, relative to ``folder``: exactly those the build manifest lists (never the
    manifest itself, nor anything else found in the folder)."""
    return sorted(_manifest_files(folder))


def unlisted_files(folder: Path) -> list[str]:
    """What else is in ``folder`` (files, links, anything): never uploaded, listed so the user knows."""
    listed = {*_manifest_files(folder), MANIFEST}
    found = []
    for root, dirs, names in os.walk(folder):
        for name in [*names, *(d for d in dirs if os.path.islink(os.path.join(root, d)))]:
            relative = Path(root, name).relative_to(folder).as_posix()
            if relative not in listed:
                found.append(relative)
    return sorted(found)


def check_repo_id(repo_id: str) -> None:
    """Reject anything that is not ORG/NAME before talking to the Hub."""
    if not REPO_ID.fullmatch(repo_id):
        raise SiuoDataError(f"--repo {repo_id!r} is not a Hub repo id: use ORG/NAME")


def check_publishable(folder: Path, *, allow_placeholders: bool = False) -> None:
    """A built folder that may go to the Hub: never placeholder images passing as SIUO."""
    if not (folder / "README.md").is_file() or not all((folder / c).is_dir() for c in CONFIGS):
        raise SiuoDataError(
            f"{inert(str(folder))} is not a built SIUO folder: run `siuo-data build --out "
            f"{inert(str(folder))}` first"
        )
    if not is_built_folder(folder):
        raise SiuoDataError(
            f"{inert(str(folder))} has no build manifest ({MANIFEST}): push only uploads a folder `siuo-data "
            "build` made; rebuild it"
        )
    placeholders = read_manifest(folder).get("placeholder_images", 0)
    if placeholders and not allow_placeholders:
        raise SiuoDataError(
            f"{inert(str(folder))} was built with {placeholders} placeholder images, not the SIUO images: "
            "rebuild it with the real images (siuo-data build --data-dir DIR), or pass --allow-placeholders"
        )


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = True,
    gate: bool = True,
    api=None,
    allow_placeholders: bool = False,
) -> str:
    """Upload the files a build wrote (``upload_plan``; each checked by digest) to the Hub dataset repo
    ``repo_id`` in one commit, removing an earlier build's data files; return the commit URL. A public repo is
    gated (access requests approved automatically, so users accept the card's terms) unless ``gate`` is False;
    the gate is set before any file is committed."""
    folder = Path(folder)
    check_publishable(folder, allow_placeholders=allow_placeholders)
    check_repo_id(repo_id)
    files = _manifest_files(folder)
    contents = {name: read_built_file(folder, name, digest) for name, digest in sorted(files.items())}
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError

    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if not private and gate:
            api.update_repo_settings(repo_id, gated="auto", repo_type="dataset")
        remote = api.list_repo_files(repo_id, repo_type="dataset")
        stale = [
            name
            for name in remote
            if name not in contents
            and name.endswith(".parquet")
            and any(name.startswith(f"{config}/") for config in CONFIGS)
        ]
        commit = api.create_commit(
            repo_id,
            repo_type="dataset",
            commit_message="Upload SIUO (built by siuo-data)",
            operations=[
                *(
                    CommitOperationAdd(path_in_repo=name, path_or_fileobj=data)
                    for name, data in contents.items()
                ),
                *(CommitOperationDelete(path_in_repo=name) for name in stale),  # an earlier build's data
            ],
        )
    except LocalTokenNotFoundError:
        raise SiuoDataError(
            "not logged in to the Hub: run `hf auth login` or set HF_TOKEN, then push again"
        ) from None
    except (HfHubHTTPError, OSError) as error:
        detail = inert(" ".join(str(error).split())[:300])
        raise SiuoDataError(
            f"upload to {repo_id} failed ({error.__class__.__name__}: {detail}); "
            "check your token's write access and network, then push again"
        ) from None
    return inert(str(getattr(commit, "commit_url", commit)))
