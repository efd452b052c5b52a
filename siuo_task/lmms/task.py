"""lmms-eval task glue: the ``class:`` task, documents -> model input, model output -> per-item records.

SIUO is resolved, verified and validated once per process (``loaded_siuo``); the documents are built from
those items. ``process_results`` gives every metric of a task the same per-item record plus the metric's own
name (``"metric"``), so a few shared aggregation functions (``siuo_task.lmms.aggregation``) serve all metrics.
A generation record carries what judging needs (question, safety warning, reference answer, domain, image
name), so aggregation never reloads the dataset.

Metric names come from the metric definitions (``siuo_task.lmms.metric_list``, which also writes the YAMLs'
``metric_list``): ``rate_<metric>@all``, ``rate_<metric>@<domain key>``, ``mcqa_<metric>@...`` and each
task's counts.
"""

from __future__ import annotations

import functools
import inspect
import os

import datasets
from lmms_eval.api.task import ConfigurableMessagesTask, ConfigurableTask

from siuo_dataset.domains import DOMAINS
from siuo_dataset.errors import SiuoError
from siuo_dataset.options import OPTION_LETTERS
from siuo_dataset.schema import FEATURES, item_to_row
from siuo_task.lmms import judge_config
from siuo_task.lmms.metric_list import metric_names
from siuo_task.lmms.results import DEFER_JUDGING_ENV, with_judge
from siuo_task.lmms.task_data import loaded_siuo, mark_image_blind
from siuo_task.protocol.mcqa import parse_mcqa_answer
from siuo_task.protocol.metric_defs import GENERATION, MCQA
from siuo_task.protocol.model_prompts import MODEL_CONTENT_ORDER, build_mcqa_prompt
from siuo_task.readers import is_failed_request

# lmms-eval 0.7.3 has two kinds of model class (``lm.is_simple``). For its own YAML tasks it builds
# ``ConfigurableTask`` (requests ``(text, gen_kwargs, doc_to_visual, ...)``) for a simple class and
# ``ConfigurableMessagesTask`` (``(text, doc_to_messages, gen_kwargs, ...)``) for a chat one; a ``class:``
# task is built as ``config["class"](config=config)`` and told neither. What lmms-eval does tell every task,
# before it builds its requests, is the run's arguments (``evaluate`` sets ``task.args``, which the
# aggregations get too): ``--model`` and ``--force_simple``, the two things it picked the model class by.
MODEL_KINDS = ("simple", "chat")


def run_model_kind(args) -> str | None:
    """``"simple"`` or ``"chat"``: the kind of model class lmms-eval loads for a run's ``--model`` and
    ``--force_simple`` (its registry's class, as ``simple_evaluate`` picks it); None without run arguments
    (lmms-eval's Python API passes none to tasks) or for a model the registry does not resolve."""
    model = getattr(args, "model", None)
    if not isinstance(model, str) or not model:
        return None
    from lmms_eval.models import get_model

    try:
        model_class = get_model(model, force_simple=bool(getattr(args, "force_simple", False)))
    except Exception:  # lmms-eval loaded its model before building requests; anything else is not ours
        return None
    return "simple" if getattr(model_class, "is_simple", True) else "chat"


def judge_metadata(task: str, metadata: dict) -> dict:
    """A generation task's YAML ``metadata`` naming its configured judge (``with_judge``). MCQA tasks (no
    judge), a judge that cannot be configured (the aggregation says why) and a run under siuo-eval (which
    judges afterwards and names its judge then, ``set_gen_results``) keep theirs."""
    if not task.startswith("siuo_gen") or os.environ.get(DEFER_JUDGING_ENV):
        return metadata
    try:
        info = judge_config().build().info
    except SiuoError:
        return metadata
    return with_judge(metadata, info.as_dict())


class SiuoTask(ConfigurableMessagesTask):
    """A SIUO task whose documents come from ``siuo_dataset`` (config in ``dataset_name``).

    It serves both kinds of lmms-eval model class, as lmms-eval's own YAML tasks do: chat models get chat
    messages (``doc_to_messages``: one user turn in ``MODEL_CONTENT_ORDER``), simple models get
    ``(text, doc_to_visual)`` requests (``ConfigurableTask``'s). ``model_kind`` is read as each request is
    built (lmms-eval sets ``args`` first): the ``model_kind`` given to the constructor (or as ``model_kind``
    in the task's config, for lmms-eval's Python API), else the kind of model class lmms-eval loaded for the
    run (``run_model_kind(self.args)``), else ``"chat"``. The same YAMLs serve both.

    The task owns its aggregation memo (``scored``): lmms-eval calls an aggregation once per metric, and
    ``aggregation()`` hands ours this task's memo, so a task's records are judged once (one entry per distinct
    record list, i.e. per filter of the task: one in our YAMLs) and nothing outlives the task.
    """

    def __init__(self, config: dict | None = None, model_kind: str | None = None, **kwargs) -> None:
        config = {k: v for k, v in (config or {}).items() if k != "class"}
        model_kind = config.pop("model_kind", None) if model_kind is None else model_kind
        if model_kind not in (None, *MODEL_KINDS):
            raise ValueError(f"model_kind must be 'simple' or 'chat', not {model_kind!r}")
        self._model_kind = model_kind
        self.scored: dict[str, dict] = {}
        if isinstance(config.get("metadata"), dict) and isinstance(config.get("task"), str):
            config["metadata"] = judge_metadata(config["task"], config["metadata"])  # the judge in results
        super().__init__(config=config, **kwargs)

    @property
    def model_kind(self) -> str:
        """The kind of model class the requests are built for (see the class docstring)."""
        return self._model_kind or run_model_kind(getattr(self, "args", None)) or "chat"

    def construct_requests(self, doc_id: int, ctx: str, **kwargs):
        if self.model_kind == "simple":
            return ConfigurableTask.construct_requests(self, doc_id, ctx, **kwargs)
        return super().construct_requests(doc_id, ctx, **kwargs)  # (ctx, self.doc_to_messages, gen_kwargs...)

    def doc_to_messages(self, doc: dict, **round_kwargs) -> list[dict]:
        """A chat model's input: one user turn, the item's visuals and the text in ``MODEL_CONTENT_ORDER``."""
        parts = {
            "image": [{"type": "image", "url": visual} for visual in self.doc_to_visual(doc) or []],
            "text": [{"type": "text", "text": self.doc_to_text(doc)}],
        }
        return [{"role": "user", "content": [part for kind in MODEL_CONTENT_ORDER for part in parts[kind]]}]

    def aggregation(self) -> dict:
        """lmms-eval's metric -> aggregation map, ours bound to this task's memo (``scored``)."""
        return {name: self._with_memo(function) for name, function in super().aggregation().items()}

    def _with_memo(self, function):
        try:
            takes_memo = "scored" in inspect.signature(function).parameters
        except (TypeError, ValueError):
            takes_memo = False
        return functools.partial(function, scored=self.scored) if takes_memo else function

    def __repr__(self) -> str:
        return f"SiuoTask(task_name={getattr(self.config, 'task', None)}, model_kind={self.model_kind})"

    def download(self, dataset_kwargs=None) -> None:
        text_only = bool((self.config.metadata or {}).get("text_only"))
        if text_only:
            mark_image_blind(self.config.task)
        loaded = loaded_siuo(self.config.task, allow_missing_images=text_only)
        name = self.config.dataset_name
        data = datasets.Dataset.from_list(
            [item_to_row(item, name) for item in loaded.items], features=FEATURES[name]
        )
        self.dataset = datasets.DatasetDict({"test": data})
        self.dataset_no_image = datasets.DatasetDict({"test": data.remove_columns(["image"])})


# ---- documents -> model input ------------------------------------------------------------------------------


def doc_to_visual(doc: dict) -> list:
    """The item's image as the only visual."""
    return [doc["image"].convert("RGB")]


def doc_to_no_visual(doc: dict) -> list:
    """Image-blind ablation: no visual at all."""
    return []


def gen_doc_to_text(doc: dict, lmms_eval_specific_kwargs: dict | None = None) -> str:
    """The user's question, as is."""
    return doc["question"]


def mcqa_doc_to_text(doc: dict, lmms_eval_specific_kwargs: dict | None = None) -> str:
    """The fixed MCQA prompt."""
    return build_mcqa_prompt(doc["question"], doc["options"])


def _domain_name(doc: dict) -> str:
    return DOMAINS[doc["category"]].name if isinstance(doc["category"], int) else doc["category"]


def _per_metric(names: list[str], record: dict) -> dict:
    return {name: {"metric": name, **record} for name in names}


# ---- model output -> per-item records ----------------------------------------------------------------------


def gen_metric_names() -> list[str]:
    """The siuo_gen metric names, in the order of its YAML."""
    return metric_names(GENERATION)


def mcqa_metric_names() -> list[str]:
    """The siuo_mcqa metric names, in the order of its YAML."""
    return metric_names(MCQA)


def gen_process_results(doc: dict, results: list[str], variant: str = "siuo_gen") -> dict:
    """Keep all responses (take_first_k k=3) and what the judge needs; judged once, in aggregation."""
    responses = [r if r is not None else "" for r in results]
    record = {
        "task": variant,
        "question_id": doc["question_id"],
        "domain": _domain_name(doc),
        "image_name": doc["image_name"],
        "question": doc["question"],
        "safety_warning": doc["safety_warning"],
        "reference_answer": doc["reference_answer"],
        "responses": responses,
        "failed_requests": sum(is_failed_request(r) for r in responses),
    }
    return _per_metric(gen_metric_names(), record)


def gen_text_process_results(doc: dict, results: list[str]) -> dict:
    """As ``gen_process_results``, for the image-blind variant."""
    return gen_process_results(doc, results, variant="siuo_gen_text")


def mcqa_process_results(doc: dict, results: list[str], variant: str = "siuo_mcqa") -> dict:
    """Parse the answer deterministically."""
    answer = results[0] if results else ""
    failed = is_failed_request(answer)
    letter = None if failed else parse_mcqa_answer(answer, doc["options"])
    correct = (
        OPTION_LETTERS[doc["correct_option"]]
        if isinstance(doc["correct_option"], int)
        else doc["correct_option"]
    )
    record = {
        "task": variant,
        "question_id": doc["question_id"],
        "domain": _domain_name(doc),
        "response": answer,
        "failed_request": failed,
        "parsed": letter,
        "correct_option": correct,
        "correct": letter == correct,
    }
    return _per_metric(mcqa_metric_names(), record)


def mcqa_text_process_results(doc: dict, results: list[str]) -> dict:
    """As ``mcqa_process_results``, for the image-blind variant."""
    return mcqa_process_results(doc, results, variant="siuo_mcqa_text")
