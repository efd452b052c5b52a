"""``siuo-eval``: one entry point, one module per subcommand.

``siuo-eval SUBCOMMAND ...`` runs a subcommand; anything else (``siuo-eval --model ... --tasks siuo``)
is passed to lmms-eval with our tasks folder added. Every user-fixable error is one line on stderr
and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from siuo_dataset.errors import run_cli
from siuo_task.redact import redact

# subcommand -> module defining add_arguments(parser) and run(args) -> int
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "judge": ("siuo_task.cli.judge", "judge generation responses and compute SIUO metrics"),
    "score-mcqa": ("siuo_task.cli.score_mcqa", "score MCQA answers"),
    "baselines": ("siuo_task.cli.baselines", "MCQA surface baselines that never look at the image"),
    "validate-judge": ("siuo_task.cli.validate_judge", "measure a judge on the labelled MCQA options"),
    "agree": ("siuo_task.cli.agree", "agreement between two judges' judgements.jsonl"),
    "review": ("siuo_task.cli.review", "review and override judge verdicts in a local web page"),
    "rescore": ("siuo_task.cli.rescore", "human-checked figures and judge-vs-human agreement"),
    "report": ("siuo_task.cli.report", "write report.md and report.html from run folders"),
    "examples": ("siuo_task.cli.examples", "copy the example input files (made-up responses) into a folder"),
    "tasks-path": ("siuo_task.cli.tasks_path", "print the lmms-eval tasks folder (for --include_path)"),
}
LMMS_COMMAND = "siuo_task.cli.lmms_eval"
PROG = "siuo-eval"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return run_cli(
        PROG,
        lambda: dispatch(argv),
        interrupted="interrupted; finished work is kept, re-run the same command to resume",
        scrub=redact,
    )


def dispatch(argv: list[str]) -> int:
    """Run the subcommand ``argv`` names, or hand ``argv`` to lmms-eval."""
    if argv and argv[0] in SUBCOMMANDS:
        module_name, help_text = SUBCOMMANDS[argv[0]]
        module = importlib.import_module(module_name)
        parser = argparse.ArgumentParser(prog=f"{PROG} {argv[0]}", description=help_text)
        module.add_arguments(parser)
        args = parser.parse_args(argv[1:])
        args.command_line = [PROG, *argv]  # for a hint that repeats the command with one flag more
        return module.run(args)
    if not argv or argv[0] in ("-h", "--help"):
        _print_help()
        return 0 if argv else 2
    return importlib.import_module(LMMS_COMMAND).main(argv)


def _print_help() -> None:
    print("usage: siuo-eval SUBCOMMAND [options]   or   siuo-eval --model M --tasks siuo [lmms-eval flags]\n")
    for name, (_, help_text) in SUBCOMMANDS.items():
        print(f"  {name:<15} {help_text}")
    print("\nRun 'siuo-eval SUBCOMMAND --help' for its options.")
