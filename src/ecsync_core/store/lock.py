"""
The run lock: a file beside the database, held with flock, so a killed process releases it by dying.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from ecsync_core.errors import RunLockedError
from ecsync_core.store.db import DatabaseError


PROBE_GRACE_S = 2.0


class RunLock:
    """
    One sync or rollback at a time per database.

    The lock file also says who holds it, so the refusal can name the run and since when.
    """

    def __init__(self, database: Path, zone: ZoneInfo | None = None) -> None:
        self.path = database.with_name(database.name + ".lock")
        self.zone = zone  # the zone the refusal's "since" is shown in; UTC as stored when None
        self._fh: IO[str] | None = None

    def acquire(self, run_id: str, started_at: str) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = self.path.open("a+", encoding="utf-8")
        except OSError as exc:  # the database's folder cannot be written: no run could be recorded either
            raise DatabaseError(f"run lock {self.path}: cannot open: {exc.strerror or exc}") from None
        if not self._take(fh):
            fh.close()
            raise self.busy() from None
        self._fh = fh
        self.describe(run_id, started_at)

    @staticmethod
    def _take(fh: IO[str]) -> bool:
        # Another process (status, health) takes the lock for as long as it takes to reap dead runs
        # (`while_free`); a run starting then waits it out instead of reporting a run that is not there.
        deadline = time.monotonic() + PROBE_GRACE_S
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.02)
            else:
                return True

    @contextlib.contextmanager
    def held(self, run_id: str) -> Iterator[None]:
        """The lock for the block, or ``RunLockedError`` at once when another run holds it."""
        self.acquire(run_id, "now")
        try:
            yield
        finally:
            self.release()

    def describe(self, run_id: str, started_at: str) -> None:
        """Say in the lock file which run holds it, for the refusal another process prints."""
        assert self._fh is not None, "describe() needs the lock held"
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(json.dumps({"run_id": run_id, "since": started_at, "pid": os.getpid()}))
        self._fh.flush()

    def release(self) -> None:
        if self._fh is not None:
            self._fh.seek(0)
            self._fh.truncate()
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    @contextlib.contextmanager
    def while_free(self) -> Iterator[bool]:
        """
        Hold the lock for the block when no process holds it (``True``); ``False`` when a run holds it.

        For deciding that RUNNING runs are dead: a run takes the lock before it records itself, so while the
        block holds it no run can start and be mistaken for one that died.
        """
        if self._fh is not None:
            yield False
            return
        try:
            # Created if missing: the first run of a new database races its first `status` like any other.
            # Read-only otherwise: flock needs no write access, and the file may be another user's.
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = self.path.open("r" if self.path.exists() else "a+", encoding="utf-8")
        except OSError:  # cannot tell whether a run holds it: then no run may be called dead
            yield False
            return
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def busy(self, because: str = "") -> RunLockedError:
        """The refusal while another run holds the lock, naming it; *because* says why that stops this one."""
        holder = self.holder() or {}
        return RunLockedError(
            f"another run ({holder.get('run_id', '?')}) is in progress since {self._shown(holder.get('since'))}"
            f" (pid {holder.get('pid', '?')}){because}"
        )

    def _shown(self, since: object) -> str:
        """The holder's start (stored as UTC ISO) in the configured zone, as `status` shows it."""
        try:
            at = datetime.fromisoformat(str(since).replace("Z", "+00:00"))
        except ValueError:
            return str(since or "?")
        if self.zone is None or at.tzinfo is None:
            return str(since)
        return at.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")

    def holder(self) -> dict[str, Any] | None:
        try:
            text = self.path.read_text(encoding="utf-8")
            return dict(json.loads(text)) if text.strip() else None
        except (OSError, ValueError):
            return None
