"""End to end through REAL Inspect AI: ``inspect eval siuo_task/...`` (the CLI, from a folder outside the
repository, finding the tasks through the entry point) against loopback OpenAI-compatible servers
(``openai-api/<service>/<model>``, the base URL in ``<SERVICE>_BASE_URL``; no network, no real key), a
scripted model and a scripted judge. Checked: what the servers received, the log's scores, the run files
beside the log, and that ``siuo-eval report`` shows an lmms-eval run and an Inspect run of the same scripted
answers with the same figures."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log
from PIL import Image

import siuo_dataset
from siuo_demo.loopback import Fault, ScriptedServer, message_images, message_text
from siuo_demo.scripted_models import MCQA_MARKER, scripted_model
from siuo_task.protocol.judge_prompts import PROMPT_VERSION
from siuo_task.protocol.model_prompts import MODEL_CONTENT_ORDER
from siuo_task.records import row_fingerprint
from siuo_task.runs import load_judged_run, read_runs
from siuo_task.scoring.labels import append_review, review_line
from tests.fakes.judge import is_safety_prompt, judge_flags, oracle_judge_verdict, quoted_response
from tests.helpers import run_tool

pytestmark = pytest.mark.e2e
LIMIT = 3
MODEL = "openai-api/loop/oracle"  # the loopback model through Inspect's OpenAI-compatible provider
SECRETS = ("loop-key-never-written", "judge-key-never-written")


@pytest.fixture(scope="module")
def items(siuo_data_dir):
    return siuo_dataset.load_items(siuo_data_dir)


def distractor(item) -> str:
    return item.options[next(letter for letter in "ABCD" if letter != item.correct_option)].strip()


def oracle_but_one(items):
    """The oracle, except that the second item always gets a distractor (deterministic, so both harnesses
    collect the same responses at the same indices)."""
    oracle = scripted_model("oracle", items)
    second = items[1]

    def respond(body):
        text = message_text(body)
        if MCQA_MARKER not in text and second.question in text and message_images(body):
            return distractor(second)
        return oracle(body)

    return respond


@pytest.fixture(scope="module")
def judge_server(items):
    """Safe iff the response is the item's reference answer or correct option; always effective."""
    with ScriptedServer(oracle_judge_verdict(items)) as server:
        yield server


def env_for(data_dir: Path, model: ScriptedServer, judge: ScriptedServer | None = None) -> dict:
    env = dict(
        os.environ,
        SIUO_DATA_DIR=str(data_dir),
        LOOP_BASE_URL=model.base_url,
        LOOP_API_KEY="loop-key-never-written",
        E2E_JUDGE_KEY="judge-key-never-written",
    )
    if judge is not None:  # Inspect's grader model role on the scripted judge
        env.update(JUDGE_BASE_URL=judge.base_url, JUDGE_API_KEY="judge-key-never-written")
    return env


def inspect_eval(task: str, log_dir: Path, env: dict, *args: str, cwd: Path, limit: int = LIMIT):
    result = run_tool(
        "inspect",
        "eval",
        f"siuo_task/{task}",
        "--model",
        MODEL,
        "--limit",
        str(limit),
        "--log-dir",
        str(log_dir),
        "--display",
        "plain",
        *args,
        env=env,
        cwd=cwd,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result


def judge_params(judge_server, cache: Path) -> list[str]:
    return [
        "-T",
        "judge_model=scripted-judge",
        "-T",
        f"judge_base_url={judge_server.base_url}",
        "-T",
        "judge_api_key_env=E2E_JUDGE_KEY",
        "-T",
        f"judge_cache={cache}",
    ]


@pytest.fixture(scope="module")
def both_runs(items, siuo_data_dir, judge_server, tmp_path_factory):
    """The same scripted model and judge through Inspect (siuo_gen, siuo_mcqa) and through lmms-eval."""
    out = tmp_path_factory.mktemp("harnesses")
    elsewhere = tmp_path_factory.mktemp("cwd")  # not the repository: the installed package is what runs
    with ScriptedServer(oracle_but_one(items)) as model:
        env = env_for(siuo_data_dir, model)
        calls_before = judge_server.call_count
        gen = inspect_eval(
            "siuo_gen", out / "inspect", env, *judge_params(judge_server, out / "i.sqlite"), cwd=elsewhere
        )
        inspect_judge_requests = judge_server.requests[calls_before:]
        gen_requests = list(model.requests)
        mcqa = inspect_eval("siuo_mcqa", out / "inspect", env, cwd=elsewhere)
        mcqa_requests = model.requests[len(gen_requests) :]
    with ScriptedServer(oracle_but_one(items)) as model:
        lmms = run_tool(
            "siuo-eval",
            "--model",
            "openai",
            "--model_args",
            f"model=oracle,base_url={model.base_url},api_key=x",
            "--tasks",
            "siuo_gen,siuo_mcqa",
            "--limit",
            str(LIMIT),
            "--output_path",
            str(out / "lmms"),
            *judge_flags(judge_server, out / "l.sqlite"),
            env=env_for(siuo_data_dir, model),
            cwd=elsewhere,
        )
    assert lmms.returncode == 0, lmms.stderr[-3000:]
    return {
        "out": out,
        "gen_requests": gen_requests,
        "mcqa_requests": mcqa_requests,
        "judge_requests": inspect_judge_requests,
        "output": gen.stdout + gen.stderr + mcqa.stdout + mcqa.stderr,
    }


def test_generation_sends_image_and_question_in_one_turn_three_times_at_temperature_1(
    both_runs, items, siuo_data_dir
):
    requests = both_runs["gen_requests"]
    assert len(requests) == LIMIT * 3  # 3 epochs: 3 sampled responses per item
    for body in requests:
        (message,) = body["messages"]
        assert message["role"] == "user"
        assert [part["type"] for part in message["content"]] == [
            {"image": "image_url", "text": "text"}[kind] for kind in MODEL_CONTENT_ORDER
        ]
        assert body["temperature"] == 1.0 and body.get("top_p") == 1.0
        assert body.get("max_tokens", body.get("max_completion_tokens")) == 500
    by_question = {item.question: item for item in items[:LIMIT]}
    asked = sorted(message_text(body) for body in requests)
    assert asked == sorted([item.question for item in items[:LIMIT]] * 3)
    for body in requests:
        item = by_question[message_text(body)]
        (image,) = message_images(body)
        sent = Image.open(io.BytesIO(image)).convert("RGB")
        expected = Image.open(siuo_data_dir / "images" / item.image_name).convert("RGB")
        assert sent.size == expected.size and sent.tobytes() == expected.tobytes()


def test_mcqa_asks_the_protocol_prompt_once_at_temperature_0(both_runs):
    requests = both_runs["mcqa_requests"]
    assert len(requests) == LIMIT
    assert all(body["temperature"] == 0 and MCQA_MARKER in message_text(body) for body in requests)
    assert all(len(message_images(body)) == 1 for body in requests)


def test_the_judge_got_both_questions_per_response_text_then_image(both_runs):
    requests = both_runs["judge_requests"]
    folder = both_runs["out"] / "inspect" / "openai-api__loop__oracle"
    summary = json.loads(next(folder.glob("*_siuo_gen.metrics.json")).read_text())["summary"]
    # every response, both questions; an epoch repeating an answer already judged is a hit of the judge cache
    assert summary["calls"] == LIMIT * 3 * 2 == summary["calls_made"] + summary["cache_hits"]
    assert len(requests) == summary["calls_made"] and summary["errors"] == 0
    asked = {(is_safety_prompt(message_text(body)), quoted_response(message_text(body))) for body in requests}
    assert len(asked) == LIMIT * 2  # each item's (one) answer asked both questions
    for body in requests:
        (message,) = body["messages"]
        assert [part["type"] for part in message["content"]] == ["text", "image_url"]
        assert body["model"] == "scripted-judge" and body["temperature"] == 0


def logs(folder: Path) -> dict:
    found = [read_eval_log(path) for path in folder.glob("*.eval")]
    return {log.eval.task.rsplit("/", 1)[-1]: log for log in found}


def test_the_log_holds_the_figures_and_every_epochs_verdicts(both_runs, items):
    found = logs(both_runs["out"] / "inspect")
    gen, mcqa = found["siuo_gen"], found["siuo_mcqa"]
    assert gen.eval.task == "siuo_task/siuo_gen" and gen.status == "success"
    (score,) = gen.results.scores
    figures = {name: metric.value for name, metric in score.metrics.items()}
    assert figures["safe"] == pytest.approx(66.67) and figures["effective"] == 100.0
    assert figures["safe_and_effective"] == pytest.approx(66.67) and figures["safe_n"] == 3
    assert len(gen.samples) == LIMIT * 3
    second = [s for s in gen.samples if s.id == items[1].question_id]
    assert [s.scores["siuo_judge"].value["safe"] for s in second] == [False] * 3
    assert {s.scores["siuo_judge"].metadata["judgement"]["response_index"] for s in second} == {0, 1, 2}
    (mcqa_score,) = mcqa.results.scores
    assert mcqa_score.metrics["accuracy"].value == 100.0


def test_run_files_sit_beside_the_log_with_the_judge_identity(both_runs):
    folder = both_runs["out"] / "inspect" / "openai-api__loop__oracle"
    metrics = json.loads(next(folder.glob("*_siuo_gen.metrics.json")).read_text())
    assert metrics["run"]["harness"] == "inspect" and metrics["run"]["model"] == MODEL
    assert (metrics["run"]["log"],) == tuple(
        p.name for p in (both_runs["out"] / "inspect").glob("*.eval") if "siuo-gen" in p.name
    )
    assert metrics["judge"]["model"] == "scripted-judge"
    assert metrics["judge"]["prompt_version"] == PROMPT_VERSION
    assert metrics["n_items"] == LIMIT and metrics["data"]["n_items"] == 167 and metrics["judge_errors"] == 0
    rows = [json.loads(line) for line in next(folder.glob("*_siuo_gen.rows.jsonl")).open()]
    assert len(rows) == LIMIT * 3 and all(row["judge"] == metrics["judge"] for row in rows)
    assert load_judged_run(folder).metrics["safe"] == metrics["safe"]  # what review and rescore read


def test_an_inspect_run_and_an_lmms_eval_run_give_the_same_figures_in_one_report(both_runs, siuo_data_dir):
    out = both_runs["out"]
    runs = {run.name: run for folder in ("lmms", "inspect") for run in read_runs(out / folder).runs}
    assert set(runs) == {"oracle", MODEL}
    lmms, inspect = runs["oracle"], runs[MODEL]
    for task, keys in {
        "siuo_gen": ("safe", "effective", "safe_and_effective", "ci95", "per_domain", "per_item", "n_items"),
        "siuo_mcqa": ("accuracy", "ci95", "per_domain", "per_item", "n_items", "parsers"),
    }.items():
        for key in keys:
            assert inspect.tasks[task][key] == lmms.tasks[task][key], (task, key)
    report = run_tool(
        "siuo-eval", "report", str(out / "lmms"), str(out / "inspect"), "--out", str(out / "report")
    )
    assert report.returncode == 0, report.stderr[-3000:]
    text = (out / "report" / "report.md").read_text()
    cells = {
        name: [line.split("|", 2)[2] for line in text.splitlines() if line.startswith(f"| {name} (3 of 167")]
        for name in ("oracle", MODEL)
    }
    assert cells["oracle"] and cells["oracle"] == cells[MODEL]
    agree = run_tool(
        "siuo-eval",
        "agree",
        str(next((out / "lmms").rglob("*_siuo_gen.rows.jsonl"))),
        str(next((out / "inspect").rglob("*_siuo_gen.rows.jsonl"))),
    )
    assert agree.returncode == 0, agree.stderr[-3000:]


def test_no_key_is_written(both_runs):
    for path in both_runs["out"].rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not [secret for secret in SECRETS if secret.encode() in content], path
    assert not [secret for secret in SECRETS if secret in both_runs["output"]]


def test_the_grader_role_judges_when_no_judge_is_given_and_is_named(
    items, siuo_data_dir, judge_server, tmp_path
):
    before = judge_server.call_count
    with ScriptedServer(oracle_but_one(items)) as model:
        env = env_for(siuo_data_dir, model, judge_server)
        inspect_eval(
            "siuo_gen",
            tmp_path / "logs",
            env,
            "--model-role",
            "grader=openai-api/judge/scripted-judge",
            "-T",
            "judge_cache=none",
            cwd=tmp_path,
            limit=2,
        )
    assert judge_server.call_count - before == 2 * 3 * 2
    metrics = json.loads(next((tmp_path / "logs").rglob("*_siuo_gen.metrics.json")).read_text())
    assert metrics["judge"]["backend"] == "inspect" and not metrics["judge"]["approximate"]
    assert metrics["judge"]["model"] == "openai-api/judge/scripted-judge"
    assert metrics["safe"] == 50.0 and metrics["effective"] == 100.0


def test_without_a_judge_the_offline_judge_decides_labelled_approximate_and_blind_runs_send_no_image(
    items, siuo_data_dir, tmp_path
):
    with ScriptedServer(scripted_model("oracle", items)) as model:
        env = env_for(siuo_data_dir, model)
        result = inspect_eval("siuo_gen_text", tmp_path / "logs", env, cwd=tmp_path, limit=1)
        requests = list(model.requests)
    assert len(requests) == 3 and not any(message_images(body) for body in requests)
    assert "APPROXIMATE" in result.stderr
    (log,) = logs(tmp_path / "logs").values()
    assert log.status == "success"
    metrics = json.loads(next((tmp_path / "logs").rglob("*_siuo_gen_text.metrics.json")).read_text())
    assert metrics["judge"]["backend"] == "offline" and metrics["judge"]["approximate"] is True
    assert metrics["data"]["placeholder_images"] == 0  # the model saw no image


def test_a_failing_model_leaves_its_log_and_no_figures(siuo_data_dir, tmp_path):
    """Failures never become scores: a model endpoint refusing every request gives an error log, no run
    files."""
    with ScriptedServer(lambda body: Fault(status=400)) as model:
        result = run_tool(
            "inspect",
            "eval",
            "siuo_task/siuo_mcqa",
            "--model",
            MODEL,
            "--limit",
            "2",
            "--log-dir",
            str(tmp_path / "logs"),
            "--display",
            "plain",
            env=env_for(siuo_data_dir, model),
            cwd=tmp_path,
        )
    (log,) = logs(tmp_path / "logs").values()
    assert log.status == "error", result.stdout[-2000:]
    assert not list((tmp_path / "logs").rglob("*.metrics.json"))


def test_review_labels_rescore_and_validate_judge_work_on_an_inspect_run(both_runs, siuo_data_dir, items):
    """A human label on an Inspect run's response (as the review page appends it), then `siuo-eval rescore`
    and `siuo-eval validate-judge --reviews` on the run's folder, as on any judged run."""
    folder = both_runs["out"] / "inspect" / "openai-api__loop__oracle"
    judged = load_judged_run(folder)
    row = next(r for r in judged.judgements if r["question_id"] == items[0].question_id)
    label = review_line(
        row["question_id"], row["response_index"], "safety", False, reviewer="alice",
        time="2026-01-01T00:00:00", fingerprint=row_fingerprint(row, "safety"),
    )  # fmt: skip
    append_review(folder / "reviews.jsonl", label)
    checked = both_runs["out"] / "checked"
    rescore = run_tool("siuo-eval", "rescore", str(folder), "--out", str(checked))
    assert rescore.returncode == 0, rescore.stderr[-3000:]
    metrics = json.loads((checked / "metrics.json").read_text())
    assert metrics["judge_figures"]["safe"] == pytest.approx(66.67)
    assert metrics["safe"] == pytest.approx(66.67)  # 1 of 3 responses relabelled: the majority stands
    validation = run_tool(
        "siuo-eval",
        "validate-judge",
        "--reviews",
        str(folder),
        "--out",
        str(both_runs["out"] / "validation"),
        "--safety-only",
        "--judge",
        "offline",
        "--data-dir",
        str(siuo_data_dir),
    )
    assert validation.returncode == 0, validation.stderr[-3000:]
    assert "[human labels, safety] judge: 1 judgements" in validation.stderr
    assert (both_runs["out"] / "validation" / "validation.json").is_file()


def test_failed_judge_calls_leave_inspects_rates_empty_and_the_run_incomplete(items, siuo_data_dir, tmp_path):
    with (
        ScriptedServer(scripted_model("oracle", items)) as model,
        ScriptedServer(lambda body: Fault(status=500)) as judge,
    ):
        env = env_for(siuo_data_dir, model)
        params = [*judge_params(judge, tmp_path / "cache.sqlite"), "-T", "judge_max_retries=0"]
        inspect_eval("siuo_gen", tmp_path / "logs", env, *params, cwd=tmp_path, limit=1)
    (log,) = logs(tmp_path / "logs").values()
    (score,) = log.results.scores
    assert {name: metric.value for name, metric in score.metrics.items()} == {"judge_errors": 6.0}
    metrics = json.loads(next((tmp_path / "logs").rglob("*_siuo_gen.metrics.json")).read_text())
    assert metrics["judge_errors"] == 6 and metrics["complete"] is False


PYTHON_API = """
import sys
from inspect_ai import eval
from siuo_task.inspect.tasks import siuo_mcqa

(log,) = eval(siuo_mcqa(paper_compat=True), model=sys.argv[1], limit=2, log_dir=sys.argv[2], display="none")
print("STATUS", log.status, log.results.scores[0].metrics["accuracy"].value)
"""


def test_the_python_api_runs_a_task_and_writes_its_run_files(items, siuo_data_dir, tmp_path):
    with ScriptedServer(scripted_model("always_a", items)) as model:
        env = env_for(siuo_data_dir, model)
        result = run_tool("python", "-c", PYTHON_API, MODEL, str(tmp_path / "logs"), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = 100 * sum(item.correct_option == "A" for item in items[:2]) / 2
    assert f"STATUS success {expected}" in result.stdout
    metrics = json.loads(next((tmp_path / "logs").rglob("*_siuo_mcqa.metrics.json")).read_text())
    assert metrics["accuracy"] == expected and metrics["paper_compat"] is True and metrics["guessed"] == 0
