"""How calls are spaced, which failures are tried again, and how long a mall's Retry-After may hold a call."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time

import httpx
import pytest

from ecsync_core.errors import CredentialError, MallError
from ecsync_core.pacing import RETRY_AFTER_MAX_S, TokenBucket, _backoff


@pytest.mark.parametrize(
    ("failure", "wait"),
    [
        (MallError("m", "503", retryable=True), True),
        (MallError("m", "429", retryable=True, retry_after=2.0), 2.0),
        (MallError("m", "429", retryable=True, retry_after=3600.0), RETRY_AFTER_MAX_S),
        (MallError("m", "400"), False),
        (CredentialError("m", "key expired"), False),
        (httpx.ReadTimeout("slow"), True),
    ],
)
def test_retried_failures_and_their_wait(failure: Exception, wait: bool | float) -> None:
    """A Retry-After of an hour is not waited out in one call; refusals and credentials are never retried."""
    assert wait == _backoff(failure)


def test_a_one_deep_bucket_spaces_calls_by_its_interval_not_by_the_timer() -> None:
    """
    Calls due every 10.1 ms go 10.1 ms apart: never closer (the mall's limit), and not 11 ms or more, as a plain
    sleep on asyncio's default loop makes them (it rounds every sleep up to whole milliseconds).
    """
    interval = 0.0101

    now = [0.0]

    def clock() -> float:  # the bucket's last reading is when it gave the token
        now[0] = time.monotonic()
        return now[0]

    async def taken() -> list[float]:
        bucket, times = TokenBucket(1 / interval, 1, clock), []
        for _ in range(30):
            await bucket.acquire()
            times.append(now[0])
        return times

    gaps = [b - a for a, b in itertools.pairwise(asyncio.run(taken()))]
    assert min(gaps) > interval - 1e-9
    assert statistics.median(gaps) < interval * 1.05
