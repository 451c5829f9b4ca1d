"""
Pacing and retries shared by every mall adapter, so none of them is throttled in the first place.
"""

from __future__ import annotations

import asyncio
import math
import time

from collections.abc import AsyncIterator, Callable

import httpx
import stamina
import stamina.instrumentation

from ecsync_core.errors import CredentialError, MallError
from ecsync_core.logging import get_logger


TIMER_SLACK_S = 0.0025
"""
How early a waiting call wakes before its token is due, then yields to the loop until it is, where its bucket
could not keep the lateness. asyncio's default (epoll) loop wakes a sleep up to 2 ms late: it rounds the timeout
up to a whole millisecond, and the float it hands epoll is often rounded up once more. A bucket one token deep
(Rakuten's) keeps none of that, so every call lost it: 10% of each interval at ``--speed 100``. A deeper bucket
keeps it as part of the next token and sleeps the whole wait: yielding costs CPU (up to this much a call; 4 s of a
100,000-SKU listing at --speed 100). Waking on a worker thread instead (``time.sleep`` is precise) came 0.5 ms
late on this VM.
"""


class TokenBucket:
    """
    The published limit as a token bucket: *rate* calls a second, at most *burst* at once.

    ``acquire`` waits for a token (adapters), never taking one before it is due; ``try_take`` answers at once
    (emulators answering 429).
    """

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        # Written so NaN fails too (every comparison with it is false): a NaN rate would pace nothing.
        if not (0 < rate < math.inf and 1 <= burst < math.inf):
            msg = f"a token bucket needs a finite rate > 0 and burst >= 1, got {rate}, {burst}"
            raise ValueError(msg)
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._at = clock()
        self._lock = asyncio.Lock()
        # Wake early where a late wake-up is lost (the bucket fills before it is spent), and only where the interval
        # leaves room to sleep first: below it, yielding would be all the bucket did between calls.
        self._early = TIMER_SLACK_S if (burst - 1) / rate < TIMER_SLACK_S < 1 / rate else 0.0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def try_take(self) -> bool:
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    async def acquire(self) -> None:
        async with self._lock:
            last = None  # the clock's reading when the bucket last waited
            while not self.try_take():
                wait = (1 - self._tokens) / self.rate
                if self._at == last:  # the clock stood still: a test's virtual time, which only sleeping moves
                    await asyncio.sleep(max(wait, 1e-6))
                elif wait > self._early:
                    await asyncio.sleep(wait - self._early)
                else:
                    await asyncio.sleep(0)  # yield until due
                last = self._at


RETRY_ATTEMPTS = 5
"""SPEC: a retryable failure is tried again at least 4 times before its items count as failed."""

RETRY_AFTER_MAX_S = 60.0
"""The longest Retry-After honoured as given: the attempts, not the total time, bound the retries."""


def _backoff(exc: Exception) -> bool | float:
    if isinstance(exc, CredentialError):
        return False
    if isinstance(exc, MallError):
        if not exc.retryable:
            return False
        return True if exc.retry_after is None else min(exc.retry_after, RETRY_AFTER_MAX_S)
    return isinstance(exc, httpx.TransportError)


_retries = get_logger("ecsync.retry")


def _log_retry(details: stamina.instrumentation.RetryDetails) -> None:
    _retries.warning(
        "stamina.retry_scheduled",
        callable=details.name,
        retry_num=details.retry_num,
        caused_by=repr(details.caused_by),
        wait_for=round(details.wait_for, 2),
        waited_so_far=round(details.waited_so_far, 2),
    )


# stamina's own hook logs through structlog's global set-up: in a program that set none (a notebook), structlog's
# defaults printed each retry on stdout, unredacted, and kept it out of a live run's log file. This one logs the
# same event through ecsync's chain, as ecsync.retry. The hooks are stamina's, process-wide: set here when the
# plugins load (the first command or API call), they replace a program's own hooks set before; a program that
# wants its own sets them after its first call into ecsync.
stamina.instrumentation.set_on_retry_hooks([_log_retry])


def retrying(attempts: int = RETRY_ATTEMPTS) -> AsyncIterator[stamina.Attempt]:
    """
    Retry attempts for one API call: on retryable MallErrors (honouring Retry-After) and transport errors.

    No cap on the total time: with a 60 s call timeout a cap of minutes left a timing-out call two attempts, not
    the five SPEC asks for. Each call's own timeout and the waits (at most 10 s, or the Retry-After) bound it.

    Use as ``async for attempt in retrying(): with attempt: ...``.
    """
    return stamina.retry_context(on=_backoff, attempts=attempts, timeout=None, wait_initial=0.5, wait_max=10.0)


def transport_error(mall: str, exc: httpx.TransportError) -> MallError:
    """A timeout or dropped connection as a retryable MallError, named for the operator."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
    return MallError(mall, f"{kind}: {exc.__class__.__name__}", retryable=True)
