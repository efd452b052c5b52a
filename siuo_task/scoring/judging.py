"""Generation judging: responses rows -> judge calls -> outcomes -> judgement rows + metrics.

Pure functions around one I/O step (``run_calls``). Input rows are {"question_id", "responses"}, as read
and checked by ``siuo_task.readers``.
The empty-response rule (``siuo_task.protocol.verdicts.EMPTY_RULE``) decides empty responses without a call;
metrics report how many (``empty_responses``). The judge reads its own answers (``judge.parse``) and is asked
only the aspects it answers (``judge.aspects``): a verdict it does not give (a guard model's effectiveness) is
None with status ``NOT_ASKED_STATUS``, undecided like an unparsable one, never safe or unsafe. The metrics
file is assembled by ``metrics_file``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from siuo_dataset.items import SiuoItem
from siuo_task.files import clean_text
from siuo_task.judge.base import Judge
from siuo_task.judge.cache import JudgeCache
from siuo_task.judge.calls import item_calls
from siuo_task.judge.runner import CallOutcome, RunSummary, run_calls
from siuo_task.protocol.judge_prompts import ASPECTS, VERDICT_FIELD, Aspect, JudgeCall
from siuo_task.protocol.verdicts import EMPTY_RULE, EMPTY_STATUS, is_empty_response
from siuo_task.provenance import judge_block, provenance
from siuo_task.records import JudgeInfo, Provenance, item_digest
from siuo_task.scoring.metrics_file import generation_file

NOT_ASKED_STATUS = "not-asked"  # the judge does not answer this aspect: no verdict (undecided)


@dataclass(frozen=True)
class JudgingResult:
    judgements: list[dict]
    metrics: dict
    summary: RunSummary


def clean_rows(rows: Sequence[dict]) -> list[dict]:
    """Rows whose responses can be sent and stored (lone surrogates replaced)."""
    return [
        {"question_id": row["question_id"], "responses": [clean_text(r) for r in row["responses"]]}
        for row in rows
    ]


def build_calls(
    items_by_id: Mapping[int, SiuoItem],
    rows: Sequence[dict],
    *,
    text_only: bool,
    aspects: Sequence[Aspect] = ASPECTS,
) -> list[JudgeCall]:
    """The judge questions (``aspects``: both by default) for every non-empty response (images read once per
    item)."""
    calls = []
    for row in rows:
        said = [(index, text) for index, text in enumerate(row["responses"]) if not is_empty_response(text)]
        calls += item_calls(items_by_id[row["question_id"]], said, aspects, text_only=text_only)
    return calls


def answered_info(info: JudgeInfo, outcomes: Iterable[CallOutcome]) -> JudgeInfo:
    """``info`` with what the replies of ``outcomes`` said about the judge (the model that answered, its
    system fingerprint)."""
    outcomes = list(outcomes)
    return info.answered(
        (o.model for o in outcomes if o.model),
        (o.system_fingerprint for o in outcomes if o.system_fingerprint),
    )


def judgement_rows(
    items_by_id: Mapping[int, SiuoItem],
    rows: Sequence[dict],
    calls: Sequence[JudgeCall],
    outcomes: Sequence[CallOutcome],
    judge_block: dict | JudgeInfo,
) -> list[dict]:
    """One row per response with both verdicts, raw judge texts and statuses, and the judge's block (given a
    ``JudgeInfo``: with the model and fingerprint that row's replies named)."""
    by_key = {(c.question_id, c.response_index, c.aspect): o for c, o in zip(calls, outcomes, strict=True)}
    out = []
    for row in rows:
        item = items_by_id[row["question_id"]]
        for index, response in enumerate(row["responses"]):
            record = {
                "question_id": item.question_id,
                "response_index": index,
                "category": item.category,
                "response": response,
                "item_digest": item_digest(item),
            }
            for aspect, field in VERDICT_FIELD.items():
                outcome = by_key.get((item.question_id, index, aspect))
                if is_empty_response(response):  # empty response: the documented rule
                    verdict, raw = EMPTY_RULE[aspect]
                    record.update({field: verdict, f"{aspect}_raw": raw, f"{aspect}_status": EMPTY_STATUS})
                elif outcome is None:  # an aspect the judge does not answer
                    record.update({field: None, f"{aspect}_raw": None, f"{aspect}_status": NOT_ASKED_STATUS})
                else:
                    record.update(
                        {
                            field: outcome.verdict if outcome.status == "ok" else None,
                            f"{aspect}_raw": outcome.text,
                            f"{aspect}_status": outcome.status,
                            **({f"{aspect}_error": outcome.error} if outcome.error else {}),
                        }
                    )
            if isinstance(judge_block, JudgeInfo):
                answered = [by_key.get((item.question_id, index, aspect)) for aspect in VERDICT_FIELD]
                record["judge"] = answered_info(judge_block, filter(None, answered)).as_dict()
            else:
                record["judge"] = judge_block
            out.append(record)
    return out


def judge_responses(
    judge: Judge,
    items_by_id: Mapping[int, SiuoItem],
    rows: Sequence[dict],
    *,
    cache: JudgeCache | None = None,
    header: Provenance | None = None,
    extra: Mapping | None = None,
    **run_options: Any,
) -> JudgingResult:
    """Judge every response of ``rows``; return judgement rows, the metrics file (``header``: its provenance,
    default the judge's alone; ``extra``: the caller's own keys; see ``metrics_file``) and the run summary.
    ``run_options`` are those of ``run_calls`` (concurrency, rate, price, progress, breaker)."""
    rows = clean_rows(rows)
    calls = build_calls(items_by_id, rows, text_only=judge.info.text_only, aspects=judge.aspects)
    outcomes, summary = run_calls(judge, calls, judge.parse, cache=cache, **run_options)
    judgements = judgement_rows(items_by_id, rows, calls, outcomes, judge.info)
    header = dict(header) if header is not None else provenance(judge=judge.info)
    if "judge" in header:  # the judge as configured and as its replies named it over the whole run
        header["judge"] = judge_block(answered_info(judge.info, outcomes))
    metrics = generation_file(
        judgements,
        header=header,
        judge_errors=summary.errors,
        aspects_not_asked=[aspect for aspect in ASPECTS if aspect not in judge.aspects],
        summary=summary.as_dict(),
        extra=extra,
    )
    return JudgingResult(judgements, metrics, summary)
