"""One lmms-eval process for several models: ``python -m siuo_task.lmms.config_run CONFIG`` runs lmms-eval's
own CLI on a ``--config`` file holding one entry per model, so lmms-eval's import (torch, transformers: ~8 s
of CPU) is paid once, and its task index (``TaskManager``, rebuilt by lmms-eval for every entry) is built
once and shared by the entries that ask for the same one."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    import lmms_eval.__main__ as cli

    built: dict[str, object] = {}
    task_manager = cli.TaskManager

    def shared_task_manager(*args, **kwargs):
        key = repr((args, sorted(kwargs.items())))
        if key not in built:
            built[key] = task_manager(*args, **kwargs)
        return built[key]

    cli.TaskManager = shared_task_manager
    sys.argv = ["lmms_eval", "--config", *argv]
    cli.cli_evaluate()


if __name__ == "__main__":
    main(sys.argv[1:])
