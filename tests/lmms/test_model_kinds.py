"""SiuoTask serves both kinds of lmms-eval model class: lmms-eval's own task loader decides (``task_type``,
from ``lm.is_simple``) and our ``class:`` task follows it, as lmms-eval's YAML tasks do. A simple model gets
``(text, gen_kwargs, doc_to_visual, doc_id, task, split)``, a chat model ``(text, doc_to_messages, gen_kwargs,
doc_id, task, split)`` whose messages carry the image. lmms-eval is imported inside the tests (see
test_tasks.py)."""

from __future__ import annotations

import pytest
from PIL import Image

from siuo_task.lmms import SOURCE_TASKS_DIR


@pytest.fixture(scope="module")
def task_manager():
    from lmms_eval.tasks import TaskManager

    return TaskManager("ERROR", include_path=str(SOURCE_TASKS_DIR), include_defaults=False)


def first_request(task_manager, kind: str, name: str, monkeypatch, data_dir):
    from lmms_eval.tasks import get_task_dict

    monkeypatch.setenv("SIUO_DATA_DIR", str(data_dir))
    task = get_task_dict([name], task_manager, kind)[name]
    task.build_all_requests(limit=1)
    return task, task.instances[0]


@pytest.mark.parametrize("name", ["siuo_gen", "siuo_mcqa"])
def test_a_simple_model_gets_text_and_visual_requests(task_manager, name, monkeypatch, siuo_data_dir):
    task, request = first_request(task_manager, "simple", name, monkeypatch, siuo_data_dir)
    assert task.model_kind == "simple"
    text, gen_kwargs, doc_to_visual, doc_id, task_name, split = request.args
    doc = task.test_docs()[doc_id]
    assert doc["question"] in text and (task_name, split) == (name, "test")
    assert gen_kwargs["max_new_tokens"] == (500 if name == "siuo_gen" else 64)
    [image] = doc_to_visual(doc)
    assert isinstance(image, Image.Image)


@pytest.mark.parametrize("name", ["siuo_gen", "siuo_mcqa"])
def test_a_chat_model_gets_messages_with_the_image(task_manager, name, monkeypatch, siuo_data_dir):
    task, request = first_request(task_manager, "chat", name, monkeypatch, siuo_data_dir)
    assert task.model_kind == "chat"
    text, doc_to_messages, gen_kwargs, doc_id, task_name, split = request.args
    doc = task.test_docs()[doc_id]
    [message] = doc_to_messages(doc)
    assert message["role"] == "user"
    assert [part["type"] for part in message["content"]] == ["image", "text"]
    assert isinstance(message["content"][0]["url"], Image.Image)
    assert message["content"][1]["text"] == text and doc["question"] in text
    assert gen_kwargs["max_new_tokens"] == (500 if name == "siuo_gen" else 64)


def test_outside_lmms_evals_task_loader_there_is_no_model_kind():
    from siuo_task.lmms.task import loader_task_type

    assert loader_task_type() is None
