"""SiuoTask serves both kinds of lmms-eval model class, by lmms-eval's own choice: before it builds a task's
requests, lmms-eval's ``evaluate`` sets ``task.args`` (the run's arguments), and its ``--model`` and
``--force_simple`` name the model class it loaded (``lmms_eval.models.get_model``, whose ``is_simple`` says
the kind). A simple model gets ``(text, gen_kwargs, doc_to_visual, doc_id, task, split)``, a chat model
``(text, doc_to_messages, gen_kwargs, doc_id, task, split)`` whose messages carry the image, in
``MODEL_CONTENT_ORDER``. lmms-eval is imported inside the tests (see test_tasks.py)."""

from __future__ import annotations

from argparse import Namespace

import pytest
from PIL import Image

from siuo_task.lmms import SOURCE_TASKS_DIR

SIMPLE_RUN = Namespace(model="openai", force_simple=True)  # lmms_eval.models.simple.openai
CHAT_RUN = Namespace(model="openai", force_simple=False)  # lmms_eval.models.chat.openai


@pytest.fixture(scope="module")
def task_manager():
    from lmms_eval.tasks import TaskManager

    return TaskManager("ERROR", include_path=str(SOURCE_TASKS_DIR), include_defaults=False)


def load_task(task_manager, name, monkeypatch, data_dir):
    from lmms_eval.tasks import get_task_dict

    monkeypatch.setenv("SIUO_DATA_DIR", str(data_dir))
    [task] = get_task_dict([name], task_manager).values()
    return task


def first_request(task, run: Namespace | None):
    task.args = run  # what lmms-eval's evaluate() does before it builds the task's requests
    task.build_all_requests(limit=1)
    return task.instances[0]


@pytest.mark.parametrize("name", ["siuo_gen", "siuo_mcqa"])
def test_a_simple_model_gets_text_and_visual_requests(task_manager, name, monkeypatch, siuo_data_dir):
    task = load_task(task_manager, name, monkeypatch, siuo_data_dir)
    request = first_request(task, SIMPLE_RUN)
    assert task.model_kind == "simple"
    text, gen_kwargs, doc_to_visual, doc_id, task_name, split = request.args
    doc = task.test_docs()[doc_id]
    assert doc["question"] in text and (task_name, split) == (name, "test")
    assert gen_kwargs["max_new_tokens"] == (500 if name == "siuo_gen" else 64)
    [image] = doc_to_visual(doc)
    assert isinstance(image, Image.Image)


@pytest.mark.parametrize("name", ["siuo_gen", "siuo_mcqa"])
def test_a_chat_model_gets_messages_with_the_image(task_manager, name, monkeypatch, siuo_data_dir):
    task = load_task(task_manager, name, monkeypatch, siuo_data_dir)
    request = first_request(task, CHAT_RUN)
    assert task.model_kind == "chat"
    text, doc_to_messages, gen_kwargs, doc_id, task_name, split = request.args
    doc = task.test_docs()[doc_id]
    [message] = doc_to_messages(doc)
    assert message["role"] == "user"
    assert [part["type"] for part in message["content"]] == ["image", "text"]
    assert isinstance(message["content"][0]["url"], Image.Image)
    assert message["content"][1]["text"] == text and doc["question"] in text
    assert gen_kwargs["max_new_tokens"] == (500 if name == "siuo_gen" else 64)


def test_the_chat_turn_follows_model_content_order(task_manager, monkeypatch, siuo_data_dir):
    from siuo_task.lmms import task as task_module

    task = load_task(task_manager, "siuo_gen", monkeypatch, siuo_data_dir)
    _, doc_to_messages, *_ = first_request(task, CHAT_RUN).args
    doc = task.test_docs()[0]
    assert [part["type"] for part in doc_to_messages(doc)[0]["content"]] == ["image", "text"]
    monkeypatch.setattr(task_module, "MODEL_CONTENT_ORDER", ("text", "image"))
    [message] = doc_to_messages(doc)
    assert [part["type"] for part in message["content"]] == ["text", "image"]
    assert doc["question"] in message["content"][0]["text"]


def test_the_image_blind_chat_turn_is_the_text_alone(task_manager, monkeypatch, siuo_data_dir):
    task = load_task(task_manager, "siuo_mcqa_text", monkeypatch, siuo_data_dir)
    _, doc_to_messages, *_ = first_request(task, CHAT_RUN).args
    [message] = doc_to_messages(task.test_docs()[0])
    assert [part["type"] for part in message["content"]] == ["text"]


def test_without_run_arguments_the_task_builds_chat_requests(task_manager, monkeypatch, siuo_data_dir):
    """lmms-eval's Python API passes tasks no run arguments (``task.args`` is None)."""
    task = load_task(task_manager, "siuo_mcqa", monkeypatch, siuo_data_dir)
    _, doc_to_messages, *_ = first_request(task, None).args
    assert callable(doc_to_messages) and task.model_kind == "chat"


def test_the_python_api_can_name_the_kind_in_the_task_config(task_manager, monkeypatch, siuo_data_dir):
    from lmms_eval.tasks import get_task_dict

    monkeypatch.setenv("SIUO_DATA_DIR", str(siuo_data_dir))
    [task] = get_task_dict([{"task": "siuo_mcqa", "model_kind": "simple"}], task_manager).values()
    assert task.model_kind == "simple"
    _, gen_kwargs, doc_to_visual, *_ = first_request(task, CHAT_RUN).args  # the explicit kind wins
    assert isinstance(gen_kwargs, dict) and callable(doc_to_visual)


def test_run_model_kind_is_the_registry_class_kind():
    from siuo_task.lmms.task import run_model_kind

    assert run_model_kind(SIMPLE_RUN) == "simple"
    assert run_model_kind(CHAT_RUN) == "chat"
    assert run_model_kind(Namespace(model="gemma3")) == "simple"  # a simple-only class, no --force_simple
    assert run_model_kind(None) is None
    assert run_model_kind(Namespace(model="no_such_model", force_simple=False)) is None


def test_an_unknown_model_kind_is_refused():
    from siuo_task.lmms.task import SiuoTask

    with pytest.raises(ValueError, match="model_kind must be"):
        SiuoTask(config={"task": "siuo_gen"}, model_kind="audio")
