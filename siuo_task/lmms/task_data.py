"""The SIUO data each lmms-eval task runs on, resolved, verified and validated once per process, and whether
its model sees the images: shared by the tasks (``siuo_task.lmms.task``) and their aggregations
(``siuo_task.lmms.aggregation``), without importing lmms-eval."""

from __future__ import annotations

import functools
import os

from siuo_dataset.errors import SiuoDataError
from siuo_dataset.items import LoadedSiuo, load_siuo
from siuo_task.lmms.results import NO_VERIFY_ENV

_TASK_DATA: dict[str, LoadedSiuo] = {}  # task name -> the SIUO its documents came from
_IMAGE_BLIND: set[str] = set()  # tasks whose YAML metadata says text_only (the model never sees the image)


@functools.cache
def _load(data_dir: str | None, allow_missing_images: bool, verify_checksums: bool = True) -> LoadedSiuo:
    try:
        return load_siuo(
            data_dir,
            allow_missing_images=allow_missing_images,
            verify_checksums=verify_checksums,
            missing_fix="run the image-blind tasks (--tasks siuo_text), or make placeholders "
            "(siuo-data placeholders --data-dir DIR)",
        )
    except SiuoDataError as error:  # the Python keyword it names is not accepted here; what is, is
        message = str(error).replace(
            "(verify_checksums=False)", f"(siuo-eval's flag; under plain lmms-eval export {NO_VERIFY_ENV}=1)"
        )
        raise SiuoDataError(message) from None


def loaded_siuo(task: str, *, allow_missing_images: bool = True) -> LoadedSiuo:
    """The SIUO data of ``task`` (from $SIUO_DATA_DIR or the resolver), loaded once per process; annotation
    checksums are verified unless $SIUO_NO_VERIFY_CHECKSUMS is set (``siuo-eval --no-verify-checksums``)."""
    if task not in _TASK_DATA:
        _TASK_DATA[task] = _load(
            os.environ.get("SIUO_DATA_DIR") or None,
            allow_missing_images,
            not os.environ.get(NO_VERIFY_ENV),
        )
    return _TASK_DATA[task]


def mark_image_blind(task: str) -> None:
    """Record that ``task``'s model never sees the images (its YAML metadata says text_only)."""
    _IMAGE_BLIND.add(task)


def sees_images(task: str) -> bool:
    """Whether the model saw the images in ``task`` (its YAML metadata has no ``text_only``)."""
    return task not in _IMAGE_BLIND
