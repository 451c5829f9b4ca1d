"""
The Amazon adapter: FBA fulfillable stock for Japan from SP-API, all of it or nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

import httpx

from ecsync_amazon._spapi import CallStats, InvalidInputError, NextTokenRefusedError, SpApi
from ecsync_amazon._wire import ListedPage, ListedSummary, UnreadPageError, put_listed, read_listed_page, structure
from ecsync_amazon.auth import RENEW_REFRESH_TOKEN, LwaAuth, client_secret_status
from ecsync_amazon.plugin import CODE, AmazonSettings
from ecsync_amazon.reports_api import FbaReportSource
from ecsync_core.domain import CredentialStatus
from ecsync_core.errors import MallError
from ecsync_core.logging import get_logger
from ecsync_core.mall import MallContext, shared_tls
from ecsync_core.pacing import TokenBucket


log = get_logger("ecsync.amazon")

SUMMARIES = "/fba/inventory/v1/summaries"
OP = "getInventorySummaries"


def build_client(context: MallContext) -> FbaInventoryClient:
    """The adapter for *context* (the descriptor's ``make_adapter``)."""
    settings: AmazonSettings = context.settings
    http = httpx.AsyncClient(transport=context.transport, verify=shared_tls(), timeout=settings.timeout_s)
    auth = LwaAuth(http, settings.token_url, context.secrets, margin_s=settings.token_margin_s)
    return FbaInventoryClient(http, auth, settings, context.secrets)


class FbaInventoryClient:
    """
    ``StockSource`` over SP-API's FBA Inventory API (getInventorySummaries), or its Reports API.

    Attributes:
        stats: what the calls met (429s, 5xx, token refusals, listing restarts).
    """

    def __init__(
        self, http: httpx.AsyncClient, auth: LwaAuth, settings: AmazonSettings, secrets: Mapping[str, str] | None = None
    ) -> None:
        self._http = http
        self._auth = auth
        self._settings = settings
        self._secrets = secrets or {}
        self.stats = CallStats()
        self._api = SpApi(http, auth, settings.endpoint, self.stats, next_token_refused=settings.next_token_refused)
        self._bucket = TokenBucket(settings.rate, settings.burst)
        self._reports = FbaReportSource(self._api, settings)

    async def snapshot(self) -> dict[str, int]:
        """Every SKU FBA lists for Japan with its fulfillable quantity; every page, or a MallError."""
        if self._settings.source == "report":
            return await self._reports.stock()
        try:
            stock, clashes = await self._listing({}, "listing")
        except InvalidInputError as exc:
            # The full listing's query is always the same, so a 400 on it is rarely about the query.
            raise MallError(CODE, f"{exc.message}. {NO_FBA_SKUS_HINT}") from exc
        if clashes:
            stock.update(await self._settle(clashes))
        log.info("amazon_listing", skus=len(stock), requests=self.stats.requests, throttled=self.stats.throttled)
        return stock

    async def lookup(self, skus: Sequence[str]) -> dict[str, int]:
        """
        Ask FBA for *skus* by name, 50 a call; the SKUs FBA does not know are absent from the answer.

        A SKU with a comma goes alone through ``sellerSku``: Amazon cannot tell ``%2C`` from the comma
        that separates ``sellerSkus``.
        """
        wanted = list(dict.fromkeys(skus))
        plain = [s for s in wanted if "," not in s]
        size = self._settings.lookup_batch
        queries = [{"sellerSkus": ",".join(plain[i : i + size])} for i in range(0, len(plain), size)]
        queries += [{"sellerSku": s} for s in wanted if "," in s]
        found: dict[str, int] = {}
        for query in queries:
            answer, clashes = await self._listing(query, "lookup")
            if clashes:
                raise MallError(
                    CODE, f"FBA answered {_clashing(clashes)}, asked by name: no number is used, the run stops"
                )
            found.update(answer)
        return {s: found[s] for s in wanted if s in found}

    async def _settle(self, clashes: dict[str, set[int]]) -> dict[str, int]:
        """
        The SKUs a listing gave twice with two numbers, asked again by name: FBA's answer then is the one used.
        One it no longer knows, or answers twice again, stops the run, as a page missing would.
        """
        log.warning("amazon_listing_clash", skus=len(clashes), first=_clashing(clashes))
        again = await self.lookup(list(clashes))
        if gone := [s for s in clashes if s not in again]:
            raise MallError(
                CODE,
                f"FBA listed {_clashing({s: clashes[s] for s in gone})}, then asked by name did not know it: "
                "the run stops",
            )
        return again

    async def credentials(self) -> list[CredentialStatus]:
        """
        The refresh token has no expiry date (only its action is shown); the client secret lapses 180 days after
        it was made, counted from ``AMAZON_LWA_CLIENT_SECRET_ISSUED``. No call is made.
        """
        s = self._settings
        return [
            CredentialStatus(
                "LWA refresh token", None, f"no expiry date; when LWA answers invalid_grant, {RENEW_REFRESH_TOKEN}"
            ),
            # Today in Japan, where the operator and the 04:00 run are: a UTC host is still on yesterday then.
            client_secret_status(self._secrets, s.client_secret_days, s.client_secret_warn_days, _today_jst()),
        ]

    async def ping(self) -> str:
        """One page of the listing: proves the LWA credentials, the role and the marketplace."""
        page = await self._page(self._query({}))
        count = len(page.payload.inventorySummaries) if page.payload else 0
        more = ", more pages follow" if page.pagination and page.pagination.nextToken else ""
        return f"{OP} answered for marketplace {self._settings.marketplace_id}: {count} SKUs on the first page{more}"

    async def aclose(self) -> None:
        await self._http.aclose()

    def _query(self, selection: Mapping[str, str]) -> dict[str, str]:
        market = self._settings.marketplace_id
        base = {"details": "true", "granularityType": "Marketplace", "granularityId": market, "marketplaceIds": market}
        return {**base, **selection}

    async def _listing(self, selection: Mapping[str, str], what: str) -> tuple[dict[str, int], dict[str, set[int]]]:
        """
        All pages of one query, and the SKUs listed twice with two numbers; a refused nextToken starts it over,
        a bounded number of times.
        """
        query = self._query(selection)
        tries = self._settings.listing_restarts + 1
        for n in range(1, tries + 1):
            try:
                return await self._all_pages(query)
            except NextTokenRefusedError as exc:
                if n == tries:
                    raise MallError(
                        CODE,
                        f"FBA {what} abandoned: {exc.message}, {tries} times in a row (tokens live 30 s). "
                        "No partial listing is used; the run stops",
                    ) from exc
                self.stats.restarts += 1
                log.warning("amazon_listing_restarted", what=what, reason=exc.message, attempt=n + 1)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _all_pages(self, query: Mapping[str, str]) -> tuple[dict[str, int], dict[str, set[int]]]:
        # Pages are fetched back to back (paced, never parked): the nextToken dies 30 s after it is issued.
        found: dict[str, int] = {}
        clashes: dict[str, set[int]] = {}
        token: str | None = None
        seen: set[str] = set()
        while True:
            # The body goes out of scope here, so it is not kept while the next one is read.
            token = _read_page(
                await self._api.call("GET", SUMMARIES, OP, self._bucket, params=_next(query, token)), found, clashes
            )
            if not token:
                return found, clashes
            if token in seen:
                # Amazon once answered pages with a constant nextToken (amazon.md §1.3): that listing would run
                # forever, holding the run lock, and no page after it can be trusted to be the rest.
                raise MallError(
                    CODE,
                    f"{OP} answered a nextToken it had already given after {len(seen) + 1} pages: the listing "
                    "loops on Amazon's side; no partial listing is used, the run stops",
                )
            seen.add(token)

    async def _page(self, query: Mapping[str, str]) -> ListedPage:
        body = await self._api.call("GET", SUMMARIES, OP, self._bucket, params=query)
        return _structure_page(body)


NO_FBA_SKUS_HINT = (
    "Amazon answers this when the seller account holds no FBA SKUs in this marketplace (amazon.md §1.5): "
    "check marketplace_id, and that the account has FBA stock"
)


def _next(query: Mapping[str, str], token: str | None) -> Mapping[str, str]:
    return {**query, "nextToken": token} if token else query


def _read_page(body: object, into: dict[str, int], clashes: dict[str, set[int]]) -> str | None:
    try:
        return read_listed_page(body, into, clashes)
    except UnreadPageError:
        # Not plainly well formed: the models read it, and raise a located MallError.
        return _read_slowly(body, into, clashes)


def _structure_page(body: object) -> ListedPage:
    page = structure(body, ListedPage, OP)
    if page.payload is None:
        raise MallError(CODE, f"{OP} answered 200 without a payload")
    return page


def _read_slowly(body: object, into: dict[str, int], clashes: dict[str, set[int]]) -> str | None:
    """A page through the wire models: what ``read_listed_page`` declines, read or refused with its reason."""
    page = _structure_page(body)
    assert page.payload is not None
    for summary in page.payload.inventorySummaries:
        put_listed(into, clashes, *_fulfillable(summary))
    return page.pagination.nextToken if page.pagination else None


def _fulfillable(summary: ListedSummary) -> tuple[str, int]:
    if not summary.sellerSku:
        raise MallError(CODE, f"{OP} listed an item without a sellerSku (asin {summary.asin})")
    details = summary.inventoryDetails
    if details is None or details.fulfillableQuantity is None:
        # Asked with details=true: a SKU without its number is a hole in the picture, not a zero.
        raise MallError(CODE, f"{OP} listed SKU {summary.sellerSku!r} without inventoryDetails.fulfillableQuantity")
    return summary.sellerSku, details.fulfillableQuantity


def _clashing(clashes: dict[str, set[int]]) -> str:
    """``SKU 'A' as 9 and 40, ...`` for the first few SKUs listed twice with two numbers."""
    named = [f"SKU {s!r} as {' and '.join(map(str, sorted(q)))}" for s, q in list(clashes.items())[:3]]
    more = f" and {len(clashes) - 3} more SKUs" if len(clashes) > 3 else ""
    return ", ".join(named) + more


def _today_jst() -> date:
    return datetime.now(ZoneInfo("Asia/Tokyo")).date()
