"""The DuckDB file: migrations, mappings, the ledger and the run lock, on real files."""

from __future__ import annotations

import multiprocessing
import os
import time

from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from ecsync_core.domain import Counts, Mapping, Outcome, RunItem, RunKind
from ecsync_core.errors import RunLockedError
from ecsync_core.services.rollback import may_have_written
from ecsync_core.store import Database, DuckDBKeyValue, DuckDBLedger, DuckDBMappings, RunLock
from ecsync_core.store.db import CURRENT_VERSION, DatabaseError, migrate


def test_first_migration_file_is_upgraded_in_place(tmp_path: Path) -> None:
    """A file made by the first migration alone, with data in it, is upgraded and keeps its data."""
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    assert migrate(con, upto=1) == 1
    con.execute("INSERT INTO mappings VALUES ('SKU-1', 'yahoo', 'item-1', TRUE, now())")
    con.execute("INSERT INTO runs (id, kind, status, started_at) VALUES ('abcd1234', 'sync', 'SUCCESS', now())")
    con.close()

    db = Database(path)
    assert db.version() == CURRENT_VERSION
    assert [Mapping("SKU-1", "yahoo", "item-1", True)] == DuckDBMappings(db).all()
    run = DuckDBLedger(db).get("abcd")
    assert (run.id, run.status, run.rule_fingerprint, run.counts) == ("abcd1234", Outcome.SUCCESS, "", Counts())
    DuckDBKeyValue(db, "rakuten").put("k", "v")
    assert DuckDBKeyValue(db, "rakuten").get("k") == "v"


def test_newer_database_is_refused(tmp_path: Path) -> None:
    """A file from a newer ecsync is not touched by an older one."""
    path = tmp_path / "new.duckdb"
    con = duckdb.connect(str(path))
    migrate(con)
    con.execute("INSERT INTO schema_version VALUES (999, now())")
    con.close()
    with pytest.raises(DatabaseError, match="newer"):
        Database(path).version()


def test_unopenable_database_is_one_line(tmp_path: Path) -> None:
    """A database path under a file cannot be opened and says so."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatabaseError, match="cannot"):
        Database(tmp_path / "file" / "x.duckdb").version()


def test_merge_and_replace(tmp_path: Path) -> None:
    """A merge keeps unnamed mappings; a replace makes the table exactly the sheet."""
    repo = DuckDBMappings(Database(tmp_path / "m.duckdb"))
    first = repo.apply([Mapping("A", "yahoo", "a"), Mapping("B", "yahoo", "b")], replace=False)
    assert len(first.added) == 2
    merged = repo.apply([Mapping("A", "yahoo", "a2"), Mapping("C", "yahoo", "c", active=False)], replace=False)
    assert (len(merged.added), len(merged.changed), len(merged.removed)) == (1, 1, 0)
    assert {m.sku: m.item for m in repo.all()} == {"A": "a2", "B": "b", "C": "c"}
    deactivated = repo.apply([Mapping("A", "yahoo", "a2", active=False)], replace=False)
    assert [Mapping("A", "yahoo", "a2", False)] == deactivated.deactivated
    replaced = repo.apply([Mapping("B", "yahoo", "b")], replace=True)
    assert {"A", "C"} == {m.sku for m in replaced.removed}
    assert [Mapping("B", "yahoo", "b")] == repo.all()
    assert repo.apply([Mapping("B", "yahoo", "b")], replace=True).empty


def test_bulk_mappings_round_trip(tmp_path: Path) -> None:
    """100,000 mappings go in through one bulk statement and come back exactly, odd characters included."""
    repo = DuckDBMappings(Database(tmp_path / "m.duckdb"))
    wanted = [Mapping(f'0{n:06d},"x"', "yahoo", f"item-{n}", n % 7 != 0) for n in range(100_000)]
    wanted += [Mapping("\\N", "yahoo", "a line\nbreak"), Mapping("", "rakuten", 'x\r\n"y",\\N')]
    repo.apply(wanted, replace=True)
    assert sorted(wanted, key=lambda m: (m.sku, m.mall)) == repo.all()


def test_an_error_text_with_a_line_break_is_recorded_as_it_is(tmp_path: Path) -> None:
    """A mall's multi-line error message (or one reading \\N) is an outcome like any other, not a crash."""
    ledger = DuckDBLedger(Database(tmp_path / "l.duckdb"))
    run = ledger.start(RunKind.SYNC)
    ledger.record_items([RunItem(run.id, "A", "yahoo", "a", 25, 3, 5), RunItem(run.id, "B", "yahoo", "b", 0, 2, 0)])
    said = {"a": "HTTP 500:\n<html>\r\n</html>", "b": "\\N"}
    ledger.record_outcomes(
        run.id,
        [
            RunItem(run.id, "A", "yahoo", "a", 25, 3, 5, None, "failed", said["a"]),
            RunItem(run.id, "B", "yahoo", "b", 0, 2, 0, None, "failed", said["b"]),
        ],
    )
    assert said == {i.item: i.error for i in ledger.items(run.id)}


def test_ledger_records_intent_then_outcomes(tmp_path: Path) -> None:
    """A run is RUNNING with its planned items before any write, then carries before/sent/after/outcome."""
    ledger = DuckDBLedger(Database(tmp_path / "l.duckdb"))
    run = ledger.start(RunKind.SYNC, forced=True, rule_fingerprint="fp")
    ledger.record_items([RunItem(run.id, "A", "yahoo", "a", 25, 3, 5), RunItem(run.id, "B", "yahoo", "b", 0, 2, 0)])
    running = ledger.get(run.id)
    assert (running.status, running.finished_at, running.forced) == (Outcome.RUNNING, None, True)
    assert {"planned"} == {i.outcome for i in ledger.items(run.id)}
    ledger.record_outcomes(
        run.id,
        [
            RunItem(run.id, "A", "yahoo", "a", 25, 3, 5, 5, "ok"),
            RunItem(run.id, "B", "yahoo", "b", 0, 2, 0, 2, "failed", "x"),
        ],
    )
    ledger.finish(run.id, Outcome.PARTIAL, Counts(2, 2, 2, 1, 1))
    items = ledger.items(run.id)
    assert (items[0].sku, items[0].outcome, items[0].after, items[0].error) == ("B", "failed", 2, "x")
    assert [run.id] == [r.id for r in ledger.recent()]
    assert Counts(2, 2, 2, 1, 1) == ledger.get(run.id).counts


@pytest.mark.parametrize(
    ("outcome", "before", "after", "error"),
    [
        ("ok", 1, 2, None),
        ("planned", 1, None, None),
        ("failed", None, None, "timed out"),  # the mall did not list it before; SQL's NULLs said "did not write"
        ("failed", 3, None, "timed out"),
        ("failed", 3, 4, "read back 4, sent 5"),
        ("failed", 3, 3, "read back 3, sent 5"),
        ("failed", 3, None, "shop: not sent: the run was stopped first"),
        ("failed", None, None, "shop: not sent: credentials refused"),
    ],
)
def test_the_ledger_and_the_rollback_agree_on_what_may_have_written(
    tmp_path: Path, outcome: str, before: int | None, after: int | None, error: str | None
) -> None:
    """`last_pushed_sync` is `may_have_written` in SQL: a sync it passes over is one the rollback would not undo."""
    ledger = DuckDBLedger(Database(tmp_path / "l.duckdb"))
    run = ledger.start(RunKind.SYNC, rule_fingerprint="fp")
    item = RunItem(run.id, "A", "shop", "a", 5, before, 2, after, outcome, error)
    ledger.record_items([item])
    ledger.record_outcomes(run.id, [item])
    ledger.finish(run.id, Outcome.PARTIAL, Counts(1, 1, 1))
    assert may_have_written(item) == (ledger.last_pushed_sync() is not None)


def _hold_lock(path: str, ready: multiprocessing.synchronize.Event, done: multiprocessing.synchronize.Event) -> None:
    lock = RunLock(Path(path))
    lock.acquire("other123", "2026-11-28T19:00:00Z")
    ready.set()
    done.wait(10)


def test_run_lock_names_the_holder_and_dies_with_it(tmp_path: Path) -> None:
    """A second run is refused with the holder's run ID; the lock is free once the holder is gone."""
    db = tmp_path / "x.duckdb"
    ctx = multiprocessing.get_context("fork")
    ready, done = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(str(db), ready, done))
    proc.start()
    try:
        assert ready.wait(10)
        lock = RunLock(db)
        with lock.while_free() as free:
            assert not free
        with pytest.raises(RunLockedError, match=r"another run \(other123\) is in progress since 2026-11-28T19:00:00Z"):
            lock.acquire("mine", "now")
        in_tokyo = RunLock(db, ZoneInfo("Asia/Tokyo"))  # as the app builds it: in the zone `status` shows
        with pytest.raises(RunLockedError, match=r"in progress since 2026-11-29 04:00:00 \(pid"):
            in_tokyo.acquire("mine", "now")
    finally:
        os.kill(proc.pid, 9)
        proc.join()
    lock = RunLock(db)
    with lock.while_free() as free:
        assert free
    lock.acquire("mine", "now")
    lock.release()


def _probe(path: str, until: float) -> None:
    lock = RunLock(Path(path))
    while time.monotonic() < until:
        with lock.while_free():
            pass


def test_status_probing_the_lock_never_refuses_a_starting_run(tmp_path: Path) -> None:
    """`status` reaping in a tight loop does not make a starting run report a run that isn't there."""
    db = tmp_path / "x.duckdb"
    first = RunLock(db)
    first.acquire("first", "now")
    first.release()
    ctx = multiprocessing.get_context("fork")
    prober = ctx.Process(target=_probe, args=(str(db), time.monotonic() + 3))
    prober.start()
    try:
        lock = RunLock(db)
        for n in range(100):
            lock.acquire(f"run{n}", "now")
            lock.release()
    finally:
        prober.join()


def test_reaping_holds_the_lock_so_no_run_starts_meanwhile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """
    While `status` decides which RUNNING runs are dead, a run cannot start (and be taken for a dead one), on a
    new database too, whose lock file no run has made yet.
    """
    monkeypatch.setattr("ecsync_core.store.lock.PROBE_GRACE_S", 0.1)
    db = tmp_path / "new" / "x.duckdb"
    reaper, starter = RunLock(db), RunLock(db)
    with reaper.while_free() as free:
        assert free
        with pytest.raises(RunLockedError):
            starter.acquire("starting", "now")
    starter.acquire("starting", "now")
    with reaper.while_free() as free:
        assert not free, "a run holds the lock: its RUNNING record is alive"
    starter.release()
