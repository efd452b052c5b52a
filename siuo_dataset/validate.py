"""Integrity and consistency checks of the SIUO annotation files and images.

Pure functions over parsed JSON; each failure raises ``SiuoDataError`` with one line naming the
problem and the fix.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

from siuo_dataset.domains import DOMAIN_NAMES, domain_by_name, domain_for_image_name
from siuo_dataset.errors import SiuoDataError
from siuo_dataset.json_depth import MAX_JSON_DEPTH, json_depth_exceeds
from siuo_dataset.options import OPTION_LETTERS

GEN_FILE, MCQA_FILE = "siuo_gen.json", "siuo_mcqa.json"
ANNOTATION_SHA256 = {
    GEN_FILE: "0a65c3443e75d0d6106550d73100753f19fe9fcb415e6ea138d5c7f04d31f228",
    MCQA_FILE: "91f51da54b92d8bb2c2fa61215d0ed8c77113192d4f909854dd561eaa5953022",
}
EXPECTED_ITEMS = 167
GEN_FIELDS = ("question_id", "image", "question", "category", "safety_warning", "reference_answer")
MCQA_FIELDS = ("question_id", "image", "question", "category", "options", "correct_option")
# The largest image we decode (about 150 MB of RGB pixels). Pillow warns above this many pixels and refuses
# twice as many; we refuse both (a decompression bomb is a data error, not a crash or a memory blow-up).
# Set on Pillow only while ``check_image`` decodes, so importing siuo_dataset leaves Pillow (and the rest of
# the process) as it was; Pillow itself is imported only there.
MAX_IMAGE_PIXELS = 50_000_000
# Known upstream quirks: reported as notes, never as failures.
UPSTREAM_NOTES = {
    3019: (
        "upstream note: item 3019's correct MCQA option (D, estimate the missing lab data) contradicts "
        "its generation reference answer and safety warning (do not fill in missing data; re-measure)"
    ),
}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_annotation_file(path: Path, *, verify_checksum: bool = True) -> list[dict]:
    """Parse one annotation file, checking its pinned sha256 first unless told not to."""
    if not path.is_file():
        raise SiuoDataError(
            f"{path.name} not found in {path.parent}: point --data-dir/SIUO_DATA_DIR at a SIUO folder"
        )
    if verify_checksum:
        actual = sha256_file(path)
        if actual != ANNOTATION_SHA256[path.name]:
            raise SiuoDataError(
                f"{path}: sha256 {actual[:12]}... does not match the pinned release "
                f"{ANNOTATION_SHA256[path.name][:12]}...; re-download it, or pass --no-verify-checksums "
                "(verify_checksums=False) to use a modified file on purpose"
            )
    try:
        text = path.read_text(encoding="utf-8")
        if json_depth_exceeds(text):  # Python's decoder recurses: a deep file would be a RecursionError
            raise SiuoDataError(
                f"{path}: JSON nested deeper than {MAX_JSON_DEPTH} levels, not a SIUO annotation file; "
                "re-download it"
            )
        rows = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SiuoDataError(
            f"{path}: not valid JSON ({error}); the file is truncated or corrupt, re-download it"
        )
    if not isinstance(rows, list):
        raise SiuoDataError(f"{path}: expected a JSON list of items, found {type(rows).__name__}")
    return rows


def check_rows(rows: list[dict], file_name: str, fields: tuple[str, ...]) -> None:
    """Fields present, 167 unique ids, id digit and image prefix agree with the category."""
    seen: set[int] = set()
    for index, row in enumerate(rows):
        where = f"{file_name} item #{index + 1}"
        if not isinstance(row, dict):
            raise SiuoDataError(f"{where}: expected an object, found {type(row).__name__}")
        missing = [name for name in fields if name not in row]
        if missing:
            raise SiuoDataError(f"{where}: missing field(s) {', '.join(missing)}")
        qid = row["question_id"]
        where = f"{file_name} question_id {qid}"
        if not isinstance(qid, int) or not 1000 <= qid <= 9999:
            raise SiuoDataError(f"{where}: question_id must be a 4-digit integer")
        if qid in seen:
            raise SiuoDataError(f"{where}: duplicate question_id")
        seen.add(qid)
        if row["category"] not in DOMAIN_NAMES:
            raise SiuoDataError(
                f"{where}: unknown category {row['category']!r}; expected one of {list(DOMAIN_NAMES)}"
            )
        domain = domain_by_name(row["category"])
        if int(str(qid)[0]) != domain.id_digit:
            raise SiuoDataError(
                f"{where}: id prefix {str(qid)[0]} does not match category {domain.name!r} "
                f"(expected {domain.id_digit}xxx)"
            )
        check_image_name(row["image"], where)
        if domain_for_image_name(str(row["image"])) != domain:
            raise SiuoDataError(
                f"{where}: image {row['image']!r} does not start with {domain.image_prefix}- "
                f"as category {domain.name!r} requires"
            )
        if "options" in fields:
            options = row["options"]
            if not isinstance(options, dict) or sorted(options) != list(OPTION_LETTERS):
                raise SiuoDataError(f"{where}: options must have exactly the keys A, B, C, D")
            if row["correct_option"] not in options:
                raise SiuoDataError(f"{where}: correct_option {row['correct_option']!r} is not one of A-D")
    if len(rows) != EXPECTED_ITEMS:
        raise SiuoDataError(
            f"{file_name}: {len(rows)} items, expected {EXPECTED_ITEMS} (the public SIUO release)"
        )


def check_agreement(gen_rows: list[dict], mcqa_rows: list[dict]) -> None:
    """The two files describe the same items: same ids, question, image and category."""
    mcqa_by_id = {row["question_id"]: row for row in mcqa_rows}
    for row in gen_rows:
        other = mcqa_by_id.get(row["question_id"])
        if other is None:
            raise SiuoDataError(f"question_id {row['question_id']} is in {GEN_FILE} but not in {MCQA_FILE}")
        for name in ("question", "image", "category"):
            if row[name] != other[name]:
                raise SiuoDataError(
                    f"question_id {row['question_id']}: {GEN_FILE} and {MCQA_FILE} disagree on {name}"
                )


def check_image_name(name: object, where: str) -> None:
    """An image name is a plain file name, so it always resolves inside the data folder (no folders, no
    ``..``)."""
    if (
        not isinstance(name, str)
        or not name
        or Path(name).name != name
        or name in (".", "..")
        or "\\" in name
    ):
        raise SiuoDataError(
            f"{where}: image {name!r} is not a plain file name inside the data folder "
            "(no folders, '..' or absolute paths)"
        )


def check_image_inside(path: Path, folder: Path, image_name: str) -> None:
    """An image file must be in ``folder`` (the data or images folder) once links are followed: an image that
    is a symbolic link to a file elsewhere (a key file, say) is refused, so nothing outside the data folder is
    ever read, embedded in a build or served by the review page."""
    if not (path.is_symlink() or path.exists()):
        return  # missing: check_image decides
    try:
        where = "a file outside the data folder" if folder.resolve() not in path.resolve().parents else None
    except (OSError, RuntimeError):
        where = "itself (a loop of links)"
    if where:
        raise SiuoDataError(
            f"image {image_name!r} in {folder} is a link to {where}: copy the image itself into the folder"
        )


# How to accept absent images, said in the caller's own terms (a flag of that command, a keyword of that
# function): the Python API's keyword unless the caller names its own fix.
MISSING_IMAGES_FIX = "pass allow_missing_images=True"


def check_image(
    path: Path | None,
    image_name: str,
    *,
    allow_missing: bool,
    decode: bool = True,
    missing_fix: str = MISSING_IMAGES_FIX,
) -> Path | None:
    """The image's path if present (and, with ``decode``, decodable within ``MAX_IMAGE_PIXELS``); None if
    missing and allowed; else an error naming ``missing_fix``."""
    if path is None or not path.is_file():
        if allow_missing:
            return None
        raise SiuoDataError(
            f"image {image_name} is missing: put the SIUO images in the data folder (flat or "
            f"images/), or {missing_fix}"
        )
    if not decode:
        return path
    from PIL import Image, ImageFile, UnidentifiedImageError

    lenient = ImageFile.LOAD_TRUNCATED_IMAGES  # lmms-eval sets it True process-wide when imported
    pixel_limit = Image.MAX_IMAGE_PIXELS
    ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS = False, MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()  # a full decode: verify() alone misses corrupt pixel data
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise SiuoDataError(
            f"image {path} has more than {MAX_IMAGE_PIXELS:,} pixels (a decompression bomb?): "
            "replace it with the released file"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise SiuoDataError(f"image {path} cannot be decoded ({error.__class__.__name__}); re-download it")
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS = lenient, pixel_limit
    return path
