"""
A local SP-API for FBA inventory in Japan, with its LWA token endpoint and the Reports API flow.

Built from ../shared/malls/amazon.md: same paths, query parameters, ``x-amz-access-token`` auth, expiring
opaque ``nextToken``s, JSON shapes and errors (403 ``Unauthorized``, 400 ``InvalidInput``, 429
``QuotaExceeded`` without Retry-After). The harness adds pacing past :data:`LIMITS`, faults and the request
log; this module only answers as Amazon does. Its fulfillable stock is what ``/_sandbox/stock`` shows and sets.
"""

from __future__ import annotations

import bisect
import json
import secrets
import time

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import attrs

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ecsync_amazon._emulated_common import DOCUMENTS, REPORTS, catalogue, iso, respond_text, sp_error
from ecsync_amazon._emulated_pages import Row, page_json
from ecsync_amazon._emulated_reports import ReportsDesk
from ecsync_amazon._wire import LwaError, LwaToken, unstructure
from ecsync_amazon.auth import CLIENT_ID, CLIENT_SECRET, CLIENT_SECRET_ISSUED, REFRESH_TOKEN
from ecsync_amazon.plugin import AmazonSettings
from ecsync_core.sandbox.harness import RateLimit


# The facts sheet's paths and limits, written here rather than taken from the adapter: an emulator that shared
# the adapter's constants would follow its mistakes (a wrong path or rate) instead of failing them.
SUMMARIES = "/fba/inventory/v1/summaries"
PUBLISHED_RATE = 2.0

MARKETPLACE = "A1VC38T7YXB528"
TOKEN_PATH = "/auth/o2/token"

SANDBOX_CLIENT_ID = "amzn1.application-oa2-client.ecsyncsandbox0000000000000000"
SANDBOX_CLIENT_SECRET = "amzn1.oa2-cs.v1.ecsync-sandbox-client-secret-0000000000000000"
SANDBOX_REFRESH_TOKEN = "Atzr|ecsync-sandbox-refresh-token-000000000000000000000000"

LIMITS = (
    RateLimit(SUMMARIES, PUBLISHED_RATE, 2.0, "GET"),
    # LWA publishes no limit; tokens are asked for once an hour, so a modest one of our own choosing.
    RateLimit(TOKEN_PATH, 1.0, 5.0, "POST"),
    # Reports API 2021-06-30 as published. getReports (0.0222/s, burst 10) is left out: the harness matches
    # by path prefix and every call must pass every limit it matches, and getReports' path is a prefix of
    # getReport's (.../reports/{id}), so its bucket would throttle the polls. The adapter calls it once a run.
    RateLimit(REPORTS + "/", 2.0, 15.0, "GET"),
    RateLimit(REPORTS, 0.0167, 15.0, "POST"),
    RateLimit(DOCUMENTS, 0.0167, 15.0, "GET"),
)

INVALID_INPUT = "Invalid request, please check your input."
TOKEN_REFUSED = "Next token is invalid or expired"
DENIED = "Access to requested resource is denied."
EIGHTEEN_MONTHS = timedelta(days=548)


@attrs.define
class _PageToken:
    selection: tuple[str, str]
    next_sku: str
    issued: float


@attrs.define
class _Fault:
    after: int
    status: int
    count: int


class AmazonEmulator:
    """
    SP-API (FBA inventory + reports) and LWA for one JP seller, on any ASGI server.

    The knobs below stand for what is slow or rare in reality, so tests meet it at once.

    Attributes:
        page_size: summaries per page; Amazon has no parameter, users see at most 50 (UNCERTAIN).
        next_token_ttl_s: a nextToken's life (30 s in the model).
        access_token_ttl_s: ``expires_in`` of LWA access tokens.
        hidden: SKUs the full listing skips although a ``sellerSkus`` query finds them (Amazon has been
            seen dropping SKUs across pages).
        stale_copies: (SKU, quantity) pairs the full listing gives once more, on its last page, as
            inconsistent pages across one listing would (amazon.md §1.3); a query by name answers the stock.
        stale_next_tokens: the next N nextTokens presented are refused as expired (a late client).
        next_token_refused_status: the status a lapsed nextToken is answered with: 400 ``InvalidInput`` by
            default, settable since the real one is UNCERTAIN (amazon.md §1.3).
        constant_next_token: every page after the first answers with the nextToken it was sent, as Amazon
            did in 2022 (amazon.md §1.3, #2947): a client that trusts it lists forever.
        html_failures: injected 5xx answer with an HTML page, as a load balancer would, not JSON.
        reports: the Reports API state; its own knobs set processing time, gzip and charset.
    """

    limits: Sequence[RateLimit] = LIMITS

    def __init__(
        self,
        seed: Mapping[str, int],
        *,
        page_size: int = 50,
        next_token_ttl_s: float = 30.0,
        access_token_ttl_s: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.page_size = page_size
        self.next_token_ttl_s = next_token_ttl_s
        self.access_token_ttl_s = access_token_ttl_s
        self.clock = clock
        self.hidden: set[str] = set()
        self.stale_copies: list[tuple[str, int]] = []
        self.stale_next_tokens = 0
        self.constant_next_token = False
        self.next_token_refused_status = 400
        self.html_failures = False
        self._stock: dict[str, int] = {}
        self._changed: dict[str, float] = {}
        self._sorted: list[str] | None = None
        self._access: dict[str, float] = {}
        self._pages: dict[str, _PageToken] = {}
        self._fault: _Fault | None = None
        self.reports = ReportsDesk(MARKETPLACE, self.stock, self._now)
        self.set_stock(seed)

    def _now(self) -> float:
        return self.clock()  # looked up on each call: tests replace ``clock``

    # --- the harness's Emulator protocol -------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route(TOKEN_PATH, self._token, methods=["POST"]),
            Route(SUMMARIES, self._summaries, methods=["GET"]),
            *self.reports.routes(self._authorized),
        ]

    def stock(self) -> dict[str, int]:
        return dict(self._stock)

    def set_stock(self, items: Mapping[str, int]) -> None:
        now = self.clock()
        for sku, quantity in items.items():
            if sku not in self._stock:
                self._sorted = None
            self._stock[sku] = int(quantity)
            self._changed[sku] = now

    def throttled(self, request: Request) -> Response:
        if request.url.path.startswith(TOKEN_PATH):
            # LWA's 429 body is not documented (UNCERTAIN); an OAuth-shaped error from its own code list.
            return _lwa_error(429, "temporarily_unavailable", "Rate exceeded")
        # A real 429 carries x-amzn-ErrorType and no Retry-After, no x-amzn-RateLimit-Limit.
        quota = "You exceeded your quota for the requested resource."
        return sp_error(429, "QuotaExceeded", quota, "", {"x-amzn-ErrorType": "TooManyRequestsException"})

    def failure(self, request: Request, status: int) -> Response:
        if status == 429:
            return self.throttled(request)
        if self.html_failures:
            page = f"<html><body><h1>{status} Service Unavailable</h1></body></html>"
            return Response(page, status, media_type="text/html")
        if request.url.path.startswith(TOKEN_PATH):
            if status == 503:
                return _lwa_error(503, "temporarily_unavailable", "The service is temporarily unavailable")
            return _lwa_error(status, "server_error", "The server encountered an unexpected error")
        if status == 503:
            return sp_error(503, "ServiceUnavailable", "Service temporarily unavailable. Please try again.")
        # Amazon's own recorded 500 body (message, code; no details).
        return sp_error(status, "InternalFailure", "We encountered an internal error. Please try again.")

    def sandbox_settings(self, base_url: str, speed: float) -> dict[str, object]:
        defaults = AmazonSettings()
        base = base_url.rstrip("/")
        return {
            "endpoint": base,
            "token_url": base + TOKEN_PATH,
            "marketplace_id": MARKETPLACE,
            "rate": defaults.rate * speed,
            # The harness scales the emulator's burst of 2 with the speed (down to 1): below speed 1 the
            # adapter's 1.5 would outrun it.
            "burst": max(1.0, min(defaults.burst, 2.0 * speed)),
            "report_poll_s": defaults.report_poll_s / speed,
        }

    def sandbox_secrets(self) -> dict[str, str]:
        return {
            CLIENT_ID: SANDBOX_CLIENT_ID,
            CLIENT_SECRET: SANDBOX_CLIENT_SECRET,
            CLIENT_SECRET_ISSUED: date.today().isoformat(),
            REFRESH_TOKEN: SANDBOX_REFRESH_TOKEN,
        }

    # --- knobs for tests -----------------------------------------------------------------------------

    def revoke_access_tokens(self) -> None:
        """Every access token handed out so far is now refused (as after its hour, or a revocation)."""
        self._access.clear()

    def fail_summaries(self, *, after: int, status: int, count: int = 1) -> None:
        """After *after* more answered getInventorySummaries calls, the next *count* fail with *status*."""
        self._fault = _Fault(after, status, count)

    # --- LWA -----------------------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", "replace")
        fields: dict[str, Any]
        if "json" in request.headers.get("content-type", ""):
            try:
                fields = dict(json.loads(raw))
            except (ValueError, TypeError):
                return _lwa_error(400, "invalid_request", "The request body is not valid JSON")
        else:
            fields = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        for name in ("grant_type", "refresh_token", "client_id", "client_secret"):
            if not fields.get(name):
                return _lwa_error(400, "invalid_request", f"The request is missing a required parameter : {name}")
        if fields["grant_type"] != "refresh_token":
            return _lwa_error(400, "invalid_request", "The request has an invalid parameter : grant_type")
        if fields["client_id"] != SANDBOX_CLIENT_ID or fields["client_secret"] != SANDBOX_CLIENT_SECRET:
            return _lwa_error(401, "invalid_client", "Client authentication failed")
        if fields["refresh_token"] != SANDBOX_REFRESH_TOKEN:
            return _lwa_error(400, "invalid_grant", "The request has an invalid grant parameter : refresh_token")
        token = "Atza|" + secrets.token_urlsafe(48)
        self._access[token] = self.clock() + self.access_token_ttl_s
        granted = LwaToken(token, "bearer", self.access_token_ttl_s, SANDBOX_REFRESH_TOKEN)
        return JSONResponse(unstructure(granted), 200, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _authorized(self, request: Request) -> Response | None:
        """None when the request's access token is good, else SP-API's 403."""
        token = request.headers.get("x-amz-access-token")
        if not token:
            details = "Access token is missing in the request header."
        elif self._access.get(token, 0.0) > self.clock():
            return None
        else:
            details = "The access token you provided is revoked, malformed or invalid."
        return sp_error(403, "Unauthorized", DENIED, details)

    # --- getInventorySummaries -----------------------------------------------------------------------

    async def _summaries(self, request: Request) -> Response:
        if refused := self._authorized(request):
            return refused
        if (fault := self._fault) is not None:
            if fault.after > 0:
                fault.after -= 1
            else:
                fault.count -= 1
                if fault.count <= 0:
                    self._fault = None
                return self.failure(request, fault.status)
        q = request.query_params
        problem = _check_query(q)
        if problem:
            return _invalid(problem)
        selection, skus = self._select(q)
        if isinstance(skus, str):
            return _invalid(skus)
        start = 0
        if token := q.get("nextToken"):
            page_token = self._pages.get(token)
            if self.stale_next_tokens > 0:
                self.stale_next_tokens -= 1
                page_token = None
            if (
                page_token is None
                or page_token.selection != selection
                or self.clock() - page_token.issued > self.next_token_ttl_s
            ):
                return sp_error(
                    self.next_token_refused_status, "InvalidInput", TOKEN_REFUSED, TOKEN_REFUSED, _RATE_HEADER
                )
            start = bisect.bisect_left(skus, page_token.next_sku)
        chunk = skus[start : start + self.page_size]
        more = start + self.page_size < len(skus)
        details = q.get("details", "false").lower() == "true"
        next_token = self._issue(selection, skus[start + self.page_size]) if more else None
        if self.constant_next_token and token:
            next_token = token
        rows = [self._row(sku) for sku in chunk]
        if selection[0] == "all" and not more:
            rows += [self._row(sku, q) for sku, q in self.stale_copies]
        text = page_json(rows, details, next_token, MARKETPLACE)
        return respond_text(text, 200, _RATE_HEADER)

    def _select(self, q: Mapping[str, str]) -> tuple[tuple[str, str], list[str] | str]:
        """The selection key a nextToken is bound to, and the SKUs it names in order (or a problem)."""
        if since := q.get("startDateTime"):
            return ("startDateTime", since), self._changed_since(since)
        if many := q.get("sellerSkus"):
            asked = [s for s in many.split(",") if s]
            if len(asked) > 50:
                return ("", ""), f"sellerSkus: at most 50 SKUs a request, got {len(asked)}."
            return ("sellerSkus", many), sorted(s for s in set(asked) if s in self._stock)
        if one := q.get("sellerSku"):
            return ("sellerSku", one), [one] if one in self._stock else []
        if not self._stock:  # what Amazon answers an account with no FBA SKUs (amazon.md §1.5), not an empty page
            return ("all", ""), NO_FBA_SKUS
        return ("all", ""), [s for s in self._all() if s not in self.hidden] if self.hidden else self._all()

    def _changed_since(self, since: str) -> list[str] | str:
        try:
            when = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            return "Query parameter [startDateTime] value is not a valid ISO date-time object."
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if when < datetime.fromtimestamp(self.clock(), UTC) - EIGHTEEN_MONTHS:
            return "Query startDateTime cannot not be earlier than 18 months before now."
        after = when.timestamp()
        return [s for s in self._all() if self._changed[s] > after]

    def _all(self) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self._stock)
        return self._sorted

    def _issue(self, selection: tuple[str, str], next_sku: str) -> str:
        now = self.clock()
        # Forget expired tokens, oldest first (the dict keeps issue order).
        while self._pages:
            oldest = next(iter(self._pages))
            if now - self._pages[oldest].issued <= self.next_token_ttl_s:
                break
            del self._pages[oldest]
        # Opaque, and with ':' and '%' in it as real ones have, so an encoding slip shows at once.
        token = f"{secrets.randbelow(10**11):011d}:{_percent(next_sku)}"
        self._pages[token] = _PageToken(selection, next_sku, now)
        return token

    def _row(self, sku: str, quantity: int | None = None) -> Row:
        """*sku*'s summary: its stock, or *quantity* (a stale copy, of a SKU the stock may not hold)."""
        facts = catalogue(sku)
        updated = iso(self._changed.get(sku, 0.0), millis=False)
        held = self._stock[sku] if quantity is None else quantity
        return Row(sku, facts.asin, facts.fnsku, facts.product_name, updated, held, facts.inbound, facts.reserved)


NO_FBA_SKUS = "Invalid request, please check your input."

_RATE_HEADER = {"x-amzn-RateLimit-Limit": f"{PUBLISHED_RATE:.1f}"}


def _check_query(q: QueryParams) -> str | None:
    if q.get("granularityType") != "Marketplace":
        return "Query parameter [granularityType] must be Marketplace."
    markets = [m for value in q.getlist("marketplaceIds") for m in value.split(",") if m]
    if len(markets) != 1:
        return "Query parameter [marketplaceIds] must hold exactly one marketplace id."
    if markets[0] != MARKETPLACE or q.get("granularityId") != MARKETPLACE:
        return f"This seller sells in marketplace {MARKETPLACE} only."
    if q.get("details", "false").lower() not in {"true", "false"}:
        return "Query parameter [details] must be true or false."
    return None


def _percent(text: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else "".join(f"%{b:02X}" for b in c.encode()) for c in text)


def _invalid(details: str, *, message: str = INVALID_INPUT) -> Response:
    return sp_error(400, "InvalidInput", message, details, _RATE_HEADER)


def _lwa_error(status: int, error: str, description: str) -> Response:
    return JSONResponse(unstructure(LwaError(error, description)), status, headers={"Cache-Control": "no-store"})
