"""The push: slices written in order, each read back while the next is written, every item judged by its read."""

from __future__ import annotations

import asyncio
import time

from collections.abc import Sequence

import attrs
import pytest

from ecsync_core.domain import ItemResult, PlannedUpdate, RunItem, StockWrite
from ecsync_core.errors import CredentialError, MallError
from ecsync_core.ports import MallInventory, StockReading
from ecsync_core.services.push import Pushed, Recorder, push
from ecsync_core.store.db import DatabaseError
from ecsync_core.testing import FakeMall


def updates(*items: str, target: int = 3) -> list[PlannedUpdate]:
    return [PlannedUpdate(f"SKU-{i}", "fake", i, 10, 0, target) for i in items]


def pushed_to(
    mall: MallInventory, todo: list[PlannedUpdate], slice_size: int, recorded: list[list[RunItem]] | None = None
) -> Pushed:
    """``push`` as a run calls it; *recorded* gets each slice's items as push hands them to the ledger."""

    slices = [] if recorded is None else recorded
    return asyncio.run(push("r1", mall, todo, "Fake", slice_size=slice_size, record=lambda i: slices.append(list(i))))


@attrs.define
class Scripted(FakeMall):
    """A FakeMall that can refuse a write call as a whole, or a read, by the call's first item."""

    write_errors: dict[str, MallError] = attrs.field(factory=dict)
    read_errors: dict[str, MallError] = attrs.field(factory=dict)
    reads: list[list[str]] = attrs.field(factory=list)

    async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
        if (error := self.write_errors.get(writes[0].item)) is not None:
            self.writes.append(list(writes))
            raise error
        return await super().write(writes)

    async def read(self, items: Sequence[str]) -> StockReading:
        self.reads.append(list(items))
        if (error := self.read_errors.get(items[0])) is not None:
            raise error
        return await super().read(items)


def test_every_item_is_judged_by_its_read_back_across_slices() -> None:
    mall = FakeMall({"a": 0, "b": 0, "c": 0, "e": 0}, failing={"c": "quantity out of range"})
    recorded: list[list[RunItem]] = []
    pushed = pushed_to(mall, updates("a", "b", "c", "d", "e"), 2, recorded)
    assert [["a", "b"], ["c", "d"], ["e"]] == [[w.item for w in call] for call in mall.writes]
    assert [pushed.items[:2], pushed.items[2:4], pushed.items[4:]] == recorded, "each slice recorded as judged"
    assert [
        ("a", "ok", 3, None),
        ("b", "ok", 3, None),
        ("c", "failed", 0, "quantity out of range"),
        ("d", "failed", None, "item code not found on Fake"),
        ("e", "ok", 3, None),
    ] == [(i.item, i.outcome, i.after, i.error) for i in pushed.items]
    assert pushed.mall_error is None


@attrs.define
class Overlapping(FakeMall):
    """A FakeMall whose second write waits for a read-back: a push that reads only at the end hangs on it."""

    read_started: asyncio.Event = attrs.field(factory=asyncio.Event)

    async def read(self, items: Sequence[str]) -> StockReading:
        self.read_started.set()
        return await super().read(items)

    async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
        if self.writes:
            await asyncio.wait_for(self.read_started.wait(), timeout=5)
        return await super().write(writes)


def test_a_slice_is_read_back_while_the_next_one_is_written() -> None:
    mall = Overlapping({"a": 0, "b": 0, "c": 0})
    pushed = pushed_to(mall, updates("a", "b", "c"), 1)
    assert ["ok", "ok", "ok"] == [i.outcome for i in pushed.items]


def test_a_refused_credential_stops_the_slices_after_it() -> None:
    mall = Scripted({"a": 0, "b": 0, "c": 0}, write_errors={"a": CredentialError("fake", "key revoked: renew it")})
    recorded: list[list[RunItem]] = []
    pushed = pushed_to(mall, updates("a", "b", "c"), 1, recorded)
    assert 1 == len(mall.writes), "nothing is sent after the key was refused"
    assert [[i] for i in pushed.items] == recorded, "the slices not sent are recorded failed too"
    assert [] == mall.reads
    assert ["Fake: key revoked: renew it", *["Fake: not sent: key revoked: renew it"] * 2] == [
        i.error for i in pushed.items
    ]
    assert [False, True, True] == [i.never_sent for i in pushed.items], "what a rollback need not look at"
    assert "write failed: key revoked: renew it" == pushed.mall_error


def test_a_slice_refused_as_a_whole_does_not_stop_the_next() -> None:
    mall = Scripted({"a": 0, "b": 0}, write_errors={"a": MallError("fake", "HTTP 503", retryable=True)})
    pushed = pushed_to(mall, updates("a", "b"), 1)
    assert [("a", "failed", "Fake: HTTP 503"), ("b", "ok", None)] == [
        (i.item, i.outcome, i.error) for i in pushed.items
    ]
    assert "write failed: HTTP 503" == pushed.mall_error
    assert {"a": 0, "b": 3} == mall.stock


def test_a_mall_failing_slice_after_slice_is_given_up_on() -> None:
    """
    Three slices in a row refused as a whole (each already retried: minutes when calls time out) and the rest
    are not sent, saying why; a slice that goes through in between starts the count again.
    """
    down = MallError("fake", "timed out", retryable=True)
    mall = Scripted(dict.fromkeys("abcdefg", 0), write_errors=dict.fromkeys("abdef", down))
    pushed = pushed_to(mall, updates(*"abcdefg"), 1)
    assert ["a", "b", "c", "d", "e", "f"] == [call[0].item for call in mall.writes]
    assert "Fake: not sent: 3 slices in a row failed as a whole (last: timed out)" == pushed.items[-1].error
    assert ["failed", "failed", "ok", "failed", "failed", "failed", "failed"] == [i.outcome for i in pushed.items]
    assert "write failed: not sent: 3 slices in a row failed as a whole (last: timed out)" == pushed.mall_error


def test_a_failed_read_back_fails_only_its_slice() -> None:
    mall = Scripted({"a": 0, "b": 0}, read_errors={"b": MallError("fake", "timed out", retryable=True)})
    pushed = pushed_to(mall, updates("a", "b"), 1)
    assert [("a", "ok", 3), ("b", "failed", None)] == [(i.item, i.outcome, i.after) for i in pushed.items]
    assert "read-back failed: timed out" == pushed.items[1].error == pushed.mall_error


def test_a_sync_keeps_what_each_item_held_just_before_its_write() -> None:
    """
    Planned from a read minutes old (during the FBA listing), b has sold one since: its ``before`` is what the
    mall held at the write, so a rollback does not bring the sold unit back. Where that read fails, the planned
    value stays and the write goes on.
    """
    mall = Scripted({"a": 0, "b": 4, "c": 2}, read_errors={"c": MallError("fake", "timed out", retryable=True)})
    planned = [PlannedUpdate("SKU-a", "fake", "a", 10, 0, 3), PlannedUpdate("SKU-b", "fake", "b", 10, 5, 3)]
    stale = [PlannedUpdate("SKU-c", "fake", "c", 10, 1, 3)]

    async def run(fresh: bool) -> Pushed:
        return await push("r1", mall, planned + stale, "Fake", slice_size=2, record=lambda _: None, fresh_before=fresh)

    pushed = asyncio.run(run(True))
    assert [("a", 0, 3), ("b", 4, 3), ("c", 1, None)] == [(i.item, i.before, i.after) for i in pushed.items]
    assert [["a", "b"], ["a", "b"], ["c"], ["c"]] == sorted(mall.reads), "each slice read before its write and after"
    assert [["a", "b"], ["c"]] == [[w.item for w in call] for call in mall.writes], "c written all the same"
    mall.stock["b"] = 2
    assert 5 == asyncio.run(run(False)).items[1].before, "a rollback keeps what it planned from"


@attrs.define
class SlowLedger:
    """A ledger whose every transaction takes 20 ms (DuckDB's takes ~40 ms, whatever its size), or fails."""

    batches: list[list[str]] = attrs.field(factory=list)
    error: Exception | None = None

    def record_outcomes(self, _run_id: str, items: Sequence[RunItem]) -> None:
        self.batches.append([i.item for i in items])
        time.sleep(0.02)
        if self.error is not None:
            raise self.error


def judged(*items: str) -> list[RunItem]:
    return [RunItem("r1", f"SKU-{i}", "fake", i, 10, 0, 3, 3, "ok") for i in items]


def test_slices_judged_faster_than_a_transaction_are_recorded_together() -> None:
    """40 slices, each queued while the last transaction runs, take a few transactions, every item in order."""
    ledger = SlowLedger()
    with Recorder(ledger, "r1") as record:  # type: ignore[arg-type]
        for n in range(40):
            record(judged(str(n)))
    assert [str(n) for n in range(40)] == [i for batch in ledger.batches for i in batch]
    assert len(ledger.batches) <= 3


def test_a_ledger_that_fails_stops_recording_and_says_so() -> None:
    """A locked or full database: tried once, not once a slice (each would wait out its busy timeout)."""
    ledger = SlowLedger(error=DatabaseError("database e.duckdb: cannot open: Could not set lock on file"))

    def a_run() -> None:
        with Recorder(ledger, "r1") as record:  # type: ignore[arg-type]
            record(judged("a"))
            time.sleep(0.05)
            for n in range(10):
                record(judged(str(n)))

    with pytest.raises(DatabaseError, match="lock"):
        a_run()
    assert [["a"]] == ledger.batches


def test_what_ended_the_run_is_what_it_raises_when_the_ledger_failed_too() -> None:
    """Ctrl-C with the database locked: the run is recorded INTERRUPTED, not taken for a database failure."""
    ledger = SlowLedger(error=DatabaseError("database e.duckdb: cannot open: Could not set lock on file"))

    def a_run() -> None:
        with Recorder(ledger, "r1") as record:  # type: ignore[arg-type]
            record(judged("a"))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        a_run()
    assert [["a"]] == ledger.batches
