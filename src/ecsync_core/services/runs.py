"""
Runs as the operator sees them: status, and the runs whose process died (INTERRUPTED).
"""

from __future__ import annotations

import contextlib

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import attrs

from ecsync_core.domain import Outcome, Run, RunItem, counted
from ecsync_core.errors import EcsyncError, RefusedError, RunLockedError
from ecsync_core.store.ledger import RunNotFoundError


if TYPE_CHECKING:
    from ecsync_core.bootstrap import App
    from ecsync_core.notify import Notifier


def reap_interrupted(app: App, notifier: Notifier | None = None) -> list[str]:
    """
    Mark as INTERRUPTED every RUNNING run when no process holds the run lock.

    A live run holds the lock from before it is recorded until after it finishes, and the lock dies with its
    process, so a RUNNING run with a free lock is one whose process is gone. The lock is held while the runs
    are read and marked: a run starting in between would otherwise be marked INTERRUPTED as it began. It is
    taken only when some run is RUNNING, so a starting run rarely has to wait for it.
    """
    if not app.ledger.running():
        return []
    with app.lock.while_free() as free:
        return mark_dead(app, notifier) if free else []


def mark_dead(app: App, notifier: Notifier | None = None) -> list[str]:
    """Mark every RUNNING run INTERRUPTED, and say so: the caller holds the run lock, so none of them is alive."""
    stale = [r.id for r in app.ledger.running()]
    if stale:
        app.ledger.mark_interrupted(stale)
    if notifier is not None:
        for rid in stale:
            notifier.notify("INTERRUPTED", f"run {rid} died before it finished", run_id=rid)
    return stale


@contextlib.contextmanager
def exclusive(app: App, label: str, notifier: Notifier, checks: Callable[[], None] = lambda: None) -> Iterator[None]:
    """
    The run lock for the block, for a run that writes to malls, once *checks* pass.

    A refusal, by *checks* or because another run holds the lock, is not a run; but a schedule stopped, so
    it is alerted.
    """
    with contextlib.ExitStack() as held:
        try:
            checks()
            held.enter_context(app.lock.held(label))
        except (RefusedError, RunLockedError) as exc:
            notifier.notify(Outcome.REFUSED.value, exc.one_line())
            raise
        yield


IMPORT_HOLDER = "(import-sku)"
"""How ``import-sku`` names itself in the lock file: it calls no mall, so its seconds hold refuse no reader."""

RATE_LIMITS = ": it uses the malls' rate limits, so try again when it has finished"


def not_during_a_run(app: App, notifier: Notifier | None = None, because: str = RATE_LIMITS) -> None:
    """
    Refuse a read of the malls' APIs (a dry run, a preview, a simulation) while a live run holds the lock; with
    *notifier*, alert the refusal (a scheduled command stopped).

    Both would spend the same rate limits: the live run would draw 429s and could fail on them. The probe holds
    the lock only for a moment, so it never stops a run that starts after it. A lock held by no run (another
    command's probe, which names none) or by ``import-sku`` is no refusal. Where no lock file is, no run ever
    held it: none is made for a look.
    """
    if not app.lock.path.exists():
        return
    with app.lock.while_free() as free:
        pass
    holder = None if free else app.lock.holder()
    if holder and holder.get("run_id") != IMPORT_HOLDER:
        refusal = app.lock.busy(because)
        if notifier is not None:
            notifier.notify(Outcome.REFUSED.value, refusal.one_line())
        raise refusal


@attrs.frozen
class RunDetail:
    run: Run
    items: list[RunItem] = attrs.field(repr=counted)  # shown in a notebook cell: a count, not every item


MAX_LISTED = 100_000
"""The most runs one ``status`` lists: far more than any history holds, and within the database's numbers."""


def recent_runs(app: App, limit: int) -> list[Run]:
    from ecsync_core.notify import LoggingNotifier

    if not 1 <= limit <= MAX_LISTED:
        raise EcsyncError(f"limit must be between 1 and {MAX_LISTED:,}, got {limit}")
    if not app.settings.database.exists():  # a look makes no database (a wrong path would then look empty)
        return []

    reap_interrupted(app, LoggingNotifier())
    return app.ledger.recent(limit)


def run_detail(app: App, run_id: str) -> RunDetail:
    from ecsync_core.notify import LoggingNotifier

    if not app.settings.database.exists():
        raise RunNotFoundError(f"no run with ID {run_id!r}: there is no database at {app.settings.database}")
    reap_interrupted(app, LoggingNotifier())
    run = app.ledger.get(run_id)
    return RunDetail(run, app.ledger.items(run.id))
