"""The judge registry: a backend registered by name from outside the package (a guard-like toy judge behind a
real loopback HTTP endpoint, with its own output format, its own parser and only the safety aspect) judges a
run through `siuo-eval judge` and ``judge_responses``; ``--judge-arg`` reaches its factory, is checked and
round-trips through ``JudgeConfig`` JSON; each backend's key variable; batch support declared by the
backend."""

from __future__ import annotations

import argparse
import json
import urllib.request

import pytest

import siuo_dataset
from siuo_dataset.errors import SiuoError
from siuo_demo.loopback import ScriptedServer
from siuo_task.cli import main
from siuo_task.cli.common import add_judge_arguments
from siuo_task.judge.backends.azure import AzureJudge
from siuo_task.judge.backends.offline import OfflineJudge
from siuo_task.judge.backends.openai import OpenAIJudge
from siuo_task.judge.base import (
    Judge,
    JudgeArg,
    JudgeConfigError,
    JudgeError,
    JudgeReply,
    JudgeSettings,
    positive_int,
)
from siuo_task.judge.config import JudgeConfig
from siuo_task.judge.registry import (
    backend_names,
    get_backend,
    judge_args,
    register_backend,
    unregister_backend,
)
from siuo_task.protocol.judge_prompts import JudgeCall
from siuo_task.records import JudgeInfo
from siuo_task.scoring.judging import NOT_ASKED_STATUS, judge_responses
from siuo_task.scoring.validation import validate_on_options

TOY = "toyguard"
TOY_KEY_ENV = "TOY_GUARD_KEY"
POLICY = "S1: violence, S2: self-harm"  # a --judge-arg value holding a comma


# ---- the toy backend: a guard model with its own format ----------------------------------------------------


class GuardJudge(Judge):
    """A guard model behind a chat endpoint: it sees the conversation (question, response) and answers
    ``safe`` or ``unsafe`` then the violated category on a second line. It answers safety only."""

    aspects = ("safety",)

    def __init__(self, settings: JudgeSettings) -> None:
        self.base_url = settings.base_url
        self.api_key_env = settings.api_key_env
        self.policy = settings.options.get("policy", "")
        self.max_tokens = settings.options.get("max_tokens", 16)
        self.info = JudgeInfo(TOY, settings.model, "toy-guard-v1", 0.0, text_only=True)

    def complete(self, call: JudgeCall) -> JudgeReply:
        body = {
            "model": self.info.model,
            "max_tokens": self.max_tokens,
            "messages": [
                {"role": "system", "content": self.policy},
                {"role": "user", "content": call.question},
                {"role": "assistant", "content": call.response},
            ],
        }
        request = urllib.request.Request(
            f"{self.base_url}/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                completion = json.load(answer)
        except OSError as error:
            raise JudgeError(f"guard endpoint: {error}") from None
        return JudgeReply(completion["choices"][0]["message"]["content"])

    def parse(self, call: JudgeCall, text: str) -> bool | None:
        first = text.strip().split("\n")[0].strip().lower()
        return {"safe": True, "unsafe": False}.get(first)


def guard_server_answer(body: dict) -> str:
    """What the scripted guard model says about the conversation in ``body``."""
    response = body["messages"][-1]["content"]
    if "GARBLE" in response:
        return "I cannot classify this."
    return "unsafe\nS1" if response.startswith("UNSAFE") else "safe"


@pytest.fixture(autouse=True, scope="module")
def toy_backend():
    register_backend(
        TOY,
        GuardJudge,
        options={
            "policy": JudgeArg(str, "the guard's policy text"),
            "max_tokens": JudgeArg(positive_int, "answer length in tokens"),
        },
        api_key_env=TOY_KEY_ENV,
        description="a toy guard model (tests)",
    )
    yield
    unregister_backend(TOY)


@pytest.fixture(scope="module")
def guard():
    with ScriptedServer(guard_server_answer) as server:
        yield server


@pytest.fixture(scope="module")
def gen_items(shared_siuo):
    return json.loads((shared_siuo / "siuo_gen.json").read_text())


RESPONSES = [
    ["SAFE a", "SAFE b", "UNSAFE c"],  # safe
    ["UNSAFE a", "UNSAFE b", "SAFE c"],  # unsafe
    ["SAFE a", "", "UNSAFE c"],  # safe (the empty one safe by rule); effective False by the empty rule
    ["UNSAFE a", "UNSAFE b", "UNSAFE c"],  # unsafe
    ["SAFE a", "SAFE b", "SAFE c"],  # safe
    ["GARBLE a", "SAFE b", "UNSAFE c"],  # tie: undecided
]


def response_rows(gen_items: list[dict]) -> list[dict]:
    return [
        {"question_id": item["question_id"], "responses": responses}
        for item, responses in zip(gen_items, RESPONSES, strict=False)
    ]


def check_figures(metrics: dict) -> None:
    """The figures of RESPONSES by hand: safety from the guard, effectiveness undecided but for the empty
    response's rule."""
    assert metrics["n_items"] == 6
    assert (metrics["safe"], metrics["safe_unparsable_items"]) == (60.0, 1)  # 3 of 5 decided items
    assert (metrics["effective"], metrics["effective_unparsable_items"]) == (0.0, 5)  # only item 3 decided
    assert (metrics["safe_and_effective"], metrics["safe_and_effective_unparsable_items"]) == (0.0, 1)
    assert metrics["aspects_not_asked"] == ["effectiveness"]
    assert metrics["judge"]["backend"] == TOY and metrics["judge"]["prompt_version"] == "toy-guard-v1"


def test_a_registered_backend_judges_a_run_through_the_cli(tmp_path, siuo_data_dir, gen_items, guard, capsys):
    responses = tmp_path / "responses.jsonl"
    responses.write_text("".join(json.dumps(row) + "\n" for row in response_rows(gen_items)))
    before = guard.call_count
    code = main(
        [
            "judge",
            str(responses),
            "--data-dir",
            str(siuo_data_dir),
            "--out",
            str(tmp_path / "out"),
            "--judge",
            TOY,
            "--judge-model",
            "guard-1b",
            "--judge-base-url",
            guard.base_url,
            "--judge-arg",
            f"policy={POLICY},max_tokens=8",
            "--no-cache",
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    check_figures(metrics)
    # 17 non-empty responses, safety only; the unparsable one asked twice
    assert metrics["summary"]["calls"] == 17 and guard.call_count - before == 18
    assert (metrics["summary"]["ok"], metrics["summary"]["unparsable"]) == (16, 1)
    sent = guard.requests[-1]
    assert sent["model"] == "guard-1b" and sent["max_tokens"] == 8
    assert sent["messages"][0] == {"role": "system", "content": POLICY}  # the --judge-arg reached the judge
    rows = [json.loads(line) for line in (tmp_path / "out" / "judgements.jsonl").read_text().splitlines()]
    unsafe = rows[2]  # the first item's "UNSAFE c"
    assert (unsafe["safe"], unsafe["safety_raw"], unsafe["safety_status"]) == (False, "unsafe\nS1", "ok")
    assert (unsafe["effective"], unsafe["effectiveness_raw"]) == (None, None)
    assert unsafe["effectiveness_status"] == NOT_ASKED_STATUS
    empty = rows[7]  # item 3, ""
    assert (empty["safe"], empty["effective"], empty["effectiveness_status"]) == (True, False, "rule:empty")
    garbled = rows[15]
    assert (garbled["safe"], garbled["safety_status"]) == (None, "unparsable")
    assert "6 of 167 items: safe 60.0%" in capsys.readouterr().out


def test_a_registered_backend_through_judge_config_reads_its_cached_answers(
    tmp_path, siuo_data_dir, gen_items, guard
):
    config = JudgeConfig(
        kind=TOY,
        model="guard-1b",
        base_url=guard.base_url,
        cache=str(tmp_path / "cache.sqlite"),
        judge_args={"policy": POLICY},
        quiet=True,
    )
    assert JudgeConfig.from_json(json.loads(json.dumps(config.to_json()))) == config
    judge = config.build()
    assert isinstance(judge, GuardJudge) and judge.api_key_env == TOY_KEY_ENV and judge.policy == POLICY
    items = {item.question_id: item for item in siuo_dataset.load_items(siuo_data_dir)}
    rows = response_rows(gen_items)
    first = judge_responses(judge, items, rows, cache=config.open_cache(), **config.run_options())
    before = guard.call_count
    again = judge_responses(judge, items, rows, cache=config.open_cache(), **config.run_options())
    assert guard.call_count == before  # the unparsable answer was cached after its re-ask, too
    assert again.summary.cache_hits == 17 and again.judgements == first.judgements
    check_figures(again.metrics)


def test_a_judge_that_answers_only_safety_is_validated_on_safety_only(siuo_data_dir, guard):
    judge = JudgeConfig(kind=TOY, model="guard-1b", base_url=guard.base_url).build()
    items = siuo_dataset.load_items(siuo_data_dir)[:3]
    validation = validate_on_options(judge, items, run_options={"progress": False})
    headline = validation.figures["reference_blind"]
    assert list(headline["summary"]) == ["safety"] and "safe_and_effective" not in headline
    assert headline["n"] == 12 and validation.errors == 0


def test_a_backend_without_batch_support_refuses_batch_judging(tmp_path, siuo_data_dir, gen_items, capsys):
    responses = tmp_path / "responses.jsonl"
    responses.write_text("".join(json.dumps(row) + "\n" for row in response_rows(gen_items)))
    code = main(
        [
            "judge",
            str(responses),
            "--data-dir",
            str(siuo_data_dir),
            "--out",
            str(tmp_path / "out"),
            "--judge",
            TOY,
            "--judge-model",
            "g",
            "--judge-batch-export",
            str(tmp_path / "requests.jsonl"),
            "--no-cache",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and f"--judge {TOY} has no batch mode" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "requests.jsonl").exists()


# ---- the registry ------------------------------------------------------------------------------------------


def test_names_built_in_and_registered_and_an_unknown_one():
    assert backend_names() == ["azure", "offline", "openai", TOY]
    assert get_backend(TOY).description == "a toy guard model (tests)"
    with pytest.raises(
        JudgeConfigError, match=f"unknown judge 'nope': choose one of azure, offline, openai, {TOY}"
    ):
        JudgeConfig(kind="nope").build()


def test_a_name_is_registered_once():
    with pytest.raises(JudgeConfigError, match="'openai' is already registered"):
        register_backend("openai", GuardJudge)
    with pytest.raises(JudgeConfigError, match=f"'{TOY}' is already registered"):
        register_backend(TOY, OfflineJudge)
    with pytest.raises(JudgeConfigError, match="lower-case letters"):
        register_backend("Bad Name", GuardJudge)


def test_each_backend_reads_its_own_key_variable_unless_told_another():
    assert JudgeConfig(model="m").build().api_key_env == "OPENAI_API_KEY"
    azure = JudgeConfig(kind="azure", model="d", base_url="https://r.openai.azure.com").build()
    assert isinstance(azure, AzureJudge) and azure.api_key_env == "OPENAI_API_KEY"  # as before the registry
    assert JudgeConfig(kind=TOY, model="g").build().api_key_env == TOY_KEY_ENV
    assert JudgeConfig(kind=TOY, model="g", api_key_env="MINE").build().api_key_env == "MINE"
    assert get_backend("offline").api_key_env is None and not hasattr(JudgeConfig().build(), "api_key_env")


def test_batch_support_is_declared_by_the_backend():
    openai_judge = JudgeConfig(model="m").build()
    assert isinstance(openai_judge, OpenAIJudge) and openai_judge.supports_batch
    assert not JudgeConfig(kind="azure", model="d", base_url="https://r").build().supports_batch
    assert (
        not JudgeConfig().build().supports_batch
        and not JudgeConfig(kind=TOY, model="g").build().supports_batch
    )


# ---- --judge-arg -------------------------------------------------------------------------------------------


def parse_flags(*argv: str) -> JudgeConfig:
    parser = argparse.ArgumentParser()
    add_judge_arguments(parser)
    return JudgeConfig.from_args(parser.parse_args(argv))


def test_judge_args_are_key_value_pairs_repeated_or_comma_separated():
    config = parse_flags("--judge-model", "m", "--judge-arg", "max_tokens=64", "--judge-arg", "a=1, b=x,y=")
    assert config.judge_args == {"max_tokens": "64", "a": "1", "b": "x", "y": ""}
    assert judge_args(["policy=S1, S2,max_tokens=3"]) == {"policy": "S1, S2", "max_tokens": "3"}
    assert parse_flags().judge_args == {}
    for bad, message in [
        (["max_tokens"], "expected name=value"),
        (["=3"], "expected name=value"),
        (["a=1", "a=2"], "--judge-arg a is given twice"),
    ]:
        with pytest.raises(JudgeConfigError, match=message):
            judge_args(bad)


def test_judge_args_reach_the_factory_converted():
    assert JudgeConfig(model="m", judge_args={"max_tokens": "64"}).build().max_tokens == 64
    azure = JudgeConfig(
        kind="azure", model="d", base_url="https://r", judge_args={"api_version": "2025-01-01"}
    )
    assert azure.build().api_version == "2025-01-01"
    assert OpenAIJudge("m").max_tokens == 512  # the default is unchanged


@pytest.mark.parametrize(
    "kind, args, message",
    [
        (
            "openai",
            {"temperature": "1"},
            "unknown --judge-arg 'temperature' for --judge openai: accepted keys are max_tokens$",
        ),
        (
            "azure",
            {"x": "1"},
            "unknown --judge-arg 'x' for --judge azure: accepted keys are api_version, max_tokens$",
        ),
        ("offline", {"x": "1"}, "unknown --judge-arg 'x' for --judge offline: accepted keys are none$"),
        (
            TOY,
            {"polcy": "p"},
            f"unknown --judge-arg 'polcy' for --judge {TOY}: accepted keys are max_tokens, policy$",
        ),
        (
            "openai",
            {"max_tokens": "many"},
            r"--judge-arg max_tokens='many' for --judge openai: invalid literal",
        ),
        ("openai", {"max_tokens": "0"}, "must be a whole number of at least 1"),
        ("openai", {"api_key": "sk-abcdefghijklmnop"}, "looks like a credential"),
        ("openai", {"headers": "Bearer abcdef123456789"}, "looks like a credential"),
    ],
)
def test_bad_judge_args_are_one_line_naming_what_is_accepted(kind, args, message):
    config = JudgeConfig(kind=kind, model="m", base_url="https://r", judge_args=args)
    with pytest.raises(SiuoError, match=message) as raised:
        config.build()
    assert "\n" not in str(raised.value) and "sk-abc" not in str(raised.value)


def test_judge_args_round_trip_through_json():
    config = parse_flags("--judge-model", "m", "--judge-arg", "max_tokens=64")
    text = json.dumps(config.to_json())
    assert json.loads(text)["judge_args"] == {"max_tokens": "64"}
    assert JudgeConfig.from_json(json.loads(text)) == config
    written = JudgeConfig.from_json({"model": "m", "judge_args": {"max_tokens": 64}})  # a hand-written file
    assert written.judge_args == {"max_tokens": "64"} and written.build().max_tokens == 64
    with pytest.raises(SiuoError, match="judge setting judge_args: expected an object"):
        JudgeConfig.from_json({"model": "m", "judge_args": ["max_tokens=64"]})


def test_a_bad_judge_arg_on_the_command_line_is_one_line_and_exit_2(tmp_path, capsys):
    code = main(
        ["judge", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "out"), "--judge-arg", "max_tokens=64"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == (  # issue #28 item 4: never a silent offline judge; the fix is named
        "siuo-eval: error: --judge-arg given without --judge-model: add --judge-model MODEL (the name the "
        "judge endpoint serves, e.g. --judge-model my-judge), or drop --judge-arg to use the offline judge "
        "(APPROXIMATE)"
    )
