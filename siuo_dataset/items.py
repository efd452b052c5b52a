"""SIUO items as plain typed records: the two annotation files merged by question_id.

``load_items`` is what the scoring layer uses to look items up; the ``datasets`` builder
yields the same records as rows.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

from siuo_dataset.errors import SiuoDataError
from siuo_dataset.options import OPTION_LETTERS
from siuo_dataset.sources import HUB_REPO, SiuoSource, hub_image_digests, resolve_source
from siuo_dataset.validate import (
    ANNOTATION_SHA256,
    GEN_FIELDS,
    GEN_FILE,
    MCQA_FIELDS,
    MCQA_FILE,
    MISSING_IMAGES_FIX,
    UPSTREAM_NOTES,
    check_agreement,
    check_image,
    check_image_inside,
    check_rows,
    read_annotation_file,
    sha256_file,
)


@dataclass(frozen=True)
class SiuoItem:
    """One SIUO item (generation fields + MCQA options)."""

    question_id: int
    image_name: str
    image_path: Path | None  # None when images are absent and explicitly allowed
    question: str
    category: str
    safety_warning: str
    reference_answer: str
    options: dict[str, str]  # "A".."D" -> option text
    correct_option: str

    def read_image_bytes(self) -> bytes | None:
        """The encoded image file's bytes, or None when there is no image."""
        return None if self.image_path is None else self.image_path.read_bytes()


@dataclass(frozen=True)
class LoadedSiuo:
    """Validated items plus where they came from (recorded in result files)."""

    items: list[SiuoItem]
    source: SiuoSource
    notes: list[str]
    missing_images: int
    release_checked_images: int = 0  # images whose sha256 was compared with the pinned Hub release's

    def provenance(self) -> dict:
        """Where the data came from: origin, revision, sha256 of the annotation files and whether they are the
        pinned release's (``annotations_verified``: False after ``--no-verify-checksums`` on edited files),
        image status."""
        sha256 = {name: sha256_file(self.source.root / name) for name in (GEN_FILE, MCQA_FILE)}
        return {
            "origin": self.source.origin,
            "revision": self.source.revision,
            "sha256": sha256,
            "annotations_verified": sha256 == ANNOTATION_SHA256,
            "n_items": len(self.items),
            "missing_images": self.missing_images,
        }

    @functools.cached_property
    def image_sha256(self) -> dict[int, str]:
        """question id -> sha256 of its image file's bytes (items that have an image), computed once."""
        return {
            item.question_id: sha256_file(item.image_path)
            for item in self.items
            if item.image_path is not None
        }

    def image_provenance(self) -> dict:
        """The images as provenance: ``image_sha256`` (question id -> digest of the image file's bytes) and
        ``images_sha256``, one digest over all (question id, image digest) pairs. Two images swapped between
        items change both, though the set of files is the same."""
        digests = self.image_sha256
        pairs = "".join(f"{item.question_id} {digests.get(item.question_id, '-')}\n" for item in self.items)
        return {
            "images_sha256": hashlib.sha256(pairs.encode()).hexdigest(),
            "image_sha256": {str(qid): digest for qid, digest in sorted(digests.items())},
            "images_checked_against_release": self.release_checked_images,
        }

    def check_release_images(self) -> int:
        """Compare the images of a Hub download with the sha256 the Hub gave for them at the pinned revision
        (``sources.hub_image_digests``); one error naming the first that differs. Returns how many were
        compared (0 for a local folder or zip: no release manifest to compare with)."""
        pinned = hub_image_digests(self.source)
        compared = [item for item in self.items if item.image_path is not None and item.image_name in pinned]
        for item in compared:
            if self.image_sha256[item.question_id] != pinned[item.image_name]:
                raise SiuoDataError(
                    f"image {item.image_name!r} in {self.source.image_dir} differs from the pinned "
                    f"{HUB_REPO} release (sha256): delete {self.source.root} so it is downloaded again"
                )
        return len(compared)


def load_siuo(
    data_dir: str | Path | None = None,
    *,
    allow_missing_images: bool = False,
    verify_checksums: bool = True,
    allow_download: bool = True,
    decode_images: bool = True,
    missing_fix: str = MISSING_IMAGES_FIX,
) -> LoadedSiuo:
    """Resolve, verify and validate SIUO; merge both files into ``SiuoItem``s sorted by id. With
    ``decode_images=False`` (callers that never look at pixels) images are checked to exist, not decoded.
    ``missing_fix``: how the caller accepts absent images (its flag or keyword), named by the error."""
    source = resolve_source(data_dir, allow_download=allow_download)
    gen_rows = read_annotation_file(source.root / GEN_FILE, verify_checksum=verify_checksums)
    mcqa_rows = read_annotation_file(source.root / MCQA_FILE, verify_checksum=verify_checksums)
    check_rows(gen_rows, GEN_FILE, GEN_FIELDS)
    check_rows(mcqa_rows, MCQA_FILE, MCQA_FIELDS)
    check_agreement(gen_rows, mcqa_rows)
    mcqa_by_id = {row["question_id"]: row for row in mcqa_rows}
    items, missing = [], 0
    for row in sorted(gen_rows, key=lambda r: r["question_id"]):
        check_image_inside(source.image_path(row["image"]), source.image_dir, row["image"])
        path = check_image(
            source.image_path(row["image"]),
            row["image"],
            allow_missing=allow_missing_images,
            decode=decode_images,
            missing_fix=missing_fix,
        )
        missing += path is None
        mcqa = mcqa_by_id[row["question_id"]]
        items.append(
            SiuoItem(
                question_id=row["question_id"],
                image_name=row["image"],
                image_path=path,
                question=row["question"],
                category=row["category"],
                safety_warning=row["safety_warning"],
                reference_answer=row["reference_answer"],
                options={k: mcqa["options"][k] for k in OPTION_LETTERS},
                correct_option=mcqa["correct_option"],
            )
        )
    if missing:
        print(
            f"WARNING: {missing} of {len(items)} SIUO images are missing from {source.image_dir}; "
            "those items have no image",
            file=sys.stderr,
        )
    notes = [note for qid, note in UPSTREAM_NOTES.items() if qid in mcqa_by_id]
    loaded = LoadedSiuo(items, source, notes, missing)
    if decode_images and source.origin == "hub":  # the images will be used: the ones the release has
        # set once on the new (frozen) instance, which keeps the digests it has just computed
        object.__setattr__(loaded, "release_checked_images", loaded.check_release_images())
    return loaded


def load_items(
    data_dir: str | Path | None = None, *, allow_missing_images: bool = False, verify_checksums: bool = True
) -> list[SiuoItem]:
    """Validated SIUO items sorted by question_id (see ``load_siuo`` for provenance)."""
    return load_siuo(
        data_dir, allow_missing_images=allow_missing_images, verify_checksums=verify_checksums
    ).items
