"""Dataset build and load: cold `siuo-data build` from a source folder (placeholder images when the
folder has none), warm `datasets.load_dataset` of the built parquet folder, and its size.

    .venv/bin/python benchmarks/dataset.py [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def folder_with_images(data_dir: Path, tmp: Path) -> Path:
    """``data_dir`` itself if it has images, else a temp copy-by-symlink with placeholder images."""
    if (data_dir / "images").is_dir() or any(data_dir.glob("*.png")):
        return data_dir
    from siuo_dataset.placeholders import write_placeholder_images

    source = tmp / "source"
    source.mkdir()
    for name in ("siuo_gen.json", "siuo_mcqa.json"):
        (source / name).symlink_to((data_dir / name).resolve())
    names = [row["image"] for row in json.loads((data_dir / "siuo_gen.json").read_text())]
    write_placeholder_images(names, source / "images")
    print("note: no real images in the data folder; built with placeholder images")
    return source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("SIUO_DATA_DIR", REPO.parent / "shared" / "siuo")),
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        source = folder_with_images(args.data_dir, tmp)
        out = tmp / "siuo"
        start = time.perf_counter()
        subprocess.run(
            [
                str(REPO / ".venv" / "bin" / "siuo-data"),
                "build",
                "--data-dir",
                str(source),
                "--out",
                str(out),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        build_seconds = time.perf_counter() - start

        import datasets

        datasets.load_dataset(str(out), "generation", split="test")  # fills the datasets cache
        start = time.perf_counter()
        for config in ("generation", "mcqa"):
            rows = datasets.load_dataset(str(out), config, split="test")
            assert len(rows) == 167
        warm_seconds = (time.perf_counter() - start) / 2
        size = sum(p.stat().st_size for p in out.rglob("*.parquet"))
    print(f"cold build (process incl. start-up): {build_seconds:.2f} s")
    print(f"warm load_dataset per config:        {warm_seconds:.3f} s (target < 1 s)")
    print(f"parquet size (both configs):         {size / 1e6:.2f} MB")
    print(
        f"summary: build {build_seconds:.2f} s; warm load {warm_seconds:.3f} s; parquet {size / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
