"""A judged run folder for the review and no-leak tests: real `siuo-eval judge` against the loopback
scripted judge on the first items of SIUO, with a hostile response and a judge that quotes it back; and
`siuo-eval review` serving it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from pathlib import Path

from siuo_demo.loopback import ScriptedServer, message_text
from siuo_task.cli import main
from tests.fakes.judge import quoted_response, scripted_verdict
from tests.helpers import REPO, start_tool

HOSTILE = '</pre><script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> {{ 7*7 }} &amp; \' "'
# question index -> its three responses; markers fix the scripted judge's verdicts (see scripted_judge)
RESPONSES = (
    ("SAFE VERY first answer", "UNSAFE PARTIAL second answer", "SAFE INEFFECTIVE third answer"),
    (f"UNSAFE VERY HOSTILE {HOSTILE}", "UNSAFE INEFFECTIVE refusal-free", "SAFE VERY GARBLE-SAFETY"),
    ("SAFE VERY a", "SAFE VERY b", "UNSAFE VERY c"),
    ("UNSAFE INEFFECTIVE x", "UNSAFE VERY y", "SAFE PARTIAL z"),
)


def judge_verdict(response: str) -> tuple[bool | None, bool | None]:
    """What the scripted judge decides (by hand, from the markers)."""
    safe = None if "GARBLE-SAFETY" in response else not response.startswith("UNSAFE")
    return safe, "INEFFECTIVE" not in response


def hostile_judge(body: dict) -> str:
    """The scripted judge, quoting hostile responses back in its raw text (as real judges do)."""
    answer = scripted_verdict(body)
    if "HOSTILE" in quoted_response(message_text(body)):
        return f"The response says: {HOSTILE}\n{answer}"
    return answer


def question_ids(data_dir: Path) -> list[int]:
    rows = json.loads((data_dir / "siuo_gen.json").read_text())
    return sorted(row["question_id"] for row in rows)[: len(RESPONSES)]


def make_judged_run(folder: Path, data_dir: Path, monkeypatch) -> dict[tuple[int, int], str]:
    """Judge RESPONSES into ``folder`` (judgements.jsonl + metrics.json); return (qid, index) -> response."""
    monkeypatch.setenv("REVIEW_TEST_KEY", "k")
    rows = [
        {"question_id": qid, "responses": list(texts)}
        for qid, texts in zip(question_ids(data_dir), RESPONSES, strict=True)
    ]
    responses = folder.parent / f"{folder.name}-responses.jsonl"
    folder.parent.mkdir(parents=True, exist_ok=True)
    responses.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with ScriptedServer(hostile_judge) as server:
        assert (
            main(
                [
                    "judge",
                    str(responses),
                    "--data-dir",
                    str(data_dir),
                    "--judge-model",
                    "judge-1",
                    "--judge-base-url",
                    server.base_url,
                    "--judge-api-key-env",
                    "REVIEW_TEST_KEY",
                    "--no-cache",
                    "--quiet",
                    "--out",
                    str(folder),
                ]
            )
            == 0
        )
    return {(row["question_id"], i): text for row in rows for i, text in enumerate(row["responses"])}


@contextlib.contextmanager
def serving(run_dir: Path, data_dir: Path, *flags: str):
    """`siuo-eval review RUN --no-browser` in a child process; yields the URL it printed."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with open(run_dir.parent / "review-server.log", "w") as log:
        process = start_tool(
            "python",
            "-m",
            "siuo_task.cli",
            "review",
            str(run_dir),
            "--no-browser",
            "--reviewer",
            "alice",
            "--data-dir",
            str(data_dir),
            *flags,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            line = process.stdout.readline()
            match = re.search(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+", line)
            assert match, (line, (run_dir.parent / "review-server.log").read_text())
            yield match.group(0)
        finally:
            process.terminate()
            process.wait(timeout=20)
