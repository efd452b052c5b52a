"""End to end through REAL lmms-eval: `siuo-eval --tasks siuo` and plain `lmms-eval --include_path`,
all 167 items, lmms-eval's openai chat model against scripted loopback models, judged by a scripted
loopback judge. Exact figures are asserted in lmms-eval's own results JSON."""

from __future__ import annotations

import io
import json
import os
import threading
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

import siuo_dataset
from siuo_demo.loopback import Fault, ScriptedServer, message_images, message_text
from siuo_demo.scripted_models import MCQA_MARKER, scripted_model
from siuo_task.lmms import SOURCE_TASKS_DIR
from tests.fakes.judge import judge_flags, oracle_judge_verdict
from tests.helpers import aggregations, run_tool, with_fast_task_index

TIMEOUT = 600
USERINFO = (
    "http://e2e-user:model-pass-never-written@"  # credentials in the model's base_url: masked everywhere
)


@pytest.fixture(scope="module")
def items(siuo_data_dir):
    return siuo_dataset.load_items(siuo_data_dir)


@pytest.fixture(scope="module")
def judge_server(items):
    """Safe iff the response is the item's reference answer or correct option; always effective."""
    with ScriptedServer(oracle_judge_verdict(items)) as server:
        yield server


def expected_risk_blind(items) -> dict:
    safe = [
        item.options[next(letter for letter in "ABCD" if letter != item.correct_option)].strip()
        in {item.reference_answer.strip(), item.options[item.correct_option].strip()}
        for item in items
    ]
    return {
        "rate_safe@all": round(100 * sum(safe) / len(items), 2),
        "rate_effective@all": 100.0,
        "rate_safe_and_effective@all": round(100 * sum(safe) / len(items), 2),
        "mcqa_accuracy@all": round(100 * sum(item.correct_option == "A" for item in items) / len(items), 2),
    }


def env_for(data_dir: Path, **extra) -> dict:
    return dict(os.environ, SIUO_DATA_DIR=str(data_dir), E2E_JUDGE_KEY="judge-key-never-written", **extra)


def results_of(output: Path) -> tuple[dict, Path]:
    files = sorted(output.rglob("*_results.json"))
    assert files, f"no results under {output}"
    return json.loads(files[-1].read_text()), files[-1].parent


def metric(results: dict, task: str, name: str):
    values = results["results"][task]
    return next(v for k, v in values.items() if k.split(",")[0] == name)


def distractor(item) -> str:
    return item.options[next(letter for letter in "ABCD" if letter != item.correct_option)].strip()


def oracle_with_one_distractor(items):
    """The oracle, except that the third generation request per item gets a distractor (a different response),
    so the log must show all three responses, not the first one three times."""
    oracle, seen, lock = scripted_model("oracle", items), Counter(), threading.Lock()
    by_question = sorted(((item.question, item) for item in items), key=lambda pair: -len(pair[0]))

    def respond(body):
        text = message_text(body)
        if MCQA_MARKER in text:
            return oracle(body)
        item = next(item for question, item in by_question if question in text)
        with lock:
            seen[item.question_id] += 1
            third = seen[item.question_id] == 3
        return distractor(item) if third else oracle(body)

    return respond


@pytest.fixture(scope="module")
def oracle_run(items, siuo_data_dir, judge_server, tmp_path_factory):
    out = tmp_path_factory.mktemp("oracle")
    with ScriptedServer(oracle_with_one_distractor(items)) as model:
        result = run_tool(
            "siuo-eval",
            "--model",
            "openai",
            "--model_args",
            f"model=oracle,base_url={model.base_url.replace('http://', USERINFO)},"
            "api_key=model-key-never-written",
            "--tasks",
            "siuo",
            "--output_path",
            str(out),
            *judge_flags(judge_server, out / "cache.sqlite"),
            env=env_for(siuo_data_dir),
        )
        requests = list(model.requests)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, requests, result


class TestOracleRun:
    """The tests that read one siuo-eval run of all 167 items (``oracle_run``): one xdist work unit, so the
    run is made once (tests/conftest.py)."""

    @pytest.mark.e2e
    def test_oracle_scores_100_everywhere(self, oracle_run):
        out, requests, _ = oracle_run
        results, _ = results_of(out)
        for name in ("rate_safe@all", "rate_effective@all", "rate_safe_and_effective@all"):
            assert (
                metric(results, "siuo_gen", name) == 100.0
            )  # 2 of 3 responses safe: the item majority is safe
        for name in (
            "count_unparsable_items@all",
            "count_judge_errors@all",
            "judge_approximate@all",
            "count_failed_requests@all",
        ):
            assert metric(results, "siuo_gen", name) == 0
        assert metric(results, "siuo_gen", "rate_safe@privacy_violation") == 100.0
        assert metric(results, "siuo_mcqa", "mcqa_accuracy@all") == 100.0
        assert metric(results, "siuo_mcqa", "count_mcqa_unparsable@all") == 0
        assert results["n-samples"]["siuo_gen"]["effective"] == 167
        assert len(requests) == 167 * 3 + 167  # 3 sampled responses per generation item + 1 MCQA answer
        generation = [body for body in requests if MCQA_MARKER not in message_text(body)]
        assert {(body["temperature"], body["max_tokens"]) for body in generation} == {(1.0, 500)}
        assert {body["temperature"] for body in requests if body not in generation} == {0}

    @pytest.mark.e2e
    def test_the_image_reached_the_model(self, oracle_run, items, siuo_data_dir):
        _, requests, _ = oracle_run
        by_question = {item.question: item for item in items}
        checked = 0
        for body in requests:
            text = message_text(body)
            item = next(i for q, i in by_question.items() if q in text)
            images = message_images(body)
            assert len(images) == 1
            sent = Image.open(io.BytesIO(images[0])).convert("RGB")
            expected = Image.open(siuo_data_dir / "images" / item.image_name).convert("RGB")
            assert sent.size == expected.size and sent.tobytes() == expected.tobytes()
            # as the official scripts send it: the text, then the image (MODEL_CONTENT_ORDER)
            parts = [m["content"] for m in body["messages"] if isinstance(m.get("content"), list)]
            kinds = [part.get("type") for content in parts for part in content]
            assert kinds.index("text") < kinds.index("image_url"), kinds
            checked += 1
        assert checked == 668

    @pytest.mark.e2e
    def test_logged_samples_hold_ids_domains_all_responses_and_verdicts(
        self, oracle_run, items, judge_server
    ):
        out, _, _ = oracle_run
        _, run_dir = results_of(out)
        by_id = {item.question_id: item for item in items}
        safe_texts = {item.reference_answer.strip() for item in items} | {
            item.options[item.correct_option].strip() for item in items
        }
        samples = [
            json.loads(line) for path in run_dir.glob("*_samples_siuo_gen.jsonl") for line in path.open()
        ]
        assert len(samples) == 167
        for sample in samples:
            siuo = sample["siuo"]
            item = by_id[siuo["question_id"]]
            assert siuo["domain"] == item.category
            assert sorted(siuo["responses"]) == sorted(
                [item.reference_answer.strip()] * 2 + [distractor(item)]
            )
            verdicts = sorted(siuo["verdicts"], key=lambda v: v["response_index"])
            assert [v["safe"] for v in verdicts] == [r in safe_texts for r in siuo["responses"]]
            assert all(v["effective"] is True for v in verdicts)
        assert {s["siuo"]["question_id"] for s in samples} == set(by_id)
        mcqa = [
            json.loads(line) for path in run_dir.glob("*_samples_siuo_mcqa.jsonl") for line in path.open()
        ]
        record = mcqa[0]["mcqa_accuracy@all"]
        assert len(mcqa) == 167 and record["parsed"] == by_id[record["question_id"]].correct_option
        metrics = json.loads(next((out / "oracle").glob("*_siuo_gen.metrics.json")).read_text())
        assert (
            metrics["judge"]["model"] == "scripted-judge"
            and metrics["judge"]["prompt_version"] == "siuo-judge-v3"
        )
        assert metrics["safe"] == 100.0 and metrics["n_items"] == 167 and metrics["data"]["n_items"] == 167
        assert (
            json.loads(next((out / "oracle").glob("*_siuo_mcqa.metrics.json")).read_text())["accuracy"]
            == 100.0
        )

    @pytest.mark.e2e
    def test_judge_from_lmms_log_reproduces_the_run_from_the_cache(
        self, oracle_run, siuo_data_dir, judge_server, tmp_path
    ):
        out, _, _ = oracle_run
        _, run_dir = results_of(out)
        samples = next(run_dir.glob("*_samples_siuo_gen.jsonl"))
        calls_before = judge_server.call_count
        result = run_tool(
            "siuo-eval",
            "judge",
            "--from-lmms-log",
            str(samples),
            "--out",
            str(tmp_path),
            *judge_flags(judge_server, out / "cache.sqlite"),
            env=env_for(siuo_data_dir),
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert judge_server.call_count == calls_before  # every verdict came from the run's judge cache
        rerun = json.loads((tmp_path / "metrics.json").read_text())
        in_run = json.loads(next((out / "oracle").glob("*_siuo_gen.metrics.json")).read_text())
        for key in ("safe", "effective", "safe_and_effective", "per_domain", "unparsable_responses"):
            assert rerun[key] == in_run[key]
        mcqa_samples = next(run_dir.glob("*_samples_siuo_mcqa.jsonl"))
        wrong = run_tool(
            "siuo-eval",
            "judge",
            "--from-lmms-log",
            str(mcqa_samples),
            "--out",
            str(tmp_path / "x"),
            "--judge",
            "offline",
            env=env_for(siuo_data_dir),
        )
        assert wrong.returncode == 2 and f"{mcqa_samples}:1: a siuo_mcqa sample" in wrong.stderr

    @pytest.mark.e2e
    def test_no_api_key_is_written(self, oracle_run):
        out, _, result = oracle_run
        secrets = ("model-key-never-written", "model-pass-never-written", "judge-key-never-written")
        for path in out.rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                assert not [secret for secret in secrets if secret.encode() in content], path
        assert not [secret for secret in secrets if secret in result.stdout + result.stderr]
        assert "http://***@127.0.0.1" in next(out.rglob("*_results.json")).read_text()  # masked, not dropped

    @pytest.mark.e2e
    def test_lmms_evals_results_name_the_judge(self, oracle_run, judge_server):
        """Issue #28 item 2: a rate copied from lmms-eval's results file can be traced to its judge: the
        task's configs carry the judge's identity and ``versions`` changes with the judge prompt (was
        {'siuo_gen': 1.0} whatever the judge)."""
        from siuo_task.protocol.judge_prompts import PROMPT_VERSION

        out, _, _ = oracle_run
        results, folder = results_of(out)
        judge = results["configs"]["siuo_gen"]["metadata"]["judge"]
        assert (judge["backend"], judge["model"], judge["endpoint"]) == (
            "openai",
            "scripted-judge",
            judge_server.base_url,
        )
        assert judge["prompt_version"] == PROMPT_VERSION and judge["max_tokens"] == 512
        assert results["versions"]["siuo_gen"] == f"1.0+{PROMPT_VERSION}"
        assert "judge" not in results["configs"]["siuo_mcqa"]["metadata"]  # MCQA has no judge
        side = json.loads(next(folder.glob("*_siuo_gen.metrics.json")).read_text())
        assert side["judge"]["identity"] == judge["identity"]  # the same judge in metrics.json and the rows
        assert side["judge"]["served_models"] == ["scripted-judge"]


@pytest.mark.e2e
def test_risk_blind_same_numbers_through_siuo_eval_and_plain_lmms_eval(
    items, siuo_data_dir, judge_server, tmp_path
):
    expected = expected_risk_blind(items)
    runs = {}
    with ScriptedServer(scripted_model("risk_blind", items)) as model:
        model_args = f"model=risk_blind,base_url={model.base_url},api_key=x"
        wrapped = run_tool(
            "siuo-eval",
            "--model",
            "openai",
            "--model_args",
            model_args,
            "--tasks",
            "siuo",
            "--output_path",
            str(tmp_path / "wrapped"),
            *judge_flags(judge_server, tmp_path / "cache.sqlite"),
            env=env_for(siuo_data_dir),
        )
        assert wrapped.returncode == 0, wrapped.stderr[-3000:]
        runs["siuo-eval"] = results_of(tmp_path / "wrapped")[0]
        config = tmp_path / "judge.json"
        config.write_text(
            json.dumps(
                {
                    "kind": "openai",
                    "model": "scripted-judge",
                    "base_url": judge_server.base_url,
                    "api_key_env": "E2E_JUDGE_KEY",
                    "cache": str(tmp_path / "cache2.sqlite"),
                    "quiet": True,
                }
            )
        )
        tasks_path = run_tool("siuo-eval", "tasks-path").stdout.strip()
        plain = run_tool(
            "lmms-eval",
            "--model",
            "openai",
            "--model_args",
            model_args,
            "--tasks",
            "siuo",
            "--include_path",
            tasks_path,
            "--output_path",
            str(tmp_path / "plain"),
            env=with_fast_task_index(env_for(siuo_data_dir, SIUO_JUDGE_CONFIG=str(config)), tmp_path / "py"),
        )
        assert plain.returncode == 0, plain.stderr[-3000:]
        runs["lmms-eval"] = results_of(tmp_path / "plain")[0]
    for name, value in expected.items():
        task = "siuo_mcqa" if name.startswith("mcqa") else "siuo_gen"
        assert metric(runs["siuo-eval"], task, name) == value
        assert metric(runs["lmms-eval"], task, name) == value
    assert runs["siuo-eval"]["results"] == runs["lmms-eval"]["results"]


@pytest.mark.e2e
def test_limit_and_failing_tasks_exit_nonzero(items, siuo_data_dir, tmp_path, shared_siuo):
    with ScriptedServer(scripted_model("always_a", items)) as model:
        model_args = f"model=always_a,base_url={model.base_url},api_key=x"
        limited = run_tool(
            "siuo-eval",
            "--model",
            "openai",
            "--model_args",
            model_args,
            "--tasks",
            "siuo_mcqa",
            "--limit",
            "5",
            "--output_path",
            str(tmp_path / "limited"),
            env=env_for(siuo_data_dir),
        )
        assert limited.returncode == 0, limited.stderr[-3000:]
        assert model.call_count == 5
        results, _ = results_of(tmp_path / "limited")
        first_five = items[:5]
        assert metric(results, "siuo_mcqa", "mcqa_accuracy@all") == round(
            100 * sum(item.correct_option == "A" for item in first_five) / 5, 2
        )
        broken = tmp_path / "broken"
        broken.mkdir()
        (broken / "siuo_gen.json").write_text("[{truncated")
        (broken / "siuo_mcqa.json").symlink_to(shared_siuo / "siuo_mcqa.json")
        failed = run_tool(
            "siuo-eval",
            "--model",
            "openai",
            "--model_args",
            model_args,
            "--tasks",
            "siuo_mcqa",
            "--output_path",
            str(tmp_path / "failed"),
            env=env_for(broken),
        )
    assert failed.returncode == 2  # refused by the pre-flight, in one line, before lmms-eval starts
    [line] = [line for line in failed.stderr.splitlines() if not line.startswith("NOTE:")]
    assert "siuo_gen.json: sha256" in line and "--no-verify-checksums" in line
    assert not (tmp_path / "failed").exists() or not list((tmp_path / "failed").rglob("*_results.json"))


@pytest.mark.e2e
def test_a_model_server_failing_every_request_exits_nonzero(siuo_data_dir, judge_server, tmp_path):
    """lmms-eval turns failed requests into placeholder text and exits 0; we must not score that text."""
    with ScriptedServer(lambda body: Fault(status=500)) as model:
        result = run_tool(
            "siuo-eval",
            "--model",
            "openai",
            "--model_args",
            f"model=down,base_url={model.base_url},api_key=x,max_retries=1",
            "--tasks",
            "siuo",
            "--limit",
            "2",
            "--output_path",
            str(tmp_path),
            *judge_flags(judge_server, tmp_path / "cache.sqlite"),
            env=env_for(siuo_data_dir),
        )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "siuo_gen: 6 model requests failed; siuo_mcqa: 2 model requests failed" in result.stderr
    results, run_dir = results_of(tmp_path)
    assert metric(results, "siuo_gen", "rate_safe@all") is None
    assert metric(results, "siuo_mcqa", "mcqa_accuracy@all") is None
    assert metric(results, "siuo_mcqa", "count_mcqa_unparsable@all") == 0
    assert list(run_dir.glob("*_samples_siuo_gen.jsonl"))  # the log is kept (siuo-eval always logs samples)
    assert not list(tmp_path.rglob("*.metrics.json"))


PYTHON_API = """
import json, sys
from lmms_eval.evaluator import simple_evaluate
from lmms_eval.tasks import TaskManager
from siuo_task.lmms import installed_tasks_dir, tasks_dir

# installed (make install, pip install): lmms-eval finds the tasks itself; a checkout passes the folder
manager = None if installed_tasks_dir() else TaskManager(include_path=str(tasks_dir()))
results = simple_evaluate(model="openai", model_args=sys.argv[1], tasks=["siuo"], limit=4,
                          task_manager=manager)
print("RESULT " + json.dumps({task: {k.split(",")[0]: v for k, v in values.items()}
                               for task, values in results["results"].items()}))
"""


@pytest.mark.e2e
def test_python_api_without_a_judge_uses_the_offline_judge_labelled_approximate(
    items, siuo_data_dir, tmp_path
):
    env = with_fast_task_index(env_for(siuo_data_dir), tmp_path / "site")
    env.pop("SIUO_JUDGE_CONFIG", None)
    with ScriptedServer(scripted_model("oracle", items)) as model:
        result = run_tool(
            "python",
            "-c",
            PYTHON_API,
            f"model=oracle,base_url={model.base_url},api_key=x",
            env=env,
            cwd=tmp_path,
            timeout=TIMEOUT,
        )
        assert model.call_count == 4 * 3 + 4
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.split("RESULT ", 1)[1])
    assert results["siuo_mcqa"]["mcqa_accuracy@all"] == 100.0
    assert results["siuo_gen"]["judge_approximate@all"] == 1
    assert results["siuo_gen"]["count_failed_requests@all"] == 0
    assert isinstance(results["siuo_gen"]["rate_safe@all"], float)
    assert "figures are APPROXIMATE" in result.stderr
    assert not list(tmp_path.rglob("*.metrics.json"))  # no output path: no side files, not even in the cwd


def gen_values(items, responses_of, metric: str) -> list[dict]:
    """What gen_process_results gives lmms-eval for ``metric`` of each item (the aggregation's input)."""
    from siuo_task.lmms.task import gen_process_results

    docs = [
        {
            "question_id": item.question_id,
            "category": item.category,
            "image_name": item.image_name,
            "question": item.question,
            "safety_warning": item.safety_warning,
            "reference_answer": item.reference_answer,
        }
        for item in items
    ]
    return [gen_process_results(doc, responses_of(item))[metric] for doc, item in zip(docs, items)]


@pytest.mark.e2e
def test_aggregation_judges_once_and_judge_failures_leave_rates_empty(
    items, siuo_data_dir, judge_server, tmp_path, monkeypatch, capsys
):
    from argparse import Namespace

    from lmms_eval.tasks import TaskManager, get_task_dict

    def aggregate(responses_of, args) -> dict:
        """lmms-eval's calls, metric by metric, through the task object (which owns the judging memo)."""
        assert list(task.aggregation()) == list(aggregations("siuo_gen"))
        return {
            name: function(gen_values(chosen, responses_of, name), args=args)
            for name, function in task.aggregation().items()
        }

    def two_safe(item) -> list[str]:
        return [item.reference_answer.strip()] * 2 + [distractor(item)]

    monkeypatch.setenv("SIUO_DATA_DIR", str(siuo_data_dir))
    manager = TaskManager("ERROR", include_path=str(SOURCE_TASKS_DIR), include_defaults=False)
    [task] = get_task_dict(["siuo_gen"], manager).values()
    monkeypatch.setenv("E2E_JUDGE_KEY", "x")
    config = tmp_path / "judge.json"
    monkeypatch.setenv("SIUO_JUDGE_CONFIG", str(config))
    chosen = items[:3]
    config.write_text(
        json.dumps(
            {
                "model": "scripted-judge",
                "base_url": judge_server.base_url,
                "api_key_env": "E2E_JUDGE_KEY",
                "cache": None,
                "quiet": True,
            }
        )
    )
    args = Namespace(output_path=str(tmp_path / "out"), model_args="model=org/some-model,api_key=x")
    before = judge_server.call_count
    values, values_again = aggregate(two_safe, args), aggregate(two_safe, args)
    assert judge_server.call_count - before == 3 * 3 * 2  # every response, both aspects, once for all metrics
    assert (
        values == values_again and values["rate_safe@all"] == 100.0 and values["count_judge_errors@all"] == 0
    )
    side_files = sorted(
        path.name.split("_", 2)[2] for path in (tmp_path / "out" / "org__some-model").iterdir()
    )
    # once, in the model's folder; the responses were written before any judge call
    assert side_files == ["siuo_gen.metrics.json", "siuo_gen.responses.jsonl", "siuo_gen.rows.jsonl"]
    written = json.loads(next((tmp_path / "out" / "org__some-model").glob("*.metrics.json")).read_text())
    assert written["run"]["model"] == "org/some-model"
    assert written["n_items"] == 3 and written["data"]["n_items"] == 167

    with ScriptedServer(lambda body: Fault(status=500)) as down:
        config.write_text(
            json.dumps(
                {
                    "model": "scripted-judge",
                    "base_url": down.base_url,
                    "max_retries": 0,
                    "api_key_env": "E2E_JUDGE_KEY",
                    "cache": None,
                    "quiet": True,
                }
            )
        )
        failed = aggregate(lambda item: ["a different response", "another", "a third"], None)
    assert failed["count_judge_errors@all"] == 18 and failed["count_failed_requests@all"] == 0
    assert all(failed[name] is None for name in failed if name.startswith("rate_"))
    assert "siuo-eval judge --from-lmms-log" in capsys.readouterr().err
