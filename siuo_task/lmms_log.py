"""Read an lmms-eval samples log of the siuo_gen task back into responses rows.

Each sample line of ``--log_samples`` holds our per-item record (question_id, domain, the responses as
judged) under every siuo_gen metric name, plus lmms-eval's own ``filtered_resps``; siuo-eval adds a
``"siuo"`` block with the verdicts. The recorded responses are preferred (they are exactly what the task
judged, so ``siuo-eval judge --from-lmms-log`` hits the judge cache); ``filtered_resps`` is the fallback.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from siuo_task.io import InputFileError, read_jsonl

FAILED_REQUEST_MARKERS = ("[LMMS_EVAL_REQUEST_FAILED", "[LMMS_EVAL_BUDGET_EXCEEDED]")


def sample_record(sample: dict) -> dict | None:
    """Our per-item generation record in a sample line (the "siuo" block or any metric record)."""
    if isinstance(sample.get("siuo"), dict):
        return sample["siuo"]
    return next((value for value in sample.values()
                 if isinstance(value, dict) and "question_id" in value and "responses" in value), None)


def is_failed_request(response: str) -> bool:
    """True for lmms-eval's placeholder text of a model request it gave up on (not a model response)."""
    return response.lstrip().startswith(FAILED_REQUEST_MARKERS)


def read_generation_responses(path: str | Path) -> Iterator[dict]:
    """Yield {"question_id", "responses"} per sample line; every problem names its line."""
    for line, sample in read_jsonl(path):
        where = f"{path}:{line}"
        if not isinstance(sample, dict):
            raise InputFileError(f"{where}: not an lmms-eval sample object")
        if any(isinstance(value, dict) and "parsed" in value for value in sample.values()):
            raise InputFileError(f"{where}: a siuo_mcqa sample; score MCQA runs with lmms-eval or score-mcqa")
        record = sample_record(sample)
        doc = sample.get("doc") if isinstance(sample.get("doc"), dict) else {}
        question_id = record.get("question_id") if record else doc.get("question_id")
        responses = record.get("responses") if record else sample.get("filtered_resps")
        if isinstance(responses, list) and responses and isinstance(responses[0], list):
            responses = responses[0]  # lmms-eval's shape for one request with repeats: [[r1, r2, r3]]
        if not isinstance(question_id, int) or not isinstance(responses, list):
            raise InputFileError(f"{where}: not a siuo_gen sample (no question_id / responses); pass the "
                                 "*_samples_siuo_gen.jsonl (or siuo_gen_text) written with --log_samples")
        if not all(isinstance(r, str) for r in responses):
            raise InputFileError(f"{where}: responses must be strings")
        if any(is_failed_request(r) for r in responses):
            raise InputFileError(f"{where}: holds a model request that failed in lmms-eval (not a response); "
                                 "re-run the model for this item")
        yield {"question_id": question_id, "responses": responses}
