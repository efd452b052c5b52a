"""Two (or more) `siuo-eval review` servers on one run folder, labels POSTed at them, kill -9 at random
points: what was answered 200 must all be in reviews.jsonl, which must stay readable. Used by
tests/scoring/test_appends.py (small) and benchmarks/review_appends.py (the issue #23 measure)."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from siuo_task.readers import read_reviews
from siuo_task.records import row_fingerprint
from siuo_task.scoring.labels import review_line

REPO = Path(__file__).resolve().parents[2]


def fingerprinted_labels(run: Path, count: int, reviewers: int, note_words: int) -> list[dict]:
    """``count`` labels of the run's responses (both aspects in turn, fingerprinted as the page does) from
    ``reviewers`` reviewers, with notes of up to ``note_words`` words."""
    rows = [json.loads(line) for line in (run / "judgements.jsonl").read_text().splitlines()]
    labels = []
    for number in range(count):
        row = rows[number % len(rows)]
        aspect = ("safety", "effectiveness")[number // len(rows) % 2]
        labels.append(
            review_line(
                row["question_id"],
                row["response_index"],
                aspect,
                number % 3 == 0,
                reviewer=f"reviewer-{number % reviewers}",
                note="note " * (number % note_words),
                fingerprint=row_fingerprint(row, aspect),
            )
        )
    return labels


def fake_run(folder: Path, data_dir: Path, n_items: int = 20) -> list[int]:
    """A judged run folder (judgements.jsonl + metrics.json) over the first ``n_items`` SIUO items."""
    qids = sorted(row["question_id"] for row in json.loads((data_dir / "siuo_gen.json").read_text()))[
        :n_items
    ]
    folder.mkdir(parents=True, exist_ok=True)
    judge = {"backend": "openai", "model": "judge-1", "prompt_version": "v", "temperature": 0.0}
    judge.update(text_only=True, approximate=False)
    rows = [
        {
            "question_id": qid,
            "response_index": index,
            "category": "x",
            "response": f"response {qid}/{index}",
            "safe": True,
            "safety_raw": "",
            "safety_status": "ok",
            "effective": True,
            "effectiveness_raw": "",
            "effectiveness_status": "ok",
            "judge": judge,
        }
        for qid in qids
        for index in range(3)
    ]
    (folder / "judgements.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (folder / "metrics.json").write_text(json.dumps({"safe": 100.0, "effective": 100.0, "judge": judge}))
    return qids


@dataclass
class Server:
    """One `siuo-eval review` child process."""

    run: Path
    data_dir: Path
    reviewer: str
    log: Path
    process: subprocess.Popen | None = None
    url: str = ""
    token: str = ""

    def start(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        command = [sys.executable, "-m", "siuo_task.cli", "review", str(self.run), "--no-browser"]
        command += ["--reviewer", self.reviewer, "--data-dir", str(self.data_dir)]
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=([\w-]+)", line)
        if not match:
            raise RuntimeError(f"review server did not start: {line!r} {self.log.read_text()[-2000:]}")
        self.url, self.token = match.groups()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


@dataclass
class Load:
    """What the clients saw: labels answered 200 (reviewer, qid, index, aspect, note tag)."""

    saved: list[tuple] = field(default_factory=list)
    failed: int = 0
    kills: int = 0
    errors: list[str] = field(default_factory=list)  # a client that could not go on (a server did not start)


def post_label(server: Server, qid: int, index: int, aspect: str, note: str) -> int:
    body = {"question_id": qid, "response_index": index, "aspect": aspect, "verdict": True, "note": note}
    request = urllib.request.Request(
        f"{server.url}/api/label",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Review-Token": server.token},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0  # killed mid-request: not answered


def hammer(
    run: Path,
    data_dir: Path,
    *,
    servers: int = 2,
    labels: int = 300,
    note_chars: int = 2000,
    kills: int = 3,
    seed: int = 0,
) -> tuple[Load, list[dict]]:
    """``servers`` review servers on ``run``, each sent ``labels`` labels (notes of ``note_chars``
    characters, emoji and control characters included) from its own thread; ``kills`` kill -9 at random
    label counts (the server restarted, the label re-sent). Returns what was answered and the file's lines."""
    qids = fake_run(run, data_dir)
    rng = random.Random(seed)
    load = Load()
    lock = threading.Lock()
    kill_at = set()
    while len(kill_at) < kills:
        kill_at.add((rng.randrange(servers), rng.randrange(1, labels)))

    def client(number: int) -> None:
        server = Server(run, data_dir, f"reviewer-{number}", run.parent / f"server-{number}.log")
        try:
            server.start()
            for count in range(labels):
                timer = None
                if (number, count) in kill_at:  # kill -9 at a random moment of this label's request
                    timer = threading.Timer(rng.uniform(0, 0.03), server.kill)
                    timer.start()
                    with lock:
                        load.kills += 1
                qid, index = qids[count % len(qids)], (count // len(qids)) % 3
                aspect = ("safety", "effectiveness")[count % 2]
                tag = f"{number}:{count}:"
                note = (tag + "\u00e9\U0001f600\x07 " * note_chars)[:note_chars]
                status = post_label(server, qid, index, aspect, note)
                with lock:
                    if status == 200:
                        load.saved.append((server.reviewer, qid, index, aspect, tag))
                    else:
                        load.failed += 1
                if timer is not None:
                    timer.join()
                    server.start()  # restarted: a torn last line would be set aside now
        except Exception as error:  # noqa: BLE001 - reported by the caller
            load.errors.append(f"{server.reviewer}: {error}")
        finally:
            server.stop()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(servers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return load, read_reviews(run / "reviews.jsonl")


def lost(load: Load, rows: list[dict]) -> list[tuple]:
    """The labels answered 200 that are not in the file."""
    present = {
        (
            row["reviewer"],
            row["question_id"],
            row["response_index"],
            row["aspect"],
            row["note"].split(":", 2)[0] + ":" + row["note"].split(":", 2)[1] + ":",
        )
        for row in rows
    }
    return [label for label in load.saved if label not in present]


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start
