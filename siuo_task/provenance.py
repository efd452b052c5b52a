"""The one header every result file carries: where its numbers came from.

``provenance(...)`` gives ``{"siuo_version", "data", "judge"}`` (see ``siuo_task.records.Provenance``): this
package's version; the data block (origin, Hub revision, sha256 of both annotation files, item count, missing
images, and how many of the images looked at were generated placeholders; when the images were used, the
sha256 of each image file and one digest over them, so a run on other or swapped pictures never carries the
same provenance; ``annotations_verified`` False when the annotations are not the pinned release's); and the
judge block (backend,
model, prompt version, temperature, text-only, approximate). Every producer calls it; the report reads
the placeholder and approximate flags from it.
"""

from __future__ import annotations

from collections.abc import Mapping

import siuo_task
from siuo_dataset.items import LoadedSiuo
from siuo_dataset.placeholders import is_placeholder
from siuo_task.records import DataBlock, JudgeBlock, JudgeInfo, Provenance


def data_block(loaded: LoadedSiuo, *, images_used: bool) -> DataBlock:
    """``loaded.provenance()`` plus ``placeholder_images``: how many of the items' images are generated
    placeholders when something looked at them (``images_used``), else 0; and then the images' digests
    (``LoadedSiuo.image_provenance``)."""
    if not images_used:
        return {**loaded.provenance(), "placeholder_images": 0}
    placeholders = sum(
        is_placeholder(item.image_path) for item in loaded.items if item.image_path is not None
    )
    return {**loaded.provenance(), "placeholder_images": placeholders, **loaded.image_provenance()}


def provenance(
    data: LoadedSiuo | Mapping | None = None,
    *,
    judge: JudgeInfo | Mapping | None = None,
    images_used: bool = False,
) -> Provenance:
    """The header of a result file. ``data``: the loaded SIUO (or the data block of the results this one is
    derived from); ``judge``: the judge's info (or block) when a judge produced the figures."""
    header: Provenance = {"siuo_version": siuo_task.__version__}
    if isinstance(data, LoadedSiuo):
        header["data"] = data_block(data, images_used=images_used)
    elif data is not None:
        header["data"] = dict(data)
    if judge is not None:
        header["judge"] = judge_block(judge)
    return header


def judge_block(judge: JudgeInfo | Mapping) -> JudgeBlock:
    """The judge block of a result: everything that determines the judge's answers."""
    return judge.as_dict() if isinstance(judge, JudgeInfo) else dict(judge)
