"""The one CLI tail (siuo_dataset.errors.run_cli) that siuo-eval and siuo-data share."""

from __future__ import annotations

import pytest

from siuo_dataset.errors import SiuoError, run_cli
from siuo_task import cli


def fails(error: BaseException):
    def action() -> int:
        raise error

    return action


@pytest.mark.parametrize(
    "error, status, line",
    [
        (SiuoError("bad\n  input — fix it"), 2, "prog: error: bad input — fix it"),
        (FileNotFoundError(2, "No such file", "x.json"), 2, "prog: error: [Errno 2] No such file: 'x.json'"),
        (KeyboardInterrupt(), 130, "prog: interrupted"),
        (
            RuntimeError("a bug"),
            1,
            "prog: internal error: RuntimeError: a bug (rerun with SIUO_DEBUG=1 for the traceback)",
        ),
    ],
)
def test_each_failure_is_one_line_and_its_status(capsys, monkeypatch, error, status, line):
    monkeypatch.delenv("SIUO_DEBUG", raising=False)
    assert run_cli("prog", fails(error)) == status
    assert capsys.readouterr().err == line + "\n"


def test_debug_shows_the_traceback_of_a_bug(monkeypatch):
    monkeypatch.setenv("SIUO_DEBUG", "1")
    with pytest.raises(RuntimeError):
        run_cli("prog", fails(RuntimeError("a bug")))


def test_siuo_eval_uses_it(capsys, monkeypatch):
    monkeypatch.delenv("SIUO_DEBUG", raising=False)
    monkeypatch.setattr(cli, "dispatch", lambda argv: fails(RuntimeError(" ".join(argv)))())
    assert cli.main(["judge", "x"]) == 1
    assert capsys.readouterr().err == (
        "siuo-eval: internal error: RuntimeError: judge x (rerun with SIUO_DEBUG=1 for the traceback)\n"
    )
    monkeypatch.setattr(cli, "dispatch", lambda argv: fails(KeyboardInterrupt())())
    assert cli.main(["judge"]) == 130 and "re-run the same command to resume" in capsys.readouterr().err
