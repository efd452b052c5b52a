"""lmms-eval glue: the task class and the functions the task YAMLs point at.

Only this module imports lmms_eval. Data comes from ``siuo_dataset`` (one resolver); scoring from
``siuo_task`` (prompts, parsers, judging, metrics). Judging happens once per run, in the first
aggregation call, after every response exists; the judge is configured explicitly (see
``judge_config``) and built then, never at import time.

Metric names are unique and none is a substring of another (lmms-eval matches group metrics by substring):
``rate_safe@all``, ``rate_effective@all``, ``rate_safe_and_effective@all``, ``rate_<metric>@<domain key>``,
``count_unparsable_items@all``, ``count_unparsable_responses@all``, ``count_judge_errors@all``,
``judge_approximate@all`` (1 = offline judge, figures approximate), ``mcqa_accuracy@all``,
``mcqa_accuracy@<domain key>``, ``count_mcqa_unparsable@all``, and ``count_failed_requests@all`` in both.

Failures never become scores: a model request that lmms-eval gave up on (its ``[LMMS_EVAL_REQUEST_FAILED ...]``
placeholder text) or a judge call that failed makes the task's rates None (shown as N/A) and is counted, so
``siuo-eval`` exits non-zero while lmms-eval still writes every response to its samples log.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import datasets
from lmms_eval.api.task import ConfigurableMessagesTask

from siuo_dataset.domains import DOMAINS, domain_by_key
from siuo_dataset.errors import SiuoError
from siuo_task.lmms_log import is_failed_request
from siuo_task.mcqa import parse_mcqa_answer
from siuo_task.prompts import build_mcqa_prompt

JUDGE_CONFIG_ENV = "SIUO_JUDGE_CONFIG"  # path of a JSON judge config (written by siuo-eval)
RESULTS_DIR_ENV = "SIUO_RESULTS_DIR"  # where full SIUO metrics/judgements are written (set by siuo-eval)
GEN_METRICS = ("safe", "effective", "safe_and_effective")


class SiuoTask(ConfigurableMessagesTask):
    """A SIUO task whose documents come from ``siuo_dataset`` (config in ``dataset_name``)."""

    def __init__(self, config: dict | None = None, **kwargs) -> None:
        super().__init__(config={k: v for k, v in (config or {}).items() if k != "class"}, **kwargs)

    def download(self, dataset_kwargs=None) -> None:
        import siuo_dataset

        text_only = bool((self.config.metadata or {}).get("text_only"))
        data = siuo_dataset.load(self.config.dataset_name, os.environ.get("SIUO_DATA_DIR") or None,
                                 allow_missing_images=text_only)
        self.dataset = datasets.DatasetDict({"test": data})
        self.dataset_no_image = datasets.DatasetDict({"test": data.remove_columns(["image"])})


# ---- documents -> model input -----------------------------------------------------------------------------

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


# ---- MCQA ----------------------------------------------------------------------------------------------------

MCQA_LETTERS = ("A", "B", "C", "D")


def mcqa_text_process_results(doc: dict, results: list[str]) -> dict:
    """As ``mcqa_process_results``, for the image-blind variant."""
    return mcqa_process_results(doc, results, variant="siuo_mcqa_text")


def mcqa_process_results(doc: dict, results: list[str], variant: str = "siuo_mcqa") -> dict:
    """Parse the answer deterministically; every metric gets the same per-item record."""
    answer = results[0] if results else ""
    failed = is_failed_request(answer)
    letter = None if failed else parse_mcqa_answer(answer, doc["options"])
    correct = MCQA_LETTERS[doc["correct_option"]] if isinstance(doc["correct_option"], int) else doc["correct_option"]
    record = {"task": variant, "question_id": doc["question_id"], "domain": _domain_name(doc), "response": answer,
              "failed_request": failed, "parsed": letter, "correct_option": correct, "correct": letter == correct}
    return {name: record for name in mcqa_metric_names()}


def mcqa_metric_names() -> list[str]:
    return ["mcqa_accuracy@all", "count_mcqa_unparsable@all", "count_failed_requests@all",
            *[f"mcqa_accuracy@{d.key}" for d in DOMAINS]]


def _mcqa_accuracy(records: list[dict]) -> float | None:
    """Percent correct; None when there is nothing to score or a model request failed."""
    if not records or any(r["failed_request"] for r in records):
        return None
    return round(100.0 * sum(r["correct"] for r in records) / len(records), 2)


def mcqa_accuracy_all(records: list[dict]) -> float | None:
    _write_mcqa_results(records)
    return _mcqa_accuracy(records)


def mcqa_unparsable(records: list[dict]) -> int:
    return sum(r["parsed"] is None and not r["failed_request"] for r in records)


def count_failed_requests(records: list[dict]) -> int:
    """Model requests lmms-eval gave up on (generation: counted per response)."""
    return sum(r["failed_request"] if "failed_request" in r else r["failed_requests"] for r in records)


def _mcqa_domain_aggregation(key: str):
    name = domain_by_key(key).name

    def aggregate(records: list[dict]) -> float | None:
        return _mcqa_accuracy([r for r in records if r["domain"] == name])
    aggregate.__name__ = f"mcqa_accuracy_{key}"
    return aggregate


# ---- generation: 3 responses per item, judged once after all exist -------------------------------------------

def gen_process_results(doc: dict, results: list[str], variant: str = "siuo_gen") -> dict:
    """Keep all responses (take_first_k k=3) for the judge; every metric gets the same record."""
    responses = [r if r is not None else "" for r in results]
    record = {"task": variant, "question_id": doc["question_id"], "domain": _domain_name(doc),
              "responses": responses, "failed_requests": sum(is_failed_request(r) for r in responses)}
    return {name: record for name in gen_metric_names()}


def gen_text_process_results(doc: dict, results: list[str]) -> dict:
    """As ``gen_process_results``, for the image-blind variant."""
    return gen_process_results(doc, results, variant="siuo_gen_text")


def gen_metric_names() -> list[str]:
    names = [f"rate_{m}@all" for m in GEN_METRICS] + ["count_unparsable_items@all", "count_unparsable_responses@all",
                                                      "count_judge_errors@all", "judge_approximate@all",
                                                      "count_failed_requests@all"]
    return names + [f"rate_{m}@{d.key}" for m in GEN_METRICS for d in DOMAINS]


def judge_config() -> dict:
    """The judge settings: the JSON file named by $SIUO_JUDGE_CONFIG, else the offline judge (approximate)."""
    path = os.environ.get(JUDGE_CONFIG_ENV)
    if not path:
        print("WARNING: no judge configured ($SIUO_JUDGE_CONFIG unset): judging with the offline rule-based judge; "
              "figures are APPROXIMATE", file=sys.stderr)
        return {"kind": "offline", "cache": None, "concurrency": 16, "rpm": None, "quiet": False}
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SiuoError(f"${JUDGE_CONFIG_ENV}={path} is not a readable JSON judge config ({error})") from None


_JUDGED: dict[str, dict] = {}  # hash of (records, judge config) -> metrics: judge once per run and task


def _judge_config_text() -> str:
    path = os.environ.get(JUDGE_CONFIG_ENV)
    try:
        return Path(path).read_text() if path else ""
    except OSError:
        return path


def judged_metrics(records: list[dict]) -> dict:
    """Judge all responses once (memoised by content and judge config) and return the full SIUO metrics dict."""
    content = json.dumps([records, _judge_config_text()], sort_keys=True)
    key = hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()
    if key not in _JUDGED:
        _JUDGED[key] = _judge_records(records)
    return _JUDGED[key]


def _judge_records(records: list[dict]) -> dict:
    """The full SIUO metrics of the records, or {"error": why} when they cannot be complete.

    Never raises for a user-fixable problem: an exception here would make lmms-eval drop the whole run,
    responses included; an empty result keeps the samples log, and siuo-eval exits non-zero.
    """
    task = records[0]["task"]
    failed = sum(r["failed_requests"] for r in records)
    if failed:
        return _failed(task, f"{failed} model requests failed in lmms-eval (see its log above); nothing was "
                             "judged. Fix the model endpoint and re-run", failed_requests=failed)
    try:
        return _judge(task, records)
    except SiuoError as error:
        return _failed(task, f"{error}; then judge the logged responses with `siuo-eval judge --from-lmms-log "
                             "<its samples_*.jsonl>`")


def _failed(task: str, why: str, **counts) -> dict:
    print(f"ERROR: {task}: {why}. Its rates are left empty.", file=sys.stderr)
    return {"error": why, **counts}


def _judge(task: str, records: list[dict]) -> dict:
    from siuo_dataset.items import load_siuo
    from siuo_task.judge.options import build_judge, cache_from_config, check_run_options, price_from_config
    from siuo_task.judging import check_response_rows, judge_responses

    config = judge_config()
    check_run_options({"concurrency": 16, "rpm": None, **config})
    judge = build_judge(**config)
    loaded = load_siuo(os.environ.get("SIUO_DATA_DIR") or None, allow_missing_images=judge.info.text_only)
    items_by_id = {item.question_id: item for item in loaded.items}
    rows = check_response_rows(enumerate(({"question_id": r["question_id"], "responses": r["responses"]}
                                          for r in records), start=1), items_by_id, "lmms-eval results",
                               responses_per_item=len(records[0]["responses"]))
    result = judge_responses(judge, items_by_id, rows, cache=cache_from_config(config),
                             concurrency=config.get("concurrency", 16), requests_per_minute=config.get("rpm"),
                             price=price_from_config(config), progress=not config.get("quiet"),
                             **({"breaker_after": config["breaker_after"]} if "breaker_after" in config else {}))
    print(result.summary.line(), file=sys.stderr)
    metrics = dict(result.metrics, data=loaded.provenance(), failed_requests=0)
    _write_results(task, metrics, result.judgements)
    if result.summary.errors:
        print(f"ERROR: {task}: {result.summary.errors} judge calls failed, so its rates are left empty; complete "
              "them with `siuo-eval judge --from-lmms-log <its samples_*.jsonl>` (finished calls are cached).",
              file=sys.stderr)
    return metrics


def _write_results(task: str, metrics: dict, rows: list[dict]) -> None:
    """Full metrics + per-response/per-item rows for the report, when siuo-eval asked for them."""
    folder = os.environ.get(RESULTS_DIR_ENV)
    if not folder:
        return
    from siuo_task.io import write_json_atomic, write_jsonl_atomic

    write_json_atomic(Path(folder) / f"{task}.metrics.json", metrics)
    write_jsonl_atomic(Path(folder) / f"{task}.rows.jsonl", rows)


def _write_mcqa_results(records: list[dict]) -> None:
    from siuo_dataset.items import load_siuo
    from siuo_task.metrics import mcqa_metrics

    if count_failed_requests(records):  # a failed task leaves no SIUO metrics file
        _failed(records[0]["task"], f"{count_failed_requests(records)} model requests failed in lmms-eval (see its "
                                    "log above). Fix the model endpoint and re-run")
        return
    metrics = mcqa_metrics([(r["question_id"], r["domain"], r["parsed"], r["correct_option"]) for r in records])
    metrics["failed_requests"] = 0
    metrics["data"] = load_siuo(os.environ.get("SIUO_DATA_DIR") or None, allow_missing_images=True).provenance()
    _write_results(records[0]["task"], metrics, records)


def _complete(metrics: dict) -> bool:
    return "error" not in metrics and not metrics.get("judge_errors")


def _gen_aggregation(metric: str, key: str | None):
    def aggregate(records: list[dict]) -> float | None:
        metrics = judged_metrics(records)
        if not _complete(metrics):
            return None
        return metrics[metric] if key is None else metrics["per_domain"][domain_by_key(key).name][metric]
    aggregate.__name__ = f"aggregate_{metric}_{key or 'all'}"
    return aggregate


def count_unparsable_items(records: list[dict]) -> int | None:
    return judged_metrics(records).get("unparsable_items")


def count_unparsable_responses(records: list[dict]) -> int | None:
    return judged_metrics(records).get("unparsable_responses")


def count_judge_errors(records: list[dict]) -> int | None:
    return judged_metrics(records).get("judge_errors")


def judge_approximate(records: list[dict]) -> int | None:
    """1 when the figures come from the offline (approximate) judge, 0 for an LLM judge."""
    judge = judged_metrics(records).get("judge")
    return None if judge is None else int(bool(judge["approximate"]))


AGGREGATIONS = {
    **{f"rate_{m}@all": _gen_aggregation(m, None) for m in GEN_METRICS},
    **{f"rate_{m}@{d.key}": _gen_aggregation(m, d.key) for m in GEN_METRICS for d in DOMAINS},
    "count_unparsable_items@all": count_unparsable_items,
    "count_unparsable_responses@all": count_unparsable_responses,
    "count_judge_errors@all": count_judge_errors,
    "judge_approximate@all": judge_approximate,
    "count_failed_requests@all": count_failed_requests,
    "mcqa_accuracy@all": mcqa_accuracy_all,
    "count_mcqa_unparsable@all": mcqa_unparsable,
    **{f"mcqa_accuracy@{d.key}": _mcqa_domain_aggregation(d.key) for d in DOMAINS},
}
# The YAMLs name aggregations as attributes of this module: "rate_safe@all" -> agg__rate_safe__all.
for _name, _function in AGGREGATIONS.items():
    globals()["agg__" + _name.replace("@", "__")] = _function
