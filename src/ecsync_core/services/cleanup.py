"""
`cleanup`: delete runs and rotated log files past retention.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from ecsync_core.store.db import utcnow


if TYPE_CHECKING:
    from ecsync_core.bootstrap import App


@attrs.frozen
class CleanupReport:
    """What went (or, with *dry_run*, would go): finished runs and their items, and rotated log files."""

    dry_run: bool
    cutoff: datetime
    runs: int
    log_files: tuple[Path, ...]


def rotated_logs(log_file: Path, cutoff: datetime) -> list[Path]:
    """The rotated copies (``inventory_sync.log.1`` ...) last written before *cutoff*; never the live log."""
    if not log_file.parent.is_dir():
        return []
    old = []
    for path in sorted(log_file.parent.glob(log_file.name + ".*")):
        if not path.name.removeprefix(log_file.name + ".").isdigit():  # not the rotation's: an operator's file
            continue
        written = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
        if path.is_file() and written < cutoff:
            old.append(path)
    return old


def cleanup(app: App, older_than_days: int | None, *, dry_run: bool) -> CleanupReport:
    """
    Delete what is older than *older_than_days* (default: ``logging.retention_days``).

    A run still RUNNING is never deleted, however old: the next command marks it INTERRUPTED first. Nor are the
    newest live run (health's "is the schedule still running?") and the last good run (the source check's
    baseline): without them, cleanup would hide a stopped cron and let a shrunken source through.
    """
    days = older_than_days if older_than_days is not None else app.settings.logging.retention_days
    cutoff = utcnow() - timedelta(days=days)
    runs = 0
    if app.settings.database.exists():  # where none is, there are no runs, and none is made to find that out
        keep = [r.id for r in (app.ledger.last_live(), app.ledger.last_good()) if r is not None]
        runs = app.ledger.delete_older_than(cutoff, dry_run=dry_run, keep=keep)
    logs = rotated_logs(app.settings.log_file, cutoff)
    if not dry_run:
        for path in logs:
            path.unlink(missing_ok=True)
    return CleanupReport(dry_run, cutoff, runs, tuple(logs))
