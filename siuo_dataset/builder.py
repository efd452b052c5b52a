"""The ``datasets`` builder for SIUO (the modern form of a loading script)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import datasets

from siuo_dataset.items import load_siuo
from siuo_dataset.schema import CONFIGS, FEATURES, item_to_row

HOMEPAGE = "https://sinwang20.github.io/SIUO"
CITATION = """@article{wang2024cross,
  title={Cross-Modality Safety Alignment},
  author={Wang, Siyin and Ye, Xingsong and Cheng, Qinyuan and Duan, Junwen and Li, Shimin and Fu, Jinlan and \
Qiu, Xipeng and Huang, Xuanjing},
  journal={arXiv preprint arXiv:2406.15279},
  year={2024}
}"""


class SiuoConfig(datasets.BuilderConfig):
    """A SIUO config plus where the data comes from."""

    def __init__(
        self,
        *,
        data_source: str | None = None,
        allow_missing_images: bool = False,
        verify_checksums: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.data_source = data_source
        self.allow_missing_images = allow_missing_images
        self.verify_checksums = verify_checksums


class Siuo(datasets.GeneratorBasedBuilder):
    """SIUO: Safe Inputs but Unsafe Output (167 public items, 9 domains)."""

    BUILDER_CONFIG_CLASS = SiuoConfig
    BUILDER_CONFIGS = [SiuoConfig(name=name, version=datasets.Version("1.0.0")) for name in CONFIGS]
    DEFAULT_CONFIG_NAME = "generation"

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=self.__doc__,
            features=FEATURES[self.config.name],
            homepage=HOMEPAGE,
            license="cc-by-nc-4.0",
            citation=CITATION,
        )

    def _split_generators(self, dl_manager):
        return [datasets.SplitGenerator(name=datasets.Split.TEST)]

    def _generate_examples(self):
        loaded = load_siuo(
            self.config.data_source,
            allow_missing_images=self.config.allow_missing_images,
            verify_checksums=self.config.verify_checksums,
        )
        for item in loaded.items:
            yield item.question_id, item_to_row(item, self.config.name)


def _source_hash(resolved) -> str:
    """A builder cache key that changes with the folder, its annotations and its image files."""
    digest = hashlib.sha256(
        f"{resolved.source.root.resolve()}|{resolved.source.image_dir.resolve()}".encode()
    )
    for name, sha in sorted(resolved.provenance()["sha256"].items()):
        digest.update(f"{name}={sha}".encode())
    for item in resolved.items:
        if item.image_path is not None:
            stat = item.image_path.stat()
            digest.update(f"{item.image_name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def load(
    config: str = "generation",
    source: str | Path | None = None,
    *,
    allow_missing_images: bool = False,
    verify_checksums: bool = True,
    cache_dir: str | None = None,
) -> datasets.Dataset:
    """SIUO ``config`` ("generation" or "mcqa") as a ``datasets.Dataset`` (the test split)."""
    if config not in CONFIGS:
        from siuo_dataset.errors import SiuoDataError

        raise SiuoDataError(f"unknown config {config!r}: choose one of {', '.join(CONFIGS)}")
    # Resolve (and validate) first so errors are ours, not a datasets traceback.
    resolved = load_siuo(source, allow_missing_images=allow_missing_images, verify_checksums=verify_checksums)
    builder = Siuo(
        config_name=config,
        data_source=None if source is None else str(source),
        cache_dir=cache_dir,
        allow_missing_images=allow_missing_images,
        verify_checksums=verify_checksums,
        hash=_source_hash(resolved),
    )
    builder.download_and_prepare()
    return builder.as_dataset(split="test")
