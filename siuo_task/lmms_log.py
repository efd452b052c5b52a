"""Read an lmms-eval samples log of the siuo_gen task back into responses rows."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from siuo_task.io import InputFileError, read_jsonl


def sample_question_id(sample: dict) -> int | None:
    """The SIUO question_id recorded in a sample line (our "siuo" block or any metric record)."""
    if isinstance(sample.get("siuo"), dict):
        return sample["siuo"].get("question_id")
    for value in sample.values():
        if isinstance(value, dict) and "question_id" in value and "responses" in value:
            return value["question_id"]
    return None


def read_generation_responses(path: str | Path) -> Iterator[dict]:
    """Yield {"question_id", "responses"} per sample line; errors name the line."""
    for line, sample in read_jsonl(path):
        if not isinstance(sample, dict):
            raise InputFileError(f"{path}:{line}: not an lmms-eval sample object")
        question_id = sample_question_id(sample)
        responses = sample.get("filtered_resps")
        if question_id is None or not isinstance(responses, list):
            raise InputFileError(f"{path}:{line}: not a siuo_gen sample (no question_id / filtered_resps); "
                                 "pass the samples_siuo_gen*.jsonl written with --log_samples")
        if responses and isinstance(responses[0], list):  # unfiltered shape: [[r1, r2, r3]]
            responses = responses[0]
        yield {"question_id": question_id, "responses": responses}
