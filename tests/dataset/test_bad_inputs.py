"""A table of bad inputs: each gives its own clear error, through the Python API and through the CLI
(exit 2, exactly one stderr line, no traceback)."""

from __future__ import annotations

import pytest

import siuo_dataset
from siuo_dataset.errors import SiuoDataError
from tests.dataset.conftest import assert_one_line_error
from tests.helpers import siuo_data


def _duplicate(rows):
    rows[1]["question_id"] = rows[0]["question_id"]
    return rows


def _set(index, **fields):
    def change(rows):
        rows[index].update(fields)
        return rows

    return change


def _pop(index, field):
    def change(rows):
        rows[index].pop(field)
        return rows

    return change


BAD_INPUTS = [
    # (case, file to modify, change, expected message fragment, verify checksums)
    ("missing-gen-file", "siuo_gen.json", None, "siuo_gen.json not found", True),
    ("missing-mcqa-file", "siuo_mcqa.json", None, "siuo_mcqa.json not found", True),
    ("truncated-json", "siuo_gen.json", "truncate", "not valid JSON", False),
    (
        "truncated-json-checksum-first",
        "siuo_mcqa.json",
        "truncate",
        "does not match the pinned release",
        True,
    ),
    (
        "checksum-mismatch",
        "siuo_gen.json",
        _set(0, question="changed"),
        "does not match the pinned release",
        True,
    ),
    (
        "not-a-list",
        "siuo_gen.json",
        lambda rows: {"items": rows},
        "expected a JSON list of items, found dict",
        False,
    ),
    (
        "item-not-object",
        "siuo_gen.json",
        lambda rows: [*rows[:-1], "oops"],
        "expected an object, found str",
        False,
    ),
    ("duplicate-id", "siuo_gen.json", _duplicate, "duplicate question_id", False),
    (
        "non-integer-id",
        "siuo_gen.json",
        _set(0, question_id="1001"),
        "question_id must be a 4-digit integer",
        False,
    ),
    ("unknown-category", "siuo_gen.json", _set(0, category="weather"), "unknown category 'weather'", False),
    (
        "id-category-mismatch",
        "siuo_gen.json",
        _set(0, question_id=2999),
        "id prefix 2 does not match category",
        False,
    ),
    ("image-prefix-mismatch", "siuo_gen.json", _set(0, image="P-99.png"), "does not start with S-", False),
    ("missing-field", "siuo_gen.json", _pop(0, "safety_warning"), "missing field(s) safety_warning", False),
    ("too-few-items", "siuo_gen.json", lambda rows: rows[:-1], "166 items, expected 167", False),
    (
        "gen-mcqa-disagree-question",
        "siuo_mcqa.json",
        _set(0, question="another"),
        "disagree on question",
        False,
    ),
    ("gen-mcqa-disagree-image", "siuo_mcqa.json", _set(3, image="S-01.png"), "disagree on image", False),
    (
        "id-only-in-one-file",
        "siuo_mcqa.json",
        _set(0, question_id=1999),
        "1001 is in siuo_gen.json but not in",
        False,
    ),
    (
        "bad-correct-option",
        "siuo_mcqa.json",
        _set(0, correct_option="E"),
        "correct_option 'E' is not one of",
        False,
    ),
    (
        "options-not-a-to-d",
        "siuo_mcqa.json",
        _set(0, options={"A": "x", "B": "y"}),
        "exactly the keys A, B, C, D",
        False,
    ),
    ("missing-image", "image", "delete", "image S-01.png is missing", True),
    ("corrupt-image", "image", "corrupt", "cannot be decoded", True),
]


@pytest.mark.parametrize("case,target,change,message,verify", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gives_its_own_clear_error(make_bad_dir, case, target, change, message, verify):
    root = make_bad_dir(target, change)
    with pytest.raises(SiuoDataError) as raised:
        siuo_dataset.load_items(root, verify_checksums=verify)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    flags = [] if verify else ["--no-verify-checksums"]
    assert_one_line_error(siuo_data("validate", "--data-dir", str(root), *flags), message)


def test_error_messages_are_distinct():
    messages = [case[3] for case in BAD_INPUTS]
    assert len(set(messages)) == len(messages) - 1  # only the two checksum cases share their message


def test_missing_folder_and_non_siuo_folder(tmp_path):
    with pytest.raises(SiuoDataError, match="does not exist"):
        siuo_dataset.load_items(tmp_path / "nope")
    assert_one_line_error(siuo_data("info", "--data-dir", str(tmp_path)), "siuo_gen.json not found")


def test_missing_images_allowed_loudly(make_bad_dir, capsys):
    root = make_bad_dir("image", "delete")
    items = siuo_dataset.load_items(root, allow_missing_images=True)
    assert [i.question_id for i in items if i.image_path is None] == [1001]
    assert "WARNING: 1 of 167 SIUO images are missing" in capsys.readouterr().err
    result = siuo_data("validate", "--data-dir", str(root), "--allow-missing-images")
    assert result.returncode == 0 and "WARNING: 1 of 167" in result.stderr and "166/167" in result.stdout


def test_checksum_opt_out_accepts_a_consistent_edit(make_bad_dir):
    root = make_bad_dir("siuo_gen.json", _set(0, reference_answer="edited on purpose"))
    assert siuo_dataset.load_items(root, verify_checksums=False)[0].reference_answer == "edited on purpose"
    result = siuo_data("validate", "--data-dir", str(root), "--no-verify-checksums")
    assert result.returncode == 0 and "NOT verified" in result.stdout
