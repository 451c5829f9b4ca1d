"""cleanup: old runs and rotated logs go; recent ones, running ones and the live log stay."""

from __future__ import annotations

import os
import time

from datetime import timedelta
from pathlib import Path

import pytest

from ecsync_core.bootstrap import build_app
from ecsync_core.domain import Counts, Outcome, RunItem, RunKind
from ecsync_core.services.cleanup import cleanup
from ecsync_core.store.db import utcnow
from tests.sheets import run_cli


def test_cleanup_past_retention(tmp_path: Path) -> None:
    """Runs (and their items) and rotated log files older than the cutoff go; --dry-run only counts them."""
    logs = tmp_path / "logs"
    logs.mkdir()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"database: {tmp_path / 'x.duckdb'}\nlog_file: {logs / 'sync.log'}\nlogging:\n  retention_days: 30\n"
    )
    app = build_app(cfg)
    ledger = app.ledger
    old, recent, stuck = (ledger.start(RunKind.SYNC) for _ in range(3))
    ledger.record_items([RunItem(old.id, "A", "yahoo", "a", 1, 0, 0)])
    for run in (old, recent):
        ledger.finish(run.id, Outcome.SUCCESS, Counts())
    long_ago = utcnow() - timedelta(days=40)
    with app.db.connect() as con:
        con.execute("UPDATE runs SET started_at = ? WHERE id IN (?, ?)", [long_ago, old.id, stuck.id])
        con.execute("UPDATE runs SET started_at = ? WHERE id = ?", [long_ago + timedelta(days=1), recent.id])
        # Counted by when a run finished: `recent` started long ago but finished now, so it may still be rolled back.
        con.execute("UPDATE runs SET finished_at = ? WHERE id = ?", [long_ago, old.id])
    live, rotated, fresh = logs / "sync.log", logs / "sync.log.1", logs / "sync.log.2"
    notes = logs / "sync.log.notes"  # an operator's own file beside the log: not a rotated copy
    for path in (live, rotated, fresh, notes):
        path.write_text("{}\n")
    ancient = time.time() - 40 * 86400
    for path in (live, rotated, notes):
        os.utime(path, (ancient, ancient))

    dry = cleanup(app, None, dry_run=True)
    assert (1, (rotated,)) == (dry.runs, dry.log_files)
    assert rotated.exists()
    assert 3 == len(ledger.recent())

    done = cleanup(app, None, dry_run=False)
    assert 1 == done.runs
    assert {recent.id, stuck.id} == {r.id for r in ledger.recent()}
    assert [] == ledger.items(old.id)
    assert (True, False, True, True) == (live.exists(), rotated.exists(), fresh.exists(), notes.exists())


def test_cleanup_keeps_the_last_live_run_and_the_baseline(tmp_path: Path) -> None:
    """
    However old, the newest live run and the last good run stay: deleting them turned health's "last run 72 hours
    ago" WARN into OK ("no live runs yet") and dropped the source check's baseline. Older ones go.
    """
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database: {tmp_path / 'x.duckdb'}\nlog_file: {tmp_path / 'sync.log'}\n")
    app = build_app(cfg)
    ledger = app.ledger
    older, good, failed = (ledger.start(RunKind.SYNC) for _ in range(3))
    for run, outcome in ((older, Outcome.SUCCESS), (good, Outcome.SUCCESS), (failed, Outcome.FAILED)):
        ledger.finish(run.id, outcome, Counts(found=100))
    with app.db.connect() as con:
        for days, run in ((50, older), (45, good), (40, failed)):
            when = utcnow() - timedelta(days=days)
            con.execute("UPDATE runs SET started_at = ?, finished_at = ? WHERE id = ?", [when, when, run.id])
    assert 1 == cleanup(app, 30, dry_run=False).runs
    assert {good.id, failed.id} == {r.id for r in ledger.recent()}
    assert (good.id, failed.id) == (ledger.last_good().id, ledger.last_live().id)  # type: ignore[union-attr]


def test_an_age_past_any_calendar_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--older-than beyond 100 years is refused as usage (exit 2), not a crash on the date."""
    config = tmp_path / "c.yaml"
    config.write_text(f"database: {tmp_path / 'e.duckdb'}\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "-c", config, "cleanup", "--older-than", "100000000", "--dry-run")
    assert 2 == code
    assert "--older-than" in err
    assert "Traceback" not in err
