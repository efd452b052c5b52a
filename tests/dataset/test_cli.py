"""siuo-data info | validate | build: readable text and --json for machines."""

from __future__ import annotations

import json
import os

import pytest

from tests.dataset.conftest import EXPECTED_COUNTS
from tests.dataset.test_publish import files
from tests.fakes.hub import FakeHub
from tests.helpers import siuo_data


@pytest.mark.e2e
def test_info_json_and_text(siuo_data_dir):
    result = siuo_data("info", "--data-dir", str(siuo_data_dir), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["n_items"] == 167 and info["missing_images"] == 0 and info["origin"] == "local"
    assert info["domains"] == EXPECTED_COUNTS
    assert info["sha256"]["siuo_gen.json"].startswith("0a65c344")
    text = siuo_data("info", "--data-dir", str(siuo_data_dir))
    assert text.returncode == 0 and "167 items" in text.stdout and "privacy violation" in text.stdout


def test_validate_reports_upstream_note_not_failure(siuo_data_dir):
    result = siuo_data("validate", "--data-dir", str(siuo_data_dir))
    assert result.returncode == 0, result.stderr
    assert "OK: 167 items valid" in result.stdout and "note: upstream note: item 3019" in result.stdout
    report = json.loads(siuo_data("validate", "--data-dir", str(siuo_data_dir), "--json").stdout)
    assert report["ok"] is True and len(report["notes"]) == 1


@pytest.mark.e2e
def test_build_json(siuo_data_dir, tmp_path):
    result = siuo_data("build", "--data-dir", str(siuo_data_dir), "--out", str(tmp_path / "siuo"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["out"] == str(tmp_path / "siuo") and report["n_items"] == 167


def test_usage_error_exits_nonzero_without_traceback():
    result = siuo_data("frobnicate")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "invalid choice" in result.stderr


def hub_env(hub: FakeHub, home) -> dict:
    """siuo-data's environment pointed at the loopback fake Hub (a throwaway token, never written down)."""
    return {
        **os.environ,
        "HF_ENDPOINT": hub.endpoint,
        "HF_TOKEN": "hf_" + "x" * 34,
        "HF_HOME": str(home),
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }


def test_push_command_uploads_the_built_files_and_gates_a_public_repo(built, tmp_path):
    """#29 item 6 / #30: through the real HfApi to a loopback Hub; --public gates the repo before any file."""
    with FakeHub() as hub:
        result = siuo_data(
            "push",
            built,
            "--repo",
            "org/siuo",
            "--public",
            "--allow-placeholders",
            env=hub_env(hub, tmp_path),
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{hub.endpoint}/datasets/org/siuo/commit/{'1' * 40}"
        assert hub.private == {"org/siuo": False}
        assert [r.json() for r in hub.called("PUT", "/org/siuo/settings")] == [{"gated": "auto"}]
        order = [(r.method, r.path.rsplit("/", 2)[-2]) for r in hub.requests]
        assert order.index(("PUT", "siuo")) < order.index(("POST", "commit"))  # gated before any file
        assert sorted(hub.repos["org/siuo"]) == sorted([".gitattributes", *files(built)])
        assert "hf_xxx" not in result.stdout + result.stderr


def test_push_no_gate_and_private_pushes_leave_the_gate_alone(built, tmp_path):
    with FakeHub() as hub:
        for extra in (["--public", "--no-gate"], []):
            result = siuo_data(
                "push",
                built,
                "--repo",
                "org/siuo",
                "--allow-placeholders",
                *extra,
                env=hub_env(hub, tmp_path),
            )
            assert result.returncode == 0, result.stderr
        assert hub.called("PUT", "/settings") == []
        creates = [r.json()["visibility"] for r in hub.called("POST", "/api/repos/create")]
        assert creates == ["public", "private"]


def test_unexpected_failure_is_still_one_line(siuo_data_dir, monkeypatch, capsys):
    from siuo_dataset import cli

    def broken(args):
        raise RuntimeError("something\nunexpected")

    monkeypatch.setattr(cli, "cmd_info", broken)
    monkeypatch.delenv("SIUO_DEBUG", raising=False)
    assert cli.main(["info", "--data-dir", str(siuo_data_dir)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: RuntimeError: something unexpected" in err


@pytest.mark.e2e
def test_info_needs_no_images_and_counts_them(shared_siuo, siuo_data_dir, tmp_path):
    """#21 item 4: a summary counts the images instead of failing without them."""
    bare = siuo_data("info", "--data-dir", str(shared_siuo))
    assert bare.returncode == 0, bare.stderr
    assert "images 0 of 167 present (167 missing, 0 placeholders)" in bare.stdout
    full = siuo_data("info", "--data-dir", str(siuo_data_dir), "--json")
    assert json.loads(full.stdout)["placeholder_images"] == 167


@pytest.mark.e2e
def test_placeholders_command_makes_the_image_tasks_runnable(shared_siuo, tmp_path):
    """#21 item 7: `siuo-data placeholders --data-dir DIR` for the annotations alone, loudly marked."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("siuo_gen.json", "siuo_mcqa.json"):
        (data / name).symlink_to(shared_siuo / name)
    made = siuo_data("placeholders", "--data-dir", str(data))
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("PLACEHOLDER IMAGES: wrote 167 of 167 images")
    validated = siuo_data("validate", "--data-dir", str(data))
    assert validated.returncode == 0, validated.stderr
    built = siuo_data("build", "--data-dir", str(data), "--out", str(tmp_path / "siuo-hf"))
    assert built.returncode == 0 and built.stdout.startswith("PLACEHOLDER IMAGES: 167 of 167"), built
