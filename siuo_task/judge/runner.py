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
not judged become errors and ``RunSummary.stopped`` says why.
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
from siuo_task.judge.base import AsyncComplete, Judge, JudgeCall, JudgeReply, JudgeUnreachableError
from siuo_task.judge.cache import CacheWriter, JudgeCache
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
    """How one call ended: ok (verdict parsed), unparsable (after one re-ask), or error."""

    status: Literal["ok", "unparsable", "error"]
    text: str | None
    verdict: Any
    error: str | None
    cached: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class RunSummary:
    """Counts for one run: calls made to the judge, cache hits, outcomes, tokens, cost, time."""

    calls: int = 0
    calls_made: int = 0
    cache_hits: int = 0
    ok: int = 0
    unparsable: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    wall_seconds: float = 0.0
    stopped: str | None = None  # why the run stopped early (circuit breaker), else None

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        """A one-line human summary."""
        cost = "" if self.cost_usd is None else f", est. cost ${self.cost_usd:.4f}"
        return (
            f"judge: {self.calls} judgements ({self.ok} ok, {self.unparsable} unparsable, "
            f"{self.errors} errors); "
            f"{self.calls_made} calls made, {self.cache_hits} cache hits; tokens {self.prompt_tokens} in / "
            f"{self.completion_tokens} out{cost}; {self.wall_seconds:.1f} s"
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


def outcome_of(reply: JudgeReply, verdict: Any, cached: bool) -> CallOutcome:
    return CallOutcome(
        "ok" if verdict is not None else "unparsable",
        reply.text,
        verdict,
        None,
        cached,
        reply.prompt_tokens,
        reply.completion_tokens,
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
    summary = RunSummary(calls=len(calls))
    keys = [call.cache_key(judge.info) for call in calls] if cache is not None else []
    found = cache.get_many(keys) if cache is not None else {}
    outcomes: list[CallOutcome | None] = [None] * len(calls)
    for index, key in enumerate(keys):
        if key in found:
            outcomes[index] = outcome_of(found[key], parse(calls[index], found[key].text), cached=True)
    todo = [index for index, outcome in enumerate(outcomes) if outcome is None]
    secrets = [os.environ.get(getattr(judge, "api_key_env", "") or "", "")]
    limiter = RateLimiter(requests_per_minute) if requests_per_minute else None
    unreachable_in_a_row = [0]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=len(calls),
            initial=len(calls) - len(todo),
            desc=f"judging ({judge.info.model})",
            unit="call",
            leave=False,
            mininterval=1.0,
        )

    async def judge_all(writer: CacheWriter | None) -> None:
        async with judge_session(judge, max(1, concurrency)) as complete:

            async def ask(call: JudgeCall) -> JudgeReply:
                if limiter:
                    await limiter.wait()
                reply = await complete(call)
                summary.calls_made += 1
                summary.prompt_tokens += reply.prompt_tokens
                summary.completion_tokens += reply.completion_tokens
                return reply

            async def judge_one(index: int) -> CallOutcome:
                call = calls[index]
                try:
                    reply = await ask(call)
                    verdict = parse(call, reply.text)
                    if (
                        verdict is None
                    ):  # empty or without a verdict: ask once more, then accept it as unparsable
                        reply = await ask(call)
                        verdict = parse(call, reply.text)
                except (
                    SiuoError
                ):  # misconfiguration (e.g. missing API key): stop the run with its one-line message
                    raise
                except Exception as error:  # noqa: BLE001 - every failure becomes an explicit error outcome
                    unreachable = isinstance(error, JudgeUnreachableError)
                    unreachable_in_a_row[0] = unreachable_in_a_row[0] + 1 if unreachable else 0
                    if breaker_after and unreachable_in_a_row[0] >= breaker_after:
                        raise BreakerTripped(error_message(error, secrets)) from None
                    return CallOutcome("error", None, None, error_message(error, secrets), False)
                unreachable_in_a_row[0] = 0
                if writer is not None:
                    if not writer.pending:  # one commit per loop turn for every answer finished in it
                        asyncio.get_running_loop().call_soon(writer.flush)
                    writer.put(keys[index], reply)
                return outcome_of(reply, verdict, cached=False)

            async def worker(queue: Iterator[int]) -> None:
                for index in queue:
                    outcomes[index] = await judge_one(index)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(calls=summary.calls_made, refresh=False)

            queue = iter(todo)
            workers = [
                asyncio.ensure_future(worker(queue)) for _ in range(min(max(1, concurrency), len(todo)))
            ]
            try:
                done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    task.result()  # the first failure (configuration error, breaker) stops every worker
            finally:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)

    try:
        with CacheWriter(cache) if cache is not None else nullcontext() as writer:
            if todo:
                run_interruptibly(lambda: judge_all(writer))
    except BreakerTripped as tripped:
        done = sum(outcome is not None for outcome in outcomes)
        summary.stopped = (
            f"the judge endpoint looks down: {breaker_after} calls in a row could not reach it "
            f"({tripped}); stopped after {done} of {len(calls)} calls, finished answers are cached"
        )
        for index, outcome in enumerate(outcomes):
            if outcome is None:
                outcomes[index] = CallOutcome("error", None, None, f"not judged: {summary.stopped}", False)
    finally:
        if bar is not None:
            bar.close()
    final = [outcome for outcome in outcomes if outcome is not None]
    summary.cache_hits = sum(outcome.cached for outcome in final)
    summary.ok = sum(outcome.status == "ok" for outcome in final)
    summary.unparsable = sum(outcome.status == "unparsable" for outcome in final)
    summary.errors = sum(outcome.status == "error" for outcome in final)
    summary.wall_seconds = round(time.perf_counter() - started, 3)
    if price is not None:
        summary.cost_usd = round(
            (summary.prompt_tokens * price.per_mtok_in + summary.completion_tokens * price.per_mtok_out)
            / 1e6,
            6,
        )
    return final, summary
