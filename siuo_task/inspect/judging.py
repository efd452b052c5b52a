"""One response judged inside Inspect, by our judge or by Inspect's grader model: the same calls, prompts,
verdict parsing, re-ask, empty-response rule, cache and judgement rows as every other path
(``siuo_task.scoring.judging.judge_responses``).

Which judge (``TaskJudge.resolve``, once per task, at its first response):
1. ours, when the task was given one (``-T judge_model=...``, ``-T judge=BACKEND``, a registered backend):
   ``JudgeConfig`` with its cache, concurrency, retries and identity;
2. else Inspect's ``grader`` model role when the run has one (``--model-role grader=...``): a ``GraderJudge``
   (our ``Judge`` protocol, so our runner, cache and re-ask go around it), recorded as backend ``inspect``
   with the grader's model name;
3. else the offline rule-based judge, labelled approximate in every result.

Each response is judged in a thread of the task's own pool (``judge_responses`` runs its own event loop
there), never in the event loop's default executor, which Inspect itself needs (a grader's requests are sent
back to Inspect's event loop, and would wait forever for a default executor filled with judgements). The pool
has ``concurrency // 2`` threads: at most ``concurrency`` judge calls in flight per task.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from inspect_ai.model import ChatMessageUser, ContentImage, ContentText, GenerateConfig, Model, model_roles

from siuo_dataset.items import SiuoItem
from siuo_task.judge.base import Judge, JudgeReply, image_data_url
from siuo_task.judge.config import JudgeConfig
from siuo_task.protocol.judge_prompts import JUDGE_TEMPERATURE, PROMPT_VERSION, JudgeCall, judge_content
from siuo_task.records import JudgeInfo
from siuo_task.scoring.judging import judge_responses

GRADER_ROLE = "grader"
GRADER_BACKEND = "inspect"  # JudgeInfo.backend of a judgement by Inspect's grader model role


class GraderJudge(Judge):
    """Inspect's grader model as one of our judges (the ``Judge`` protocol: the SIUO judge's aspects and
    verdict format): ``complete`` is called from our runner's threads and sends the request to Inspect's event
    loop ``loop``."""

    def __init__(self, model: Model, loop: asyncio.AbstractEventLoop, *, text_only: bool) -> None:
        self.model = model
        self.loop = loop
        self.info = JudgeInfo(
            backend=GRADER_BACKEND,
            model=str(model),
            prompt_version=PROMPT_VERSION,
            temperature=JUDGE_TEMPERATURE,
            text_only=text_only,
        )

    def complete(self, call: JudgeCall) -> JudgeReply:
        return asyncio.run_coroutine_threadsafe(self._generate(call), self.loop).result()

    async def _generate(self, call: JudgeCall) -> JudgeReply:
        content = [
            ContentText(text=value) if kind == "text" else ContentImage(image=image_data_url(value))
            for kind, value in judge_content(call, text_only=self.info.text_only)
        ]
        output = await self.model.generate(
            [ChatMessageUser(content=content)], config=GenerateConfig(temperature=JUDGE_TEMPERATURE)
        )
        usage = output.usage
        return JudgeReply(
            output.completion,
            usage.input_tokens if usage else 0,
            usage.output_tokens if usage else 0,
        )


@dataclass
class TaskJudge:
    """The judge of one task run: chosen at the first response (``resolve``), then shared by its samples."""

    config: JudgeConfig
    judge: Judge | None = None
    _cache: object = None
    _pool: ThreadPoolExecutor | None = None

    @property
    def explicit(self) -> bool:
        """Whether the task was given a judge of ours (not left to the grader role or the offline default)."""
        return bool(self.config.kind or self.config.model)

    def resolve(self) -> Judge:
        if self.judge is None:
            grader = None if self.explicit else model_roles().get(GRADER_ROLE)
            if isinstance(grader, list):
                grader = grader[0] if grader else None
            if grader is not None:
                self.judge = GraderJudge(grader, asyncio.get_running_loop(), text_only=self.config.text_only)
            else:
                self.judge = self.config.build()
            self._cache = self.config.open_cache()
            # each response asks two questions: half the judge's concurrency in responses
            self._pool = ThreadPoolExecutor(max(1, self.config.concurrency // 2), "siuo-judge")
        return self.judge

    async def judge_response(self, item: SiuoItem, index: int, response: str) -> tuple[dict, dict]:
        """The judgement row of response ``index`` to ``item`` (as ``judgements.jsonl`` holds it) and the
        run summary of its calls."""
        judge = self.resolve()
        options = {**self.config.run_options(), "progress": False}
        rows = [{"question_id": item.question_id, "responses": [response]}]
        result = await asyncio.get_running_loop().run_in_executor(
            self._pool,
            functools.partial(
                judge_responses, judge, {item.question_id: item}, rows, cache=self._cache, **options
            ),
        )
        row = {**result.judgements[0], "response_index": index}
        return row, result.summary.as_dict()
