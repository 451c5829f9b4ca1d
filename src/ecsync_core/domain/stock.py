"""
Stock, mappings and the plan: what a sync reads, decides and writes.
"""

from __future__ import annotations

from collections.abc import Sized

import attrs


def counted(values: Sized) -> str:
    """
    A collection's repr as its size, for the fields that hold one entry per SKU.

    asyncio's SIGINT handling reprs the finished main task, result and all: a 100,000-SKU plan printed in
    full cost half a second of every sync, and the same wall of text in a notebook.
    """
    return f"<{len(values)}>"


MAX_QUANTITY = 999_999_999
"""
The most stock one item can hold: Yahoo's setStock limit, and within the ledger's whole numbers. A source that
reports more for a SKU is broken, not rich.
"""


@attrs.frozen
class Mapping:
    """One master-sheet cell: an Amazon SKU sold on *mall* as *item*."""

    sku: str
    mall: str
    item: str
    active: bool = True


@attrs.frozen
class SourceSnapshot:
    """
    Amazon's fulfillable quantity of every SKU FBA lists.

    Attributes:
        quantities: SKU -> fulfillable quantity, quantity 0 included.
        origin: where it came from ("api", or the report file's path).
    """

    quantities: dict[str, int]
    origin: str = "api"


@attrs.frozen
class PlannedUpdate:
    """
    One mall item in a plan.

    Attributes:
        before: what the mall holds now; ``None`` when the mall did not return the item.
        target: what the rule gives it.
    """

    sku: str
    mall: str
    item: str
    amazon_qty: int
    before: int | None
    target: int

    @property
    def changes(self) -> bool:
        return self.before != self.target


@attrs.frozen
class StockWrite:
    """An absolute quantity to set on one mall item."""

    item: str
    quantity: int


@attrs.frozen
class ItemResult:
    """
    What a mall said about one written item. A failure is data, not an exception.
    """

    item: str
    ok: bool
    error: str | None = None


@attrs.frozen
class CredentialStatus:
    """
    One credential as health reports it.

    Attributes:
        name: what it is ("refresh token", "license key").
        days_left: whole days until it expires, ``None`` when unknown: 0 on its last day (it still works),
            negative once expired.
        action: what the operator must do to renew it.
        warn_days: health warns when *days_left* is at or below this (the plugin's setting); ``None``: its
            own default.
        expires_unknown: it does expire, but the date it would be counted from is missing (*days_left* is
            ``None``): health warns, since no countdown can warn in time. Leave it off for a credential with
            no expiry at all.
    """

    name: str
    days_left: int | None
    action: str = ""
    warn_days: int | None = None
    expires_unknown: bool = False
