"""SIUO as a typed Hugging Face dataset: domains, sources, validation, builder, publishing."""

from siuo_dataset.domains import DOMAIN_NAMES, DOMAINS, Domain
from siuo_dataset.errors import SiuoDataError, SiuoError
from siuo_dataset.items import LoadedSiuo, SiuoItem, load_items, load_siuo
from siuo_dataset.validate import ANNOTATION_SHA256


def load(
    config: str = "generation",
    source=None,
    *,
    allow_missing_images: bool = False,
    verify_checksums: bool = True,
    cache_dir: str | None = None,
):
    """SIUO ``config`` as a ``datasets.Dataset``; see ``siuo_dataset.builder.load``. ``source`` may also be a
    folder ``siuo-data build`` wrote: it is then checked against its build manifest (``publish.load_built``:
    every file's sha256, every row's image)."""
    from pathlib import Path

    from siuo_dataset.builder import load as build_and_load
    from siuo_dataset.publish import is_built_folder, load_built

    if source is not None and is_built_folder(Path(source).expanduser()):
        return load_built(source, config, cache_dir=cache_dir)

    return build_and_load(
        config,
        source,
        allow_missing_images=allow_missing_images,
        verify_checksums=verify_checksums,
        cache_dir=cache_dir,
    )


__all__ = [
    "ANNOTATION_SHA256",
    "DOMAINS",
    "DOMAIN_NAMES",
    "Domain",
    "LoadedSiuo",
    "SiuoDataError",
    "SiuoError",
    "SiuoItem",
    "load",
    "load_items",
    "load_siuo",
]
