"""Packages of the siuo distribution (metadata: pyproject.toml).

The lmms-eval task folder ``siuo_task/lmms/tasks/`` is installed as ``lmms_eval/tasks/siuo/``: lmms-eval 0.7.3
indexes tasks only by walking its own ``lmms_eval/tasks/`` folder (plus ``--include_path``), so that is where
a plain ``lmms-eval --tasks siuo`` finds them. The files belong to this distribution (its RECORD): ``pip
uninstall siuo`` removes them, and reinstalling or upgrading lmms-eval leaves them alone. No lmms-eval file is
touched. Only a regular (non-editable) install copies them there; an editable install keeps
``--include_path``.
"""

from setuptools import find_packages, setup

TASKS_PACKAGE = "lmms_eval.tasks.siuo"

setup(
    packages=[*find_packages(include=["siuo_dataset*", "siuo_task*", "siuo_demo*"]), TASKS_PACKAGE],
    package_dir={TASKS_PACKAGE: "siuo_task/lmms/tasks"},
    package_data={
        "siuo_task": ["review/templates/*.html", "review/static/*", "examples/*.jsonl", "examples/README.md"],
        TASKS_PACKAGE: ["*.yaml", "_default_template_yaml", "README.md"],
    },
)
