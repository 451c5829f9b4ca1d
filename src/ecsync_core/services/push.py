"""
Writing to a mall and believing only what reads back: shared by the sync and the rollback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from ecsync_core.domain import Counts, Outcome, PlannedUpdate, RunItem, StockWrite
from ecsync_core.errors import MallError
from ecsync_core.ports import MallInventory


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


def item(run_id: str, u: PlannedUpdate, after: int | None, error: str | None) -> RunItem:
    """The ledger's record of one update: "ok" exactly when there is no error."""
    outcome = "failed" if error else "ok"
    return RunItem(run_id, u.sku, u.mall, u.item, u.amazon_qty, u.before, u.target, after, outcome, error)


async def push(run_id: str, adapter: MallInventory, updates: Sequence[PlannedUpdate], name: str) -> Pushed:
    """
    Write *updates* to one mall, read them back, and judge each item by what the mall holds after.

    Both malls accept unknown item codes without an error, so a write is believed only when the read-back
    shows the value sent.

    Args:
        name: the mall's name for people, in the errors ("item code not found on 楽天市場").
    """
    try:
        results = await adapter.write([StockWrite(u.item, u.target) for u in updates])
    except MallError as exc:
        return Pushed(
            [item(run_id, u, None, f"{name}: {exc.message}") for u in updates], f"write failed: {exc.message}"
        )
    refused = {r.item: r.error or "refused by the mall" for r in results if not r.ok}
    try:
        after = (await adapter.read([u.item for u in updates])).quantities
    except MallError as exc:
        reason = f"read-back failed: {exc.message}"
        return Pushed([item(run_id, u, None, refused.get(u.item, reason)) for u in updates], reason)
    out = []
    for u in updates:
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
    return Pushed(out)


def outcome_of(counts: Counts, mall_errors: Mapping[str, str]) -> Outcome:
    """A run that wrote: SUCCESS when nothing failed, FAILED when nothing succeeded, PARTIAL between."""
    if counts.failed == 0 and not mall_errors:
        return Outcome.SUCCESS
    if counts.succeeded == 0 and counts.updates > 0:
        return Outcome.FAILED
    return Outcome.PARTIAL


def summary(mall_errors: Mapping[str, str]) -> str:
    """The malls that failed as a whole, in one line for the ledger and the alert."""
    return "; ".join(f"{m}: {e}" for m, e in sorted(mall_errors.items()))
