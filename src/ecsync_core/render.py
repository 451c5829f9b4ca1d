"""
Human output of the CLI. Pure formatting: everything here takes data and writes text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from rich.cells import cell_len

from ecsync_core.domain import Outcome, Run, RunItem, RunKind


if TYPE_CHECKING:
    from ecsync_core.allocation import Overcommit
    from ecsync_core.services.governance import RuleStatus
    from ecsync_core.services.health import HealthReport
    from ecsync_core.services.import_sku import ExportResult, ImportResult
    from ecsync_core.services.rollback import RollbackReport
    from ecsync_core.services.simulate import Simulation
    from ecsync_core.services.sync import SyncReport


def local_time(at: datetime | None, zone: ZoneInfo) -> str:
    """A stored (naive UTC) time in the configured zone, to the second."""
    if at is None:
        return "-"
    return at.replace(tzinfo=UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, err: bool = False) -> None:
    """A plain aligned table: it reads the same in a terminal, a cron mail and a log."""
    cells = [[str(h) for h in headers], *[["-" if c is None else str(c) for c in r] for r in rows]]
    # Widths on screen, not in characters: a full-width SKU (ＦＢＡ－０１) takes two columns a character.
    widths = [max(cell_len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        padded = (
            (" " * (w - cell_len(c)) + c) if c.lstrip("-").isdigit() else (c + " " * (w - cell_len(c)))
            for c, w in zip(row, widths, strict=True)
        )
        click.echo("  ".join(padded).rstrip(), err=err)
        if n == 0:
            click.echo("  ".join("-" * w for w in widths), err=err)


def render_simulation(sim: Simulation) -> None:
    has_sku = any(r.sku is not None for r in sim.rows)
    has_proposed = sim.proposed_fingerprint is not None
    headers = (["sku"] if has_sku else []) + ["amazon_qty", *sim.malls]
    if has_proposed:
        headers += [f"{m} (proposed)" for m in sim.malls] + ["changed"]
    rows = []
    for r in sim.rows:
        row: list[Any] = ([r.sku] if has_sku else []) + [r.amazon_qty, *(_cell(r.malls[m]) for m in sim.malls)]
        if r.proposed is not None:
            row += [_cell(r.proposed[m]) for m in sim.malls] + ["*" if r.changed else ""]
        rows.append(row)
    table(headers, rows)
    for warning in sim.warnings:
        click.echo(f"[WARN] {warning}")
    for which, found in (("", sim.edges), ("proposed ", sim.proposed_edges)):
        for mall, edges in found.items():
            shown = ", ".join(f"{q} -> {a} but {q + 1} -> {b}" for q, a, b in edges)
            click.echo(f"note: {mall}'s {which}rule gives less for more at the tier edges: {shown}")
    render_overcommit(sim.overcommit)
    if sim.proposed_overcommit is not None:
        render_overcommit(sim.proposed_overcommit, "under the proposed rules ")
    if has_proposed:
        click.echo(
            f"{len(sim.changed)} of {len(sim.rows)} rows would change under the proposed rules "
            f"({sim.proposed_fingerprint}, today {sim.rule_fingerprint})"
        )


def _cell(value: int | None) -> object:
    return "-" if value is None else value  # not mapped on that mall: nothing is sent there


def render_overcommit(oc: Overcommit, which: str = "") -> None:
    """One note when the malls together are offered more units than FBA holds."""
    if not oc:
        return
    shown = ", ".join(f"{q} ({total} units)" for q, total in oc.at[:8]) + (", ..." if len(oc.at) > 8 or oc.more else "")
    where = [f"at q = {shown}"] if oc.at else ["at quantities too many to count one by one"] if oc.more else []
    if oc.tail_from is not None:
        where.append(f"above the tiers from q = {oc.tail_from} (their top tiers add up to {oc.top_share})")
    click.echo(f"note: {which}the malls together get more units than FBA holds {' and '.join(where)}")


def render_malls(rows: Sequence[Mapping[str, Any]], broken: Mapping[str, str]) -> None:
    if rows:
        table(
            ["code", "role", "sheet column", "distribution", "version"],
            [[r["code"], r["role"], r["sheet_column"] or "", r["distribution"], r["version"]] for r in rows],
        )
    else:
        click.echo("no mall plugins installed")
    for name, why in broken.items():
        click.echo(f"warning: plugin {name!r} failed to load: {why}", err=True)


def render_rules(status: RuleStatus, zone: ZoneInfo) -> None:
    rules = status.rules
    tables = {"default": rules.default, **rules.per_mall}
    for name, rule in tables.items():
        click.echo(f"[{name}]")
        table(
            ["amazon qty", "ratio"],
            [
                [
                    f"{t.low}-{t.high}" if t.high is not None else f"{t.low}+",
                    f"{t.ratio.numerator}/{t.ratio.denominator}",
                ]
                for t in sorted(rule.tiers, key=lambda t: -t.low)
            ],
        )
        click.echo("")
    if status.approved and status.default_table:
        state = "the manual's table (needs no approval)"
    elif status.approved:
        state = f"approved by {status.approved_by} at {local_time(status.approved_at, zone)} ({zone.key})"
    else:
        state = "NOT approved: live syncs are refused until `ecsync rules approve --by NAME`"
    click.echo(f"fingerprint {rules.fingerprint}: {state}")


def iso(at: datetime | None, zone: ZoneInfo) -> str | None:
    """A stored (naive UTC) time as ISO-8601 with the configured zone's offset."""
    return None if at is None else at.replace(tzinfo=UTC).astimezone(zone).isoformat(timespec="seconds")


def duration(run: Run) -> str:
    # An INTERRUPTED run's finish is when it was found dead, not when it died: no duration to tell.
    if run.finished_at is None or run.status is Outcome.INTERRUPTED:
        return "-"
    seconds = int((run.finished_at - run.started_at).total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def run_json(run: Run, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "id": run.id,
        "kind": run.kind.value,
        "status": run.status.value,
        "started_at": iso(run.started_at, zone),
        "finished_at": iso(run.finished_at, zone),
        "counts": run.counts.as_dict(),
        "forced": run.forced,
        "message": run.message,
        "rule_fingerprint": run.rule_fingerprint,
        "rolled_back_by": run.rolled_back_by,
        "rollback_of": run.target_run,
    }


def item_json(item: RunItem) -> dict[str, Any]:
    return {
        "sku": item.sku,
        "mall": item.mall,
        "item": item.item,
        "amazon_qty": item.amazon_qty,
        "before": item.before,
        "sent": item.sent,
        "after": item.after,
        "outcome": item.outcome,
        "error": item.error,
    }


def render_runs(runs: Sequence[Run], zone: ZoneInfo) -> None:
    if not runs:
        click.echo("no runs yet")
        return
    c = [r.counts for r in runs]
    table(
        ["ID", f"started ({zone.key})", "kind", "status", "found", "mapped", "updates", "ok", "failed", "took"],
        [
            [
                r.id,
                local_time(r.started_at, zone),
                r.kind.value,
                r.status.value + (" (forced)" if r.forced else "") + (f" ({_left_alone(r)})" if n.left_alone else ""),
                n.found,
                n.mapped,
                n.updates,
                n.succeeded,
                n.failed,
                duration(r),
            ]
            for r, n in zip(runs, c, strict=True)
        ],
    )


def _left_alone(run: Run) -> str:
    """``69 not synced``: the mall items a run left as they are (``Counts.left_alone``)."""
    return f"{run.counts.left_alone} not " + ("put back" if run.kind is RunKind.ROLLBACK else "synced")


def render_run(run: Run, items: Sequence[RunItem], zone: ZoneInfo) -> None:
    n = run.counts
    click.echo(f"run {run.id}: {run.kind.value} {run.status.value}{' (forced)' if run.forced else ''}")
    click.echo(f"started {local_time(run.started_at, zone)}, finished {local_time(run.finished_at, zone)} ({zone.key})")
    left = f", {_left_alone(run)}" if n.left_alone else ""
    click.echo(
        f"found {n.found}, mapped {n.mapped}, updates {n.updates}, succeeded {n.succeeded}, failed {n.failed}{left}"
    )
    if run.kind is not RunKind.DRY_RUN and (unconfirmed := sum(1 for i in items if i.outcome == "planned")):
        # Neither succeeded nor failed: after a stop these were the counts' missing remainder, unexplained.
        why = (
            "not read back yet"
            if run.status is Outcome.RUNNING
            else "the run ended before reading them back: whether they landed is unknown, check them on the mall"
        )
        click.echo(f"unconfirmed {unconfirmed} (outcome planned): {why}")
    if run.message:
        click.echo(f"note: {run.message}")
    if run.target_run:
        click.echo(f"rollback of sync {run.target_run}")
    if run.rolled_back_by:
        click.echo(f"rolled back by run {run.rolled_back_by}")
    if items:
        click.echo("")
        table(
            ["outcome", "mall", "item", "sku", "q", "before", "sent", "after", "error"],
            [
                [
                    i.outcome,
                    i.mall,
                    i.item,
                    i.sku,
                    i.amazon_qty,
                    i.before,
                    "" if i.never_sent else i.sent,
                    i.after,
                    i.error or "",
                ]
                for i in items
            ],
        )


def render_sync(report: SyncReport, verbose: int) -> None:
    """The manual's lines, in its order, then what happened."""
    c, plan = report.counts, report.plan
    click.echo(f"Amazon Inventory: {c.found} items found")
    click.echo(f"Mapped SKUs: {c.mapped} items")
    if plan.unmapped:
        click.echo(f"Unmapped FBA SKUs: {len(plan.unmapped)} items" + ("" if verbose else " (listed with -v)"))
        if verbose:
            for sku in plan.unmapped:
                click.echo(f"  unmapped: {sku}")
    click.echo(f"Updates to be sent: {c.updates} items")
    if verbose and plan.updates:
        table(
            ["sku", "mall", "item", "q", "now", "target"],
            [[u.sku, u.mall, u.item, u.amazon_qty, u.before, u.target] for u in plan.updates],
        )
    for mall, error in sorted(report.mall_errors.items()):
        click.echo(f"[WARN] {mall}: {error}", err=True)
    for (mall, item), problem in sorted(plan.unreadable.items()):
        click.echo(f"[WARN] {mall} {item}: {problem}", err=True)
    for warning in report.warnings:
        click.echo(f"[WARN] {warning}", err=True)
    if report.status.value == "REFUSED":
        click.echo(f"[REFUSED] {report.message}")
        click.echo(f"Run {report.run_id}: nothing was sent to any mall.")
        return
    if report.dry_run:
        click.echo("[DRY-RUN] No changes made to API.")
        return
    click.echo(f"Succeeded: {c.succeeded} items, Failed: {c.failed} items")
    if c.left_alone:
        left = f"Not synced: {c.left_alone} items (their mall was left out: see its [WARN] line)"
        click.echo(f"{left}; the next run catches up")
    failed = report.failed_items
    for failure in failed[:20]:
        sent = "" if failure.never_sent else f", sent {failure.sent}"
        click.echo(f"  failed: {failure.mall} {failure.item} (sku {failure.sku}{sent}): {failure.error}")
    if len(failed) > 20:
        click.echo(f"  ... and {len(failed) - 20} more: `ecsync status {report.run_id}` lists them all")
    forced = " (forced)" if report.forced else ""
    click.echo(f"[{report.status.value}] Sync finished{forced}: run {report.run_id}")


def render_import(result: ImportResult, verbose: bool) -> None:
    """`import-sku`: what the sheet holds and what changed (every changed mapping with -v)."""
    c = result.changes
    codes = ", ".join(f"{mall} {n}" for mall, n in result.codes.items())
    click.echo(f"{result.file}: {result.skus} SKUs ({result.active} active), mall codes: {codes}")
    counts = (len(c.added), len(c.changed), len(c.deactivated), len(c.removed))
    how = " (--replace)" if result.replace else ""
    if result.dry_run:
        click.echo("[DRY-RUN] would add {}, change {}, deactivate {}, remove {} mappings{}".format(*counts, how))
    else:
        click.echo("added {}, changed {}, deactivated {}, removed {} mappings{}".format(*counts, how))
    if verbose and not c.empty:
        flag = {True: "TRUE", False: "FALSE"}
        rows: list[list[object]] = [["added", m.sku, m.mall, m.item, flag[m.active]] for m in c.added]
        for old, new in c.changed:
            item = new.item if old.item == new.item else f"{old.item} -> {new.item}"
            active = flag[new.active] if old.active == new.active else f"{flag[old.active]} -> {flag[new.active]}"
            rows.append(["changed", new.sku, new.mall, item, active])
        rows += [["deactivated", m.sku, m.mall, m.item, "FALSE"] for m in c.deactivated]
        rows += [["removed", m.sku, m.mall, m.item, flag[m.active]] for m in c.removed]
        table(["change", "sku", "mall", "item", "is_active"], rows)
    if result.dry_run:
        click.echo("[DRY-RUN] Nothing was changed.")


def render_export(result: ExportResult) -> None:
    """`export-sku`: where the sheet went, and any mapping it could not hold."""
    click.echo(f"wrote {result.skus} SKUs ({result.mappings} mappings) to {result.file}")
    for mall, n in sorted(result.left_out.items()):
        click.echo(
            f"warning: {n} mappings of mall {mall!r} are not in the sheet: no installed plugin gives its column",
            err=True,
        )


def rollback_json(report: RollbackReport) -> dict[str, Any]:
    """`rollback --json`: ``item`` as the master sheet names it; ``run_id`` null for a dry run."""
    outcome = {(r.mall, r.item): r for r in report.results}
    items = []
    for i in report.items:
        doc: dict[str, Any] = {
            "mall": i.mall,
            "item": i.item,
            "sku": i.sku,
            "now": i.now,
            "restore": i.restore,
            "before": i.before,
            "sync_set": i.after,
        }
        if (i.mall, i.item) in outcome:
            doc.update(outcome=outcome[(i.mall, i.item)].outcome, error=outcome[(i.mall, i.item)].error)
        items.append(doc)
    return {
        "run_id": report.run_id,
        "rolled_back": report.sync.id,
        "dry_run": report.dry_run,
        "status": None if report.status is None else report.status.value,
        "items": items,
        "skipped": [{"mall": m, "item": i, "why": why} for (m, i), why in sorted(report.skipped.items())],
        "unsure": [{"mall": m, "item": i, "why": why} for (m, i), why in sorted(report.unsure.items())],
        "mall_errors": dict(report.mall_errors),
    }


def render_rollback(report: RollbackReport, *, err: bool = False) -> None:
    """The items a rollback puts back, with both numbers where stock moved since the sync."""
    click.echo(f"Rollback of sync {report.sync.id}: {len(report.items)} items to put back", err=err)
    if report.items:
        table(
            ["mall", "item", "sku", "before sync", "sync set", "now", "restore", "note"],
            [
                [
                    i.mall,
                    i.item,
                    i.sku,
                    i.before,
                    i.after,
                    i.now,
                    i.restore,
                    "moved since the sync: its change reversed, never below 0" if i.moved else "",
                ]
                for i in report.items
            ],
            err=err,
        )
    for mall, error in sorted(report.mall_errors.items()):
        click.echo(f"[WARN] {mall}: {error}; its items are left alone: run `ecsync rollback` again once it answers")
    for (mall, item), why in sorted({**report.skipped, **report.unsure}.items()):
        click.echo(f"  left alone: {mall} {item}: {why}", err=err)
    if err:
        return
    if report.dry_run:
        click.echo("[DRY-RUN] No changes made to API.")
        return
    if report.run_id is None:
        if report.items:
            click.echo("[INFO] rollback cancelled: nothing was changed")
        elif report.incomplete:
            click.echo("[FAILED] nothing could be put back: see the lines above; run it again, or set them by hand")
        else:
            click.echo("[INFO] nothing to put back: no change made")
        return
    failed = [r for r in report.results if r.outcome == "failed"]
    for r in failed:
        click.echo(f"  failed: {r.mall} {r.item}: {r.error}")
    status = report.status.value if report.status else "FAILED"
    if status == "SUCCESS":
        click.echo(f"[SUCCESS] Rollback finished: run {report.run_id} (sync {report.sync.id} rolled back)")
    else:  # not "rolled back": part of the sync's change, or all of it, is still on the malls
        click.echo(
            f"[{status}] Rollback finished: run {report.run_id} (sync {report.sync.id} not fully put back); "
            "run `ecsync rollback` again for what it did not put back"
        )


def render_health(report: HealthReport) -> None:
    """One line a check (`DB Connection: OK (...)`), then a closing count."""
    for check in report.checks:
        click.echo(f"{check.title}: {check.status}" + (f" ({check.detail})" if check.detail else ""))
    fails = sum(c.status == "FAIL" for c in report.checks)
    warns = sum(c.status == "WARN" for c in report.checks)
    if not fails and not warns:
        click.echo(f"all {len(report.checks)} checks OK")
    else:
        click.echo(f"{len(report.checks)} checks: {fails} FAIL, {warns} WARN")
