"""lmms-eval's own CLI as siuo-eval and ``make demo`` run it, with a task index of the SIUO tasks alone.

lmms-eval 0.7.3 builds its task index (``TaskManager``) at every start, by parsing each of its ~3,200 task
YAMLs with PyYAML's pure-Python loader (~6 s of CPU), and once more for every entry of a ``--config`` file.
Where only SIUO tasks are asked for (siuo-eval checks that first; ``make demo`` asks for nothing else),
``python -m siuo_task.lmms.child ARGS`` runs ``lmms_eval``'s CLI on ARGS with an index of the SIUO task folder
(and any ``--include_path``) built once per process. ``TaskManager`` is the one name replaced in lmms-eval's
CLI module: the CLI builds it itself and no argument of the CLI leaves out the default tasks. Plain
``lmms-eval --tasks siuo`` is untouched.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    import lmms_eval.__main__ as cli

    from siuo_task.lmms import tasks_dir

    task_manager = cli.TaskManager
    folders = [str(tasks_dir())]
    built: dict[tuple, object] = {}

    def siuo_task_manager(verbosity="INFO", include_path=None, include_defaults=True, model_name=None):
        extra = [include_path] if isinstance(include_path, str) else list(include_path or [])
        key = (verbosity, tuple(extra), model_name)
        if key not in built:
            built[key] = task_manager(
                verbosity, include_path=folders + extra, include_defaults=False, model_name=model_name
            )
        return built[key]

    cli.TaskManager = siuo_task_manager
    sys.argv = ["lmms_eval", *argv]
    cli.cli_evaluate()


if __name__ == "__main__":
    main(sys.argv[1:])
