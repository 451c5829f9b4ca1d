"""The daily quota count: reserved in blocks, never below the calls made, shared between processes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ecsync_core.errors import MallError
from ecsync_core.testing import InMemoryKeyValue
from ecsync_yahoo.client import DailyQuota


NOON_JST = datetime(2026, 11, 29, 3, 0, tzinfo=UTC).timestamp()


def test_a_crash_never_under_counts() -> None:
    """Whatever point a run dies at, the stored count is at least the calls it made."""
    store = InMemoryKeyValue()
    quota = DailyQuota(store, limit=1000, clock=lambda: NOON_JST)
    for made in range(1, 25):
        quota.spend()
        assert int(store.data["calls:2026-11-29"]) >= made
    quota.save()
    assert "24" == store.data["calls:2026-11-29"]
    assert ("2026-11-29", 24) == quota.used()


def test_two_runs_add_up_and_the_quota_holds() -> None:
    """Two adapters on one store add their calls; past the limit a call is refused before it is made."""
    store = InMemoryKeyValue()
    first, second = (DailyQuota(store, limit=30, clock=lambda: NOON_JST) for _ in range(2))
    for _ in range(10):
        first.spend()
        second.spend()
    first.save()
    second.save()
    assert "20" == store.data["calls:2026-11-29"]
    third = DailyQuota(store, limit=30, clock=lambda: NOON_JST)
    for _ in range(10):
        third.spend()
    with pytest.raises(MallError, match="daily quota of 30"):
        third.spend()
    third.save()
    assert "30" == store.data["calls:2026-11-29"]


def test_the_count_starts_again_at_midnight_jst() -> None:
    """The count is per JST date: a run going past midnight JST starts a new day's count."""
    store = InMemoryKeyValue()
    now = [datetime(2026, 11, 29, 14, 59, tzinfo=UTC).timestamp()]  # 23:59 JST
    quota = DailyQuota(store, limit=1000, clock=lambda: now[0])
    quota.spend()
    now[0] += 120  # 00:01 JST on the 30th
    quota.spend()
    quota.save()
    assert ("1", "1") == (store.data["calls:2026-11-29"], store.data["calls:2026-11-30"])
