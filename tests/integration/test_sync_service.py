"""The sync use case over fakes and a real DuckDB file: plan, dry run, push, read-back, outcomes, safety."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
import structlog

from ecsync_core.aio import TERMINATING, Terminated
from ecsync_core.bootstrap import build_app
from ecsync_core.domain import ItemResult, Mapping, Outcome, RunItem, RunKind, StockWrite
from ecsync_core.errors import CredentialError, MallError, RefusedError, RunLockedError
from ecsync_core.logging import REDACTOR, configure, said
from ecsync_core.ports import StockReading
from ecsync_core.render import render_sync
from ecsync_core.services.push import ended_early
from ecsync_core.services.rollback import run_rollback
from ecsync_core.services.runs import IMPORT_HOLDER
from ecsync_core.services.simulate import current_stock
from ecsync_core.services.sync import SyncFailedError, SyncOptions, run_sync
from ecsync_core.store import RunLock
from ecsync_core.store.db import DatabaseError
from ecsync_core.testing import FakeMall, FakeStockSource
from tests.fakeworld import BrokenSource, CrashOnSecondWrite, DownMall, RecordingNotifier, World, make_world, unwritable


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return make_world(tmp_path, monkeypatch)


def test_dry_run_plans_and_writes_nothing(world: World) -> None:
    """The dry run counts found / mapped / updates, sends nothing and is recorded as a dry-run run."""
    report = world.sync(dry_run=True)
    assert (5, 4, 3) == (report.counts.found, report.counts.mapped, report.counts.updates)
    assert {("shop", "b", 4), ("shop", "d", 0), ("mart", "a", 5)} == {
        (u.mall, u.item, u.target) for u in report.plan.updates
    }
    assert ("E",) == report.plan.unmapped
    assert [] == world.malls["shop"].writes == world.malls["mart"].writes
    run = world.app.ledger.get(report.run_id)
    assert (RunKind.DRY_RUN, Outcome.SUCCESS) == (run.kind, run.status)


def test_live_sync_sets_targets_and_rerun_plans_nothing(world: World) -> None:
    """After a live sync every mall holds the rule's number; the ledger has before/sent/after; a rerun plans 0."""
    report = world.sync()
    assert (Outcome.SUCCESS, 3, 0) == (report.status, report.counts.succeeded, report.counts.failed)
    assert {"a": 5, "b": 4, "c": 3, "d": 0} == world.malls["shop"].stock
    assert {"a": 5, "b": 4, "x": 0} == world.malls["mart"].stock
    items = {(i.mall, i.item): (i.before, i.sent, i.after, i.outcome) for i in world.app.ledger.items(report.run_id)}
    assert (1, 5, 5, "ok") == items[("mart", "a")]
    assert 0 == world.sync(dry_run=True).counts.updates


def test_each_mall_is_written_in_its_plugins_slices(world: World) -> None:
    """The shop's plugin takes one item a write call: its two updates go in two calls, the mart's in one."""
    world.sync()
    assert [["b"], ["d"]] == [[w.item for w in call] for call in world.malls["shop"].writes]
    assert [1] == [len(call) for call in world.malls["mart"].writes]


def test_a_sync_without_mappings_says_it_sends_nothing(world: World) -> None:
    """FBA lists SKUs but nothing is mapped: SUCCESS with nothing sent every night, so the run warns of it."""
    world.app.mappings.apply([], replace=True)
    report = world.sync()
    assert (Outcome.SUCCESS, 0) == (report.status, report.counts.updates)
    assert ["no active mappings in the database: nothing is sent; import the master sheet"] == list(report.warnings)


def test_missing_item_fails_on_read_back(world: World) -> None:
    """A mall that silently accepts an unknown code: the item reads back as absent and counts as failed."""
    world.app.mappings.apply([Mapping("B", "shop", "nope")], replace=False)
    report = world.sync()
    assert Outcome.PARTIAL == report.status
    [failed] = report.failed_items
    assert ("nope", "item code not found on Shop Mall") == (failed.item, failed.error)


def test_one_mall_down_is_partial_and_the_other_is_updated(world: World) -> None:
    """A mall failing for the whole run does not stop the other: PARTIAL, and the next run catches up."""
    healthy = world.malls["mart"]
    world.malls["mart"] = DownMall(dict(healthy.stock))
    report = world.sync()
    assert Outcome.PARTIAL == report.status
    assert {"a": 5, "b": 4, "c": 3, "d": 0} == world.malls["shop"].stock
    assert "mart" in report.mall_errors
    assert any(s == "PARTIAL" for s, _ in world.notifier.sent)
    world.malls["mart"] = healthy
    again = world.sync()
    assert (Outcome.SUCCESS, 1) == (again.status, again.counts.updates)
    assert 5 == healthy.stock["a"]


def test_a_secret_in_a_plugins_error_reaches_neither_the_report_nor_the_ledger(world: World) -> None:
    """A plugin that put a secret in its error had it printed on stderr and kept in the ledger's message."""
    REDACTOR.add(["s3cr3t-in-a-mall-error"])
    world.malls["mart"] = DownMall(
        dict(world.malls["mart"].stock), error=MallError("mart", "key s3cr3t-in-a-mall-error")
    )
    report = world.sync()
    assert "could not read current stock: key ***" == report.mall_errors["mart"].split(" (")[0]
    assert "s3cr3t" not in world.app.ledger.get(report.run_id).message
    crash = RuntimeError("boom with s3cr3t-in-a-mall-error")
    assert ("RuntimeError: boom with ***", "RuntimeError: boom with ***") == (said(crash), ended_early(crash)[1])


def test_a_mall_whose_adapter_cannot_start_is_left_out_and_the_others_go_on(world: World) -> None:
    """A plugin raising while its adapter is made fails its own mall, named, not the whole run."""
    del world.malls["mart"]  # the fake plugin's make_adapter now raises KeyError
    report = world.sync()
    assert Outcome.PARTIAL == report.status
    assert {"a": 5, "b": 4, "c": 3, "d": 0} == world.malls["shop"].stock
    assert report.mall_errors["mart"].startswith("could not start: the mart plugin could not start (KeyError")


@pytest.mark.parametrize(
    ("host_change", "said"),
    [
        ({}, "no plugin for this mall is installed"),
        ({"broken": {"qmall": "ImportError: no module named qmall_x"}}, "its plugin failed to load (ImportError"),
    ],
)
def test_mappings_on_a_mall_with_no_loaded_plugin_make_the_run_partial(
    world: World, host_change: dict[str, object], said: str
) -> None:
    """
    A plugin that failed to load (or was uninstalled) would leave its mall's stock behind FBA with the run
    SUCCESS: the run is PARTIAL, names the mall and the way out, and the others are written.
    """
    world.app.mappings.apply([Mapping("A", "qmall", "q-1")], replace=False)
    world.app.host = attrs.evolve(world.app.host, **host_change)
    report = world.sync()
    assert Outcome.PARTIAL == report.status
    assert said in report.mall_errors["qmall"]
    assert "add qmall to disable_plugins" in report.mall_errors["qmall"]
    assert {"a": 5, "b": 4, "c": 3, "d": 0} == world.malls["shop"].stock
    assert any(s == "PARTIAL" and "qmall" in body for s, body in world.notifier.sent)


def test_mappings_on_a_disabled_plugin_are_left_aside_on_purpose(world: World) -> None:
    """``ECSYNC_DISABLE_PLUGINS`` says the operator means it: no error, the run is SUCCESS."""
    world.app.mappings.apply([Mapping("A", "qmall", "q-1")], replace=False)
    world.app.host = attrs.evolve(world.app.host, disabled=world.app.host.disabled | {"qmall"})
    report = world.sync()
    assert (Outcome.SUCCESS, {}) == (report.status, report.mall_errors)


def test_credential_error_fails_that_mall_at_once(world: World) -> None:
    """A mall refusing credentials is not written; the message with the action reaches the run and an alert."""
    world.malls["mart"] = DownMall({"a": 1}, error=CredentialError("mart", "token expired: run get_token"))
    report = world.sync()
    assert Outcome.PARTIAL == report.status
    assert "token expired: run get_token (3 mapped items left as they are)" == report.mall_errors["mart"]
    assert [] == world.malls["mart"].writes
    assert any(s == "CREDENTIALS" for s, _ in world.notifier.sent)


def test_per_item_write_error_stands_alone(world: World) -> None:
    """One item refused by the mall fails with the mall's words; the others succeed."""
    world.malls["shop"].failing["b"] = "st-02103 duplicated"
    report = world.sync()
    assert (Outcome.PARTIAL, 2, 1) == (report.status, report.counts.succeeded, report.counts.failed)
    assert "st-02103 duplicated" == report.failed_items[0].error


def test_lookup_before_zero(world: World) -> None:
    """A mapped SKU the listing did not show is asked for by name, not taken as sold out."""
    world.source.hidden["C"] = world.source.stock.pop("C")
    report = world.sync(dry_run=True)
    assert 3 == next(u for u in report.plan.items if u.item == "c").target


def test_all_zero_is_refused_and_force_overrides(world: World) -> None:
    """All FBA quantities at 0: REFUSED and nothing written; --force runs it and says so in the ledger."""
    world.source.stock.update(dict.fromkeys(world.source.stock, 0))
    refused = world.sync()
    assert Outcome.REFUSED == refused.status
    assert "drop to 0" in refused.message
    first = refused.plan.zeroing[0]
    assert f"{first.mall} {first.item!r} (SKU {first.sku!r}, {first.before} -> 0)" in refused.message, "named"
    assert [] == world.malls["shop"].writes
    assert Outcome.REFUSED == world.app.ledger.get(refused.run_id).status
    forced = world.sync(force=True)
    assert Outcome.SUCCESS == forced.status
    assert world.app.ledger.get(forced.run_id).forced


def test_empty_and_shrunken_source_are_refused(world: World) -> None:
    """An empty listing, or one under half of the last good run, is refused."""
    assert Outcome.SUCCESS == world.sync().status
    world.source.stock = {"A": 25}
    assert "fewer than 50%" in world.sync().message
    world.source.stock = {}
    assert "no SKUs" in world.sync().message


def test_a_forced_dry_run_does_not_lower_the_bar_for_the_next_live_run(world: World) -> None:
    """Looking at a shrunken source with ``--dry-run --force`` leaves the last good run the baseline."""
    assert Outcome.SUCCESS == world.sync().status
    written = len(world.malls["mart"].writes)
    world.source.stock = {"A": 25}
    assert Outcome.SUCCESS == world.sync(dry_run=True, force=True).status
    refused = world.sync()
    assert (Outcome.REFUSED, True) == (refused.status, "fewer than 50%" in refused.message)
    assert written == len(world.malls["mart"].writes)


def test_a_quantity_no_item_can_hold_is_refused_even_when_forced(world: World) -> None:
    """FBA reporting 99,999,999,999 units is a broken source: refused, nothing written, one readable line."""
    world.source.stock["A"] = 99_999_999_999
    report = world.sync(force=True)
    assert (Outcome.REFUSED, []) == (report.status, world.malls["shop"].writes)
    assert "the source reports 99,999,999,999 units for SKU 'A'" in report.message


def test_source_failure_fails_the_run(world: World) -> None:
    """A listing that cannot complete fails the run (recorded FAILED) and nothing is written."""

    world.holder["source"] = BrokenSource(dict(world.source.stock))
    with pytest.raises(SyncFailedError, match="nextToken expired"):
        world.sync()
    assert Outcome.FAILED == world.app.ledger.recent(1)[0].status
    assert [] == world.malls["shop"].writes


def test_second_live_run_is_refused_by_the_lock(world: World) -> None:
    """While a run holds the lock another live sync is refused, and that refusal is not a run."""
    lock = world.app.lock
    lock.acquire("abc12345", "2026-11-29T04:00:00Z")
    try:
        with pytest.raises(RunLockedError, match=r"another run \(abc12345\)"):
            world.sync()
    finally:
        lock.release()
    assert [] == world.app.ledger.recent()
    assert [("REFUSED", True)] == [(s, "abc12345" in body) for s, body in world.notifier.sent]


def test_dry_run_waits_for_no_live_run_but_is_refused_during_one(world: World) -> None:
    """
    A dry run during a live run would spend that run's rate limits (429s, a failed listing): refused, naming
    the run. A lock held by no run (another command's probe) stops nothing.
    """
    other = RunLock(world.app.settings.database)  # another process's hold: its own open file
    with other.while_free() as free:
        assert free
        assert world.sync(dry_run=True).dry_run
    other.acquire("abc12345", "2026-11-29T04:00:00Z")
    try:
        with pytest.raises(RunLockedError, match=r"another run \(abc12345\).*rate limits"):
            world.sync(dry_run=True)
        with pytest.raises(RunLockedError, match=r"another run \(abc12345\)"):
            current_stock(world.app, None)  # simulate over the live listing
    finally:
        other.release()
    assert [RunKind.DRY_RUN] == [r.kind for r in world.app.ledger.recent()]
    with world.app.lock.held(IMPORT_HOLDER):  # seconds of writing mappings, no mall called: no reason to wait
        assert world.sync(dry_run=True).dry_run


def test_simulate_from_a_file_asks_fba_for_the_mapped_skus_it_leaves_out(world: World, tmp_path: Path) -> None:
    """
    As `sync --file` takes them: a mapped SKU missing from the file is asked of FBA by name, not shown as 0 (B and
    C hold 16 and 9); where FBA cannot be asked, or a live run is using its limits, 0, as the sync then takes it.
    """
    report = tmp_path / "report.csv"
    report.write_text("A,25\n")
    rows, _, warnings = current_stock(world.app, report)
    assert [("A", 25), ("B", 16), ("C", 9), ("D", 0), ("X", 0)] == rows
    assert (f"{report}: 4 mapped SKUs are not in the file ('B', 'C', 'D', ...): asked FBA for them by name",) == tuple(
        w.split(", and their")[0] for w in warnings
    ), "said as `sync --file` says it"
    other = RunLock(world.app.settings.database)  # a live run using FBA's limits: the look from a file goes on
    other.acquire("abc12345", "2026-11-29T04:00:00Z")
    try:
        rows, _, _ = current_stock(world.app, report)
    finally:
        other.release()
    assert [("A", 25), ("B", 0), ("C", 0), ("D", 0), ("X", 0)] == rows
    world.holder["source"] = Unreachable({"B": 16, "C": 9})
    rows, _, _ = current_stock(world.app, report)
    assert [("A", 25), ("B", 0), ("C", 0), ("D", 0), ("X", 0)] == rows


def test_simulate_shows_a_mistyped_sku_sent_nowhere_as_the_sync_does(world: World) -> None:
    """
    'Ｃ' (full-width) is not at FBA but 'C' is: the sync sends nothing for it, so simulate shows it on no mall and
    says why. It showed 0 for its item, which the sync never sends.
    """
    world.app.mappings.apply([Mapping("Ｃ", "mart", "y")], replace=False)
    rows, mapped, warnings = current_stock(world.app, None)
    assert (("Ｃ", 0), set()) == (rows[-1], (mapped or {})["Ｃ"])
    assert 1 == len(warnings)
    assert warnings[0].startswith("not sent by a sync: SKU 'Ｃ' is not at FBA, but 'C' is")
    assert {("mart", "y")} == set(world.sync(dry_run=True).plan.unreadable)


@attrs.define
class Unreachable(FakeStockSource):
    """FBA that cannot be asked (no credentials for the API, an outage)."""

    async def lookup(self, skus: Sequence[str]) -> dict[str, int]:
        raise MallError("src", "connection failed")


def test_dead_run_is_marked_interrupted(world: World) -> None:
    """A RUNNING run whose process is gone (lock free) is marked INTERRUPTED by the next command."""
    dead = world.app.ledger.start(RunKind.SYNC)
    world.sync(dry_run=True)
    assert Outcome.INTERRUPTED == world.app.ledger.get(dead.id).status
    assert any(s == "INTERRUPTED" for s, _ in world.notifier.sent)


def test_a_dead_run_counts_the_outcomes_it_recorded(world: World) -> None:
    """
    Killed after one mall's outcomes were recorded: INTERRUPTED with those counted, not 0 succeeded over confirmed
    writes (what an operator deciding on a rollback reads first), and the unsent items left uncounted.
    """
    dead = world.app.ledger.start(RunKind.SYNC)
    planned = [RunItem(dead.id, s, "shop", s.lower(), 4, 0, 2, None, "planned", None) for s in ("A", "B", "C")]
    world.app.ledger.record_items(planned)
    world.app.ledger.record_outcomes(
        dead.id,
        [attrs.evolve(planned[0], after=2, outcome="ok"), attrs.evolve(planned[1], outcome="failed", error="x")],
    )
    world.sync(dry_run=True)
    run = world.app.ledger.get(dead.id)
    assert (Outcome.INTERRUPTED, 1, 1) == (run.status, run.counts.succeeded, run.counts.failed)


def test_unapproved_rules_refuse_live_and_the_dry_run_warns(world: World, tmp_path: Path) -> None:
    """
    A rule table never approved blocks a live sync. A dry run still works with it (SPEC), and says the live run
    would be refused: a dry run that passed in silence, then a refused 04:00 run, was a trap. It alerts no one.
    """
    cfg = world.app.settings.path
    assert cfg is not None
    cfg.write_text(cfg.read_text() + "rules:\n  default:\n    - {min: 1, ratio: '1/3'}\n")
    world.app.settings = build_app(cfg).settings
    dry = world.sync(dry_run=True)
    assert (Outcome.SUCCESS, 1) == (dry.status, len(dry.warnings))
    assert dry.warnings[0].startswith("the live run would be refused: the rule table in config")
    assert dry.warnings[0] in world.app.ledger.get(dry.run_id).message, "status shows it too"
    assert [] == world.notifier.sent
    with pytest.raises(RefusedError, match="not approved"):
        world.sync()
    assert ["REFUSED"] == [s for s, _ in world.notifier.sent], "a stopped schedule is heard of"


def test_full_sends_every_item(world: World) -> None:
    """--full sends every mapped item, changed or not."""
    assert 7 == world.sync(dry_run=True, full=True).counts.updates


def test_malls_are_read_while_fba_is_listed(world: World) -> None:
    """The malls' stock is read during the FBA listing, not after it (at real limits the listing takes minutes)."""
    mall_read = asyncio.Event()

    class SignallingMall(FakeMall):
        async def read(self, items: Sequence[str]) -> StockReading:
            mall_read.set()
            return await super().read(items)

    class SlowSource(FakeStockSource):
        async def snapshot(self) -> dict[str, int]:
            await asyncio.wait_for(mall_read.wait(), timeout=5)  # only ends if a mall was read meanwhile
            return await super().snapshot()

    world.holder["malls"]["shop"] = SignallingMall(dict(world.malls["shop"].stock))
    world.holder["source"] = SlowSource(dict(world.source.stock))
    assert 3 == world.sync(dry_run=True).counts.updates


def test_every_log_line_of_a_run_carries_its_id_dry_runs_and_rollbacks_too(world: World) -> None:
    """
    SPEC: the run ID on every log line. A mall's (and a retry's) lines carry the id the run is recorded under: a
    dry run's too, chosen before it reads anything, and a rollback's. Once the run ends the id is gone, so a
    notebook's next lines do not carry it.
    """
    seen: list[object] = []

    class RecordingMall(FakeMall):
        async def read(self, items: Sequence[str]) -> StockReading:
            seen.append(structlog.contextvars.get_contextvars().get("run_id"))
            return await super().read(items)

        async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
            seen.append(structlog.contextvars.get_contextvars().get("run_id"))
            return await super().write(writes)

    world.holder["malls"]["shop"] = RecordingMall(dict(world.malls["shop"].stock))
    dry = world.sync(dry_run=True)
    assert [dry.run_id] == seen
    seen.clear()
    live = world.sync()
    assert {live.run_id} == set(seen)
    seen.clear()
    undone = run_rollback(world.app, None, dry_run=False, notifier=world.notifier, confirm=lambda _plan: True)
    assert undone.run_id is not None
    assert undone.run_id in seen, "its writes and read-back"
    assert "run_id" not in structlog.contextvars.get_contextvars()
    assert [RunKind.DRY_RUN, RunKind.SYNC, RunKind.ROLLBACK] == [r.kind for r in reversed(world.app.ledger.recent())]


def test_a_mistyped_sku_fails_its_item_unless_forced(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """
    ``0E`` is not at FBA but ``E`` is: its item fails unsent, naming ``E``, and the run is PARTIAL (its output
    does not say "sent 0": nothing was). ``--force`` takes the sheet at its word (as for a file's lost zeros):
    the item then follows ``0E``, which FBA lacks: 0.
    """
    world.malls["shop"].stock["e0"] = 7
    world.app.mappings.apply([Mapping("0E", "shop", "e0")], replace=False)
    report = world.sync()
    assert Outcome.PARTIAL == report.status
    [failed] = report.failed_items
    assert ("e0", True) == (failed.item, "SKU '0E' is not at FBA, but 'E' is" in (failed.error or ""))
    render_sync(report, 0)
    assert "  failed: shop e0 (sku 0E): not sent: SKU '0E' is not at FBA" in capsys.readouterr().out
    assert 7 == world.malls["shop"].stock["e0"]
    assert Outcome.SUCCESS == world.sync(force=True).status
    assert 0 == world.malls["shop"].stock["e0"]


def test_a_dry_runs_log_file_lines_all_carry_its_id(world: World, tmp_path: Path) -> None:
    """
    In the log file, every line of a dry run carries the id it is recorded under, the warning that a mall could
    not be read included (it was written with run_id null).
    """
    world.malls["mart"] = DownMall({"a": 1}, error=MallError("mart", "HTTP 500 after 5 attempts", retryable=True))
    log_file = tmp_path / "sync.log"
    configure(0, log_file)
    try:
        dry = world.sync(dry_run=True)
    finally:
        configure(0)
    events = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert "mall_read_failed" in {e["event"] for e in events}
    assert {dry.run_id} == {e.get("run_id") for e in events}


def test_a_live_sync_that_cannot_open_its_database_alerts(tmp_path: Path) -> None:
    """
    No run can be recorded when the database cannot be opened (a notebook holding it, a file that is not one) or
    is not there (run from another folder), so the 04:00 sync stopped with no trace a log watcher sees: it alerts
    now. A dry run, run by hand, does not.
    """
    not_one = tmp_path / "x.duckdb"
    not_one.write_text("a spreadsheet saved under the wrong name")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database: {not_one}\n")
    app, notifier = build_app(cfg), RecordingNotifier()
    with pytest.raises(DatabaseError):
        run_sync(app, SyncOptions(dry_run=True), notifier)
    assert [] == notifier.sent
    with pytest.raises(DatabaseError):
        run_sync(app, SyncOptions(), notifier)
    not_one.unlink()
    with pytest.raises(DatabaseError, match="no database here"):
        run_sync(app, SyncOptions(), notifier)
    said = [(subject, body.split(": ")[0]) for subject, body in notifier.sent]
    assert [("FAILED", "the sync could not use its database")] * 2 == said
    assert not not_one.exists(), "none made"


def test_a_live_sync_that_cannot_write_its_database_folder_alerts(world: World) -> None:
    """
    A database folder that cannot be written (a read-only mount) fails the sync in one line, with an alert: its
    run lock could not be made, and it ended as "internal error: PermissionError" with no alert.
    """
    lock = world.app.lock.path
    lock.unlink(missing_ok=True)
    with unwritable(lock.parent), pytest.raises(DatabaseError, match=r"run lock .*: cannot open"):
        world.sync()
    [(subject, body)] = world.notifier.sent
    assert ("FAILED", True) == (subject, "could not use its database: run lock" in body)


def test_every_mall_refusing_credentials_fails_the_run(world: World) -> None:
    """Nothing written anywhere because every mall refused the key: FAILED (exit 1), not PARTIAL."""
    for code in ("shop", "mart"):
        world.malls[code] = DownMall({}, error=CredentialError(code, "key revoked: renew it"))
    report = world.sync()
    assert (Outcome.FAILED, 0) == (report.status, report.counts.succeeded)
    assert {"shop", "mart"} == set(report.mall_errors)


@attrs.define
class UnreadableMall(FakeMall):
    """A mall whose reads fail (an outage at reading time) though its writes would go through."""

    async def read(self, items: Sequence[str]) -> StockReading:
        raise MallError("mart", "HTTP 500 after 5 attempts", retryable=True)


def test_a_mall_that_cannot_be_read_is_not_written_blind(world: World) -> None:
    """Unknown stock: no diff, no zeroing check, nothing to roll back; that mall waits for the next run."""
    world.malls["mart"] = UnreadableMall(dict(world.malls["mart"].stock))
    report = world.sync()
    assert (Outcome.PARTIAL, []) == (report.status, world.malls["mart"].writes)
    assert (4, ("E",)) == (report.counts.mapped, report.plan.unmapped), "its SKUs are still mapped"
    assert {"a": 5, "b": 4, "c": 3, "d": 0} == world.malls["shop"].stock
    said = "could not read current stock: HTTP 500 after 5 attempts (3 mapped items left as they are)"
    assert said == report.mall_errors["mart"]
    assert said in world.notifier.sent[-1][1]
    # Not "0 failed" and nothing else: the counts say how many items the run left as they are.
    assert (0, 3) == (report.counts.failed, report.counts.left_alone)
    assert 3 == world.app.ledger.get(report.run_id or "").counts.left_alone
    assert world.notifier.sent[-1][1].startswith(f"sync {report.run_id}: 0 of 2 items failed, 3 items not synced.")
    world.source.stock.update(dict.fromkeys(world.source.stock, 0))
    refused = world.sync(dry_run=True)
    assert (Outcome.REFUSED, "mart") == (refused.status, next(iter(refused.mall_errors)))


@attrs.define
class CrashingMall(FakeMall):
    """A plugin with a bug: its write raises what no mall adapter should."""

    async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
        raise KeyError("boom")


def test_a_plugin_crash_fails_that_mall_and_the_other_goes_on(world: World) -> None:
    """One mall's unexpected error fails its items with a readable reason; the other mall is written and kept."""
    world.malls["mart"] = CrashingMall(dict(world.malls["mart"].stock))
    report = world.sync()
    assert Outcome.PARTIAL == report.status
    assert {"a": 5, "b": 4, "c": 3, "d": 0} == world.malls["shop"].stock
    assert report.mall_errors["mart"].startswith("the mall plugin failed (KeyError: 'boom')")
    outcomes = {(i.mall, i.item): i.outcome for i in world.app.ledger.items(report.run_id)}
    assert {("shop", "b"): "ok", ("shop", "d"): "ok", ("mart", "a"): "failed"} == outcomes


@attrs.define
class CrashingReader(FakeMall):
    """A plugin whose read has a bug."""

    async def read(self, items: Sequence[str]) -> StockReading:
        raise RuntimeError("boom in read")


def test_a_plugin_crash_while_reading_leaves_that_mall_out(world: World) -> None:
    """A mall whose read crashes is not written (its stock is unknown); the other mall is synced as usual."""
    world.malls["mart"] = CrashingReader(dict(world.malls["mart"].stock))
    report = world.sync()
    assert (Outcome.PARTIAL, 2) == (report.status, report.counts.succeeded)
    assert {"a": 5, "b": 4, "c": 3, "d": 0} == world.malls["shop"].stock
    assert [] == world.malls["mart"].writes
    assert report.mall_errors["mart"].startswith("the mall plugin failed (RuntimeError: boom in read)")


@attrs.define
class OddReader(FakeMall):
    """A plugin whose read answers the wrong shape: a plain dict, or a quantity as text."""

    answer: Any = None

    async def read(self, items: Sequence[str]) -> StockReading:
        return self.answer  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ({"a": 1}, "read() answered a dict, not a StockReading"),
        (StockReading({"a": "1"}), "read() answered '1' for item 'a', not a whole number"),  # type: ignore[dict-item]
    ],
)
def test_a_read_answered_in_the_wrong_shape_leaves_that_mall_out(world: World, answer: Any, said: str) -> None:
    """It failed the whole run further on (an AttributeError in the plan), the other mall unsynced: now that one."""
    world.malls["mart"] = OddReader(dict(world.malls["mart"].stock), answer=answer)
    report = world.sync()
    assert (Outcome.PARTIAL, 2) == (report.status, report.counts.succeeded)
    assert {"a": 5, "b": 4, "c": 3, "d": 0} == world.malls["shop"].stock
    assert report.mall_errors["mart"].startswith(f"the mall plugin failed (TypeError: {said})")


@attrs.define
class CloseBugMall(FakeMall):
    """A plugin whose clean-up has a bug."""

    async def aclose(self) -> None:
        raise RuntimeError("boom in aclose")


def test_a_plugin_that_fails_to_close_leaves_the_run_as_it_was(world: World) -> None:
    """The writes landed and read back: a bug closing the adapter is logged; the sync and a rollback preview stand."""
    world.malls["mart"] = CloseBugMall(dict(world.malls["mart"].stock))
    report = world.sync()
    assert (Outcome.SUCCESS, 3) == (report.status, report.counts.succeeded)
    assert Outcome.SUCCESS == world.app.ledger.get(report.run_id).status
    preview = run_rollback(world.app, None, dry_run=True, notifier=world.notifier, confirm=lambda _plan: False)
    assert {("mart", "a"), ("shop", "b"), ("shop", "d")} == {(i.mall, i.item) for i in preview.items}


@attrs.define
class NotebookInterrupt(FakeMall):
    """A slow mall during whose write the analyst interrupts the notebook cell running the sync."""

    async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
        main = threading.main_thread().ident
        assert main is not None
        signal.pthread_kill(main, signal.SIGINT)  # ipykernel's interrupt: a KeyboardInterrupt in the cell
        await asyncio.sleep(5)
        return await super().write(writes)


def test_an_interrupted_notebook_sync_stops_before_it_lets_go_of_the_lock(world: World) -> None:
    """
    In a notebook the sync runs on a thread beside the kernel's loop. An interrupt there cancels the run and waits
    for it: recorded INTERRUPTED, nothing written after, and only then is the lock free. Before, the cell got its
    KeyboardInterrupt back while the thread went on writing, the lock released, beside any next sync.
    """
    world.malls["mart"] = NotebookInterrupt(dict(world.malls["mart"].stock))

    async def cell() -> None:
        world.sync()

    loop = asyncio.new_event_loop()  # run as ipykernel runs a cell: no asyncio SIGINT handler of its own
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(cell())
    finally:
        loop.close()
    assert Outcome.INTERRUPTED == world.app.ledger.recent(1)[0].status
    assert [] == world.malls["mart"].writes
    assert not [t for t in threading.enumerate() if t.name.startswith("ecsync")]
    assert world.app.lock.holder() is None


@attrs.define
class CtrlCMall(FakeMall):
    """A slow mall during whose write the operator presses Ctrl-C."""

    async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
        await asyncio.sleep(0.2)  # the other mall finishes meanwhile
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.sleep(5)
        return await super().write(writes)


def test_ctrl_c_is_interrupted_and_keeps_what_the_run_did(world: World) -> None:
    """Ctrl-C mid-push: INTERRUPTED with its counts, and the finished mall's outcomes stay recorded."""
    world.malls["mart"] = CtrlCMall(dict(world.malls["mart"].stock))
    with pytest.raises(KeyboardInterrupt):
        world.sync()
    run = world.app.ledger.recent(1)[0]
    assert (Outcome.INTERRUPTED, 3, 2) == (run.status, run.counts.updates, run.counts.succeeded)
    outcomes = {(i.mall, i.item): i.outcome for i in world.app.ledger.items(run.id)}
    assert {("shop", "b"): "ok", ("shop", "d"): "ok", ("mart", "a"): "planned"} == outcomes
    assert ("INTERRUPTED", "stopped by the operator (Ctrl-C) before it finished") == world.notifier.sent[-1]


@attrs.define
class StoppedMall(FakeMall):
    """A slow mall during whose write the service manager stops the sync (systemctl stop, a shutdown, `timeout`)."""

    async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
        await asyncio.sleep(0.2)  # the other mall finishes meanwhile
        stop_the_run()
        await asyncio.sleep(5)
        return await super().write(writes)


def test_sigterm_is_recorded_and_alerted_at_once(world: World) -> None:
    """
    SIGTERM mid-push ends the run as Ctrl-C does, saying so: INTERRUPTED now, with what it confirmed, the alert
    sent, the lock free. Killed by the default action, it stayed RUNNING until the next command, the next night.
    """
    world.malls["mart"] = StoppedMall(dict(world.malls["mart"].stock))
    with pytest.raises(Terminated):
        world.sync()
    run = world.app.ledger.recent(1)[0]
    assert (Outcome.INTERRUPTED, 2) == (run.status, run.counts.succeeded)
    message = "stopped by SIGTERM (a service stop, a shutdown, a timeout) before it finished"
    assert ("INTERRUPTED", message) == world.notifier.sent[-1]
    assert message == run.message
    assert [] == world.malls["mart"].writes
    assert world.app.lock.holder() is None
    assert signal.SIG_DFL == signal.getsignal(signal.SIGTERM)  # given back: a notebook's next cell is as it was
    assert not TERMINATING.is_set()  # a later run's cancellation (a notebook's interrupt) is not taken for SIGTERM


def stop_the_run() -> None:
    """SIGTERM to this process, as `systemctl stop` sends it, once the run has a handler of its own for it."""
    # Left to its default action, SIGTERM would end the test session itself.
    assert signal.getsignal(signal.SIGTERM) != signal.SIG_DFL, "the sync left SIGTERM to its default action"
    os.kill(os.getpid(), signal.SIGTERM)


@attrs.define
class StoppedWhileReading(FakeMall):
    """A slow read during which the run is stopped, the other mall's read already answered."""

    async def read(self, items: Sequence[str]) -> StockReading:
        await asyncio.sleep(0.1)
        stop_the_run()
        await asyncio.sleep(5)
        return await super().read(items)


def test_sigterm_while_the_malls_are_read_is_still_said_to_be_sigterm(world: World) -> None:
    """The stop passes through a gather of the reads, which drops a cancellation's message: said as Ctrl-C, before."""
    world.malls["mart"] = StoppedWhileReading(dict(world.malls["mart"].stock))  # read first; shop, read last, answers
    with pytest.raises(Terminated):
        world.sync()
    run = world.app.ledger.recent(1)[0]
    assert (Outcome.INTERRUPTED, True) == (run.status, run.message.startswith("stopped by SIGTERM"))


@attrs.define
class StoppedWhileClosing(FakeMall):
    """A mall whose adapter is being closed, the run's outcome recorded, when the run is stopped."""

    async def aclose(self) -> None:
        stop_the_run()
        await asyncio.sleep(5)


def test_a_stop_after_the_outcome_is_recorded_leaves_the_outcome(world: World) -> None:
    """Every item read back ok: the run stays SUCCESS, no INTERRUPTED alert; only the exit says it was stopped."""
    world.malls["mart"] = StoppedWhileClosing(dict(world.malls["mart"].stock))
    with pytest.raises(Terminated):
        world.sync()
    run = world.app.ledger.recent(1)[0]
    assert (Outcome.SUCCESS, 3) == (run.status, run.counts.succeeded)
    assert [] == world.notifier.sent


@attrs.define
class SoldBeforeTheWrite(FakeMall):
    """
    An order takes 'a' from 1 to 0 between the plan's read and the one just before the write; the write lands,
    then the plugin crashes, or the run is stopped, before it is read back.
    """

    stop: str = "crash"
    reads: int = 0

    async def read(self, items: Sequence[str]) -> StockReading:
        self.reads += 1
        if self.reads == 2:
            self.stock["a"] = 0
        return await super().read(items)

    async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
        results = await super().write(writes)
        if self.stop == "crash":
            raise RuntimeError("boom after the write landed")
        stop_the_run()
        await asyncio.sleep(5)
        return results


@pytest.mark.parametrize("stop", ["crash", "sigterm"])
def test_a_write_cut_short_keeps_the_before_read_just_ahead_of_it(world: World, stop: str) -> None:
    """
    What a rollback puts back is the number read just before the write. Cut short there, the run kept the one
    read during the listing (1), and a rollback brought back the unit sold in between.
    """
    world.malls["mart"] = SoldBeforeTheWrite(dict(world.malls["mart"].stock), stop=stop)
    with contextlib.nullcontext() if stop == "crash" else pytest.raises(Terminated):
        world.sync()
    run = world.app.ledger.recent(1)[0]
    [a] = [i for i in world.app.ledger.items(run.id) if i.mall == "mart"]
    assert (0, 5, 5) == (a.before, a.sent, world.malls["mart"].stock["a"])
    world.malls["mart"] = FakeMall(dict(world.malls["mart"].stock))
    preview = run_rollback(world.app, None, dry_run=True, notifier=world.notifier, confirm=lambda _plan: False)
    assert [0] == [i.restore for i in preview.items if i.mall == "mart"]


@attrs.define
class CrashBeforeTheWrite(FakeMall):
    """A plugin whose second read (the one just before the write) hits a bug: nothing is written."""

    reads: int = 0

    async def read(self, items: Sequence[str]) -> StockReading:
        self.reads += 1
        if self.reads == 2:
            raise KeyError("boom in read")
        return await super().read(items)


def test_items_a_crash_kept_from_the_mall_are_not_sent_and_block_no_rollback(world: World) -> None:
    """
    Stopped by a plugin's bug before they reached the mall, items fail as not sent: that sync wrote nothing, so
    the one before it can still be rolled back. As "may or may not have been written" they made it the target.
    """
    first = world.sync()
    world.source.stock["A"] = 5
    world.malls["shop"] = CrashBeforeTheWrite(dict(world.malls["shop"].stock))
    world.malls["mart"] = CrashBeforeTheWrite(dict(world.malls["mart"].stock))
    second = world.sync()
    assert Outcome.FAILED == second.status
    assert all(i.never_sent for i in world.app.ledger.items(second.run_id))
    world.malls["shop"] = FakeMall(dict(world.malls["shop"].stock))
    world.malls["mart"] = FakeMall(dict(world.malls["mart"].stock))
    preview = run_rollback(world.app, None, dry_run=True, notifier=world.notifier, confirm=lambda _plan: False)
    assert first.run_id == preview.sync.id


@attrs.define
class CtrlCOnSecondSlice(FakeMall):
    """A mall during whose second write call the operator presses Ctrl-C."""

    async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
        if self.writes:
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.sleep(5)
        return await super().write(writes)


def test_ctrl_c_keeps_the_slices_a_mall_confirmed_before_it(world: World) -> None:
    """
    Outcomes are recorded slice by slice: the mall's first slice (shop writes one item a call) was confirmed
    before Ctrl-C, so `status` counts it and a rollback trusts it. Recorded per mall at its end, it stayed
    "planned", and a rollback of an item it lowered said to set it by hand.
    """
    world.malls["shop"] = CtrlCOnSecondSlice(dict(world.malls["shop"].stock))
    with pytest.raises(KeyboardInterrupt):
        world.sync()
    run = world.app.ledger.recent(1)[0]
    outcomes = {(i.mall, i.item): i.outcome for i in world.app.ledger.items(run.id)}
    assert {("shop", "b"): "ok", ("shop", "d"): "planned", ("mart", "a"): "ok"} == outcomes
    assert (Outcome.INTERRUPTED, 2, 0) == (run.status, run.counts.succeeded, run.counts.failed)


def test_a_plugin_crash_mid_push_keeps_the_slices_confirmed_before_it(world: World) -> None:
    """The item written and read back before the crash is ok, not "may or may not have been written"."""
    world.malls["shop"] = CrashOnSecondWrite(dict(world.malls["shop"].stock))
    report = world.sync()
    assert (Outcome.PARTIAL, 2, 1) == (report.status, report.counts.succeeded, report.counts.failed)
    recorded = {(i.mall, i.item): (i.outcome, i.error or "") for i in world.app.ledger.items(report.run_id)}
    assert ("ok", "") == recorded[("shop", "b")]
    assert "failed" == recorded[("shop", "d")][0]
    assert "may or may not have been written" in recorded[("shop", "d")][1]


def test_mapped_skus_a_stock_file_leaves_out_are_asked_of_fba_by_name(world: World, tmp_path: Path) -> None:
    """
    SPEC: a mapped SKU missing from the listing is asked for by name before it is taken as 0. A file cut short
    (B left out, FBA holds 16) zeroed B's items under the zeroing guard; B is asked for now. Where FBA cannot
    be asked (no API access), they are taken as 0 with a warning naming them: refusing would take --force,
    and every safety check with it, every night.
    """
    report = tmp_path / "fba.csv"
    report.write_text("A,25\nC,9\nD,0\n")
    dry = world.sync(file=report, dry_run=True)
    assert Outcome.SUCCESS == dry.status
    assert 16 == next(u.amazon_qty for u in dry.plan.items if u.sku == "B"), "asked by name, not taken as 0"
    assert "2 mapped SKUs are not in the file ('B', 'X'): asked FBA for them by name" in dry.warnings[0], "said"

    class NoApi(FakeStockSource):
        async def lookup(self, skus: Sequence[str]) -> dict[str, int]:
            raise CredentialError("src", "no credentials in .env")

    world.holder["source"] = NoApi(dict(world.source.stock))
    warned = world.sync(file=report, dry_run=True)
    assert (Outcome.SUCCESS, 0) == (warned.status, next(u.amazon_qty for u in warned.plan.items if u.sku == "B"))
    assert "2 mapped SKUs are not in the file ('B', 'X'), and FBA could not be asked" in warned.warnings[0]
    assert "taken as 0" in world.app.ledger.get(warned.run_id).message


def test_a_stock_file_that_lost_leading_zeros_is_refused(world: World, tmp_path: Path) -> None:
    """Mapped 007 missing while 7 is there (Seller Central's .csv): REFUSED, not taken as sold out everywhere."""
    world.app.mappings.apply([Mapping("007", "shop", "z")], replace=False)
    world.malls["shop"].stock["z"] = 0
    report = tmp_path / "fba.csv"
    report.write_text("A,25\nB,16\nC,9\nD,0\n7,4\n")
    refused = world.sync(file=report)
    assert (Outcome.REFUSED, []) == (refused.status, world.malls["shop"].writes)
    assert "mapped SKU '007' is not in the file but '7' is" in refused.message
    assert "use the .txt report" in refused.message
    _rows, _, warnings = current_stock(world.app, report)
    assert warnings[0].startswith(f"a sync from this file would be refused: {report}: mapped SKU '007'"), "simulate"
    assert Outcome.SUCCESS == world.sync(file=report, force=True).status, "two real SKUs: --force runs it"
    report.write_text("A,25\nB,16\nC,9\nD,0\n007,4\n")
    assert Outcome.SUCCESS == world.sync(file=report).status
