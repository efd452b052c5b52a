"""Run many judge calls: cache first, then a bounded thread pool, an optional rate limit, one re-ask
for unparsable answers, a progress bar, and an outcome for every call (none dropped).

Outcomes come back aligned with the input calls, so results do not depend on concurrency or on the
order in which calls complete.
"""
from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast

from siuo_dataset.errors import SiuoError
from siuo_task.judge.base import Judge, JudgeCall, JudgeReply
from siuo_task.judge.cache import JudgeCache

Parse = Callable[[JudgeCall, str], Any]
SECRET_PATTERN = re.compile(r"sk-[A-Za-z0-9_-]{8,}|(?i:bearer)\s+\S+|(?i:api[-_]?key)[=:]\s*[^&\s,]+")


def error_message(error: BaseException, secrets: Sequence[str] = ()) -> str:
    """A short one-line description of ``error`` with API keys and bearer tokens masked."""
    message = " ".join(f"{error.__class__.__name__}: {error}".split())
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return SECRET_PATTERN.sub("***", message)[:300]


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

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        """A one-line human summary."""
        cost = "" if self.cost_usd is None else f", est. cost ${self.cost_usd:.4f}"
        return (f"judge: {self.calls} judgements ({self.ok} ok, {self.unparsable} unparsable, {self.errors} errors); "
                f"{self.calls_made} calls made, {self.cache_hits} cache hits; tokens {self.prompt_tokens} in / "
                f"{self.completion_tokens} out{cost}; {self.wall_seconds:.1f} s")


class RateLimiter:
    """At most ``per_minute`` call starts per minute, spaced evenly (thread-safe)."""

    def __init__(self, per_minute: float) -> None:
        self.interval = 60.0 / per_minute
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        time.sleep(max(0.0, start - now))


def run_calls(judge: Judge, calls: Sequence[JudgeCall], parse: Parse, *, cache: JudgeCache | None = None,
              concurrency: int = 16, requests_per_minute: float | None = None, price: Price | None = None,
              progress: bool = True) -> tuple[list[CallOutcome], RunSummary]:
    """Judge every call; return outcomes aligned with ``calls`` and a summary."""
    started = time.perf_counter()
    summary = RunSummary(calls=len(calls))
    counts_lock = threading.Lock()
    limiter = RateLimiter(requests_per_minute) if requests_per_minute else None
    outcomes: list[CallOutcome | None] = [None] * len(calls)
    secrets = [os.environ.get(getattr(judge, "api_key_env", "") or "", "")]

    def ask(call: JudgeCall) -> JudgeReply:
        if limiter:
            limiter.wait()
        reply = judge.complete(call)
        with counts_lock:
            summary.calls_made += 1
            summary.prompt_tokens += reply.prompt_tokens
            summary.completion_tokens += reply.completion_tokens
        return reply

    def judge_one(call: JudgeCall) -> CallOutcome:
        key = call.cache_key(judge.info) if cache is not None else None
        cached = cache.get(key) if cache is not None else None
        if cached is not None:
            verdict = parse(call, cached.text)
            return CallOutcome("ok" if verdict is not None else "unparsable", cached.text, verdict, None, True,
                               cached.prompt_tokens, cached.completion_tokens)
        try:
            reply = ask(call)
            verdict = parse(call, reply.text)
            if verdict is None:  # malformed or empty: ask once more, then accept it as unparsable
                reply = ask(call)
                verdict = parse(call, reply.text)
        except SiuoError:  # misconfiguration (e.g. missing API key): stop the run with its one-line message
            raise
        except Exception as error:  # noqa: BLE001 - every failure becomes an explicit error outcome
            return CallOutcome("error", None, None, error_message(error, secrets), False)
        if cache is not None:
            cache.put(key, reply)
        return CallOutcome("ok" if verdict is not None else "unparsable", reply.text, verdict, None, False,
                           reply.prompt_tokens, reply.completion_tokens)

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(calls), desc=f"judging ({judge.info.model})", unit="call", leave=False,
                   mininterval=1.0)
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
    try:
        futures = {pool.submit(judge_one, call): index for index, call in enumerate(calls)}
        for future in as_completed(futures):
            outcome = future.result()
            outcomes[futures[future]] = outcome
            summary.cache_hits += outcome.cached
            summary.ok += outcome.status == "ok"
            summary.unparsable += outcome.status == "unparsable"
            summary.errors += outcome.status == "error"
            if bar is not None:
                bar.update(1)
                bar.set_postfix(cached=summary.cache_hits, errors=summary.errors, calls=summary.calls_made,
                                refresh=False)
    finally:  # on Ctrl-C or a configuration error, do not start the queued calls
        pool.shutdown(wait=True, cancel_futures=True)
        if bar is not None:
            bar.close()
    summary.wall_seconds = round(time.perf_counter() - started, 3)
    if price is not None:
        summary.cost_usd = round((summary.prompt_tokens * price.per_mtok_in
                                  + summary.completion_tokens * price.per_mtok_out) / 1e6, 6)
    return cast("list[CallOutcome]", outcomes), summary  # every future returned an outcome or raised
