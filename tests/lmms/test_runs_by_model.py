"""Runs keyed by model (issue #21, items 1, 2 and 7): two models into one `--output_path`, in either order,
give two report rows named after the models; a failed run never reports on another model's results; the same
model twice: the latest wins and the report says so; `--tasks siuo` works from a folder holding `siuo/`."""

from __future__ import annotations

import json
import os

import pytest

import siuo_dataset
from siuo_demo.loopback import Fault, ScriptedServer
from siuo_demo.scripted_models import scripted_model
from siuo_task.cli.lmms_eval import lmms_tasks
from siuo_task.lmms import model_folder
from tests.helpers import run_tool, siuo_eval


def test_model_folder_is_lmms_evals_own():
    from lmms_eval.loggers.evaluation_tracker import GeneralConfigTracker
    from lmms_eval.utils import sanitize_model_name

    for model_args in ("model=alpha,base_url=x", "pretrained=org/deep/name,api_key=k", "api_key=k", ""):
        expected = sanitize_model_name(GeneralConfigTracker._get_model_name(model_args))
        assert model_folder(model_args) == expected


def test_a_siuo_folder_in_the_working_folder_never_reaches_lmms_eval_as_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert lmms_tasks("siuo") == "siuo"
    (tmp_path / "siuo").mkdir()
    (tmp_path / "siuo_gen").mkdir()
    assert lmms_tasks("siuo") == "siuo_gen,siuo_mcqa"
    assert lmms_tasks("siuo,siuo_text") == "siuo,siuo_text"  # not a path: lmms-eval splits it
    with pytest.raises(Exception, match="run siuo-eval from another folder"):
        lmms_tasks("siuo_gen")


def _run(policy, items, out, cwd, data_dir, name, fail=False):
    respond = (lambda body: Fault(status=400)) if fail else scripted_model(policy, items)
    with ScriptedServer(respond) as model:
        return siuo_eval(
            "--model",
            "openai",
            "--model_args",
            f"model={name},base_url={model.base_url},api_key=x,max_retries=1,retry_backoff_s=0",
            "--tasks",
            "siuo",
            "--limit",
            "3",
            "--output_path",
            str(out),
            "--judge",
            "offline",
            "--no-cache",
            "--quiet",
            cwd=cwd,
            env=dict(os.environ, SIUO_DATA_DIR=str(data_dir)),
            timeout=600,
        )


@pytest.mark.e2e
def test_two_models_into_one_output_path_give_two_rows(siuo_data_dir, tmp_path):
    items = siuo_dataset.load_items(siuo_data_dir)
    (tmp_path / "siuo").mkdir()  # as `siuo-data build --out siuo` leaves it: must not hide the task
    out = tmp_path / "runs"
    beta = _run("always_a", items, out, tmp_path, siuo_data_dir, "beta")
    assert beta.returncode == 0, beta.stderr[-3000:]
    failed = _run("oracle", items, out, tmp_path, siuo_data_dir, "alpha", fail=True)
    assert failed.returncode != 0
    assert "beta" not in failed.stdout + failed.stderr.splitlines()[-1]  # never beta's results
    alpha = _run("oracle", items, out, tmp_path, siuo_data_dir, "alpha")
    assert alpha.returncode == 0, alpha.stderr[-3000:]
    assert f"results in {out / 'alpha'}" in alpha.stdout
    # item 7: a partial run says so in every summary line; placeholder images are said loudly
    for task in ("siuo_gen", "siuo_mcqa"):
        assert f"  {task} (3 of 167 items): " in alpha.stdout
    ours = alpha.stdout[alpha.stdout.index("\nPLACEHOLDER IMAGES: ") :]  # after lmms-eval's own output
    assert "generated placeholder images, not the SIUO images" in ours and "siuo-eval: results in" in ours
    again = _run("always_a", items, out, tmp_path, siuo_data_dir, "beta")
    assert again.returncode == 0, again.stderr[-3000:]
    for model in ("alpha", "beta"):
        side = [json.loads(p.read_text()) for p in (out / model).glob("*_siuo_mcqa.metrics.json")]
        assert side and {m["run"]["model"] for m in side} == {model}

    report = run_tool("siuo-eval", "report", str(out), "--out", str(tmp_path / "report"), cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    assert "2 model(s): " in report.stdout and "alpha" in report.stdout and "beta" in report.stdout
    assert "holds 2 runs of this model; shown: the latest of 2" in report.stdout
    text = (tmp_path / "report" / "report.md").read_text()
    assert "holds 2 runs of this model; shown: the latest of 2" in text  # #28 item 5: in report.md too
    names = {line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")}
    assert {"alpha (3 of 167 items)", "beta (3 of 167 items)"} <= names  # beside the paper's 167-item rows
    assert "runs" not in names
