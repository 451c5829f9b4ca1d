"""
SP-API and LWA payloads as private attrs classes, and the one converter that reads and writes them.

Field names are the JSON keys (camelCase on purpose: these classes *are* the wire format). The adapter
structures answers with them; the emulator unstructures its answers from them, so both speak one shape.
Unknown keys are tolerated on reading (Amazon adds fields: ``stores`` in 2024, ``futureSupplyQuantity``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import cattrs

from cattrs.cols import is_sequence, list_structure_factory

from ecsync_core.errors import MallError


T = TypeVar("T")


@attrs.frozen(kw_only=True)
class Error:
    """One entry of SP-API's ``errors`` list (key order as Amazon's recorded bodies: message, code)."""

    message: str = ""
    code: str
    details: str | None = None


@attrs.frozen
class ErrorList:
    errors: list[Error]


@attrs.frozen
class Granularity:
    granularityType: str | None = None
    granularityId: str | None = None


@attrs.frozen
class ReservedQuantity:
    totalReservedQuantity: int | None = None
    pendingCustomerOrderQuantity: int | None = None
    pendingTransshipmentQuantity: int | None = None
    fcProcessingQuantity: int | None = None


@attrs.frozen
class ResearchingQuantityEntry:
    name: str
    quantity: int


@attrs.frozen
class ResearchingQuantity:
    totalResearchingQuantity: int | None = None
    researchingQuantityBreakdown: list[ResearchingQuantityEntry] | None = None


@attrs.frozen
class UnfulfillableQuantity:
    totalUnfulfillableQuantity: int | None = None
    customerDamagedQuantity: int | None = None
    warehouseDamagedQuantity: int | None = None
    distributorDamagedQuantity: int | None = None
    carrierDamagedQuantity: int | None = None
    defectiveQuantity: int | None = None
    expiredQuantity: int | None = None


@attrs.frozen
class InventoryDetails:
    fulfillableQuantity: int | None = None
    inboundWorkingQuantity: int | None = None
    inboundShippedQuantity: int | None = None
    inboundReceivingQuantity: int | None = None
    reservedQuantity: ReservedQuantity | None = None
    researchingQuantity: ResearchingQuantity | None = None
    unfulfillableQuantity: UnfulfillableQuantity | None = None


@attrs.frozen
class InventorySummary:
    asin: str | None = None
    fnSku: str | None = None
    sellerSku: str | None = None
    condition: str | None = None
    inventoryDetails: InventoryDetails | None = None
    lastUpdatedTime: str | None = None
    productName: str | None = None
    totalQuantity: int | None = None
    stores: list[str] | None = None


@attrs.frozen
class InventorySummariesResult:
    granularity: Granularity
    inventorySummaries: list[InventorySummary]


@attrs.frozen
class Pagination:
    nextToken: str | None = None


@attrs.frozen
class InventorySummariesResponse:
    """getInventorySummaries; ``pagination`` is a sibling of ``payload``, absent on the last page."""

    pagination: Pagination | None = None
    payload: InventorySummariesResult | None = None
    errors: list[Error] | None = None


@attrs.frozen
class ListedDetails:
    fulfillableQuantity: int | None = None


@attrs.frozen
class ListedSummary:
    asin: str | None = None
    sellerSku: str | None = None
    inventoryDetails: ListedDetails | None = None


@attrs.frozen
class ListedPayload:
    inventorySummaries: list[ListedSummary]


@attrs.frozen
class ListedPage:
    """
    A getInventorySummaries page as the adapter reads it: only the keys it uses.

    The full model above costs ~10x more to structure (every quantity bucket of every SKU), which at a page
    every 5 ms (a listing at --speed 100) is most of the time there is; the other keys are not read anyway.
    """

    pagination: Pagination | None = None
    payload: ListedPayload | None = None


class UnreadPageError(Exception):
    """The fast reader declines a page; the caller reads it through the models, which name the fault."""


def put_listed(into: dict[str, int], clashes: dict[str, set[int]], sku: str, quantity: int) -> None:
    """
    One listed SKU into *into*; a SKU listed again with another quantity goes in *clashes* with both numbers.

    Amazon's pages have been inconsistent across one listing (amazon.md §1.3): the last copy is not more
    likely right than the first, so neither is chosen here.
    """
    held = into.get(sku, quantity)
    if held != quantity:
        clashes.setdefault(sku, {held}).add(quantity)
    into[sku] = quantity


def read_listed_page(body: Any, into: dict[str, int], clashes: dict[str, set[int]]) -> str | None:
    """
    Put a getInventorySummaries page's ``sellerSku: fulfillableQuantity`` pairs in *into* (through
    ``put_listed``, so a SKU listed twice with two numbers lands in *clashes*); its nextToken.

    The plain-dict twin of structuring ``ListedPage`` and reading every summary's SKU and quantity: cattrs
    spent ~0.5 ms a page of 50 (a tenth of the client's CPU in a 2,000-page listing) checking types that
    JSON already gives. It accepts only what that road accepts with the same result, and raises
    ``UnreadPageError`` for anything else (a wrong type anywhere, no payload, a summary without SKU or
    quantity), so the caller reads that page through ``structure`` and says what is wrong where. Entries put
    in *into* before declining are the ones the slow road writes again, or throws away with its error.

    Raises:
        UnreadPageError: the page is not plainly well formed.
    """
    if type(body) is not dict:
        raise UnreadPageError
    pagination = body.get("pagination")
    token = None
    if pagination is not None:
        if type(pagination) is not dict:
            raise UnreadPageError
        token = pagination.get("nextToken")
        if token is not None and type(token) is not str:
            raise UnreadPageError
    payload = body.get("payload")
    if type(payload) is not dict:
        raise UnreadPageError
    summaries = payload.get("inventorySummaries")
    if type(summaries) is not list:
        raise UnreadPageError
    for summary in summaries:
        if type(summary) is not dict:
            raise UnreadPageError
        sku = summary.get("sellerSku")
        details = summary.get("inventoryDetails")
        asin = summary.get("asin")
        if not sku or type(sku) is not str or type(details) is not dict or (asin is not None and type(asin) is not str):
            raise UnreadPageError
        quantity = details.get("fulfillableQuantity")
        if type(quantity) is not int:  # bool is not int here, as _strict_int refuses it
            raise UnreadPageError
        put_listed(into, clashes, sku, quantity)
    return token


@attrs.frozen
class LwaToken:
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str | None = None


@attrs.frozen
class LwaError:
    """LWA speaks OAuth, not SP-API: ``error`` / ``error_description``."""

    error: str
    error_description: str = ""


@attrs.frozen
class CreateReportResponse:
    reportId: str


@attrs.frozen
class Report:
    """Reports API 2021-06-30 ``Report`` (no ``payload`` wrapper in this version)."""

    reportId: str
    reportType: str
    processingStatus: str
    createdTime: str
    marketplaceIds: list[str] | None = None
    dataStartTime: str | None = None
    dataEndTime: str | None = None
    reportScheduleId: str | None = None
    processingStartTime: str | None = None
    processingEndTime: str | None = None
    reportDocumentId: str | None = None


@attrs.frozen
class ReportList:
    reports: list[Report]
    nextToken: str | None = None


@attrs.frozen
class ReportDocument:
    reportDocumentId: str
    url: str
    compressionAlgorithm: str | None = None


def _strict_int(value: object, _type: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"expected a whole number, got {value!r}"
        raise TypeError(msg)
    return value


def _strict_str(value: object, _type: object) -> str:
    if not isinstance(value, str):
        msg = f"expected text, got {value!r}"
        raise TypeError(msg)
    return value


def _make_converter() -> cattrs.Converter:
    # omit_if_default: absent keys stay absent when the emulator writes (inventoryDetails without
    # details=true, pagination on the last page), as Amazon leaves them out rather than sending null.
    conv = cattrs.Converter(omit_if_default=True)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook_factory(is_sequence, _strict_list)
    return conv


def _strict_list(cls: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """A JSON array and nothing else: cattrs would read ``{}`` (or any iterable) as a list, so as no items."""
    items = list_structure_factory(cls, conv)

    def structure_list(value: Any, type_: Any) -> Any:
        if not isinstance(value, list):
            msg = f"expected a list, got {type(value).__name__}"
            raise TypeError(msg)
        return items(value, type_)

    return structure_list


CONVERTER = _make_converter()


def structure(data: Any, cls: type[T], what: str) -> T:
    """
    *data* as *cls*, or a MallError naming *what* answered and the first place the shape is wrong.

    An answer we cannot read is not retried: the same request would get the same answer.
    """
    try:
        return CONVERTER.structure(data, cls)
    except Exception as exc:  # cattrs groups every problem; the first one, located, is enough
        problems = cattrs.transform_error(exc) if isinstance(exc, cattrs.BaseValidationError) else [str(exc)]
        raise MallError("amazon", f"{what} answered in an unexpected shape: {problems[0]}") from None


def unstructure(value: object) -> Any:
    return CONVERTER.unstructure(value)
