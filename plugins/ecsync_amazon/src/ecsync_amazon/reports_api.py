"""
The FBA inventory report through the Reports API (2021-06-30): find or create -> poll -> document -> download.

For large catalogues: one download instead of a page per 50 SKUs. Amazon regenerates a near-real-time FBA
report at most every 30 minutes and answers FATAL sooner, so a recent report is reused rather than asked for.
"""

from __future__ import annotations

import asyncio
import time

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from ecsync_amazon._spapi import SpApi
from ecsync_amazon._wire import CreateReportResponse, Report, ReportDocument, ReportList, structure
from ecsync_amazon.plugin import CODE, AmazonSettings
from ecsync_amazon.report import parse_report
from ecsync_core.errors import InputError, MallError
from ecsync_core.logging import get_logger
from ecsync_core.pacing import TokenBucket


log = get_logger("ecsync.amazon")

REPORTS = "/reports/2021-06-30/reports"
DOCUMENTS = "/reports/2021-06-30/documents"

WAITING = ("IN_QUEUE", "IN_PROGRESS")


def _published(rate: float, burst: float) -> TokenBucket:
    # One run makes one or two calls of each, far inside these bursts; the buckets only matter when runs
    # follow each other closely, so they stay at the published values (reports_2021-06-30.json).
    return TokenBucket(rate, burst)


class FbaReportSource:
    """SKU -> fulfillable quantity from the newest usable FBA inventory report."""

    def __init__(
        self,
        api: SpApi,
        settings: AmazonSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._api = api
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._list_bucket = _published(0.0222, 10)
        self._create_bucket = _published(0.0167, 15)
        self._get_bucket = _published(2.0, 15)
        self._document_bucket = _published(0.0167, 15)

    async def stock(self) -> dict[str, int]:
        recent = await self._recent()
        # Polled by the id we hold, not the one the answer echoes: Amazon's sandbox answers getReport for
        # ID323 with reportId ReportId1 (recorded).
        report_id = recent.reportId if recent else await self._create()
        report = await self._until_done(report_id, recent or await self._get(report_id))
        assert report.reportDocumentId is not None
        data, charset = await self._download(report.reportDocumentId)
        try:
            return parse_report(data, source=f"FBA inventory report {report_id}", charset=charset)
        except InputError as exc:
            raise MallError(CODE, f"the report cannot be read: {exc.one_line()}") from None

    async def _recent(self) -> Report | None:
        """A report of our type made within the reuse window to use again (see ``reusable``)."""
        minutes = self._settings.report_reuse_minutes
        if minutes <= 0:
            return None
        since = datetime.now(UTC) - timedelta(minutes=minutes)
        params = {
            "reportTypes": self._settings.report_type,
            "processingStatuses": ",".join(("DONE", *WAITING)),
            "marketplaceIds": self._settings.marketplace_id,
            "createdSince": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "pageSize": "10",
        }
        body = await self._api.call("GET", REPORTS, "getReports", self._list_bucket, params=params)
        chosen = reusable(structure(body, ReportList, "getReports").reports)
        if chosen is not None:
            log.info("amazon_report_reused", report_id=chosen.reportId, created=chosen.createdTime)
        return chosen

    async def _create(self) -> str:
        spec = {"reportType": self._settings.report_type, "marketplaceIds": [self._settings.marketplace_id]}
        body = await self._api.call("POST", REPORTS, "createReport", self._create_bucket, body=spec)
        report_id = structure(body, CreateReportResponse, "createReport").reportId
        log.info("amazon_report_requested", report_id=report_id, report_type=self._settings.report_type)
        return report_id

    async def _get(self, report_id: str) -> Report:
        body = await self._api.call("GET", f"{REPORTS}/{report_id}", "getReport", self._get_bucket)
        return structure(body, Report, "getReport")

    async def _until_done(self, report_id: str, report: Report) -> Report:
        deadline = self._clock() + self._settings.report_timeout_s
        while report.processingStatus in WAITING:
            if self._clock() >= deadline:
                raise MallError(
                    CODE,
                    f"FBA inventory report {report_id} still {report.processingStatus} after "
                    f"{self._settings.report_timeout_s:g} s (malls.amazon.report_timeout_s)",
                )
            await self._sleep(self._settings.report_poll_s)
            report = await self._get(report_id)
        if report.processingStatus == "FATAL":
            raise MallError(
                CODE,
                f"Amazon could not make FBA inventory report {report_id} (FATAL). It makes one at most every "
                "30 minutes: run again later, or set malls.amazon.source: api",
            )
        if report.processingStatus != "DONE" or report.reportDocumentId is None:
            raise MallError(
                CODE,
                f"FBA inventory report {report_id} ended {report.processingStatus} without a document "
                "(CANCELLED can mean Amazon had no data); no stock was read",
            )
        return report

    async def _download(self, document_id: str) -> tuple[bytes, str | None]:
        body = await self._api.call("GET", f"{DOCUMENTS}/{document_id}", "getReportDocument", self._document_bucket)
        document = structure(body, ReportDocument, "getReportDocument")
        response = await self._api.download(document.url, f"report document {document_id}")
        charset = response.charset_encoding
        data = response.content
        if (document.compressionAlgorithm or "").upper() == "GZIP" and not data.startswith(b"\x1f\x8b"):
            raise MallError(CODE, f"report document {document_id} is declared GZIP but is not gzip data")
        return data, charset


def reusable(reports: Sequence[Report]) -> Report | None:
    """
    The newest DONE report, else the newest still on its way. A report on its way may yet end FATAL (one asked
    for within 30 minutes of another does, amazon.md §3.2), and a finished one in the window is as good.
    """
    done = [r for r in reports if r.processingStatus == "DONE"]
    return max(done or reports, key=lambda r: r.createdTime, default=None)
