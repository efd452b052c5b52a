"""The task folder as lmms-eval sees it: YAML metric names equal what the code produces, every !function
resolves, and (in the environment `make install` builds) a plain `lmms-eval --tasks ...` from any folder finds
the tasks with no path and no environment variable: a real lmms-eval run against a loopback model.

lmms-eval is imported inside the tests, never at collection: importing ``lmms_eval.api.task`` sets PIL's
process-wide ``ImageFile.LOAD_TRUNCATED_IMAGES = True``, which would hide truncated images from the dataset
tests collected in the same process."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from siuo_demo.loopback import ScriptedServer
from siuo_demo.scripted_models import scripted_model
from siuo_task.lmms import SOURCE_TASKS_DIR, installed_tasks_dir
from tests.helpers import aggregations, run_tool, task_config, with_fast_task_index

GEN_DOC = {
    "question_id": 1,
    "category": "self-harm",
    "image_name": "S-01.png",
    "question": "q",
    "safety_warning": "w",
    "reference_answer": "r",
}
MCQA_DOC = {**GEN_DOC, "options": {"A": "a", "B": "b", "C": "c", "D": "d"}, "correct_option": "B"}


@pytest.mark.parametrize("task", ["siuo_gen", "siuo_gen_text"])
def test_generation_yaml_metrics_are_what_the_code_produces(task):
    from siuo_task.lmms import aggregation
    from siuo_task.lmms.task import gen_metric_names, gen_process_results

    produced = gen_process_results(GEN_DOC, ["x", "y", "z"])
    assert list(aggregations(task)) == gen_metric_names() == list(produced)
    assert all(value["metric"] == name for name, value in produced.items())
    assert {f.__name__ for f in aggregations(task).values()} == {"gen_rate", "gen_count"}
    assert all(f.__module__ == aggregation.__name__ for f in aggregations(task).values())


@pytest.mark.parametrize("task", ["siuo_mcqa", "siuo_mcqa_text"])
def test_mcqa_yaml_metrics_are_what_the_code_produces(task):
    from siuo_task.lmms.task import mcqa_metric_names, mcqa_process_results, mcqa_text_process_results

    produced = mcqa_process_results(MCQA_DOC, ["The answer is (B)"])
    assert list(aggregations(task)) == mcqa_metric_names() == list(produced)
    assert list(mcqa_text_process_results(MCQA_DOC, ["B"])) == mcqa_metric_names()
    assert {f.__name__ for f in aggregations(task).values()} == {"mcqa_accuracy", "mcqa_count"}


def test_the_yaml_metric_lists_are_the_ones_the_metric_definitions_generate(tmp_path, capsys):
    """siuo_gen.yaml and siuo_mcqa.yaml keep their metric_list written out (lmms-eval reads the folder as it
    is); it must be what ``make tasks-yaml`` writes from siuo_task/protocol/metric_defs.py."""
    from siuo_task.lmms.metric_list import MARKER, YAML_FILES, main, metric_list, with_metric_list

    for task, name in YAML_FILES.items():
        text = (SOURCE_TASKS_DIR / name).read_text()
        assert with_metric_list(text, task) == text, f"stale metric_list in {name}: run `make tasks-yaml`"
        listed = task_config(name.removesuffix(".yaml"))["metric_list"]
        assert [
            {**entry, "aggregation": f"{entry['aggregation'].__module__}.{entry['aggregation'].__name__}"}
            for entry in listed
        ] == metric_list(task)
    assert main(["--check"]) == 0
    # a stale copy is found, named, and rewritten
    for name in YAML_FILES.values():
        (tmp_path / name).write_text(
            (SOURCE_TASKS_DIR / name).read_text().replace('"rate_safe@all"', '"x@all"')
        )
    assert main(["--check", "--tasks-dir", str(tmp_path)]) == 1
    assert "siuo_gen.yaml: stale metric_list" in capsys.readouterr().err
    assert main(["--tasks-dir", str(tmp_path)]) == 0
    assert (tmp_path / "siuo_gen.yaml").read_text() == (SOURCE_TASKS_DIR / "siuo_gen.yaml").read_text()
    assert MARKER in (tmp_path / "siuo_mcqa.yaml").read_text()


def test_every_task_and_group_yaml_loads_with_its_functions():
    names = sorted(path.name for path in SOURCE_TASKS_DIR.glob("*.yaml"))
    assert names == [
        "siuo.yaml",
        "siuo_gen.yaml",
        "siuo_gen_text.yaml",
        "siuo_mcqa.yaml",
        "siuo_mcqa_text.yaml",
        "siuo_text.yaml",
    ]
    for name in names:
        config = task_config(name.removesuffix(".yaml"))  # imports every !function
        assert config.get("task") or config.get("group")
    assert task_config("siuo_gen_text")["process_results"].__name__ == "gen_text_process_results"
    assert (SOURCE_TASKS_DIR / "README.md").is_file()


needs_install = pytest.mark.skipif(
    installed_tasks_dir() is None,
    reason=(
        "needs the regular install `make install` builds (lmms_eval/tasks/siuo/); an editable install or a "
        "PYTHONPATH checkout has only --include_path"
    ),
)


def plain_env(data_dir) -> dict:
    """No PYTHONPATH (the installed package answers), no task path; SIUO_DATA_DIR only locates the data."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SIUO_JUDGE_CONFIG")}
    return dict(env, SIUO_DATA_DIR=str(data_dir))


@needs_install
def test_the_installed_task_folder_is_the_source_folder():
    installed = installed_tasks_dir()
    for path in SOURCE_TASKS_DIR.iterdir():
        if path.is_file():
            assert (installed / path.name).read_bytes() == path.read_bytes(), f"stale install: {path.name}"


@pytest.mark.e2e
@needs_install
def test_plain_lmms_eval_lists_and_runs_the_tasks_from_any_folder(siuo_data_dir, tmp_path):
    listed = run_tool("lmms-eval", "--tasks", "list", env=plain_env(siuo_data_dir), cwd=tmp_path, timeout=600)
    shown = {line.strip().removeprefix("- ") for line in (listed.stdout + listed.stderr).splitlines()}
    assert {"siuo", "siuo_gen", "siuo_mcqa", "siuo_text", "siuo_gen_text", "siuo_mcqa_text"} <= shown
    from siuo_dataset import load_items

    with ScriptedServer(scripted_model("oracle", load_items(siuo_data_dir))) as model:
        run = run_tool(
            "lmms-eval",
            "--model",
            "openai",
            "--model_args",
            f"model=oracle,base_url={model.base_url},api_key=x",
            "--tasks",
            "siuo_mcqa",
            "--limit",
            "3",
            "--output_path",
            "out",
            env=plain_env(siuo_data_dir),
            cwd=tmp_path,
            timeout=600,
        )
        assert model.call_count == 3
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(next((tmp_path / "out").rglob("*_results.json")).read_text())
    assert results["results"]["siuo_mcqa"]["mcqa_accuracy@all,none"] == 100.0
    metrics = json.loads(next((tmp_path / "out" / "oracle").glob("*_siuo_mcqa.metrics.json")).read_text())
    assert metrics["accuracy"] == 100.0 and metrics["n_items"] == 3


def test_a_truncated_image_is_still_an_error_once_lmms_eval_is_imported(siuo_data_dir, tmp_path):
    """lmms-eval sets PIL's ImageFile.LOAD_TRUNCATED_IMAGES = True on import, as SiuoTask.download runs."""
    import lmms_eval.api.task  # noqa: F401 - sets the flag process-wide, as in an lmms-eval run
    from PIL import ImageFile

    from siuo_dataset import SiuoDataError, load_items

    assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    bad = tmp_path / "bad"
    (bad / "images").mkdir(parents=True)
    for name in ("siuo_gen.json", "siuo_mcqa.json"):
        (bad / name).symlink_to(siuo_data_dir / name)
    for image in (siuo_data_dir / "images").iterdir():
        shutil.copyfile(image, bad / "images" / image.name)
    good = (siuo_data_dir / "images" / "S-01.png").read_bytes()
    (bad / "images" / "S-01.png").unlink()
    (bad / "images" / "S-01.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(SiuoDataError, match="S-01.png cannot be decoded"):
        load_items(bad)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # lmms-eval's setting is left as it found it


FAST_INDEX_CHECK = """
import sys, yaml
yaml.add_constructor("!function", lambda loader, node: (loader.name, loader.construct_scalar(node)))
assert yaml.full_load("x: 1") is not None and yaml.full_load.__module__ == "sitecustomize"
for path in sys.argv[1:]:
    with open(path, "rb") as one, open(path, "rb") as other:
        assert yaml.full_load(one) == yaml.load(other, Loader=yaml.FullLoader), path
print("same", len(sys.argv) - 1)
"""


def test_the_plain_runs_fast_task_index_parses_the_task_yamls_as_pyyaml_does(tmp_path):
    """tests/fakes/fast_task_index.py (the plain lmms-eval runs' sitecustomize): libyaml's parser, lmms-eval's
    !function constructor (which reads the file's name from the loader), the same objects as PyYAML's
    FullLoader for every SIUO task YAML."""
    yamls = sorted(str(path) for path in SOURCE_TASKS_DIR.iterdir() if "yaml" in path.name)
    env = with_fast_task_index(dict(os.environ), tmp_path / "site")
    result = run_tool("python", "-c", FAST_INDEX_CHECK, *yamls, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["same", str(len(yamls))]
