"""The rollback use case over fakes and a real DuckDB file: put back the last sync, once, within 24 hours."""

from __future__ import annotations

import asyncio

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from hypothesis import given
from hypothesis import strategies as st

from ecsync_core.domain import ItemResult, Mapping, Outcome, RunItem, RunKind, StockWrite
from ecsync_core.errors import MallError, RunLockedError
from ecsync_core.logging import REDACTOR
from ecsync_core.ports import StockReading
from ecsync_core.render import render_rollback
from ecsync_core.services.rollback import RollbackRefusedError, RollbackReport, restore_value, run_rollback
from ecsync_core.store import RunLock
from ecsync_core.store.db import utcnow
from ecsync_core.testing import FakeMall, FakeStockSource
from tests.fakeworld import CrashOnSecondWrite, DownMall, World, make_world


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return make_world(tmp_path, monkeypatch)


def rollback(world: World, run_id: str | None = None, *, dry_run: bool = False, answer: bool = True) -> RollbackReport:
    return run_rollback(world.app, run_id, dry_run=dry_run, notifier=world.notifier, confirm=lambda _plan: answer)


@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50))
def test_restore_never_brings_back_sold_stock(before: int, after: int, now: int) -> None:
    """Untouched since the sync: the old value; moved: the sync's change reversed on today's value, never below 0."""
    got = restore_value(before, after, now)
    assert got >= 0
    if now == after:
        assert before == got
    else:
        assert max(0, now - (after - before)) == got


def test_dry_run_shows_both_numbers_and_records_nothing(world: World) -> None:
    """The dry run lists every item the sync changed with before / sync set / now / restore, and is not a run."""
    sync = world.sync()
    world.malls["mart"].stock["a"] = 4  # an order for one unit after the sync set it to 5
    plan = rollback(world, dry_run=True)
    rows = {(i.mall, i.item): (i.before, i.after, i.now, i.restore) for i in plan.items}
    assert {
        ("shop", "b"): (0, 4, 4, 0),
        ("shop", "d"): (2, 0, 0, 2),
        ("mart", "a"): (1, 5, 4, 0),
    } == rows
    assert (None, sync.run_id) == (plan.run_id, plan.sync.id)
    assert [sync.run_id] == [r.id for r in world.app.ledger.recent() if r.kind is not RunKind.DRY_RUN]


def test_live_rollback_puts_back_once(world: World) -> None:
    """A live rollback restores the malls, is a run of its own, and the same sync cannot be rolled back again."""
    before = {code: dict(m.stock) for code, m in world.malls.items()}
    sync = world.sync()
    report = rollback(world)
    assert (Outcome.SUCCESS, 3) == (report.status, len(report.results))
    assert before == {code: dict(m.stock) for code, m in world.malls.items()}
    assert 2 + 2 == len(world.malls["shop"].writes)  # b and d, one a call (the plugin's slice), each way
    run = world.app.ledger.get(report.run_id or "")
    assert (RunKind.ROLLBACK, sync.run_id) == (run.kind, run.target_run)
    with pytest.raises(RollbackRefusedError, match="already rolled back"):
        rollback(world)
    with pytest.raises(RollbackRefusedError, match="a rollback cannot be rolled back"):
        rollback(world, report.run_id)


def test_a_rollback_under_way_shows_how_many_items_it_puts_back(world: World) -> None:
    """`status` during a rollback, or after one was killed, said 0 updates while it wrote hundreds."""
    world.sync()
    seen: list[list[int]] = []

    @attrs.define
    class Watched(FakeMall):
        async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
            seen.append([r.counts.updates for r in world.app.ledger.recent() if r.kind is RunKind.ROLLBACK])
            return await super().write(writes)

    world.malls["shop"] = Watched(dict(world.malls["shop"].stock))
    rollback(world)
    assert [[3], [3]] == seen  # shop's b and d, one a call, beside mart's a


def test_declined_confirmation_changes_nothing(world: World) -> None:
    """Answering no at the prompt writes nothing and records no run."""
    world.sync()
    after = {code: dict(m.stock) for code, m in world.malls.items()}
    report = rollback(world, answer=False)
    assert report.run_id is None
    assert after == {code: dict(m.stock) for code, m in world.malls.items()}


def test_only_the_latest_sync_within_24_hours(world: World) -> None:
    """--run must name the latest sync that wrote; a sync that finished over 24 hours ago is too old."""
    first = world.sync()
    world.source.stock["A"] = 40
    second = world.sync()
    with pytest.raises(RollbackRefusedError, match="not the latest sync"):
        rollback(world, first.run_id)
    with world.app.db.connect() as con:
        con.execute("UPDATE runs SET finished_at = ? WHERE id = ?", [utcnow() - timedelta(hours=25), second.run_id])
    with pytest.raises(RollbackRefusedError, match="more than 24 hours ago"):
        rollback(world)


def test_nothing_to_roll_back(world: World) -> None:
    """Before any live sync has written, a rollback says so."""
    world.sync(dry_run=True)
    with pytest.raises(RollbackRefusedError, match="no live sync"):
        rollback(world)


def test_item_gone_from_the_mall_is_left_alone(world: World) -> None:
    """An item the mall no longer has is reported as left alone, and the rest is put back."""
    world.sync()
    del world.malls["shop"].stock["b"]
    report = rollback(world)
    assert "no longer has" in report.skipped[("shop", "b")]
    assert Outcome.SUCCESS == report.status
    assert 2 == world.malls["shop"].stock["d"]


@attrs.define
class BlindAfterWrite(FakeMall):
    """A mall whose writes land but whose reads fail from the first write on: every write goes unconfirmed."""

    blind: bool = False

    async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
        self.blind = True
        return await super().write(writes)

    async def read(self, items: Sequence[str]) -> StockReading:
        if self.blind:
            raise MallError("m", "HTTP 503 after 5 attempts", retryable=True)
        return await super().read(items)


def blind_malls(world: World) -> None:
    for code, mall in list(world.malls.items()):
        world.malls[code] = BlindAfterWrite(dict(mall.stock))


def test_a_newer_sync_whose_every_write_was_refused_does_not_block_the_one_that_wrote(world: World) -> None:
    """SPEC: the latest sync *that wrote*. One whose writes all read back refused wrote nothing: passed over."""
    first = world.sync()
    world.source.stock.update(A=9, B=2)
    for mall in world.malls.values():
        mall.failing.update(dict.fromkeys(mall.stock, "st-02101 refused"))
    refused = world.sync()
    assert (Outcome.FAILED, 0) == (refused.status, refused.counts.succeeded)
    assert first.run_id == rollback(world, dry_run=True).sync.id


@attrs.define
class WriteDown(FakeMall):
    """A mall that answers reads but fails every write as a whole (after its retries)."""

    async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
        raise MallError("m", "HTTP 500 after 5 attempts", retryable=True)


@attrs.define
class LandsLate(FakeMall):
    """A mall whose writes time out, then land late: just after a read of their items answered the old numbers."""

    pending: list[StockWrite] = attrs.field(factory=list)

    async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
        self.pending += writes
        raise MallError("m", "timed out: ReadTimeout", retryable=True)

    async def read(self, items: Sequence[str]) -> StockReading:
        answer = await super().read(items)
        landed = [w for w in self.pending if w.item in items]
        self.pending = [w for w in self.pending if w.item not in items]
        if landed:
            await super().write(landed)
        return answer


def test_a_sync_whose_writes_timed_out_is_still_the_one_a_rollback_puts_back(world: World) -> None:
    """
    A write that timed out may land at any time after (a mall still working on it), so its sync may have
    written whatever the mall shows right after it failed: a rollback never passes over it to the sync before
    (which would take the late write for orders and put back more units than exist).
    """
    world.sync()
    world.source.stock.update(A=40, B=40)
    for code, mall in list(world.malls.items()):
        world.malls[code] = LandsLate(dict(mall.stock))
    timed_out = world.sync()
    assert (Outcome.FAILED, 0) == (timed_out.status, timed_out.counts.succeeded)
    assert timed_out.run_id == rollback(world, dry_run=True).sync.id


def test_a_failed_write_is_not_put_back_where_orders_brought_the_mall_to_the_sent_value(world: World) -> None:
    """
    The sync's write to shop d (2 -> 0) failed and never landed; two orders then sold d out. The mall shows 0,
    what the sync sent, but putting back 2 would sell two units that do not exist: left alone, PARTIAL, said.
    """
    world.malls["shop"] = WriteDown(dict(world.malls["shop"].stock))
    world.sync()
    world.malls["shop"] = FakeMall(dict(world.malls["shop"].stock))
    world.malls["shop"].stock["d"] = 0  # two orders
    plan = rollback(world, dry_run=True)
    assert ("shop", "d") not in {(i.mall, i.item) for i in plan.items}
    assert plan.unsure[("shop", "d")].startswith("the sync's write never answered or was not confirmed")
    live = rollback(world)
    assert (Outcome.PARTIAL, 0) == (live.status, world.malls["shop"].stock["d"])
    assert 2 == world.app.ledger.get(live.run_id or "").counts.left_alone, "shop b and d, to set by hand"


def test_a_rollback_whose_write_never_landed_is_redone_when_run_again(world: World) -> None:
    """
    shop b went 0 -> 4, then sold one (3). The first rollback's lowering write failed: the mall still shows the
    3 it read, which orders could not have raised it back to, so the second puts b back (to 0). Its raising
    write to d (0 -> 2) failed too, but 0 could also be 2 sold out: d is left to set by hand, PARTIAL.
    """
    world.sync()
    world.malls["shop"].stock["b"] = 3
    shop = world.malls["shop"]
    world.malls["shop"] = WriteDown(dict(shop.stock))
    first = rollback(world)
    assert first.status in (Outcome.PARTIAL, Outcome.FAILED)
    world.malls["shop"] = FakeMall(dict(world.malls["shop"].stock))
    second = rollback(world)
    assert (Outcome.PARTIAL, 0) == (second.status, world.malls["shop"].stock["b"])
    assert ["d"] == [item for _mall, item in second.unsure]


def test_a_sync_that_sent_nothing_does_not_block_the_one_that_wrote(world: World) -> None:
    """A newer sync whose only item failed unsent (a mistyped SKU) wrote nothing: the older one is the target."""
    first = world.sync()
    world.malls["shop"].stock["e0"] = 7
    world.app.mappings.apply([Mapping("0E", "shop", "e0")], replace=False)
    newer = world.sync()
    assert ["e0"] == [i.item for i in newer.failed_items]
    assert first.run_id == rollback(world, dry_run=True).sync.id


def test_a_confirmed_write_sold_back_to_its_old_value_is_still_reversed(world: World) -> None:
    """mart a went 1 -> 5 (confirmed), then 4 sold: 1. SPEC: the +4 reversed on today's 1, never below 0: 0."""
    world.sync()
    world.malls["mart"].stock["a"] = 1
    assert (Outcome.SUCCESS, 0) == (rollback(world).status, world.malls["mart"].stock["a"])


def test_a_raising_put_back_of_unknown_landing_sold_back_down_is_not_redone(world: World) -> None:
    """
    The first rollback raised shop d 0 -> 2 and it landed unconfirmed; two orders then sold d out. The mall shows
    the 0 that rollback read, but writing 2 again would sell two units that do not exist: left to set by hand.
    """
    world.sync()
    blind_malls(world)
    first = rollback(world)
    assert 2 == world.malls["shop"].stock["d"]
    for code, mall in list(world.malls.items()):
        world.malls[code] = FakeMall(dict(mall.stock))
    world.malls["shop"].stock["d"] = 0  # two orders
    second = rollback(world)
    assert (None, True, 0) == (second.run_id, second.incomplete, world.malls["shop"].stock["d"]), "nothing written"
    assert f"rollback {first.run_id} sent 2 (it read 0) unconfirmed" in second.unsure[("shop", "d")]


def test_a_mall_whose_plugin_crashes_on_read_leaves_only_its_own_items(world: World) -> None:
    """A plugin's bug on read no longer stops the whole rollback: that mall waits (PARTIAL), the other is put back."""

    class Crashing(FakeMall):
        async def read(self, items: Sequence[str]) -> StockReading:
            raise KeyError("boom")

    world.sync()
    world.malls["mart"] = Crashing(dict(world.malls["mart"].stock))
    report = rollback(world)
    assert (Outcome.PARTIAL, 2) == (report.status, world.malls["shop"].stock["d"])
    assert "the mall plugin failed (KeyError" in report.mall_errors["mart"]


def test_a_sync_found_dead_counts_its_24_hours_from_its_start(world: World) -> None:
    """A sync that died 30 hours ago, found dead only now, is not given a fresh window: its writes are old."""
    dead = world.app.ledger.start(RunKind.SYNC)
    world.app.ledger.record_items([RunItem(dead.id, "A", "shop", "a", 25, 5, 9)])
    with world.app.db.connect() as con:
        con.execute("UPDATE runs SET started_at = ? WHERE id = ?", [utcnow() - timedelta(hours=30), dead.id])
    with pytest.raises(RollbackRefusedError, match="more than 24 hours ago"):
        rollback(world, dry_run=True)


def test_a_rollback_run_again_never_reverses_twice(world: World) -> None:
    """
    A rollback whose writes landed unconfirmed did not finish, so it may be run again: what the mall shows it put
    back is left alone, never reversed a second time; once one finishes, the sync is done with.
    """
    world.sync()
    blind_malls(world)
    first = rollback(world)
    assert Outcome.FAILED == first.status
    assert 2 == world.malls["shop"].stock["d"], "the write landed, unconfirmed"
    for mall in world.malls.values():
        assert isinstance(mall, BlindAfterWrite)
        mall.blind = False
    again = rollback(world)
    assert ((), None) == (again.items, again.run_id)
    assert {f"already put back by rollback {first.run_id}"} == set(again.skipped.values())
    assert (2, 0, 1) == (world.malls["shop"].stock["d"], world.malls["shop"].stock["b"], world.malls["mart"].stock["a"])


def test_a_mall_down_leaves_its_items_for_a_rollback_run_again(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """
    One mall not answering no longer stops the other's rollback: that mall's items wait (PARTIAL, said, and not
    called "rolled back"), and the rollback run again once it answers puts back only them. Then the sync is done
    with.
    """
    sync = world.sync()
    down = MallError("mart", "HTTP 503 after 5 attempts", retryable=True)
    world.malls["mart"] = DownMall(dict(world.malls["mart"].stock), error=down)
    first = rollback(world)
    assert Outcome.PARTIAL == first.status
    render_rollback(first)
    assert (
        f"[PARTIAL] Rollback finished: run {first.run_id} (sync {sync.run_id} not fully put back); run `ecsync "
        "rollback` again for what it did not put back"
    ) == capsys.readouterr().out.splitlines()[-1]
    assert first.mall_errors["mart"].startswith("could not read current stock: HTTP 503")
    assert (2, 0) == (world.malls["shop"].stock["d"], world.malls["shop"].stock["b"])
    counts = world.app.ledger.get(first.run_id or "").counts
    assert (0, 1) == (counts.failed, counts.left_alone), "mart a waits: not put back, and not a failure"
    assert "0 of 2 items failed, 1 items not put back" in world.notifier.sent[-1][1]
    world.malls["mart"] = FakeMall(dict(world.malls["mart"].stock))  # it answers again
    second = rollback(world)
    assert (Outcome.SUCCESS, [("mart", "a")]) == (second.status, [(i.mall, i.item) for i in second.items])
    assert (1, 2) == (world.malls["mart"].stock["a"], world.malls["shop"].stock["d"])
    with pytest.raises(RollbackRefusedError, match="once only"):
        rollback(world)


def test_a_syncs_unconfirmed_writes_are_put_back_where_the_mall_shows_them_and_named_where_not(world: World) -> None:
    """
    A sync whose read-back failed (or that died) may have written: it is the target, never passed over. Where
    the mall shows exactly what it sent, the write landed and is put back; where the mall moved since, whether
    it landed is unknown, and either guess could bring back sold stock: left alone, named with its numbers.
    They were silently left out, and the rollback said SUCCESS.
    """
    world.sync()
    held = {code: dict(mall.stock) for code, mall in world.malls.items()}
    world.source.stock.update(D=30, A=9)
    blind_malls(world)
    newer = world.sync()
    assert Outcome.FAILED == newer.status
    for code, mall in list(world.malls.items()):
        world.malls[code] = FakeMall(dict(mall.stock))  # the outage is over
    world.malls["mart"].stock["a"] -= 1  # an order since the sync
    plan = rollback(world, dry_run=True)
    assert newer.run_id == plan.sync.id
    assert {("shop", "d"): held["shop"]["d"], ("shop", "a"): held["shop"]["a"]} == {
        (i.mall, i.item): i.restore for i in plan.items
    }
    why = plan.unsure[("mart", "a")]
    assert why.startswith("the sync's write was accepted but never read back; the mall holds ")
    assert why.endswith("whether it landed is unknown, set it by hand")
    live = rollback(world)
    assert (Outcome.PARTIAL, True) == (live.status, "1 items left alone, to set by hand" in world.notifier.sent[-1][1])


def test_the_prompt_holds_no_lock_and_the_rollback_uses_what_the_malls_hold_after_it(world: World) -> None:
    """A sync may start while the table is read; an order that came in meanwhile is not brought back."""
    world.sync()  # mart a: 1 -> 5

    def confirm(_plan: RollbackReport) -> bool:
        world.app.lock.acquire("cron0400", "now")  # a scheduled sync could take the lock now
        world.app.lock.release()
        world.malls["mart"].stock["a"] = 4  # one unit sold while the operator read the table
        return True

    report = run_rollback(world.app, None, dry_run=False, notifier=world.notifier, confirm=confirm)
    assert Outcome.SUCCESS == report.status
    assert 0 == world.malls["mart"].stock["a"], "4 less the sync's +4: the sold unit is not brought back"


def test_a_live_rollback_with_nothing_to_put_back_is_not_a_dry_run(world: World) -> None:
    """Nothing changed and nothing recorded, but it says it was live."""
    world.sync()
    for mall in world.malls.values():
        mall.stock.clear()
    report = rollback(world)
    assert (None, False, ()) == (report.run_id, report.dry_run, report.items)


def test_a_sync_that_started_and_died_during_the_prompt_is_not_passed_over(world: World) -> None:
    """The prompt holds no lock: a sync run meanwhile that died mid-push is the latest one, so nothing is put back."""
    world.sync()

    def confirm(_plan: RollbackReport) -> bool:
        dead = world.app.ledger.start(RunKind.SYNC)  # recorded its plan, wrote, and was killed
        world.app.ledger.record_items([RunItem(dead.id, "A", "mart", "a", 40, 5, 8)])
        world.malls["mart"].stock["a"] = 8
        return True

    with pytest.raises(RollbackRefusedError, match="not the latest sync"):
        run_rollback(world.app, None, dry_run=False, notifier=world.notifier, confirm=confirm)
    assert 8 == world.malls["mart"].stock["a"]
    assert ["INTERRUPTED"] == [s for s, _ in world.notifier.sent if s == "INTERRUPTED"]


@attrs.define
class CrashingWriter(FakeMall):
    """A plugin whose write has a bug."""

    async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
        raise RuntimeError("boom in write")


def test_a_mall_whose_plugin_crashes_on_write_leaves_the_other_put_back(world: World) -> None:
    """
    A plugin's bug on write fails that mall alone, as on read: the other mall is put back, the run PARTIAL and
    alerted with the reason. Before, the bug ended the whole rollback FAILED, cutting the other mall's push off
    wherever it stood.
    """
    before = dict(world.malls["shop"].stock)
    world.sync()
    world.malls["mart"] = CrashingWriter(dict(world.malls["mart"].stock))
    report = rollback(world)
    assert (Outcome.PARTIAL, before) == (report.status, world.malls["shop"].stock)
    assert "the mall plugin failed (RuntimeError: boom in write)" in report.mall_errors["mart"]
    [failed] = [r for r in report.results if r.outcome == "failed"]
    assert ("mart", True) == (failed.mall, "may or may not have been written" in (failed.error or ""))
    run = world.app.ledger.get(report.run_id or "")
    assert (Outcome.PARTIAL, 2, 1) == (run.status, run.counts.succeeded, run.counts.failed)
    assert any(s == "PARTIAL" and run.id in body and "boom in write" in body for s, body in world.notifier.sent)


def test_a_rollback_run_again_puts_back_what_a_crashed_one_never_sent(world: World) -> None:
    """
    The crash came on shop's first write (b): d never reached the mall, so run again it is put back as if that
    rollback had not run. Taken as "may or may not have been written", d was left to be set by hand.
    """
    before = dict(world.malls["shop"].stock)
    world.sync()
    world.malls["shop"] = CrashingWriter(dict(world.malls["shop"].stock))
    crashed = rollback(world)
    assert [("b", False), ("d", True)] == [(i.item, i.never_sent) for i in crashed.results if i.mall == "shop"]
    world.malls["shop"] = FakeMall(dict(world.malls["shop"].stock))
    again = rollback(world)
    assert (Outcome.SUCCESS, {}, before) == (again.status, again.unsure, world.malls["shop"].stock)


def test_a_rollback_during_a_live_run_is_refused_and_a_live_one_alerted(world: World) -> None:
    """
    Its preview reads every mall under the live run's limits: refused before reading, naming the run; a live
    rollback is alerted as REFUSED (someone meant to undo a sync and could not).
    """
    assert Outcome.SUCCESS == world.sync().status
    other = RunLock(world.app.settings.database)
    other.acquire("abc12345", "2026-11-29T04:00:00Z")
    try:
        with pytest.raises(RunLockedError, match=r"another run \(abc12345\).*rate limits"):
            rollback(world, dry_run=True)
        assert [] == world.notifier.sent
        with pytest.raises(RunLockedError, match=r"another run \(abc12345\)"):
            rollback(world)
    finally:
        other.release()
    assert ["REFUSED"] == [s for s, _ in world.notifier.sent]


def test_a_rollback_stopped_part_way_keeps_what_it_put_back(world: World) -> None:
    """
    Its outcomes are recorded slice by slice: run again, it knows b was put back (confirmed before the crash)
    and leaves it, where it said "set it by hand" (b was lowered, and a lowered item at its lower number proves
    nothing: orders lower stock too).
    """
    world.sync()
    world.malls["shop"] = CrashOnSecondWrite(dict(world.malls["shop"].stock))
    rollback(world)
    [stopped] = [r for r in world.app.ledger.recent() if r.kind is RunKind.ROLLBACK]
    assert (Outcome.PARTIAL, 2) == (stopped.status, stopped.counts.succeeded), "mart a, and shop b before the crash"
    world.malls["shop"] = FakeMall(dict(world.malls["shop"].stock))
    again = rollback(world, dry_run=True)
    assert f"already put back by rollback {stopped.id}" == again.skipped[("shop", "b")]
    assert ("shop", "b") not in again.unsure


def test_an_order_taken_while_fba_was_listed_is_not_brought_back(world: World) -> None:
    """
    The malls are read during the FBA listing, minutes before the writes at real limits. mart's a sold its one
    unit in between: the sync records what a held just before its write (0), so the rollback puts back 0, not the
    1 it had read (which would sell a unit that is gone).
    """
    mart = world.malls["mart"]

    class OrderWhileListing(FakeStockSource):
        async def snapshot(self) -> dict[str, int]:
            await asyncio.sleep(0.05)  # the malls are read meanwhile
            mart.stock["a"] -= 1
            return await super().snapshot()

    world.holder["source"] = OrderWhileListing(dict(world.source.stock))
    sync = world.sync()
    assert 0 == next(i.before for i in world.app.ledger.items(sync.run_id) if i.item == "a")
    plan = rollback(world, dry_run=True)
    assert (0, 5, 5, 0) == next((i.before, i.after, i.now, i.restore) for i in plan.items if i.item == "a")


def test_a_secret_in_a_malls_error_is_not_in_the_rollbacks_report(world: World) -> None:
    """The rollback kept a mall's error as said, secret and all, where the sync (the same words) scrubbed it."""
    world.sync()
    REDACTOR.add(["s3cr3t-in-a-rollback-read"])
    down = MallError("mart", "key s3cr3t-in-a-rollback-read refused")
    world.malls["mart"] = DownMall(dict(world.malls["mart"].stock), error=down)
    assert "could not read current stock: key *** refused" == rollback(world).mall_errors["mart"]
