"""Write a Hub-ready folder (README card + one parquet per config with image bytes embedded),
and push it with huggingface_hub."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import datasets

from siuo_dataset.card import render_card
from siuo_dataset.errors import SiuoDataError
from siuo_dataset.items import LoadedSiuo
from siuo_dataset.schema import CONFIGS, FEATURES, item_to_row


def config_dataset(loaded: LoadedSiuo, config: str) -> datasets.Dataset:
    """The config's rows with each image's encoded bytes inline (so parquet embeds them)."""
    rows = []
    for item in loaded.items:
        row = item_to_row(item, config)
        row["image"] = None if item.image_path is None else {"bytes": item.read_image_bytes(), "path": item.image_name}
        rows.append(row)
    return datasets.Dataset.from_list(rows, features=FEATURES[config])


def build_folder(loaded: LoadedSiuo, out: str | Path) -> Path:
    """Write ``out`` atomically: a temp sibling is filled, then renamed into place."""
    out = Path(out)
    if out.exists() and not (out / "README.md").is_file():
        raise SiuoDataError(f"{out} exists and is not a SIUO build folder: choose another --out or remove it")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        for config in CONFIGS:
            (staging / config).mkdir()
            config_dataset(loaded, config).to_parquet(staging / config / "test-00000-of-00001.parquet")
        (staging / "README.md").write_text(render_card(loaded.items), encoding="utf-8")
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
    return out


def upload_plan(folder: Path) -> list[str]:
    """The files a push would upload, relative to ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def push_folder(folder: str | Path, repo_id: str, *, token: str | None = None, private: bool = True,
                api=None) -> str:
    """Upload a built folder to the Hub dataset repo ``repo_id``; return the commit URL."""
    folder = Path(folder)
    if not (folder / "README.md").is_file() or not all((folder / c).is_dir() for c in CONFIGS):
        raise SiuoDataError(f"{folder} is not a built SIUO folder: run `siuo-data build --out {folder}` first")
    if api is None:
        from huggingface_hub import HfApi
        api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset",
                               commit_message="Upload SIUO (built by siuo-data)")
    return str(getattr(commit, "commit_url", commit))
