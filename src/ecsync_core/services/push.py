"""
Writing to a mall and believing only what reads back: shared by the sync and the rollback.
"""

from __future__ import annotations

import asyncio
import queue
import threading

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from ecsync_core.aio import TERMINATING
from ecsync_core.domain import Counts, ItemResult, Outcome, PlannedUpdate, RunItem, StockWrite
from ecsync_core.errors import CredentialError, EcsyncError, MallError
from ecsync_core.logging import REDACTOR, get_logger, said
from ecsync_core.ports import MallInventory, StockReading


if TYPE_CHECKING:
    from ecsync_core.store.ledger import DuckDBLedger


log = get_logger("ecsync.push")

GIVE_UP_AFTER = 3
"""Slices in a row a mall may fail as a whole (after their retries) before the rest are not sent."""


@attrs.frozen
class Pushed:
    """
    What one mall made of its updates.

    Attributes:
        items: one per update: ``after`` as read back, ``outcome`` "ok" or "failed" with the reason.
        mall_error: why the mall failed as a whole (the write or the read-back), else ``None``.
    """

    items: list[RunItem]
    mall_error: str | None = None


Record = Callable[[Sequence[RunItem]], None]
"""Where ``push`` hands each slice's items as soon as they are judged."""


class Recorder:
    """
    A run's outcomes into the ledger as ``push`` judges them, slice by slice: a run stopped later (Ctrl-C, kill -9,
    a plugin's crash) keeps what its malls confirmed. ``status`` shows it, and a rollback trusts it instead of
    leaving the item to be set by hand.

    The slices queue for a writer thread, so the writes go on meanwhile. It records everything queued in one
    transaction each time round: a transaction costs ~40 ms whatever its size, and at ``--speed 100`` slices
    come faster than that (one each would be seconds of CPU, and a locked database would hold every slice for its
    busy timeout). Queueing takes no await: a slice judged is a slice queued, whatever cancels the run next. Use
    as a context manager: leaving it waits for the queue, before the run is closed however it ends.
    """

    def __init__(self, ledger: DuckDBLedger, run_id: str) -> None:
        self.ledger = ledger
        self.run_id = run_id
        self._queue: queue.SimpleQueue[list[RunItem] | None] = queue.SimpleQueue()
        self._failed: Exception | None = None
        self._writer = threading.Thread(target=self._write, name="ecsync-ledger")

    def __call__(self, items: Sequence[RunItem]) -> None:
        if items:
            self._queue.put(list(items))

    def __enter__(self) -> Recorder:
        self._writer.start()
        return self

    def __exit__(self, _type: object, exc: BaseException | None, _tb: object) -> None:
        self._queue.put(None)
        self._writer.join()
        if self._failed is not None:
            if exc is None:
                raise self._failed
            # What ended the run is what it is recorded and alerted for; this is said beside it.
            log.warning("outcomes_not_recorded", error=f"{type(self._failed).__name__}: {self._failed}")

    def _write(self) -> None:
        ended = False
        while not ended:
            taken = [self._queue.get()]
            while not self._queue.empty():  # the one reader: what it sees queued stays there
                taken.append(self._queue.get())
            ended = None in taken  # the end mark, queued on leaving, after the last slice
            # An item queued twice (planned with its fresh before, then judged) is recorded as queued last.
            batch = list({(i.mall, i.item): i for part in taken if part is not None for i in part}.values())
            if batch and self._failed is None:  # after a failure, only drained: leaving waits for no retries
                try:
                    self.ledger.record_outcomes(self.run_id, batch)
                except Exception as exc:  # raised on leaving (a DatabaseError: the file locked, the disk full)
                    self._failed = exc


async def checked_read(adapter: MallInventory, items: Sequence[str]) -> StockReading:
    """
    *adapter*'s ``read``, refused as a plugin bug (``TypeError``, failing that mall only) unless it answers a
    ``StockReading`` of whole numbers: a plain dict, or a quantity as text, failed the whole run further on.
    """
    reading = await adapter.read(items)
    if not isinstance(reading, StockReading):
        raise TypeError(f"read() answered a {type(reading).__name__}, not a StockReading")
    for item, quantity in reading.quantities.items():
        if type(quantity) is not int:
            raise TypeError(f"read() answered {quantity!r} for item {item!r}, not a whole number")
    return reading


def crashed(stage: str, code: str, exc: BaseException) -> str:
    """
    An unexpected error from a mall's adapter as one line (a task group's wrapper taken off), logged: the
    line as a warning, the traceback at INFO, so it reaches the log file but not the console. The run's id
    comes from the run's bound context (a dry run has one too).
    """
    log.info(f"mall_{stage}_crashed_traceback", mall=code, exc_info=exc)
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    line = f"the mall plugin failed ({said(exc)})"
    log.warning(f"mall_{stage}_crashed", mall=code, error=line)
    return line


def mall_said(exc: EcsyncError) -> str:
    """What a mall's error says, for the line a mall left out gets (stderr, the ledger, the alert): no secret."""
    return REDACTOR.scrub(exc.message if isinstance(exc, MallError) else exc.one_line())


def item(run_id: str, u: PlannedUpdate, after: int | None, error: str | None) -> RunItem:
    """The ledger's record of one update: "ok" exactly when there is no error."""
    outcome = "failed" if error else "ok"
    return RunItem(run_id, u.sku, u.mall, u.item, u.amazon_qty, u.before, u.target, after, outcome, error)


async def push(
    run_id: str,
    adapter: MallInventory,
    updates: Sequence[PlannedUpdate],
    name: str,
    *,
    slice_size: int,
    record: Record,
    fresh_before: bool = False,
) -> Pushed:
    """
    Write *updates* to one mall, read them back, and judge each item by what the mall holds after.

    Both malls accept unknown item codes without an error, so a write is believed only when the read-back
    shows the value sent. The updates go in slices of *slice_size*, in order, each read back while the next
    is written. A slice the mall refuses as a whole does not stop the next (an outage may pass), except a
    refused credential, or ``GIVE_UP_AFTER`` such slices in a row (each already retried: a mall that is down,
    whose every call would take minutes of retries): the slices after it are not sent, and fail saying why.
    A rollback gives up too: the values it restores were read before it began, and writing them hours later,
    after the outage, would bring back stock sold meanwhile; the items it leaves stay at the sync's numbers.

    Args:
        name: the mall's name for people, in the errors ("item code not found on 楽天市場").
        slice_size: updates a ``write`` call, the plugin's ``write_slice``.
        record: given each slice's items once they are judged (a ``Recorder``), before ``push`` returns them.
        fresh_before: read each slice just before writing it, and keep that as each item's ``before`` (what a
            rollback puts back). A sync read the malls during the listing, at real limits minutes earlier: an
            order taken since would be brought back. Where the mall cannot say, the planned ``before`` stays,
            and the write goes on (it sets the rule's number whatever the mall held).

    A plugin's own bug (any other exception) fails this mall only, as a mall down would: the slices judged before
    it keep their outcomes, those handed to the mall fail as "may or may not have been written", and the rest as
    not sent; the other malls go on. Stopped (Ctrl-C, SIGTERM), the items not yet handed to the mall are marked
    not sent before the stop goes on: a rollback then knows they never changed it.
    """
    judged: dict[str, RunItem] = {}
    handed: dict[str, PlannedUpdate] = {}  # given to the mall's write, as sent (a fresh before): they may have landed

    def keep(items: Sequence[RunItem]) -> None:
        judged.update((i.item, i) for i in items)
        record(items)

    async def ready(part: Sequence[PlannedUpdate]) -> Sequence[PlannedUpdate]:
        """*part* as it is handed to the mall's write (with its befores read anew, where asked)."""
        if fresh_before:
            fresh = await _as_held_now(adapter, part)
            # A before read anew is what a rollback puts back: recorded now, it stands should the run stop mid-write.
            if moved := [now for now, then in zip(fresh, part, strict=True) if now.before != then.before]:
                record(planned(run_id, moved))
            part = fresh
        handed.update((u.item, u) for u in part)
        return part

    try:
        return await _slices(run_id, adapter, updates, name, slice_size, keep, ready)
    except BaseException as exc:
        unsent = [u for u in updates if u.item not in judged and u.item not in handed]
        if not isinstance(exc, Exception):
            keep([item(run_id, u, None, f"{name}: not sent: the run was stopped first") for u in unsent])
            raise
        error = crashed("push", updates[0].mall, exc)
        unsure = [handed[u.item] for u in updates if u.item in handed and u.item not in judged]
        keep([item(run_id, u, None, f"{name}: {error}; may or may not have been written") for u in unsure])
        keep([item(run_id, u, None, f"{name}: not sent: {error}") for u in unsent])
        return Pushed([judged[u.item] for u in updates], error)


def planned(run_id: str, updates: Iterable[PlannedUpdate]) -> list[RunItem]:
    """The ledger's record of updates about to be sent (outcome "planned")."""
    return [RunItem(run_id, u.sku, u.mall, u.item, u.amazon_qty, u.before, u.target) for u in updates]


async def _slices(
    run_id: str,
    adapter: MallInventory,
    updates: Sequence[PlannedUpdate],
    name: str,
    slice_size: int,
    record: Record,
    ready: Callable[[Sequence[PlannedUpdate]], Awaitable[Sequence[PlannedUpdate]]],
) -> Pushed:
    parts: list[Pushed | asyncio.Task[Pushed]] = []
    stopped: MallError | None = None
    in_a_row = 0
    async with asyncio.TaskGroup() as reading:
        for start in range(0, len(updates), slice_size):
            part = updates[start : start + slice_size]
            if stopped is not None:
                parts.append(_recorded(record, _unwritten(run_id, part, name, stopped)))
                continue
            part = await ready(part)
            try:
                results = await adapter.write([StockWrite(u.item, u.target) for u in part])
            except MallError as exc:
                in_a_row += 1
                parts.append(_recorded(record, _unwritten(run_id, part, name, exc)))
                if isinstance(exc, CredentialError):  # the slices after it are marked never sent, as below
                    stopped = CredentialError(exc.mall, f"not sent: {exc.message}")
                elif in_a_row >= GIVE_UP_AFTER:
                    said = f"not sent: {in_a_row} slices in a row failed as a whole (last: {exc.message})"
                    stopped = MallError(exc.mall, said)
                continue
            in_a_row = 0
            parts.append(reading.create_task(_read_back(run_id, adapter, part, results, name, record)))
    done = [p if isinstance(p, Pushed) else p.result() for p in parts]
    first_error = next((p.mall_error for p in done if p.mall_error), None)
    if stopped is not None and not isinstance(stopped, CredentialError):
        first_error = f"write failed: {stopped.message}"  # the run's message says the rest was not sent
    return Pushed([i for p in done for i in p.items], first_error)


async def _as_held_now(adapter: MallInventory, part: Sequence[PlannedUpdate]) -> Sequence[PlannedUpdate]:
    """*part* with each ``before`` as the mall holds it now, where the mall says."""
    try:
        now = (await checked_read(adapter, [u.item for u in part])).quantities
    except MallError:  # the write goes on (and says whether the mall is down)
        return part
    return [u if (q := now.get(u.item, u.before)) == u.before else attrs.evolve(u, before=q) for u in part]


def _recorded(record: Record, pushed: Pushed) -> Pushed:
    record(pushed.items)
    return pushed


def _unwritten(run_id: str, part: Sequence[PlannedUpdate], name: str, exc: MallError) -> Pushed:
    return Pushed([item(run_id, u, None, f"{name}: {exc.message}") for u in part], f"write failed: {exc.message}")


async def _read_back(
    run_id: str,
    adapter: MallInventory,
    part: Sequence[PlannedUpdate],
    results: Sequence[ItemResult],
    name: str,
    record: Record,
) -> Pushed:
    refused = {r.item: r.error or "refused by the mall" for r in results if not r.ok}
    try:
        after = (await checked_read(adapter, [u.item for u in part])).quantities
    except MallError as exc:
        reason = f"read-back failed: {exc.message}"
        return _recorded(record, Pushed([item(run_id, u, None, refused.get(u.item, reason)) for u in part], reason))
    out = []
    for u in part:
        got = after.get(u.item)
        if u.item in refused:
            error: str | None = refused[u.item]
        elif got is None:
            error = f"item code not found on {name}"
        elif got != u.target:
            error = f"read back {got}, sent {u.target}"
        else:
            error = None
        out.append(item(run_id, u, got, error))
    return _recorded(record, Pushed(out))


def outcome_of(counts: Counts, mall_errors: Mapping[str, str]) -> Outcome:
    """A run that wrote: SUCCESS when nothing failed, FAILED when nothing succeeded, PARTIAL between."""
    if counts.failed == 0 and not mall_errors:
        return Outcome.SUCCESS
    if counts.succeeded == 0 and counts.updates > 0:
        return Outcome.FAILED
    return Outcome.PARTIAL


def ended_early(exc: BaseException) -> tuple[Outcome, str]:
    """
    The outcome and the ledger's message of a run that an exception ended: INTERRUPTED for Ctrl-C and SIGTERM
    (which reach the coroutine as a cancellation: see ``run_to_end``), FAILED for anything else.
    """
    if isinstance(exc, asyncio.CancelledError) and TERMINATING.is_set():
        return Outcome.INTERRUPTED, "stopped by SIGTERM (a service stop, a shutdown, a timeout) before it finished"
    if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError):
        return Outcome.INTERRUPTED, "stopped by the operator (Ctrl-C) before it finished"
    return Outcome.FAILED, said(exc)


def failures(counts: Counts, left_alone: str) -> str:
    """What went wrong in counts, for an alert: ``2 of 15 items failed, 69 items not synced``."""
    failed = f"{counts.failed} of {counts.updates} items failed"
    return f"{failed}, {counts.left_alone} items {left_alone}" if counts.left_alone else failed


def summary(mall_errors: Mapping[str, str]) -> str:
    """The malls that failed as a whole, in one line for the ledger and the alert."""
    return "; ".join(f"{m}: {e}" for m, e in sorted(mall_errors.items()))
