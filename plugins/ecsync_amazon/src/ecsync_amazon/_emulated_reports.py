"""
The emulator's Reports API (2021-06-30) for FBA inventory reports, and the pre-signed document downloads.

createReport -> getReport (IN_QUEUE, IN_PROGRESS, then DONE or FATAL) -> getReportDocument -> download, as
amazon.md §3 tells it: a second report of a type within 30 minutes ends FATAL; the document is a gzipped
cp932 TSV by default; the download URL needs no SP-API headers and expires after 5 minutes.
"""

from __future__ import annotations

import gzip
import json
import secrets

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import attrs

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ecsync_amazon._emulated_common import DOCUMENTS, REPORTS, catalogue, iso, respond, sp_error
from ecsync_amazon._wire import CreateReportResponse, Report, ReportDocument, ReportList, unstructure
from ecsync_amazon.report import codec


SUPPORTED = ("GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA", "GET_FBA_MYI_ALL_INVENTORY_DATA")
DOWNLOADS = "/report-downloads"
"""Stands for the pre-signed S3 URL, which is on another host in reality."""

COLUMNS = (
    "sku", "fnsku", "asin", "product-name", "condition", "your-price", "mfn-listing-exists",
    "mfn-fulfillable-quantity", "afn-listing-exists", "afn-warehouse-quantity", "afn-fulfillable-quantity",
    "afn-unsellable-quantity", "afn-reserved-quantity", "afn-total-quantity", "per-unit-volume",
    "afn-inbound-working-quantity", "afn-inbound-shipped-quantity", "afn-inbound-receiving-quantity",
    "afn-researching-quantity", "afn-reserved-future-supply", "afn-future-supply-buyable",
)  # fmt: skip

NINETY_DAYS = timedelta(days=90).total_seconds()

Authorize = Callable[[Request], Response | None]


@attrs.define
class _Made:
    report_id: str
    report_type: str
    marketplaces: list[str]
    created: float
    stock: dict[str, int]
    doomed: bool
    document_id: str | None = None


@attrs.define
class _Link:
    document_id: str
    issued: float
    gzipped: bool


def inventory_tsv(stock: dict[str, int]) -> str:
    """The MYI report's TSV for *stock*: header row, one row per SKU, quantities that add up as Amazon's do."""
    lines = ["\t".join(COLUMNS)]
    for sku in sorted(stock):
        q = stock[sku]
        facts = catalogue(sku)
        warehouse = q + facts.reserved
        row = (
            sku, facts.fnsku, facts.asin, facts.product_name, "New", "1980", "No", "", "Yes", warehouse, q, 0,
            facts.reserved, warehouse + facts.inbound, "0.12", 0, facts.inbound, 0, 0, 0, 0,
        )  # fmt: skip
        lines.append("\t".join(map(str, row)))
    return "\n".join(lines) + "\n"


class ReportsDesk:
    """
    Reports for one seller in one marketplace.

    Attributes:
        processing_s: seconds from createReport to DONE (a third IN_QUEUE, the rest IN_PROGRESS).
        regeneration_s: a report of the same type asked for sooner than this after the last ends FATAL.
        gzip: documents are gzipped (``compressionAlgorithm: GZIP``).
        charset: the documents' encoding; UTF-8 when a SKU cannot be written in it.
        url_ttl_s: life of a download URL.
    """

    def __init__(self, marketplace: str, stock: Callable[[], dict[str, int]], clock: Callable[[], float]) -> None:
        self.processing_s = 3.0
        self.regeneration_s = 1800.0
        self.gzip = True
        self.charset = "windows-31j"
        self.url_ttl_s = 300.0
        self._marketplace = marketplace
        self._stock = stock
        self._clock = clock
        self._made: dict[str, _Made] = {}
        self._documents: dict[str, str] = {}
        self._links: dict[str, _Link] = {}

    @property
    def made(self) -> int:
        """How many reports were asked for (createReport calls that were accepted)."""
        return len(self._made)

    def routes(self, authorize: Authorize) -> list[BaseRoute]:
        self._authorize = authorize
        return [
            Route(REPORTS, self._create, methods=["POST"]),
            Route(REPORTS, self._list, methods=["GET"]),
            Route(REPORTS + "/{reportId}", self._get, methods=["GET"]),
            Route(DOCUMENTS + "/{documentId}", self._document, methods=["GET"]),
            Route(DOWNLOADS + "/{documentId}", self._download, methods=["GET"]),
        ]

    async def _create(self, request: Request) -> Response:
        if refused := self._authorize(request):
            return refused
        try:
            spec = json.loads(await request.body())
        except ValueError:
            return _invalid("The request body is not valid JSON.")
        if not isinstance(spec, dict) or spec.get("reportType") not in SUPPORTED:
            return _invalid(f"reportType must be one of {', '.join(SUPPORTED)}.")
        markets = spec.get("marketplaceIds")
        if not isinstance(markets, list) or not 1 <= len(markets) <= 25 or markets != [self._marketplace]:
            return _invalid(f"marketplaceIds must be [{self._marketplace!r}] for this seller.")
        now = self._clock()
        doomed = any(
            m.report_type == spec["reportType"] and not m.doomed and now - m.created < self.regeneration_s
            for m in self._made.values()
        )
        report_id = f"{secrets.randbelow(10**11):011d}"
        self._made[report_id] = _Made(report_id, spec["reportType"], markets, now, self._stock(), doomed)
        return respond(unstructure(CreateReportResponse(report_id)), 202)

    async def _list(self, request: Request) -> Response:
        if refused := self._authorize(request):
            return refused
        q = request.query_params
        types = [t for t in q.get("reportTypes", "").split(",") if t]
        if not types:
            return _invalid("reportTypes is required unless nextToken is given.")
        statuses = [s for s in q.get("processingStatuses", "").split(",") if s]
        markets = [m for m in q.get("marketplaceIds", "").split(",") if m]
        try:
            size = int(q.get("pageSize", "10"))
        except ValueError:
            size = 0
        if not 1 <= size <= 100:
            return _invalid("pageSize must be between 1 and 100.")
        now = self._clock()
        since = _timestamp(q.get("createdSince")) or now - NINETY_DAYS
        until = _timestamp(q.get("createdUntil")) or now
        found = [
            self._report(m)
            for m in sorted(self._made.values(), key=lambda m: m.created, reverse=True)
            if m.report_type in types
            and since <= m.created <= until
            and (not markets or set(markets) & set(m.marketplaces))
        ]
        found = [r for r in found if not statuses or r.processingStatus in statuses]
        # A seller never has more than a page of these here, so no nextToken is ever issued.
        return respond(unstructure(ReportList(found[:size])))

    async def _get(self, request: Request) -> Response:
        if refused := self._authorize(request):
            return refused
        made = self._made.get(request.path_params["reportId"])
        if made is None:
            return _invalid("No report with this reportId.")
        return respond(unstructure(self._report(made)))

    async def _document(self, request: Request) -> Response:
        if refused := self._authorize(request):
            return refused
        document_id = request.path_params["documentId"]
        if document_id not in self._documents:
            return _invalid("No report document with this reportDocumentId.")
        now = self._clock()
        signature = secrets.token_hex(16)
        self._links[signature] = _Link(document_id, now, self.gzip)
        base = str(request.base_url).rstrip("/")
        url = (
            f"{base}{DOWNLOADS}/{document_id}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={iso(now, millis=False)}"
            f"&X-Amz-Expires={int(self.url_ttl_s)}&X-Amz-Signature={signature}"
        )
        document = ReportDocument(document_id, url, "GZIP" if self.gzip else None)
        return respond(unstructure(document))

    async def _download(self, request: Request) -> Response:
        link = self._links.get(request.query_params.get("X-Amz-Signature", ""))
        document_id = request.path_params["documentId"]
        if link is None or link.document_id != document_id:
            return _s3_denied("SignatureDoesNotMatch", "The request signature we calculated does not match.")
        if self._clock() - link.issued > self.url_ttl_s:
            return _s3_denied("AccessDenied", "Request has expired")
        text = self._documents[document_id]
        try:
            data, charset = text.encode(codec(self.charset)), self.charset
        except UnicodeEncodeError:
            data, charset = text.encode("utf-8"), "UTF-8"
        if link.gzipped:
            data = gzip.compress(data)
        return Response(data, 200, media_type=f"text/plain;charset={charset}")

    def _report(self, made: _Made) -> Report:
        age = self._clock() - made.created
        if age < self.processing_s / 3:
            status = "IN_QUEUE"
        elif age < self.processing_s:
            status = "IN_PROGRESS"
        else:
            status = "FATAL" if made.doomed else "DONE"
        if status == "DONE" and made.document_id is None:
            made.document_id = f"amzn1.spdoc.1.4.fe.{secrets.token_hex(16)}"
            self._documents[made.document_id] = inventory_tsv(made.stock)
        started = status != "IN_QUEUE"
        ended = status in ("DONE", "FATAL")
        return Report(
            reportId=made.report_id,
            reportType=made.report_type,
            processingStatus=status,
            createdTime=iso(made.created),
            marketplaceIds=made.marketplaces,
            dataStartTime=iso(made.created),
            dataEndTime=iso(made.created),
            processingStartTime=iso(made.created + self.processing_s / 3) if started else None,
            processingEndTime=iso(made.created + self.processing_s) if ended else None,
            reportDocumentId=made.document_id if status == "DONE" else None,
        )


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _invalid(details: str) -> Response:
    # The Reports API's recorded 400s say code "400" (an HTTP status, not a symbolic code).
    return sp_error(400, "400", "Invalid input", details)


def _s3_denied(code: str, message: str) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return Response(body, 403, media_type="application/xml")
