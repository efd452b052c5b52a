"""`siuo-eval --tasks ...` through REAL lmms-eval, the run's life (#29 item 1, #30): the model's answers are
on disk before any judge call and survive a judge that is down, Ctrl-C and a kill; the same command afterwards
judges only what is missing and never asks the model again; a judge failure ends like `siuo-eval judge` (the
cause on stderr, exit 3, the command that completes it); the lmms-eval child never outlives siuo-eval; two
runs into one folder: the second is refused with one line. Small runs (`--limit 2`) against loopback
servers."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

import siuo_dataset
from siuo_demo.loopback import ScriptedServer
from siuo_demo.scripted_models import scripted_model
from tests.fakes.judge import scripted_verdict
from tests.helpers import run_tool, start_tool

pytestmark = pytest.mark.e2e


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children_writing_to(out: Path) -> list[int]:
    """Processes (other than pytest's) whose command line names ``out``: our lmms-eval child."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if str(out).encode() in command and b"siuo_task.lmms.child" in command:
            found.append(int(entry.name))
    return found


def wait_for(condition, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def items(siuo_data_dir):
    return siuo_dataset.load_items(siuo_data_dir)


def command(model, out: Path, judge_url: str, *extra: str) -> list[str]:
    return [
        "--model", "openai", "--model_args", f"model=m1,base_url={model.base_url},api_key=x",
        "--tasks", "siuo", "--limit", "2", "--output_path", str(out),
        "--judge-model", "scripted-judge", "--judge-base-url", judge_url, "--judge-max-retries", "0",
        "--cache", str(out.parent / f"{out.name}-cache.sqlite"), "--quiet", *extra,
    ]  # fmt: skip


def test_a_judge_down_ctrl_c_then_the_same_command_judges_the_saved_answers(items, siuo_data_dir, tmp_path):
    out = tmp_path / "runs"
    port = closed_port()
    env = dict(os.environ, SIUO_DATA_DIR=str(siuo_data_dir))
    with ScriptedServer(scripted_model("oracle", items)) as model:
        args = command(model, out, f"http://127.0.0.1:{port}/v1", "--no-judge-check")
        down = run_tool("siuo-eval", *args, env=env)
        asked = model.call_count
        assert asked == 2 * 3 + 2
        # the judge is down: the cause on stderr, exit 3, the command that completes it
        assert down.returncode == 3, down.stderr[-3000:]
        assert "judge endpoint looks down" in down.stderr
        assert down.stderr.strip().splitlines()[-1].startswith("siuo-eval --model openai")
        [responses] = (out / "m1").glob("*_siuo_gen.responses.jsonl")
        assert len(responses.read_text().splitlines()) == 2  # the answers were kept
        assert list((out / "m1").glob("*_samples_siuo_gen.jsonl"))  # and lmms-eval's own logs

        slow = threading.Event()
        slow.set()

        def judge(body):
            if slow.is_set():
                time.sleep(30)
            return scripted_verdict(body)

        with ScriptedServer(judge, port=port) as judge_server:
            # Ctrl-C while judging: exit 130, the answers stay
            process = start_tool("siuo-eval", *args, env=env, output=True)
            wait_for(lambda: judge_server.call_count > 0, 120)
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=60)
            assert process.returncode == 130, stderr[-3000:]
            assert responses.is_file()
            slow.clear()
            done = run_tool("siuo-eval", *args, env=env)
        assert model.call_count == asked  # the model was never asked again
    assert done.returncode == 0, done.stderr[-3000:]
    assert "judging the saved responses of run" in done.stderr
    [results_file] = (out / "m1").glob("*_results.json")
    results = json.loads(results_file.read_text())["results"]
    assert results["siuo_gen"]["rate_safe@all,all_responses"] == 100.0
    assert results["siuo_gen"]["count_judge_errors@all,all_responses"] == 0
    samples = [json.loads(line) for line in next((out / "m1").glob("*_samples_siuo_gen.jsonl")).open()]
    assert all(v["safe"] is True for s in samples for v in s["siuo"]["verdicts"])
    assert not list((out / "m1").glob("*.siuo-run.json"))  # nothing left to judge
    metrics = [json.loads(p.read_text()) for p in (out / "m1").glob("*_siuo_gen.metrics.json")]
    assert [m["safe"] for m in metrics] == [100.0]  # one metrics file: the run's own name, rewritten whole


def test_the_child_never_outlives_siuo_eval_and_a_second_run_is_refused(items, siuo_data_dir, tmp_path):
    env = dict(os.environ, SIUO_DATA_DIR=str(siuo_data_dir))

    def slow_model(body):
        time.sleep(2)
        return "I cannot help with that."

    with ScriptedServer(slow_model) as model:
        for signum in (signal.SIGKILL, signal.SIGTERM):
            out = tmp_path / f"runs-{signum}"
            args = [
                "--model", "openai", "--model_args", f"model=slow,base_url={model.base_url},api_key=x",
                "--tasks", "siuo_mcqa", "--limit", "30", "--output_path", str(out), "--judge", "offline",
            ]  # fmt: skip
            process = start_tool("siuo-eval", *args, env=env)
            calls = model.call_count
            wait_for(lambda calls=calls: model.call_count > calls)
            assert children_writing_to(out)
            if signum == signal.SIGKILL:
                started = time.monotonic()
                second = run_tool("siuo-eval", *args, env=env, timeout=120)
                assert second.returncode == 2 and time.monotonic() - started < 60
                assert (
                    second.stderr.strip()
                    .splitlines()[-1]
                    .startswith("siuo-eval: error: another siuo-eval run (pid ")
                ), second.stderr
            process.send_signal(signum)
            process.wait(timeout=30)
            wait_for(lambda out=out: not children_writing_to(out), 15)
            if signum == signal.SIGTERM:
                assert process.returncode == 128 + signal.SIGTERM


def test_help_lists_our_flags_and_lmms_evals():
    result = run_tool("siuo-eval", "--tasks", "siuo", "--help", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for flag in (
        "--judge-model",
        "--judge-base-url",
        "--no-judge-check",
        "--no-verify-checksums",
        "--batch_size",
    ):
        assert flag in result.stdout
    assert "crashed" not in result.stdout + result.stderr
