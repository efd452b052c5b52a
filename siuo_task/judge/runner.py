"""Run many judge calls: every cache key looked up at once, then at most ``concurrency`` calls in flight on
one event loop, an optional rate limit, one re-ask for unparsable answers, a progress bar, a circuit
breaker, and an outcome for every call (none dropped).

Outcomes come back aligned with the input calls, so results do not depend on concurrency or on the
order in which calls complete. A judge with ``session`` (the OpenAI backend) is called with its async
client on the loop; any other judge (offline, tests) through a thread pool of ``concurrency`` threads.

Stopping: the first Ctrl-C prints a line at once, starts no new call, abandons the ones in flight, keeps
(caches) every finished answer and raises ``KeyboardInterrupt`` within about a second; a second Ctrl-C
quits at once (exit 130). The breaker stops the run when ``breaker_after`` calls in a row could not
reach the judge (connection failures or timeouts, after retries) with no answer in between: the calls
not judged become errors and ``RunSummary.stopped`` says why. A cache write that fails (disk full) stops
the run too: no new call starts, and ``SiuoError`` says which file and how to go on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import asdict, dataclass
from typing import Any, Literal

from siuo_dataset.errors import SiuoError
from siuo_task.judge.base import AsyncComplete, Judge, JudgeReply, JudgeUnreachableError
from siuo_task.judge.cache import CacheWriter, JudgeCache, cache_key
from siuo_task.protocol.judge_prompts import JudgeCall
from siuo_task.protocol.verdicts import ASKS_PER_CALL, TRUNCATED_STATUS, cut_off
from siuo_task.redact import redact

Parse = Callable[[JudgeCall, str], Any]
BREAKER_AFTER = 8  # calls in a row that could not reach the judge before the run stops
DEFAULT_CONCURRENCY = 16  # judge calls in flight


def error_message(error: BaseException, secrets: Sequence[str] = ()) -> str:
    """A short one-line description of ``error`` with credentials (``secrets`` too) masked
    (``siuo_task.redact``)."""
    return redact(" ".join(f"{error.__class__.__name__}: {error}".split()), secrets)[:300]


@dataclass(frozen=True)
class Price:
    """USD per million prompt / completion tokens."""

    per_mtok_in: float
    per_mtok_out: float


@dataclass(frozen=True)
class CallOutcome:
    """How one call ended: ok (verdict parsed), unparsable (after one re-ask; ``TRUNCATED_STATUS`` when the
    endpoint cut the reply off), or error; with what the reply said about the judge (model, fingerprint)."""

    status: Literal["ok", "unparsable", "unparsable:truncated", "error"]
    text: str | None
    verdict: Any
    error: str | None
    cached: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str | None = None
    system_fingerprint: str | None = None
    finish_reason: str | None = None


@dataclass
class RunSummary:
    """Counts for one run: calls made to the judge, cache hits, outcomes, tokens, cost, time."""

    calls: int = 0
    calls_made: int = 0
    cache_hits: int = 0
    ok: int = 0
    unparsable: int = 0
    errors: int = 0
    truncated: int = (
        0  # of the unparsable: replies the endpoint cut off (finish_reason length/content_filter)
    )
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    wall_seconds: float = 0.0
    stopped: str | None = None  # why the run stopped early (circuit breaker), else None

    @property
    def from_cache_only(self) -> bool:
        """Every answer came from the cache: no call reached the judge (it may be down: nothing says)."""
        return self.calls > 0 and self.calls_made == 0 and self.cache_hits == self.calls

    def as_dict(self) -> dict:
        return {**asdict(self), "from_cache_only": self.from_cache_only}

    def line(self) -> str:
        """A one-line human summary."""
        cost = "" if self.cost_usd is None else f", est. cost ${self.cost_usd:.4f}"
        truncated = f", {self.truncated} of them cut off (max_tokens)" if self.truncated else ""
        cached = (
            "; every answer came from the cache: no call was made to the judge"
            if self.from_cache_only
            else ""
        )
        return (
            f"judge: {self.calls} judgements ({self.ok} ok, {self.unparsable} unparsable{truncated}, "
            f"{self.errors} errors); "
            f"{self.calls_made} calls made, {self.cache_hits} cache hits; tokens {self.prompt_tokens} in / "
            f"{self.completion_tokens} out{cost}; {self.wall_seconds:.1f} s{cached}"
        )


class RateLimiter:
    """At most ``per_minute`` call starts per minute, spaced evenly (one event loop)."""

    def __init__(self, per_minute: float) -> None:
        self.interval = 60.0 / per_minute
        self._next = time.monotonic()

    async def wait(self) -> None:
        now = time.monotonic()
        start = max(now, self._next)
        self._next = start + self.interval
        await asyncio.sleep(max(0.0, start - now))


class BreakerTripped(Exception):
    """Raised inside the run when the judge endpoint is clearly down."""


def read_reply(parse: Parse, call: JudgeCall, reply: JudgeReply) -> Any:
    """The verdict of ``reply``: none when the endpoint cut it off (``verdicts.cut_off``), else ``parse``."""
    return None if cut_off(reply.finish_reason) else parse(call, reply.text)


def outcome_of(reply: JudgeReply, verdict: Any, cached: bool) -> CallOutcome:
    if verdict is not None:
        status = "ok"
    else:
        status = TRUNCATED_STATUS if cut_off(reply.finish_reason) else "unparsable"
    return CallOutcome(
        status,
        reply.text,
        verdict,
        None,
        cached,
        reply.prompt_tokens,
        reply.completion_tokens,
        reply.model,
        reply.system_fingerprint,
        reply.finish_reason,
    )


@asynccontextmanager
async def threaded_session(judge: Judge, threads: int):
    """An async ``complete`` for a blocking judge: its calls run in a pool of ``threads`` threads."""
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="judge")
    loop = asyncio.get_running_loop()

    async def complete(call: JudgeCall) -> JudgeReply:
        return await loop.run_in_executor(pool, judge.complete, call)

    try:
        yield complete
    finally:  # queued calls are dropped; a running blocking call cannot be interrupted and ends on its own
        pool.shutdown(wait=False, cancel_futures=True)


def judge_session(judge: Judge, concurrency: int) -> AbstractAsyncContextManager[AsyncComplete]:
    session = getattr(judge, "session", None)
    return session(concurrency) if session is not None else threaded_session(judge, concurrency)


def run_interruptibly(main: Callable[[], Any]) -> Any:
    """Run the coroutine ``main()`` on a new event loop; the first Ctrl-C cancels it (raising
    ``KeyboardInterrupt`` once it has unwound), a second one quits the process at once."""
    loop = asyncio.new_event_loop()
    task = loop.create_task(main())
    interrupted = []

    def on_sigint(signum: int, frame: object) -> None:
        if interrupted:
            print("siuo-eval: interrupted again: quitting now", file=sys.stderr, flush=True)
            os._exit(130)
        interrupted.append(True)
        print(
            "siuo-eval: interrupted: stopping (no new judge calls, in-flight ones abandoned, "
            "finished answers kept); Ctrl-C again to quit at once",
            file=sys.stderr,
            flush=True,
        )
        loop.call_soon_threadsafe(task.cancel)

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if in_main_thread else None
    try:
        return loop.run_until_complete(task)
    except asyncio.CancelledError:
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


class CallRun:
    """One ``run_calls``: the calls, their outcomes so far (aligned with the calls), the summary, and the
    breaker's count of calls in a row that could not reach the judge. ``look_up`` fills what the cache holds,
    ``judge_missing`` (a coroutine) judges the rest with at most ``concurrency`` workers, ``stop`` marks what
    a tripped breaker left, ``finish`` counts."""

    def __init__(
        self,
        judge: Judge,
        calls: Sequence[JudgeCall],
        parse: Parse,
        *,
        requests_per_minute: float | None,
        breaker_after: int,
    ) -> None:
        self.judge = judge
        self.calls = calls
        self.parse = parse
        self.breaker_after = breaker_after
        self.secrets = [os.environ.get(getattr(judge, "api_key_env", "") or "", "")]
        self.summary = RunSummary(calls=len(calls))
        self.outcomes: list[CallOutcome | None] = [None] * len(calls)
        self.keys: list[str] = []
        self.unreachable_in_a_row = 0
        self.limiter = RateLimiter(requests_per_minute) if requests_per_minute else None
        self.bar = None  # the progress bar, when shown

    def look_up(self, cache: JudgeCache | None) -> list[int]:
        """Every cache key looked up at once; the cached answers become outcomes. Returns the indexes left."""
        if cache is not None:
            self.keys = [cache_key(call, self.judge.info) for call in self.calls]
            found = cache.get_many(self.keys)
            for index, key in enumerate(self.keys):
                if key in found:
                    reply = found[key]
                    try:
                        verdict = read_reply(self.parse, self.calls[index], reply)
                    except Exception:  # noqa: BLE001 - a poisoned cached answer is judged again, never fatal
                        continue
                    self.outcomes[index] = outcome_of(reply, verdict, cached=True)
        return [index for index, outcome in enumerate(self.outcomes) if outcome is None]

    def show_progress(self, todo: int) -> None:
        """A progress bar over all calls, the cached ones already counted."""
        from tqdm import tqdm

        self.bar = tqdm(
            total=len(self.calls),
            initial=len(self.calls) - todo,
            desc=f"judging ({self.judge.info.model})",
            unit="call",
            leave=False,
            mininterval=1.0,
        )

    async def judge_missing(self, todo: Sequence[int], concurrency: int, writer: CacheWriter | None) -> None:
        """Judge the calls at ``todo`` with ``concurrency`` workers; the first failure (configuration error,
        breaker) stops every worker."""
        async with judge_session(self.judge, concurrency) as complete:
            queue = iter(todo)
            workers = [
                asyncio.ensure_future(self._worker(complete, queue, writer))
                for _ in range(min(concurrency, len(todo)))
            ]
            try:
                done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    task.result()
            finally:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(
        self, complete: AsyncComplete, queue: Iterator[int], writer: CacheWriter | None
    ) -> None:
        for index in queue:
            if writer is not None and writer.failed:
                return  # answers can no longer be kept: no further paid call (CacheWriter.close says why)
            self.outcomes[index] = await self._judge_one(complete, index, writer)
            if self.bar is not None:
                self.bar.update(1)
                self.bar.set_postfix(calls=self.summary.calls_made, refresh=False)

    async def _judge_one(
        self, complete: AsyncComplete, index: int, writer: CacheWriter | None
    ) -> CallOutcome:
        """One call's outcome: asked again (``ASKS_PER_CALL``) while the answer has no verdict, an error
        outcome when it fails (configuration errors and a tripped breaker stop the run instead)."""
        call = self.calls[index]
        try:
            for _ in range(ASKS_PER_CALL):  # the protocol's re-ask rule
                reply = await self._ask(complete, call)
                verdict = read_reply(self.parse, call, reply)
                if verdict is not None:
                    break
        except SiuoError:  # misconfiguration (e.g. missing API key): stop the run with its one-line message
            raise
        except Exception as error:  # noqa: BLE001 - every failure becomes an explicit error outcome
            return self._failed(error)
        self.unreachable_in_a_row = 0
        if writer is not None:
            if not writer.pending:  # one commit per loop turn for every answer finished in it
                asyncio.get_running_loop().call_soon(writer.flush)
            writer.put(self.keys[index], reply)
        return outcome_of(reply, verdict, cached=False)

    async def _ask(self, complete: AsyncComplete, call: JudgeCall) -> JudgeReply:
        if self.limiter:
            await self.limiter.wait()
        reply = await complete(call)
        self.summary.calls_made += 1
        self.summary.prompt_tokens += reply.prompt_tokens
        self.summary.completion_tokens += reply.completion_tokens
        return reply

    def _failed(self, error: Exception) -> CallOutcome:
        """The error outcome of a failed call; ``BreakerTripped`` when it is the ``breaker_after``-th call in
        a row that could not reach the judge."""
        message = error_message(error, self.secrets)
        self.unreachable_in_a_row = (
            self.unreachable_in_a_row + 1 if isinstance(error, JudgeUnreachableError) else 0
        )
        if self.breaker_after and self.unreachable_in_a_row >= self.breaker_after:
            raise BreakerTripped(message) from None
        return CallOutcome("error", None, None, message, False)

    def stop(self, tripped: BreakerTripped) -> None:
        """Why the run stopped, and an error outcome for every call not judged."""
        done = sum(outcome is not None for outcome in self.outcomes)
        self.summary.stopped = (
            f"the judge endpoint looks down: {self.breaker_after} calls in a row could not reach it "
            f"({tripped}); stopped after {done} of {len(self.calls)} calls, finished answers are cached"
        )
        for index, outcome in enumerate(self.outcomes):
            if outcome is None:
                self.outcomes[index] = CallOutcome(
                    "error", None, None, f"not judged: {self.summary.stopped}", False
                )

    def finish(self, wall_seconds: float, price: Price | None) -> tuple[list[CallOutcome], RunSummary]:
        """The outcomes and the summary with its counts, time and cost."""
        final = [outcome for outcome in self.outcomes if outcome is not None]
        summary = self.summary
        summary.cache_hits = sum(outcome.cached for outcome in final)
        summary.ok = sum(outcome.status == "ok" for outcome in final)
        summary.unparsable = sum(outcome.status in ("unparsable", TRUNCATED_STATUS) for outcome in final)
        summary.truncated = sum(outcome.status == TRUNCATED_STATUS for outcome in final)
        summary.errors = sum(outcome.status == "error" for outcome in final)
        summary.wall_seconds = round(wall_seconds, 3)
        if price is not None:
            summary.cost_usd = round(
                (summary.prompt_tokens * price.per_mtok_in + summary.completion_tokens * price.per_mtok_out)
                / 1e6,
                6,
            )
        return final, summary


def run_calls(
    judge: Judge,
    calls: Sequence[JudgeCall],
    parse: Parse,
    *,
    cache: JudgeCache | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    requests_per_minute: float | None = None,
    price: Price | None = None,
    progress: bool = True,
    breaker_after: int = BREAKER_AFTER,
) -> tuple[list[CallOutcome], RunSummary]:
    """Judge every call; return outcomes aligned with ``calls`` and a summary."""
    started = time.perf_counter()
    run = CallRun(judge, calls, parse, requests_per_minute=requests_per_minute, breaker_after=breaker_after)
    todo = run.look_up(cache)
    if progress:
        run.show_progress(len(todo))
    try:
        with CacheWriter(cache) if cache is not None else nullcontext() as writer:
            if todo:
                run_interruptibly(lambda: run.judge_missing(todo, max(1, concurrency), writer))
    except BreakerTripped as tripped:
        run.stop(tripped)
    finally:
        if run.bar is not None:
            run.bar.close()
    return run.finish(time.perf_counter() - started, price)
