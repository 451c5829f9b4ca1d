"""How calls are spaced, which failures are tried again, and how long a mall's Retry-After may hold a call."""

from __future__ import annotations

import asyncio
import itertools
import math
import types

import httpx
import pytest

from ecsync_core import pacing
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


class LateTimer:
    """
    The bucket's clock and sleep on a virtual loop whose timers wake *late* after the time asked (asyncio's epoll
    loop: up to 2 ms); a yield moves the clock 50 us, or not at all (*still*: a test's virtual time).
    """

    def __init__(self, late: float, *, still: bool = False) -> None:
        self.now, self.late, self.still, self.yields = 0.0, late, still, 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.now += seconds + self.late
        else:
            self.yields += 1
            self.now += 0.0 if self.still else 0.00005
        await SLEEP(0)


SLEEP = asyncio.sleep


def taken(monkeypatch: pytest.MonkeyPatch, timer: LateTimer, rate: float, burst: float) -> list[float]:
    """When each of 20 calls got its token."""
    monkeypatch.setattr(pacing, "asyncio", types.SimpleNamespace(sleep=timer.sleep, Lock=asyncio.Lock))
    bucket = TokenBucket(rate, burst, timer)

    async def calls() -> list[float]:
        times = []
        for _ in range(20):
            await bucket.acquire()
            times.append(timer.now)
        return times

    return asyncio.run(calls())


def test_a_one_deep_bucket_does_not_lose_the_timers_lateness(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    Due every 10.1 ms on a loop whose timers wake 1.5 ms late, calls go 10.1 ms apart, never closer (the mall's
    limit): they went 11.6 ms apart, 15% under the limit, at --speed 100.
    """
    gaps = [b - a for a, b in itertools.pairwise(taken(monkeypatch, LateTimer(0.0015), 1 / 0.0101, 1))]
    assert min(gaps) > 0.0101 - 1e-9
    assert max(gaps) < 0.0101 + 0.0001


def test_a_deeper_bucket_keeps_the_lateness_and_only_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two deep, a late wake-up is kept as part of the next token: the rate holds without yielding (CPU)."""
    timer = LateTimer(0.0015)
    times = taken(monkeypatch, timer, 100.0, 2)
    assert 0 == timer.yields
    assert (times[-1] - times[1]) / (len(times) - 2) < 0.0101


def test_a_fast_one_deep_bucket_sleeps_rather_than_spin(monkeypatch: pytest.MonkeyPatch) -> None:
    """At 1,000 calls a second there is no room to sleep first: yielding would be all the bucket did."""
    timer = LateTimer(0.0005)
    taken(monkeypatch, timer, 1000.0, 1)
    assert 0 == timer.yields


def test_a_virtual_clock_that_only_sleeping_moves_does_not_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin author's test in virtual time: yielding would never bring the token."""
    timer = LateTimer(0.0, still=True)
    gaps = [b - a for a, b in itertools.pairwise(taken(monkeypatch, timer, 1 / 0.0101, 1))]
    assert min(gaps) > 0.0101 - 1e-9


@pytest.mark.parametrize(
    ("rate", "burst"), [(0.0, 1.0), (-1.0, 1.0), (math.nan, 1.0), (math.inf, 1.0), (1.0, 0.5), (1.0, math.nan)]
)
def test_a_bucket_that_would_not_pace_is_refused(rate: float, burst: float) -> None:
    """A plugin passing NaN (a bad setting read as float) would otherwise send every call at once."""
    with pytest.raises(ValueError, match="finite rate > 0"):
        TokenBucket(rate, burst)
