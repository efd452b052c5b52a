"""Every hint names a fix that works where it is shown (#21 item 4): each error path below prints a hint;
every `--flag` in it must be a flag of the command that printed it or of a command the hint names (`siuo-data
build ...`), and every `keyword=` in a Python API error must be a parameter of the function raised from."""

from __future__ import annotations

import argparse
import importlib
import inspect
import re

import pytest

import siuo_dataset
from siuo_dataset import cli as data_cli
from siuo_dataset.errors import SiuoError
from siuo_dataset.publish import build_folder
from siuo_task import cli as eval_cli
from siuo_task.cli import lmms_eval
from tests.helpers import REPO

COMMAND = re.compile(r"\b(siuo-data|siuo-eval)(?: ([a-z][a-z-]+))?")
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9_-]*)")
KEYWORD = re.compile(r"\b([a-z_]+)=True\b")


def flags_of(program: str, sub: str | None) -> set[str]:
    """The option strings of ``program sub`` (the lmms-eval wrapper when siuo-eval has no subcommand)."""
    if program == "siuo-data":
        parser = data_cli.build_parser()
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = subparsers.choices.get(sub, parser)
    elif sub in eval_cli.SUBCOMMANDS:
        parser = argparse.ArgumentParser()
        importlib.import_module(eval_cli.SUBCOMMANDS[sub][0]).add_arguments(parser)
    else:
        parser = lmms_eval.build_parser()
    return {option for action in parser._actions for option in action.option_strings}


def assert_hint_works(message: str, program: str, sub: str | None) -> None:
    allowed = flags_of(program, sub)
    for named_program, named_sub in COMMAND.findall(message):
        allowed |= flags_of(named_program, named_sub or None)
    flags = FLAG.findall(message)
    assert flags, f"no flag in the hint: {message}"
    for flag in flags:
        assert flag in allowed, f"{program} {sub or ''}: hint names {flag}, which it does not have: {message}"


def run(main, argv: list[str], capsys) -> str:
    assert main(argv) != 0
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.fixture
def placeholder_build(siuo_data_dir, tmp_path):
    return build_folder(siuo_dataset.load_siuo(siuo_data_dir), tmp_path / "siuo-hf")


def test_every_cli_hint_names_a_flag_that_exists(
    shared_siuo, placeholder_build, tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("SIUO_DATA_DIR", raising=False)
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    bare = str(shared_siuo)  # annotations, no images
    responses = str(REPO / "siuo_task" / "examples" / "responses.jsonl")
    judge = ["--judge-model", "j", "--judge-base-url", "http://127.0.0.1:9/v1", "--no-cache", "--quiet"]
    cases = [
        (data_cli.main, "siuo-data", ["validate", "--data-dir", bare], "--allow-missing-images"),
        (
            data_cli.main,
            "siuo-data",
            ["build", "--data-dir", bare, "--out", str(tmp_path / "b")],
            "placeholders",
        ),
        (
            data_cli.main,
            "siuo-data",
            ["push", str(placeholder_build), "--repo", "o/n"],
            "--allow-placeholders",
        ),
        (data_cli.main, "siuo-data", ["push", str(tmp_path), "--repo", "o/n", "--dry-run"], "build --out"),
        (
            eval_cli.main,
            "siuo-eval",
            ["judge", responses, "--data-dir", bare, *judge, "--out", str(tmp_path / "j")],
            "--text-only",
        ),
        (
            eval_cli.main,
            "siuo-eval",
            [
                "judge",
                responses,
                "--data-dir",
                bare,
                "--text-only",
                "--judge-model",
                "j",
                "--judge-base-url",
                "https://judge.invalid/v1",
                "--judge-api-key-env",
                "NO_SUCH_KEY",
                "--no-cache",
                "--quiet",
                "--out",
                str(tmp_path / "k"),
            ],
            "--judge-api-key-env",
        ),
        (eval_cli.main, "siuo-eval", ["--model", "openai"], "--tasks"),
    ]
    for main, program, argv, fragment in cases:
        message = run(main, argv, capsys)
        assert fragment in message, message
        sub = argv[0] if not argv[0].startswith("-") else None
        assert_hint_works(message, program, sub)


def test_every_python_hint_names_a_keyword_of_its_function(shared_siuo):
    from siuo_task.lmms.task_data import _load

    for function, call in (
        (siuo_dataset.load, lambda: siuo_dataset.load("generation", shared_siuo)),
        (siuo_dataset.load_items, lambda: siuo_dataset.load_items(shared_siuo)),
        (siuo_dataset.load_siuo, lambda: siuo_dataset.load_siuo(shared_siuo)),
    ):
        with pytest.raises(SiuoError) as raised:
            call()
        message = str(raised.value)
        keywords = KEYWORD.findall(message)
        assert keywords and not FLAG.findall(message), message  # a keyword, never a CLI flag
        assert set(keywords) <= set(inspect.signature(function).parameters), message
    with pytest.raises(SiuoError) as raised:  # inside an lmms-eval image task: the flag of siuo-eval
        _load.__wrapped__(str(shared_siuo), False)
    assert_hint_works(str(raised.value), "siuo-eval", None)
