"""
`rollback`: put back what the last live sync changed, once, within 24 hours, without bringing back sold stock.
"""

from __future__ import annotations

import asyncio

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

import attrs
import structlog

from ecsync_core.aio import close_all, run_to_end
from ecsync_core.domain import Counts, Outcome, PlannedUpdate, Run, RunItem, RunKind, counted
from ecsync_core.errors import EcsyncError
from ecsync_core.logging import get_logger
from ecsync_core.ports import MallInventory
from ecsync_core.services.push import (
    Recorder,
    checked_read,
    crashed,
    ended_early,
    failures,
    mall_said,
    outcome_of,
    push,
    summary,
)
from ecsync_core.services.runs import exclusive, mark_dead, not_during_a_run, reap_interrupted
from ecsync_core.store.db import utcnow


if TYPE_CHECKING:
    from ecsync_core.bootstrap import App
    from ecsync_core.notify import Notifier

log = get_logger("ecsync.rollback")

WINDOW = timedelta(hours=24)
"""The manual: a sync can be rolled back within 24 hours of its end."""


class RollbackRefusedError(EcsyncError):
    """Raised when there is nothing a rollback may put back (no sync, too old, already rolled back)."""


@attrs.frozen
class RollbackItem:
    """
    One mall item to put back.

    Attributes:
        before: what the mall held before the sync; ``after``: what the sync set; ``now``: what it holds now.
        restore: what the rollback sets: ``before`` if nothing moved since, else today's value less the sync's
            change, never below 0 (stock sold since the sync is not brought back).
    """

    sku: str
    mall: str
    item: str
    before: int
    after: int
    now: int
    restore: int

    @property
    def moved(self) -> bool:
        return self.now != self.after


def restore_value(before: int, after: int, now: int) -> int:
    """The value to put back: pure, the rule of the manual's rollback."""
    if now == after:
        return before
    return max(0, now - (after - before))


@attrs.frozen
class RollbackReport:
    """
    A rollback's plan and, live, its outcome.

    Attributes:
        run_id: the rollback's own run; ``None`` when it wrote nothing (a dry run, a declined prompt, nothing
            to put back): only a rollback that writes is recorded.
        skipped: (mall, item) -> why it is left alone (gone from the mall, never read, already back).
        unsure: (mall, item) -> why it is left alone although it may need putting back (set it by hand).
        unreached: items to put back on the malls in *mall_errors*, left alone until it runs again.
    """

    sync: Run
    items: tuple[RollbackItem, ...] = attrs.field(repr=counted)
    dry_run: bool
    run_id: str | None = None
    status: Outcome | None = None
    results: tuple[RunItem, ...] = attrs.field(default=(), repr=counted)
    skipped: Mapping[tuple[str, str], str] = attrs.field(factory=dict, repr=counted)
    unsure: Mapping[tuple[str, str], str] = attrs.field(factory=dict, repr=counted)
    mall_errors: Mapping[str, str] = attrs.field(factory=dict)
    unreached: int = 0

    @property
    def left_alone(self) -> int:
        """The items it may need to put back but leaves as they are (``Counts.left_alone``)."""
        return len(self.unsure) + self.unreached

    @property
    def incomplete(self) -> bool:
        """Items it could not put back (a mall down, a write of unknown landing): run it again, or by hand."""
        return bool(self.unsure or self.mall_errors)


def find_target(app: App, run_id: str | None) -> Run:
    """
    The latest live sync that may have written to a mall; ``--run`` must name that very sync.

    "May have": its plan was recorded before its first write, whatever became of the run after. An older sync
    is never the target while a newer one may have written over its values.
    """
    latest = app.ledger.last_pushed_sync()
    if latest is None:
        raise RollbackRefusedError("no live sync has written to any mall: nothing to roll back")
    if run_id is not None:
        asked = app.ledger.get(run_id)
        if asked.kind is RunKind.ROLLBACK:
            raise RollbackRefusedError(f"run {asked.id} is a rollback: a rollback cannot be rolled back")
        if asked.id != latest.id:
            raise RollbackRefusedError(
                f"run {asked.id} is not the latest sync that wrote to a mall ({latest.id}): only that one can be "
                "rolled back"
            )
    if latest.rolled_back_by is not None:
        previous = app.ledger.get(latest.rolled_back_by)
        # One that did not finish (stopped, a mall down) may be finished: what it put back is left alone then.
        if previous.status in (Outcome.SUCCESS, Outcome.RUNNING):
            raise RollbackRefusedError(
                f"sync {latest.id} was already rolled back by run {latest.rolled_back_by} (once only)"
            )
    # A run found dead was given its finish when found: it ended at some time after it started, unknown.
    ended = latest.started_at if latest.status is Outcome.INTERRUPTED else latest.finished_at
    if ended is None or utcnow() - ended > WINDOW:
        raise RollbackRefusedError(f"sync {latest.id} finished more than 24 hours ago: too old to roll back")
    return latest


def run_rollback(
    app: App, run_id: str | None, *, dry_run: bool, notifier: Notifier, confirm: Callable[[RollbackReport], bool]
) -> RollbackReport:
    """
    Plan the rollback against what each mall holds now; live, ask *confirm*, then write and read back.

    The prompt waits without the run lock, so a scheduled sync is not refused while someone reads the table.
    Once confirmed, the rollback takes the lock and plans again from fresh reads, since orders may have come in
    while the prompt waited; it writes that plan. A live rollback that writes nothing has ``run_id`` ``None``.
    """
    app.require_database()
    reap_interrupted(app, notifier)
    if dry_run:
        not_during_a_run(app)
    else:  # a live rollback could not take the lock anyway: refused at once, and alerted as a sync is
        not_during_a_run(app, notifier, because="")
    preview = run_to_end(_preview(app, run_id))
    if dry_run:
        return preview
    if not preview.items or not confirm(preview):
        return attrs.evolve(preview, dry_run=False)
    with exclusive(app, "(rollback)", notifier):
        return run_to_end(_confirmed(app, preview, notifier))


async def _preview(app: App, run_id: str | None) -> RollbackReport:
    sync = find_target(app, run_id)
    malls, failed = app.open_targets()
    try:
        return await _plan(sync, _written(app, sync), malls, failed, _put_back_before(app, sync))
    finally:
        await close_all(malls.values())


async def _confirmed(app: App, preview: RollbackReport, notifier: Notifier) -> RollbackReport:
    # A sync may have started and died while the prompt waited: marked now, it is the latest that may have
    # written, and the older sync is not put back over it.
    mark_dead(app, notifier)
    sync = find_target(app, preview.sync.id)
    malls, failed = app.open_targets()
    try:
        plan = await _plan(sync, _written(app, sync), malls, failed, _put_back_before(app, sync))
        if not plan.items:
            return attrs.evolve(plan, dry_run=False)
        return await _apply(app, plan, malls, notifier)
    finally:
        await close_all(malls.values())


def _written(app: App, sync: Run) -> list[RunItem]:
    """The sync's items that may have changed a mall (``may_have_written``); refused when there are none."""
    written = [i for i in app.ledger.items(sync.id) if may_have_written(i)]
    if not written:
        raise RollbackRefusedError(
            f"sync {sync.id} ({sync.status.value}) recorded no write to put back. Run `ecsync sync` to set every "
            "mall by the rule"
        )
    return written


def may_have_written(i: RunItem) -> bool:
    """
    Whether the sync's write of this item may have landed: confirmed; accepted but not read back; sent with
    no answer (the run died, the call failed after its retries: a timed-out write may land); or read back at
    neither the value sent nor the value before. Not: never sent, or read back unchanged.

    The ledger's ``last_pushed_sync`` asks the same in SQL.
    """
    if i.outcome in {"ok", "planned"}:
        return True
    if i.never_sent:
        return False
    return i.after is None or i.after != i.before


def _accepted(i: RunItem) -> bool:
    """The mall took the write (the call answered) but its read-back failed: it landed, short of a mall bug."""
    return i.after is None and (i.error or "").startswith("read-back failed")


def _set_by(i: RunItem) -> int:
    """What the sync left the item at: as read back when confirmed, else as sent."""
    return i.after if i.outcome == "ok" and i.after is not None else i.sent


def _put_back_before(app: App, sync: Run) -> dict[tuple[str, str], list[RunItem]]:
    """What earlier rollbacks of *sync* (none of them finished) planned, by (mall, item)."""
    earlier: dict[tuple[str, str], list[RunItem]] = {}
    for run in app.ledger.rollbacks_of(sync.id):
        for i in app.ledger.items(run.id):
            earlier.setdefault((i.mall, i.item), []).append(i)
    return earlier


async def _plan(
    sync: Run,
    written: Sequence[RunItem],
    malls: Mapping[str, MallInventory],
    failed: Mapping[str, EcsyncError],
    earlier: Mapping[tuple[str, str], Sequence[RunItem]],
) -> RollbackReport:
    """
    What to put back, against what each mall holds now. A mall that cannot be opened or read leaves its items
    alone (a mall error); so does a write whose landing is unknown where the mall moved (*unsure*). Either
    makes the rollback PARTIAL, and it can be run again. *earlier*: the items of rollbacks of this sync that
    did not finish; what they put back is not put back again.
    """
    skipped: dict[tuple[str, str], str] = {}
    unsure: dict[tuple[str, str], str] = {}
    mall_errors = {code: f"could not start: {exc.one_line()}" for code, exc in failed.items()}
    for i in written:
        if i.before is None:
            skipped[(i.mall, i.item)] = "the mall did not report it before the sync: nothing to put back"
        elif i.mall not in malls and i.mall not in mall_errors:
            mall_errors[i.mall] = "no plugin for this mall is loaded"
    sync_changed = [i for i in written if i.before is not None and i.before != _set_by(i)]
    changed = [i for i in sync_changed if i.mall not in mall_errors]
    now = await _read_now(malls, changed, mall_errors)
    items = []
    for i in changed:
        assert i.before is not None
        key = (i.mall, i.item)
        if i.mall in mall_errors:
            continue
        current = now[i.mall].get(key[1])
        if current is None:
            skipped[key] = "the mall no longer has this item"
            continue
        verdict = _after_earlier(earlier.get(key, ()), current, i)
        if verdict is None and not _known(i, current):
            # A lowering write whose mall still shows the higher number before it never landed: orders only
            # lower stock. Any other reading of an unknown landing could bring back stock sold since.
            never = i.sent < i.before and current == i.before
            verdict = (
                (False, "the sync's write never landed: nothing to put back") if never else (True, _doubt(i, current))
            )
        after = _set_by(i)
        restore = restore_value(i.before, after, current)
        if verdict is None and restore == current:
            verdict = (False, "already at the value to restore")
        if verdict is None:
            items.append(RollbackItem(i.sku, i.mall, i.item, i.before, after, current, restore))
        else:
            (unsure if verdict[0] else skipped)[key] = verdict[1]
    unreached = sum(1 for i in sync_changed if i.mall in mall_errors)  # a mall that could not start, or be read
    return RollbackReport(
        sync, tuple(items), True, skipped=skipped, unsure=unsure, mall_errors=mall_errors, unreached=unreached
    )


def _known(i: RunItem, current: int) -> bool:
    """
    The sync's write is known to have landed: confirmed; or the mall shows what it sent, and either took the
    write (only its read-back failed) or the write raised the item (orders only lower stock).
    """
    assert i.before is not None
    return i.outcome == "ok" or (current == i.sent and (_accepted(i) or i.sent > i.before))


def _doubt(i: RunItem, current: int) -> str:
    """Why a write of unknown landing is left alone: any reading of the numbers could bring back sold stock."""
    what = "was accepted but never read back" if _accepted(i) else "never answered or was not confirmed"
    return (
        f"the sync's write {what}; the mall holds {current}, the sync sent {i.sent}, it held {i.before} "
        "before: whether it landed is unknown, set it by hand"
    )


def _unsure_line(plan: RollbackReport) -> str:
    n = len(plan.unsure)
    return f"{n} items left alone, to set by hand (their sync writes were never confirmed)" if n else ""


async def _read_now(
    malls: Mapping[str, MallInventory], changed: Sequence[RunItem], mall_errors: dict[str, str]
) -> dict[str, Mapping[str, int]]:
    """Each mall's stock of the changed items; a mall that cannot be read goes in *mall_errors* instead."""
    codes = sorted({i.mall for i in changed} - mall_errors.keys())
    asked = [checked_read(malls[c], sorted({i.item for i in changed if i.mall == c})) for c in codes]
    readings = await asyncio.gather(*asked, return_exceptions=True)
    now: dict[str, Mapping[str, int]] = {}
    for code, reading in zip(codes, readings, strict=True):
        if isinstance(reading, EcsyncError):
            mall_errors[code] = f"could not read current stock: {mall_said(reading)}"
        elif isinstance(reading, Exception):  # a plugin's own bug: that mall is left out, as a sync does
            mall_errors[code] = crashed("read", code, reading)
        elif isinstance(reading, BaseException):
            raise reading
        else:
            now[code] = reading.quantities
    return now


def _after_earlier(earlier: Sequence[RunItem], current: int, i: RunItem) -> tuple[bool, str] | None:
    """
    What the latest earlier, unfinished rollback of this item settles: (unsure, why) to leave it alone, or None
    to put it back as if that rollback had not run.

    Orders only lower stock. So where that rollback raised the item, the mall showing its higher number proves
    it landed, and showing what it read proves nothing (orders may have taken it back down). Where it lowered
    the item, showing what it read proves it never landed, and showing its lower number proves nothing.
    """
    earlier = [e for e in earlier if not e.never_sent]  # a rollback that never sent it did not move it
    if not earlier:
        return None
    e = earlier[-1]
    if e.outcome == "ok" or (e.sent > (e.before or 0) and current == e.sent):
        return (False, f"already put back by rollback {e.run_id}")
    if e.before is not None and e.sent < e.before and current == e.before:
        return None
    return (
        True,
        f"rollback {e.run_id} sent {e.sent} (it read {e.before}) unconfirmed, and the mall holds {current} (the "
        f"sync set {_set_by(i)}): whether it landed is unknown, set it by hand",
    )


async def _apply(
    app: App, plan: RollbackReport, malls: Mapping[str, MallInventory], notifier: Notifier
) -> RollbackReport:
    ledger = app.ledger
    run = ledger.start(RunKind.ROLLBACK, target_run=plan.sync.id, rule_fingerprint=app.settings.rules.fingerprint)
    with structlog.contextvars.bound_contextvars(run_id=run.id):  # SPEC: the run ID on every log line
        try:
            return await _put_back(app, plan, malls, notifier, run)
        except BaseException as exc:  # Ctrl-C, a crash: recorded and alerted now, not found dead by a later command
            status, message = ended_early(exc)
            if ledger.finish_early(run.id, status, message):
                notifier.notify(status.value, f"rollback {run.id} of sync {plan.sync.id}: {message}", run_id=run.id)
            raise


async def _put_back(
    app: App, plan: RollbackReport, malls: Mapping[str, MallInventory], notifier: Notifier, run: Run
) -> RollbackReport:
    ledger = app.ledger
    app.lock.describe(run.id, run.started_at.isoformat(timespec="seconds") + "Z")
    updates = [PlannedUpdate(i.sku, i.mall, i.item, 0, i.now, i.restore) for i in plan.items]
    ledger.record_items(RunItem(run.id, u.sku, u.mall, u.item, None, u.before, u.target) for u in updates)
    # What `status` shows while it runs, or if it dies.
    ledger.set_counts(run.id, Counts(0, 0, len(updates), left_alone=plan.left_alone))
    # Linked from the first write on: a rollback run again skips what this one put back, confirmed or shown by
    # the mall, so it never reverses the sync's change twice; once this one succeeds, the sync is done with.
    ledger.link_rollback(plan.sync.id, run.id)
    plugins = {p.code: p for p in app.host.targets()}
    codes = sorted({u.mall for u in updates})
    mall_errors = dict(plan.mall_errors)  # a mall it could not read: its items wait for the next rollback
    with Recorder(ledger, run.id) as recorder:  # what it put back in the ledger before the run is closed
        pushed = await asyncio.gather(
            *(
                push(
                    run.id,
                    malls[c],
                    [u for u in updates if u.mall == c],
                    plugins[c].name,
                    slice_size=plugins[c].write_slice,
                    record=recorder,
                )
                for c in codes
            )
        )
    results = [attrs.evolve(r, amazon_qty=None) for p in pushed for r in p.items]
    for code, p in zip(codes, pushed, strict=True):
        if p.mall_error is not None:
            mall_errors[code] = p.mall_error
    ok = sum(1 for r in results if r.outcome == "ok")
    counts = Counts(0, 0, len(updates), ok, len(results) - ok, plan.left_alone)
    status = outcome_of(counts, mall_errors)
    if status is Outcome.SUCCESS and plan.unsure:
        status = Outcome.PARTIAL  # not done with: run again, or set those items by hand
    message = "; ".join(filter(None, (summary(mall_errors), _unsure_line(plan))))
    ledger.finish(run.id, status, counts, message)
    log.info("rollback_finished", run_id=run.id, sync=plan.sync.id, status=status.value, **counts.as_dict())
    if status is not Outcome.SUCCESS:
        said = f"rollback {run.id} of sync {plan.sync.id}: {failures(counts, 'not put back')}. {message}".strip()
        notifier.notify(status.value, said, run_id=run.id)
    return attrs.evolve(
        plan, dry_run=False, run_id=run.id, status=status, results=tuple(results), mall_errors=mall_errors
    )
