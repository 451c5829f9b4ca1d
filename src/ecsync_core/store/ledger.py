"""
The runs ledger: every run, and every mall item of it with before / sent / after / outcome.
"""

from __future__ import annotations

import json
import os
import socket

from collections.abc import Iterable, Sequence
from datetime import datetime

from ecsync_core.domain import Counts, Outcome, Run, RunItem, RunKind, new_run_id
from ecsync_core.errors import EcsyncError
from ecsync_core.store.db import Database, bulk_insert, utcnow


_RUN_COLUMNS = (
    "id, kind, status, started_at, finished_at, pid, host, forced, found, mapped, updates, succeeded, failed, "
    "left_alone, message, rule_fingerprint, target_run, rolled_back_by"
)
_ITEM_COLUMNS = {
    "run_id": "VARCHAR",
    "sku": "VARCHAR",
    "mall": "VARCHAR",
    "item": "VARCHAR",
    "amazon_qty": "INTEGER",
    "before": "INTEGER",
    "sent": "INTEGER",
    "after": "INTEGER",
    "outcome": "VARCHAR",
    "error": "VARCHAR",
}


class RunNotFoundError(EcsyncError):
    """Raised when a run ID (or its prefix) matches no run, or more than one."""


def _run(row: Sequence[object]) -> Run:
    (
        rid,
        kind,
        status,
        started,
        finished,
        pid,
        host,
        forced,
        found,
        mapped,
        updates,
        ok,
        failed,
        left_alone,
        message,
        fingerprint,
        target_run,
        rolled_back_by,
    ) = row
    return Run(
        id=str(rid),
        kind=RunKind(str(kind)),
        status=Outcome(str(status)),
        started_at=started,  # type: ignore[arg-type]
        finished_at=finished,  # type: ignore[arg-type]
        counts=Counts(found, mapped, updates, ok, failed, left_alone),  # type: ignore[arg-type]
        pid=pid,  # type: ignore[arg-type]
        host=str(host or ""),
        forced=bool(forced),
        rule_fingerprint=str(fingerprint or ""),
        message=str(message or ""),
        target_run=target_run,  # type: ignore[arg-type]
        rolled_back_by=rolled_back_by,  # type: ignore[arg-type]
    )


_RECORDED_COUNTS = (
    "succeeded = (SELECT count(*) FROM run_items WHERE run_id = ? AND outcome = 'ok'), "
    "failed = (SELECT count(*) FROM run_items WHERE run_id = ? AND outcome = 'failed')"
)


class DuckDBLedger:
    """Runs and run items. Each method is one short transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def start(
        self,
        kind: RunKind,
        *,
        forced: bool = False,
        rule_fingerprint: str = "",
        target_run: str | None = None,
        status: Outcome = Outcome.RUNNING,
        run_id: str | None = None,
    ) -> Run:
        """
        Record a run before its first API call, so a process that dies leaves a trace.

        Args:
            run_id: the id its log lines already carry (a dry run's, recorded at its end); a new one if None.
        """
        run = Run(
            id=run_id or new_run_id(),
            kind=kind,
            status=status,
            started_at=utcnow(),
            finished_at=None,
            counts=Counts(),
            pid=os.getpid(),
            host=socket.gethostname(),
            forced=forced,
            rule_fingerprint=rule_fingerprint,
            target_run=target_run,
        )
        with self.db.connect() as con:
            con.execute(
                f"INSERT INTO runs ({_RUN_COLUMNS}) "
                "VALUES (?, ?, ?, ?, NULL, ?, ?, ?, 0, 0, 0, 0, 0, 0, '', ?, ?, NULL)",
                [
                    run.id,
                    kind.value,
                    status.value,
                    run.started_at,
                    run.pid,
                    run.host,
                    forced,
                    rule_fingerprint,
                    target_run,
                ],
            )
        return run

    def record_items(self, items: Iterable[RunItem]) -> int:
        """Record the plan (intent) of a run in one statement."""
        with self.db.transaction() as con:
            return bulk_insert(
                con,
                "run_items",
                _ITEM_COLUMNS,
                (
                    (
                        i.run_id,
                        i.sku,
                        i.mall,
                        i.item,
                        i.amazon_qty,
                        i.before,
                        i.sent,
                        i.after,
                        i.outcome,
                        i.error,
                    )
                    for i in items
                ),
            )

    def record_outcomes(self, run_id: str, items: Iterable[RunItem]) -> None:
        """
        Set before / after / outcome / error of items already recorded, matched by (mall, item). ``before`` too:
        a sync reads each slice again just before writing it.
        """
        with self.db.transaction() as con:
            con.execute(
                "CREATE TEMP TABLE outcomes (mall VARCHAR, item VARCHAR, before INTEGER, after INTEGER, "
                "outcome VARCHAR, error VARCHAR)"
            )
            bulk_insert(
                con,
                "outcomes",
                {
                    "mall": "VARCHAR",
                    "item": "VARCHAR",
                    "before": "INTEGER",
                    "after": "INTEGER",
                    "outcome": "VARCHAR",
                    "error": "VARCHAR",
                },
                ((i.mall, i.item, i.before, i.after, i.outcome, i.error) for i in items),
            )
            con.execute(
                "UPDATE run_items SET before = o.before, after = o.after, outcome = o.outcome, error = o.error "
                "FROM outcomes o WHERE run_items.run_id = ? AND run_items.mall = o.mall AND run_items.item = o.item",
                [run_id],
            )
            con.execute("DROP TABLE outcomes")

    def finish(self, run_id: str, status: Outcome, counts: Counts, message: str = "") -> None:
        with self.db.connect() as con:
            con.execute(
                "UPDATE runs SET status = ?, finished_at = ?, found = ?, mapped = ?, updates = ?, succeeded = ?, "
                "failed = ?, left_alone = ?, message = ? WHERE id = ?",
                [
                    status.value,
                    utcnow(),
                    counts.found,
                    counts.mapped,
                    counts.updates,
                    counts.succeeded,
                    counts.failed,
                    counts.left_alone,
                    message,
                    run_id,
                ],
            )

    def set_counts(self, run_id: str, counts: Counts) -> None:
        with self.db.connect() as con:
            con.execute(
                "UPDATE runs SET found = ?, mapped = ?, updates = ?, left_alone = ? WHERE id = ?",
                [counts.found, counts.mapped, counts.updates, counts.left_alone, run_id],
            )

    def link_rollback(self, sync_id: str, rollback_id: str) -> None:
        with self.db.connect() as con:
            con.execute("UPDATE runs SET rolled_back_by = ? WHERE id = ?", [rollback_id, sync_id])

    def recent(self, limit: int = 10) -> list[Run]:
        with self.db.connect() as con:
            rows = con.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY started_at DESC, id DESC LIMIT ?", [limit]
            ).fetchall()
        return [_run(r) for r in rows]

    def get(self, run_id: str) -> Run:
        """A run by its ID or an unambiguous prefix of it."""
        with self.db.connect() as con:
            rows = con.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE starts_with(id, ?) ORDER BY started_at DESC", [run_id]
            ).fetchall()
        if not rows:
            raise RunNotFoundError(f"no run with ID {run_id!r} (see `ecsync status`)")
        if len(rows) > 1:
            raise RunNotFoundError(f"run ID {run_id!r} is ambiguous: it starts {len(rows)} runs")
        return _run(rows[0])

    def rollbacks_of(self, sync_id: str) -> list[Run]:
        """The rollbacks that targeted the sync *sync_id*, oldest first (more than one when one did not finish)."""
        with self.db.connect() as con:
            rows = con.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE kind = 'rollback' AND target_run = ? ORDER BY started_at",
                [sync_id],
            ).fetchall()
        return [_run(r) for r in rows]

    def items(self, run_id: str) -> list[RunItem]:
        with self.db.connect() as con:
            rows = con.execute(
                f"SELECT {', '.join(_ITEM_COLUMNS)} FROM run_items WHERE run_id = ? "
                "ORDER BY outcome = 'failed' DESC, mall, sku, item",
                [run_id],
            ).fetchall()
        return [RunItem(*r) for r in rows]

    def running(self) -> list[Run]:
        with self.db.connect() as con:
            rows = con.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE status = ? AND finished_at IS NULL",
                [Outcome.RUNNING.value],
            ).fetchall()
        return [_run(r) for r in rows]

    def mark_interrupted(self, run_ids: Sequence[str]) -> None:
        """
        Close runs whose process died. Their succeeded and failed are counted from the outcomes recorded (slice by
        slice as the run went): a run counts them at its end.
        """
        with self.db.connect() as con:
            for rid in run_ids:
                con.execute(
                    "UPDATE runs SET status = ?, finished_at = ?, message = 'the process died before it finished', "
                    f"{_RECORDED_COUNTS} WHERE id = ? AND status = ?",
                    [Outcome.INTERRUPTED.value, utcnow(), rid, rid, rid, Outcome.RUNNING.value],
                )

    def finish_early(self, run_id: str, status: Outcome, message: str) -> bool:
        """
        Close a run an exception ended (Ctrl-C, a crash): its counts so far, with succeeded and failed counted from
        the outcomes recorded, as for a run found dead. The run itself counts them only at its end.

        Returns whether it did: not for a run already closed (stopped while it let go of its adapters, its outcome
        already recorded), whose outcome stands.
        """
        with self.db.connect() as con:
            row = con.execute(
                f"UPDATE runs SET status = ?, finished_at = ?, message = ?, {_RECORDED_COUNTS} "
                "WHERE id = ? AND finished_at IS NULL",
                [status.value, utcnow(), message, run_id, run_id, run_id],
            ).fetchone()
        return bool(row and row[0])

    def last_good(self) -> Run | None:
        """
        The newest sync or dry run that read the source in full (SUCCESS or PARTIAL): the baseline of the source
        check. Not a forced dry run: a look at a source the check refused must not lower the bar for tonight's run.
        """
        with self.db.connect() as con:
            row = con.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE (kind = 'sync' OR (kind = 'dry-run' AND NOT forced)) "
                "AND status IN ('SUCCESS', 'PARTIAL') ORDER BY started_at DESC LIMIT 1"
            ).fetchone()
        return None if row is None else _run(row)

    def last_live(self) -> Run | None:
        """The newest run that was not a dry run (a sync or a rollback)."""
        with self.db.connect() as con:
            row = con.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE kind <> 'dry-run' ORDER BY started_at DESC LIMIT 1"
            ).fetchone()
        return None if row is None else _run(row)

    def last_pushed_sync(self) -> Run | None:
        """
        The newest finished live sync that may have written to a mall, whatever its outcome (an interrupted or
        failed push wrote what it wrote): `services.rollback.may_have_written`, in SQL. What `rollback` puts
        back, or refuses to pass over. A sync that sent nothing, or whose writes all read back unchanged, did not
        write.
        """
        with self.db.connect() as con:
            row = con.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs r WHERE kind = 'sync' AND finished_at IS NOT NULL "
                "AND EXISTS (SELECT 1 FROM run_items i WHERE i.run_id = r.id AND (i.outcome IN ('ok', 'planned') "
                "OR (coalesce(i.error, '') NOT LIKE '%not sent: %' "
                "AND (i.after IS NULL OR i.after IS DISTINCT FROM i.before)))) "
                "ORDER BY started_at DESC LIMIT 1"
            ).fetchone()
        return None if row is None else _run(row)

    def delete_older_than(self, cutoff: datetime, *, dry_run: bool, keep: Iterable[str] = ()) -> int:
        """Delete the runs (and their items) finished before *cutoff*, but those in *keep*; how many."""
        # By when a run finished, as the rollback window counts: a long sync that started before the cutoff
        # but finished after it may still be rolled back.
        old = "SELECT id FROM runs WHERE finished_at < ? AND NOT list_contains(?::VARCHAR[], id)"
        params = [cutoff, list(keep)]
        with self.db.transaction() as con:
            row = con.execute(f"SELECT count(*) FROM ({old})", params).fetchone()
            count = int(row[0]) if row else 0
            if not dry_run and count:
                con.execute(f"DELETE FROM run_items WHERE run_id IN ({old})", params)
                con.execute(f"DELETE FROM runs WHERE id IN ({old})", params)
        return count

    # rule governance

    def approve_rules(self, fingerprint: str, rules: object, by: str) -> datetime:
        at = utcnow()
        with self.db.connect() as con:
            con.execute(
                "INSERT INTO rule_approvals VALUES (?, ?, ?, ?)",
                [fingerprint, json.dumps(rules, sort_keys=True), by, at],
            )
        return at

    def approvals(self) -> list[tuple[str, str, str, datetime]]:
        """(fingerprint, rules JSON, by, at), newest first; none where no database is (a look makes none)."""
        if not self.db.path.exists():
            return []
        with self.db.connect() as con:
            rows = con.execute(
                "SELECT fingerprint, rules_json, approved_by, approved_at FROM rule_approvals ORDER BY approved_at DESC"
            ).fetchall()
        return [(str(f), str(j), str(b), a) for f, j, b, a in rows]
