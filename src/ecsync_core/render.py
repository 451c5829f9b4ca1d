"""
Human output of the CLI. Pure formatting: everything here takes data and writes text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click


if TYPE_CHECKING:
    from ecsync_core.services.governance import RuleStatus
    from ecsync_core.services.simulate import Simulation


def local_time(at: datetime | None, zone: ZoneInfo) -> str:
    """A stored (naive UTC) time in the configured zone, to the second."""
    if at is None:
        return "-"
    return at.replace(tzinfo=UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain aligned table: it reads the same in a terminal, a cron mail and a log."""
    cells = [[str(h) for h in headers], *[["-" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        click.echo(
            "  ".join(
                c.rjust(w) if c.lstrip("-").isdigit() else c.ljust(w) for c, w in zip(row, widths, strict=True)
            ).rstrip()
        )
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))


def render_simulation(sim: Simulation) -> None:
    has_sku = any(r.sku is not None for r in sim.rows)
    has_proposed = sim.proposed_fingerprint is not None
    headers = (["sku"] if has_sku else []) + ["amazon_qty", *sim.malls]
    if has_proposed:
        headers += [f"{m} (proposed)" for m in sim.malls] + ["changed"]
    rows = []
    for r in sim.rows:
        row: list[Any] = ([r.sku] if has_sku else []) + [r.amazon_qty, *(r.malls[m] for m in sim.malls)]
        if r.proposed is not None:
            row += [r.proposed[m] for m in sim.malls] + ["*" if r.changed else ""]
        rows.append(row)
    table(headers, rows)
    for mall, edges in sim.edges.items():
        shown = ", ".join(f"{q} -> {a} but {q + 1} -> {b}" for q, a, b in edges)
        click.echo(f"note: {mall}'s rule gives less for more at the tier edges: {shown}")
    if has_proposed:
        click.echo(
            f"{len(sim.changed)} of {len(sim.rows)} rows would change under the proposed rules "
            f"({sim.proposed_fingerprint}, today {sim.rule_fingerprint})"
        )


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


def render_rules(status: RuleStatus) -> None:
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
        state = f"approved by {status.approved_by} at {status.approved_at} UTC"
    else:
        state = "NOT approved: live syncs are refused until `ecsync rules approve --by NAME`"
    click.echo(f"fingerprint {rules.fingerprint}: {state}")
