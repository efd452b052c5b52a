"""JudgeConfig: the judge flags as one value, its JSON round trip without secrets, checks and lazy build."""

from __future__ import annotations

import argparse
import json

import pytest

from siuo_dataset.errors import SiuoError
from siuo_task.cli.common import add_judge_arguments
from siuo_task.judge.backends.offline import OfflineJudge
from siuo_task.judge.backends.openai import OpenAIJudge
from siuo_task.judge.config import JudgeConfig
from siuo_task.judge.runner import Price


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_judge_arguments(parser)
    return parser.parse_args(argv)


def test_flags_json_round_trip_holds_no_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-secret-value-123456")
    cache = str(tmp_path / "c.sqlite")
    config = JudgeConfig.from_args(
        parse(
            "--judge-model",
            "m",
            "--judge-api-key-env",
            "MY_KEY",
            "--judge-rpm",
            "60",
            "--cache",
            cache,
            "--price-per-mtok-in",
            "2.5",
        )
    )
    text = json.dumps(config.to_json())
    assert "sk-secret" not in text and JudgeConfig.from_json(json.loads(text)) == config
    assert config.price == Price(2.5, 0.0) and config.cache == str(tmp_path / "c.sqlite")
    assert config.run_options() == {
        "concurrency": 16,
        "requests_per_minute": 60.0,
        "price": Price(2.5, 0.0),
        "progress": True,
        "breaker_after": 8,
    }
    judge = config.build()
    assert isinstance(judge, OpenAIJudge) and judge._client is None  # no client before the first call
    assert (judge.info.backend, judge.info.model, judge.info.temperature) == ("openai", "m", 0.0)


def test_defaults_are_the_offline_judge_and_no_cache_means_none():
    config = JudgeConfig.from_args(parse("--no-cache"))
    assert config.cache is None and config.open_cache() is None and config.price is None
    assert isinstance(config.build(), OfflineJudge)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"concurrency": 0}, "--judge-concurrency must be at least 1"),
        ({"rpm": 0}, "--judge-rpm must be positive"),
        ({"breaker_after": -1}, "--judge-breaker-after must be 0"),
        ({"kind": "openai"}, "--judge openai needs --judge-model"),
        ({"kind": "azure", "model": "m"}, "--judge azure needs --judge-base-url"),
        ({"kind": "nope"}, "unknown judge 'nope'"),
        ({"model": "m", "timeout": 0}, "--judge-timeout must be > 0"),
    ],
)
def test_bad_settings_are_one_line_naming_the_flag(settings, message):
    with pytest.raises(SiuoError, match=message):
        JudgeConfig(**settings).build()


def test_unknown_json_key_is_an_error():
    with pytest.raises(SiuoError, match="unknown judge setting 'api_key'"):
        JudgeConfig.from_json({"model": "m", "api_key": "x"})
