"""
Runs as the ledger keeps them.
"""

from __future__ import annotations

import enum
import uuid

from datetime import datetime

import attrs


class Outcome(enum.StrEnum):
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    REFUSED = "REFUSED"
    INTERRUPTED = "INTERRUPTED"


class RunKind(enum.StrEnum):
    SYNC = "sync"
    DRY_RUN = "dry-run"
    ROLLBACK = "rollback"


@attrs.frozen
class Counts:
    """
    A run's numbers.

    Attributes:
        left_alone: mall items the run had to leave as they are, apart from *updates*: a sync's mapped items on
            a mall it could not start or read; a rollback's items on a mall it could not reach, or whose sync
            write's landing is unknown (to be set by hand).
    """

    found: int = 0
    mapped: int = 0
    updates: int = 0
    succeeded: int = 0
    failed: int = 0
    left_alone: int = 0

    def as_dict(self) -> dict[str, int]:
        return attrs.asdict(self)


@attrs.frozen
class Run:
    id: str
    kind: RunKind
    status: Outcome
    started_at: datetime
    finished_at: datetime | None
    counts: Counts
    pid: int | None = None
    host: str = ""
    forced: bool = False
    rule_fingerprint: str = ""
    message: str = ""
    rolled_back_by: str | None = None
    target_run: str | None = None


@attrs.frozen
class RunItem:
    """
    One mall item of a run: before, sent, after, outcome.

    ``outcome`` is "planned" until the write is answered, then "ok" or "failed". ``sent`` is the number meant
    for the mall, also of an item never sent.
    """

    run_id: str
    sku: str
    mall: str
    item: str
    amazon_qty: int | None
    before: int | None
    sent: int
    after: int | None = None
    outcome: str = "planned"
    error: str | None = None

    @property
    def never_sent(self) -> bool:
        """Failed before any write of it: its error holds the run's mark ``not sent:`` (after the mall's name)."""
        return "not sent: " in (self.error or "")


def new_run_id() -> str:
    """A run's id: short enough to type in `status ID` and `rollback --run ID`."""
    return uuid.uuid4().hex[:8]
