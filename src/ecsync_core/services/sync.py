"""
The sync: source snapshot -> active mappings -> every mall read -> pure plan -> (live) write, read back, record.
"""

from __future__ import annotations

import asyncio

from collections import Counter
from collections.abc import Callable, Sequence
from collections.abc import Mapping as MappingOf
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import structlog

from ecsync_core import heap
from ecsync_core.aio import close_all, lookup_once, run_to_end
from ecsync_core.domain import (
    MAX_QUANTITY,
    Counts,
    Mapping,
    Outcome,
    PlannedUpdate,
    RunItem,
    RunKind,
    counted,
    new_run_id,
)
from ecsync_core.errors import CredentialError, EcsyncError, MallError, PluginError
from ecsync_core.logging import get_logger
from ecsync_core.planning import Plan, lost_zeros, make_plan, missing_from_file, mistyped, unlisted
from ecsync_core.ports import MallInventory, StockReading, StockSource
from ecsync_core.services.governance import require_approved, unapproved
from ecsync_core.services.push import (
    Recorder,
    checked_read,
    crashed,
    ended_early,
    failures,
    item,
    mall_said,
    outcome_of,
    planned,
    push,
    summary,
)
from ecsync_core.services.runs import exclusive, not_during_a_run, reap_interrupted
from ecsync_core.store.db import DatabaseError


if TYPE_CHECKING:
    from ecsync_core.bootstrap import App
    from ecsync_core.mall import MallPlugin
    from ecsync_core.notify import Notifier

log = get_logger("ecsync.sync")


@attrs.frozen
class SyncOptions:
    dry_run: bool = False
    file: Path | None = None
    full: bool = False
    force: bool = False


@attrs.frozen
class SyncReport:
    """
    What a sync did (or, dry, would do).

    Attributes:
        items: every sent item with its outcome (live run only).
        mall_errors: mall -> why it failed as a whole (credentials, reading, writing).
    """

    run_id: str | None
    status: Outcome
    dry_run: bool
    counts: Counts
    plan: Plan
    items: tuple[RunItem, ...] = attrs.field(default=(), repr=counted)
    mall_errors: MappingOf[str, str] = attrs.field(factory=dict)
    message: str = ""
    forced: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def failed_items(self) -> list[RunItem]:
        return [i for i in self.items if i.outcome == "failed"]


class SyncFailedError(EcsyncError):
    """Raised when a sync cannot read its source in full; the run (*run_id*, a live one) is recorded FAILED."""

    def __init__(self, message: str, run_id: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


def _quiet(_phase: str) -> None:
    return None


def run_sync(
    app: App, options: SyncOptions, notifier: Notifier, progress: Callable[[str], None] = _quiet
) -> SyncReport:
    """
    Run one sync. A live one is refused with an unapproved rule table and holds the run lock throughout.

    Args:
        progress: told each phase as it starts ("reading yahoo: 138 items"), for a display on a terminal.
    """
    if options.dry_run:
        app.require_database()
        reap_interrupted(app, notifier)
        not_during_a_run(app)
        return _drive(_Sync(app, options, notifier, progress))
    try:
        app.require_database()
        reap_interrupted(app, notifier)
        with exclusive(app, "(starting)", notifier, checks=lambda: require_approved(app)):
            return _drive(_Sync(app, options, notifier, progress))
    except DatabaseError as exc:
        # No run could be recorded (a notebook holding the file, a full disk): the alert is the only trace.
        notifier.notify("FAILED", f"the sync could not use its database: {exc.one_line()}")
        raise


def _drive(sync: _Sync) -> SyncReport:
    """The sync on its own event loop, with the collector kept out of its way (see ecsync_core.heap)."""
    with heap.run_scope():
        return run_to_end(sync.run())


@attrs.define
class _Sync:
    app: App
    options: SyncOptions
    notifier: Notifier
    progress: Callable[[str], None] = _quiet
    run_id: str | None = None
    counts: Counts = Counts()  # each mall adds its outcomes as it ends (the ledger counts a run ended early)
    file_doubt: str | None = None  # why a stock file cannot be taken as it is (refused without --force)
    notes: list[str] = attrs.field(factory=list)  # what the report says beside its verdict ([WARN] lines)
    mall_errors: dict[str, str] = attrs.field(factory=dict)
    plan_unreadable: MappingOf[tuple[str, str], str] = attrs.field(factory=dict)
    left_alone: int = 0  # mapped items of the malls left out of the run
    dry_id: str = attrs.field(factory=new_run_id)  # a dry run's id: on its log lines now, recorded at its end

    async def run(self) -> SyncReport:
        app, opts = self.app, self.options
        app.check_mall_settings()
        if not app.host.targets():
            raise PluginError("no target mall plugin is installed: nothing to sync to")
        if not opts.dry_run:
            # SPEC: a live run is recorded RUNNING before its first API call, so a death leaves a trace.
            run = app.ledger.start(RunKind.SYNC, forced=opts.force, rule_fingerprint=app.settings.rules.fingerprint)
            self.run_id = run.id
            app.lock.describe(run.id, run.started_at.isoformat(timespec="seconds") + "Z")
        # SPEC: the run ID on every log line, the adapters' and the retries' included; gone once the run is.
        with structlog.contextvars.bound_contextvars(run_id=self.run_id or self.dry_id):
            if self.run_id is not None:
                log.info("sync_started", run_id=self.run_id, forced=opts.force, full=opts.full)
            try:
                return await self._run()
            except BaseException as exc:
                if self.run_id is None:
                    raise
                status, message = ended_early(exc)
                if app.ledger.finish_early(self.run_id, status, message):
                    self.notifier.notify(status.value, message, run_id=self.run_id)
                if isinstance(exc, EcsyncError) and not isinstance(exc, SyncFailedError):
                    # Recorded FAILED under its id: the error carries the id (`sync --json` gives it).
                    raise SyncFailedError(exc.one_line(), self.run_id) from exc
                raise

    async def _run(self) -> SyncReport:
        app, opts = self.app, self.options
        stock = None
        if opts.file is not None:
            self.progress(f"reading {opts.file}")
            stock = self._read_file(opts.file)
        # FBA is listed first: at the real limits the listing takes minutes, and the rest of the reading fits
        # inside it. The mappings load and the malls open on a thread meanwhile; the malls' stock depends on
        # the mappings only, so it is read during the listing too, instead of after it.
        opening = asyncio.create_task(asyncio.to_thread(self._open))
        listing = None if stock is not None else asyncio.create_task(self._snapshot(app.source(), opening))
        reads: asyncio.Task[dict[str, StockReading]] | None = None
        malls: MappingOf[str, MallInventory] = {}
        try:
            mappings, malls, left_out = await opening
            for code, why in left_out.items():
                self._leave_out(code, why, "start")
            reads = asyncio.create_task(self._read_malls(malls, mappings))
            if listing is not None:
                self.progress("reading FBA stock (every page) and the malls' stock")
                stock = await listing
            elif stock is not None and opts.file is not None:
                self.file_doubt = lost_zeros(stock, mappings, opts.file)
                if not self.file_doubt:
                    await self._ask_for_missing(stock, mappings, opts.file)
            assert stock is not None
            readings = await reads
            if stock and not mappings:  # SUCCESS every night while no mall follows FBA: said, not refused
                self.notes.append("no active mappings in the database: nothing is sent; import the master sheet")
            self._count_left_out(mappings, readings)
            # --force says the SKUs are what the sheet says, as it does for the file's lost zeros.
            suspects = {} if opts.force else mistyped(stock, mappings)
            plan = make_plan(stock, mappings, readings, app.settings.rules, full=opts.full, mistyped=suspects)
            heap.settle()
            refusal = _impossible(stock) or self._refusal(plan, len(stock))
            if refusal is not None:
                return self._refuse(plan, refusal)
            if opts.dry_run:
                return self._finish_dry(plan)
            return await self._push(plan, malls)
        finally:
            pending = [t for t in (opening, listing, reads) if t is not None]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await close_all(malls.values())

    def _open(self) -> tuple[list[Mapping], dict[str, MallInventory], dict[str, EcsyncError | str]]:
        """
        The active mappings, the target malls' adapters, and the mapped malls that cannot take part, with why:
        an adapter that could not be made, or no plugin loaded (on a thread: this is all synchronous work).
        """
        mappings = self.app.mappings.active()
        heap.settle()
        malls, failed = self.app.open_targets()
        left_out: dict[str, EcsyncError | str] = {**self.app.unloaded({m.mall for m in mappings}), **failed}
        return mappings, malls, left_out

    def _read_file(self, path: Path) -> dict[str, int]:
        plugin = self.app.host.source()
        if plugin.read_stock_file is None:
            raise PluginError(f"the source plugin {plugin.code!r} cannot read stock report files")
        return plugin.read_stock_file(path)

    async def _ask_for_missing(self, stock: dict[str, int], mappings: Sequence[Mapping], path: Path) -> None:
        """
        Mapped SKUs a stock file leaves out, asked of FBA by name as a listing's are (SPEC: a short listing must
        never read as sold out), and named in a warning either way: a report cut short, or not the one meant.
        Where FBA cannot be asked (no credentials, an outage), they count as 0.
        """
        missing = unlisted(stock, mappings)
        if not missing:
            return
        self.progress(f"asking FBA for {len(missing)} mapped SKUs not in {path.name}")
        try:
            stock.update(await lookup_once(self.app.source(), missing))
        except EcsyncError as exc:
            # Not refused: an operator syncing from files without API access would need --force every night,
            # which turns every safety check off. The source-size and zeroing checks still guard a short file.
            self.notes.append(missing_from_file(path, missing, exc.one_line()))
            log.warning("file_missing_skus_unasked", file=str(path), skus=len(missing), error=exc.one_line())
            return
        self.notes.append(missing_from_file(path, missing))

    async def _snapshot(
        self, source: StockSource, opening: asyncio.Task[tuple[list[Mapping], Any, Any]]
    ) -> dict[str, int]:
        try:
            stock = await source.snapshot()
            mappings, _, _ = await opening
            missing = unlisted(stock, mappings)
            if missing and stock:
                stock.update(await source.lookup(missing))
        except MallError as exc:
            raise SyncFailedError(f"the source could not be read in full: {exc.one_line()}", self.run_id) from exc
        finally:
            await close_all([source])
        return stock

    async def _read_malls(
        self, malls: MappingOf[str, MallInventory], mappings: Sequence[Mapping]
    ) -> dict[str, StockReading]:
        """
        Every mall's current stock, in parallel. A mall that cannot be read (an outage, refused credentials, a
        plugin's bug) is left out of the run, with the reason in ``mall_errors``; the next run catches up.
        """

        async def read(code: str) -> StockReading:
            items = sorted({m.item for m in mappings if m.mall == code})
            self.progress(f"reading {code}: {len(items)} items")
            return await checked_read(malls[code], items)

        codes = list(malls)
        results = await asyncio.gather(*(read(c) for c in codes), return_exceptions=True)
        readings: dict[str, StockReading] = {}
        for code, result in zip(codes, results, strict=True):
            if isinstance(result, BaseException):
                self._leave_out(code, result, "read")
            else:
                readings[code] = result
        return readings

    def _leave_out(self, code: str, why: BaseException | str, stage: str) -> None:
        """
        A mall that cannot take part is left out of the run with the reason in ``mall_errors`` (the run is then
        PARTIAL, and alerted): not written blind, since with its stock unknown there is no diff, no zeroing
        check, nothing to roll back. The other malls go on; the next run catches up.
        """
        if isinstance(why, str):
            self.mall_errors[code] = why
            log.warning(f"mall_{stage}_failed", mall=code, error=why)
        elif isinstance(why, CredentialError):
            self.mall_errors[code] = mall_said(why)
            self.notifier.notify("CREDENTIALS", why.one_line(), run_id=self.run_id)
        elif isinstance(why, EcsyncError):
            words = mall_said(why)
            doing = "read current stock" if stage == "read" else stage
            self.mall_errors[code] = f"could not {doing}: {words}"
            log.warning(f"mall_{stage}_failed", mall=code, error=words)
        elif isinstance(why, Exception):  # a plugin's own bug
            self.mall_errors[code] = crashed(stage, code, why)
        else:
            raise why

    def _count_left_out(self, mappings: Sequence[Mapping], readings: MappingOf[str, StockReading]) -> None:
        """
        Beside each mall left out, how many of its items it leaves as they are, and their sum in the counts
        (``left_alone``): the plan holds only the malls read, so a PARTIAL run said "0 failed" while a whole mall
        went unsynced.
        """
        out = self.mall_errors.keys() - readings.keys()
        if out:
            mapped = Counter(m.mall for m in mappings if m.active and m.mall in out)
            for code in out:
                self.mall_errors[code] += f" ({mapped[code]} mapped items left as they are)"
            self.left_alone = sum(mapped.values())

    def _refusal(self, plan: Plan, found: int) -> str | None:
        """Why the source or the plan looks broken (SPEC's safety checks), or None."""
        if self.options.force:
            return None
        safety = self.app.settings.safety
        if self.file_doubt:
            return self.file_doubt
        if not found:
            return "the source returned no SKUs at all (use --force if FBA really holds nothing)"
        last = self.app.ledger.last_good()
        if last is not None and last.counts.found and Fraction(found, last.counts.found) < safety.min_source_ratio:
            return (
                f"the source returned {found} SKUs, fewer than {float(safety.min_source_ratio):.0%} of the "
                f"{last.counts.found} of the last good run {last.id} (use --force if this is real)"
            )
        zeroing, holding = plan.zeroing, plan.holding
        if holding and Fraction(len(zeroing), holding) > safety.max_zero_ratio:
            # Named, so the morning after a refused night starts in Seller Central, not with a 17-minute dry run.
            named = ", ".join(f"{u.mall} {u.item!r} (SKU {u.sku!r}, {u.before} -> 0)" for u in zeroing[:3])
            more = f" and {len(zeroing) - 3} more" if len(zeroing) > 3 else ""
            return (
                f"{len(zeroing)} of the {holding} mall items holding stock would drop to 0, more than "
                f"{float(safety.max_zero_ratio):.0%}: {named}{more} (`sync --dry-run -v` lists them; "
                "use --force if this is real)"
            )
        return None

    def _counts(self, plan: Plan) -> Counts:
        return Counts(plan.found, plan.mapped, len(plan.updates), left_alone=self.left_alone)

    def _refuse(self, plan: Plan, reason: str) -> SyncReport:
        counts = self._counts(plan)
        # A dry run is recorded with its outcome from the start: never RUNNING, so never taken for a dead run.
        run_id = self.run_id or self.app.ledger.start(RunKind.DRY_RUN, status=Outcome.REFUSED, run_id=self.dry_id).id
        self.app.ledger.finish(run_id, Outcome.REFUSED, counts, reason)
        self.notifier.notify("REFUSED", reason, run_id=run_id)
        log.warning("sync_refused", run_id=run_id, reason=reason)
        dry, errors = self.options.dry_run, dict(self.mall_errors)  # errors: why the counts are what they are
        return SyncReport(
            run_id, Outcome.REFUSED, dry, counts, plan, mall_errors=errors, message=reason, warnings=self._warnings()
        )

    def _warnings(self) -> tuple[str, ...]:
        """
        What the run says beside its verdict: its notes, and for a dry run that a live run under this rule table
        would be refused (SPEC lets dry runs work with it; a preview that passed in silence, then a refused 04:00
        run, was a trap).
        """
        why = unapproved(self.app) if self.options.dry_run else None
        return (*self.notes, *(() if why is None else (f"the live run would be refused: {why}",)))

    def _closing(self) -> tuple[str, tuple[str, ...]]:
        """The run's message for the ledger (`status ID` shows it) and alerts, and its warnings."""
        warnings = self._warnings()
        return "; ".join(filter(None, (summary(self.mall_errors), *warnings))), warnings

    def _finish_dry(self, plan: Plan) -> SyncReport:
        ledger, counts = self.app.ledger, self._counts(plan)
        status = Outcome.PARTIAL if self.mall_errors else Outcome.SUCCESS
        run = ledger.start(
            RunKind.DRY_RUN,
            forced=self.options.force,
            rule_fingerprint=self.app.settings.rules.fingerprint,
            status=status,  # not RUNNING while its items are recorded: no reaper takes it for a dead run
            run_id=self.dry_id,
        )
        ledger.record_items(planned(run.id, plan.updates))
        message, warnings = self._closing()
        ledger.finish(run.id, status, counts, message)
        errors = dict(self.mall_errors)
        return SyncReport(run.id, status, True, counts, plan, (), errors, message, self.options.force, warnings)

    async def _push(self, plan: Plan, malls: MappingOf[str, MallInventory]) -> SyncReport:
        assert self.run_id is not None
        run_id, ledger = self.run_id, self.app.ledger
        self.plan_unreadable = plan.unreadable
        self.counts = self._counts(plan)
        ledger.set_counts(run_id, self.counts)
        ledger.record_items(planned(run_id, plan.updates))
        by_mall: dict[str, list[PlannedUpdate]] = {}
        for u in plan.updates:
            by_mall.setdefault(u.mall, []).append(u)
        plugins = {p.code: p for p in self.app.host.targets()}
        self.progress(", ".join(f"writing {c}: {len(ups)} items" for c, ups in by_mall.items()) or "nothing to write")
        with Recorder(ledger, run_id) as recorder:  # every judged slice in the ledger before the run is closed
            batches = await asyncio.gather(
                *(self._push_mall(plugins[c], malls[c], ups, recorder) for c, ups in by_mall.items())
            )
        items = [i for batch in batches for i in batch]
        counts = self.counts  # each mall added its outcomes as it finished
        status = outcome_of(counts, self.mall_errors)
        if counts.succeeded == 0 and set(self.mall_errors) >= set(malls):
            status = Outcome.FAILED  # every mall failed as a whole: nothing of the run happened
        message, warnings = self._closing()
        ledger.finish(run_id, status, counts, message)
        log.info("sync_finished", run_id=run_id, status=status.value, **counts.as_dict())
        if status is not Outcome.SUCCESS:
            alert = f"sync {run_id}: {failures(counts, 'not synced')}. {message}".strip()
            self.notifier.notify(status.value, alert, run_id=run_id)
        errors = dict(self.mall_errors)
        return SyncReport(
            run_id, status, False, counts, plan, tuple(items), errors, message, self.options.force, warnings
        )

    async def _push_mall(
        self, plugin: MallPlugin, adapter: MallInventory, updates: list[PlannedUpdate], recorder: Recorder
    ) -> list[RunItem]:
        """
        Write one mall's updates, read them back, judge each item by what the mall holds after, and record the
        outcomes slice by slice (a run stopped later keeps them).
        """
        assert self.run_id is not None
        run_id, code, name = self.run_id, plugin.code, plugin.name
        unreadable = self.plan_unreadable
        # "not sent:" marks them for rollback: these items were never written, whatever the mall shows now.
        items = [
            item(run_id, u, None, f"not sent: {unreadable[(code, u.item)]}")
            for u in updates
            if (code, u.item) in unreadable
        ]
        recorder(items)
        updates = [u for u in updates if (code, u.item) not in unreadable]
        if updates:
            pushed = await push(
                run_id, adapter, updates, name, slice_size=plugin.write_slice, record=recorder, fresh_before=True
            )
            if pushed.mall_error is not None:
                self.mall_errors[code] = pushed.mall_error
                log.warning("mall_push_failed", mall=code, error=pushed.mall_error, run_id=run_id)
            items += pushed.items
        ok = sum(1 for i in items if i.outcome == "ok")
        self.counts = attrs.evolve(
            self.counts, succeeded=self.counts.succeeded + ok, failed=self.counts.failed + len(items) - ok
        )
        return items


def _impossible(stock: MappingOf[str, int]) -> str | None:
    """A quantity no item can hold: the source is broken, and no --force makes it true."""
    if huge := [(sku, q) for sku, q in stock.items() if q > MAX_QUANTITY]:
        sku, q = huge[0]
        return (
            f"the source reports {q:,} units for SKU {sku!r} ({len(huge)} SKU(s) above {MAX_QUANTITY:,}): "
            "it looks broken; check the report or the listing"
        )
    return None
