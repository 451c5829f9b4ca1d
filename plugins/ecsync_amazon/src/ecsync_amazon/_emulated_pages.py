"""
getInventorySummaries pages for the emulator: the wire model says what a page is; a template cut from it once
writes the same text fast.

Unstructuring and dumping 50 full summaries costs ~5 ms, as long as the gap between pages at ``--speed 100``;
the emulator would then measure itself, not the adapter. ``page_json`` gives the text of ``page_model``
byte for byte (a test compares them on arbitrary SKUs).
"""

from __future__ import annotations

import functools
import json
import re

from collections.abc import Callable, Sequence
from json.encoder import encode_basestring

import attrs

from ecsync_amazon._wire import (
    Granularity,
    InventoryDetails,
    InventorySummariesResponse,
    InventorySummariesResult,
    InventorySummary,
    Pagination,
    ResearchingQuantity,
    ResearchingQuantityEntry,
    ReservedQuantity,
    UnfulfillableQuantity,
    unstructure,
)


dumps = functools.partial(json.dumps, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
"""JSON text exactly as Starlette's JSONResponse writes it."""


@attrs.frozen
class Row:
    """What one summary says about one SKU."""

    sku: str
    asin: str
    fnsku: str
    name: str
    updated: str
    fulfillable: int
    inbound: int
    reserved: int

    @property
    def total(self) -> int:
        # Inbound and reserved units make the total differ from what can ship now, as in Amazon's data.
        return self.fulfillable + self.inbound + self.reserved


def summary(row: Row, details: bool) -> InventorySummary:
    return InventorySummary(
        asin=row.asin,
        fnSku=row.fnsku,
        sellerSku=row.sku,
        condition="NewItem",
        inventoryDetails=_details(row) if details else None,
        lastUpdatedTime=row.updated,
        productName=row.name,
        totalQuantity=row.total,
    )


def page_model(
    rows: Sequence[Row], details: bool, next_token: str | None, marketplace: str
) -> InventorySummariesResponse:
    return InventorySummariesResponse(
        pagination=Pagination(next_token) if next_token else None,
        payload=InventorySummariesResult(Granularity("Marketplace", marketplace), [summary(r, details) for r in rows]),
    )


def page_json(rows: Sequence[Row], details: bool, next_token: str | None, marketplace: str) -> str:
    head, tail = _envelope(next_token is not None, marketplace)
    token = dumps(next_token) if next_token is not None else ""
    return head.replace(_TOKEN_MARK, token) + ",".join(_writer(details)(r) for r in rows) + tail


def _details(row: Row) -> InventoryDetails:
    return InventoryDetails(
        fulfillableQuantity=row.fulfillable,
        inboundWorkingQuantity=0,
        inboundShippedQuantity=row.inbound,
        inboundReceivingQuantity=0,
        reservedQuantity=ReservedQuantity(row.reserved, row.reserved, 0, 0),
        researchingQuantity=ResearchingQuantity(
            0, [ResearchingQuantityEntry(f"researchingQuantityIn{term}Term", 0) for term in ("Short", "Mid", "Long")]
        ),
        unfulfillableQuantity=UnfulfillableQuantity(0, 0, 0, 0, 0, 0, 0),
    )


# Private-use characters and impossible quantities mark where each value lands in the model's text.
_MARKS = Row("\ue000", "\ue001", "\ue002", "\ue003", "\ue004", -9001, -9002, -9003)
_text = encode_basestring  # what dumps() does with a str when ensure_ascii is off, in C
_FILL: dict[str, Callable[[Row], str]] = {
    dumps("\ue000"): lambda r: _text(r.sku),
    dumps("\ue001"): lambda r: _text(r.asin),
    dumps("\ue002"): lambda r: _text(r.fnsku),
    dumps("\ue003"): lambda r: _text(r.name),
    dumps("\ue004"): lambda r: _text(r.updated),
    "-9001": lambda r: str(r.fulfillable),
    "-9002": lambda r: str(r.inbound),
    "-9003": lambda r: str(r.reserved),
    str(_MARKS.total): lambda r: str(r.total),
}
_MARK = re.compile("|".join(sorted(map(re.escape, _FILL), key=len, reverse=True)))
_TOKEN_MARK = "\ue010"
_LIST = '"inventorySummaries":[]'


@functools.cache
def _writer(details: bool) -> Callable[[Row], str]:
    """One summary's text as a %-template cut from the model, and the values in the template's order."""
    fills: list[Callable[[Row], str]] = []

    def slot(found: re.Match[str]) -> str:
        fills.append(_FILL[found.group()])
        return "%s"

    template = _MARK.sub(slot, dumps(unstructure(summary(_MARKS, details))).replace("%", "%%"))

    def write(row: Row) -> str:
        return template % tuple([fill(row) for fill in fills])

    return write


@functools.cache
def _envelope(more: bool, marketplace: str) -> tuple[str, str]:
    text = dumps(unstructure(page_model([], False, _TOKEN_MARK if more else None, marketplace)))
    head, tail = text.split(_LIST)
    return head.replace(dumps(_TOKEN_MARK), _TOKEN_MARK) + _LIST[:-1], "]" + tail
