"""The SIUO Inspect tasks without a model: samples, sampling settings, the reducer, the metrics, the judge
settings and the registration (the end-to-end runs are in test_e2e.py)."""

from __future__ import annotations

import pytest
import tomllib
from inspect_ai._util.registry import registry_info
from inspect_ai.model import ContentImage, ContentText
from inspect_ai.scorer import SampleScore, Score

import siuo_dataset
from siuo_task.inspect import run_files, scorers, tasks
from siuo_task.inspect.samples import siuo_dataset as inspect_dataset
from siuo_task.judge.cache import default_cache_path
from siuo_task.protocol import metric_defs
from siuo_task.protocol.figures import ResponseVerdict, generation_metrics, mcqa_metrics
from siuo_task.protocol.metric_defs import GENERATION, MetricDef
from siuo_task.protocol.model_prompts import (
    GENERATION_TEMPERATURE,
    MCQA_TEMPERATURE,
    MODEL_CONTENT_ORDER,
    RESPONSES_PER_ITEM,
    build_mcqa_prompt,
)
from tests.helpers import REPO, task_config


@pytest.fixture(scope="module")
def items(siuo_data_dir):
    return siuo_dataset.load_items(siuo_data_dir)


def kinds(sample) -> list[str]:
    (message,) = sample.input
    assert message.role == "user"
    return ["image" if isinstance(part, ContentImage) else "text" for part in message.content]


def test_generation_samples_hold_the_image_then_the_question_in_one_user_turn(siuo_data_dir, items):
    dataset = inspect_dataset("generation", str(siuo_data_dir))
    assert len(dataset) == 167
    first, item = dataset[0], items[0]
    assert kinds(first) == list(MODEL_CONTENT_ORDER) == ["image", "text"]
    image, text = first.input[0].content
    assert image.image == str(siuo_data_dir / "images" / item.image_name)
    assert isinstance(text, ContentText) and text.text == item.question
    assert first.id == item.question_id
    assert first.metadata == {
        "question_id": item.question_id,
        "category": item.category,
        "image_name": item.image_name,
    }


def test_mcqa_samples_use_the_protocol_prompt_and_image_blind_samples_have_no_image(siuo_data_dir, items):
    mcqa = inspect_dataset("mcqa", str(siuo_data_dir))
    assert mcqa[5].input[0].content[1].text == build_mcqa_prompt(items[5].question, items[5].options)
    assert mcqa[5].target == items[5].correct_option and mcqa[5].metadata["options"] == items[5].options
    blind = inspect_dataset("mcqa", str(siuo_data_dir), with_image=False)
    assert kinds(blind[5]) == ["text"]


def test_sampling_is_the_protocol_and_the_yamls(siuo_data_dir):
    gen = tasks.siuo_gen(data_dir=str(siuo_data_dir), judge="offline")
    assert gen.epochs == RESPONSES_PER_ITEM and gen.config.temperature == GENERATION_TEMPERATURE == 1.0
    yaml_gen = task_config("siuo_gen")["generation_kwargs"]
    assert (gen.config.max_tokens, gen.config.top_p) == (yaml_gen["max_new_tokens"], yaml_gen["top_p"])
    (reducer,) = gen.epochs_reducer
    assert registry_info(reducer).name == "siuo_majority"
    mcqa = tasks.siuo_mcqa(data_dir=str(siuo_data_dir))
    assert mcqa.config.temperature == MCQA_TEMPERATURE == 0.0
    assert mcqa.config.max_tokens == task_config("siuo_mcqa")["generation_kwargs"]["max_new_tokens"]


def test_the_reducer_is_the_protocols_majority():
    reduce = scorers.siuo_majority()
    votes = [
        {"safe": True, "effective": True, "safe_and_effective": True},
        {"safe": False, "effective": True, "safe_and_effective": False},
        {"safe": True, "effective": None, "safe_and_effective": None},
    ]
    reduced = reduce([Score(value=v) for v in votes])
    assert reduced.value == {"safe": True, "effective": True, "safe_and_effective": None}  # 1:1 is a tie
    assert reduced.metadata["votes"]["safe"] == [True, False, True]


def judged(question_id: int, index: int, category: str, safe, effective, status: str = "ok") -> SampleScore:
    row = {
        "question_id": question_id,
        "response_index": index,
        "category": category,
        "safe": safe,
        "effective": effective,
        "safety_status": status,
        "effectiveness_status": "ok",
    }
    return SampleScore(score=Score(value={}, metadata={"judgement": row}), sample_id=question_id)


def test_the_generation_metric_is_the_protocols_figures_flat_and_per_domain():
    verdicts = [
        (1, "self-harm", True, True),
        (1, "self-harm", True, False),
        (1, "self-harm", False, True),
        (2, "privacy violation", False, True),
        (2, "privacy violation", False, True),
        (2, "privacy violation", None, True),
    ]
    scores = [judged(q, i % 3, c, s, e) for i, (q, c, s, e) in enumerate(verdicts)]
    figures = scorers.siuo_gen_figures()(scores)
    expected = generation_metrics([ResponseVerdict(*v) for v in verdicts])
    assert figures["safe"] == expected["safe"] == 50.0 and figures["effective"] == 100.0
    assert figures["safe_and_effective"] == expected["safe_and_effective"]
    assert figures["safe@self_harm"] == 100.0 and figures["safe@privacy_violation"] == 0.0
    assert figures["safe_n"] == 2 and figures["unparsable_items"] == expected["unparsable_items"]
    assert "safe@morality" not in figures  # an empty domain has no rate: Inspect shows none


def test_a_failed_judge_call_leaves_no_rate_only_the_count():
    scores = [judged(1, 0, "morality", True, True), judged(1, 1, "morality", None, True, status="error")]
    assert scorers.siuo_gen_figures()(scores) == {"judge_errors": 1}


def test_the_mcqa_metric_is_the_protocols_accuracy():
    def answer(qid, category, parsed, correct):
        meta = {"question_id": qid, "category": category, "parsed": parsed, "correct_option": correct}
        return SampleScore(score=Score(value=float(parsed == correct), metadata=meta), sample_id=qid)

    rows = [(1, "self-harm", "A", "A"), (2, "self-harm", None, "B"), (3, "morality", "C", "D")]
    figures = scorers.siuo_mcqa_figures()([answer(*row) for row in rows])
    expected = mcqa_metrics(rows)
    assert figures["accuracy"] == expected["accuracy"] == 33.33 and figures["unparsable"] == 1
    assert figures["accuracy@self_harm"] == 50.0 and figures["accuracy@morality"] == 0.0


def test_judge_parameters_become_a_judge_config():
    config = tasks.judge_config(judge_model="m", judge_base_url="http://x:1/v1", judge_concurrency="4")
    assert (config.resolved_kind, config.model, config.concurrency) == ("openai", "m", 4)
    assert config.cache == str(default_cache_path()) and config.quiet
    assert tasks.judge_config(judge_cache="none").cache is None
    assert tasks.judge_config().resolved_kind == "offline"
    with pytest.raises(Exception, match="--judge-concurrency"):
        tasks.judge_config(judge_concurrency=0)


def test_the_tasks_are_registered_through_inspects_entry_point():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["inspect_ai"] == {"siuo_task": "siuo_task.inspect._registry"}
    assert any(r.startswith("inspect-ai") for r in project["optional-dependencies"]["inspect"])


def test_run_file_names():
    assert run_files.task_name("siuo_task/siuo_gen_text") == "siuo_gen_text"
    assert run_files.task_name("siuo_gen") == "siuo_gen" and run_files.task_name("other/siuo_gen2") is None
    assert run_files.model_folder("openai-api/vllm/org/m") == "openai-api__vllm__org__m"
    assert run_files.stamp("2026-12-07T14:05:09+00:00") == "20261207_140509"


def test_a_new_metric_definition_reaches_inspects_scores_and_figures(monkeypatch):
    """Metrics are data (#27): a definition added to METRIC_DEFS is reduced and shown by Inspect too."""
    toy = MetricDef(
        "unsafe", "Unsafe", GENERATION, higher_is_better=False, rule=lambda s, e: None if s is None else not s
    )
    monkeypatch.setattr(metric_defs, "METRIC_DEFS", (*metric_defs.METRIC_DEFS, toy))
    scores = [judged(7, i, "morality", safe, True) for i, safe in enumerate([False, False, True])]
    figures = scorers.siuo_gen_figures()(scores)
    assert figures["unsafe"] == 100.0 and figures["unsafe_n"] == 1 and figures["unsafe@morality"] == 100.0
    reduced = scorers.siuo_majority()([Score(value={"unsafe": v}) for v in (True, True, False)])
    assert reduced.value["unsafe"] is True
