"""
A small fake mall that goes over real HTTP: descriptors, emulators and httpx adapters.

It proves the harness before the real malls land, runs the core's end-to-end tests without them, and is the
worked example of ``docs/plugins.md``. Two malls in one plugin module:

- ``fakesource``: a source (the truth), listing SKUs with their fulfillable quantity, paginated;
- ``fakemall``: a target mall, read and written by item code in batches.

Both take an OAuth client-credentials token from ``/oauth/token`` and a bearer token on ``/v1/``. Register
the module as a plugin: ``get_plugin_host(extra=[fake_mall])``, or ``ECSYNC_EXTRA_PLUGINS=ecsync_core.testing.
fake_mall`` for a subprocess.
"""

from __future__ import annotations

import itertools

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs

import attrs
import httpx

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ecsync_core.domain import CredentialStatus, ItemResult, StockWrite
from ecsync_core.errors import CredentialError, MallError
from ecsync_core.hookspecs import hookimpl
from ecsync_core.mall import MallContext, MallPlugin
from ecsync_core.pacing import TokenBucket, retrying, transport_error
from ecsync_core.plugins import InstalledMall, PluginHost
from ecsync_core.ports import StockReading
from ecsync_core.sandbox.harness import RateLimit


SOURCE = "fakesource"
TARGET = "fakemall"
COLUMN = "fakemall_item_code"

TOKEN_PATH = "/oauth/token"
STOCK_PATH = "/v1/stock"
INVENTORY_PATH = "/v1/inventory"
BATCH = 20
"""Items per read or write call, as a real mall caps them."""
PAGE = 50
"""SKUs per inventory page."""
API_RATE, API_BURST = 5.0, 5.0
"""The published limit of reads (``GET /v1/``): 5 calls a second, 5 at once."""
WRITE_RATE, WRITE_BURST = 1.0, 2.0
"""The published limit of writes (``PUT /v1/``): 1 call a second, 2 at once."""
TOKEN_RATE, TOKEN_BURST = 1.0, 2.0


@attrs.frozen
class FakeApiSettings:
    """``malls.fakemall`` / ``malls.fakesource`` in config. The default host does not exist on purpose."""

    endpoint: str = "https://fake-mall.invalid"
    token_url: str = "https://fake-mall.invalid/oauth/token"
    rate: float = API_RATE
    burst: float = API_BURST
    write_rate: float = WRITE_RATE
    write_burst: float = WRITE_BURST


def _secret_names(code: str) -> tuple[str, str]:
    return f"{code.upper()}_CLIENT_ID", f"{code.upper()}_CLIENT_SECRET"


class _FakeApi:
    """What both fake emulators share: the token endpoint, bearer checks and the error bodies."""

    code = ""
    limits: Sequence[RateLimit] = (
        RateLimit("/v1/", rate=API_RATE, burst=API_BURST, method="GET"),
        RateLimit("/v1/", rate=WRITE_RATE, burst=WRITE_BURST, method="PUT"),
        RateLimit(TOKEN_PATH, rate=TOKEN_RATE, burst=TOKEN_BURST, method="POST"),
    )

    def __init__(self) -> None:
        self.client_id = f"sandbox-{self.code}-client"
        self.client_secret = f"sandbox-{self.code}-secret-0000"
        self.tokens: set[str] = set()
        self._issued = itertools.count(1)

    def sandbox_settings(self, base_url: str, speed: float) -> dict[str, object]:
        return {
            "endpoint": base_url,
            "token_url": f"{base_url}{TOKEN_PATH}",
            "rate": API_RATE * speed,
            "burst": max(1.0, API_BURST * speed),
            "write_rate": WRITE_RATE * speed,
            "write_burst": max(1.0, WRITE_BURST * speed),
        }

    def sandbox_secrets(self) -> dict[str, str]:
        id_name, secret_name = _secret_names(self.code)
        return {id_name: self.client_id, secret_name: self.client_secret}

    def throttled(self, request: Request) -> Response:
        return JSONResponse({"error": "rate_limited"}, status_code=429, headers={"Retry-After": "1"})

    def failure(self, request: Request, status: int) -> Response:
        if status == 429:
            return self.throttled(request)
        return JSONResponse({"error": "unavailable"}, status_code=status)

    def token_route(self) -> Route:
        return Route(TOKEN_PATH, self._token, methods=["POST"])

    async def _token(self, request: Request) -> Response:
        # Parsed by hand: starlette's form parser needs python-multipart, which ecsync does not depend on.
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        # Numbered, not random: the same calls get the same answers in-process and over loopback.
        token = f"{self.code}-token-{next(self._issued)}"
        self.tokens.add(token)
        return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": 3600})

    def authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token in self.tokens


def _unauthorized() -> Response:
    return JSONResponse({"error": "invalid_token"}, status_code=401)


def _too_many(what: str, limit: int) -> Response:
    return JSONResponse({"error": "too_many_items", "detail": f"at most {limit} {what} a call"}, status_code=400)


class FakeMallEmulator(_FakeApi):
    """
    The target mall: ``GET /v1/stock?item=..`` reads, ``PUT /v1/stock`` writes (``BATCH`` items a call).

    Like the real malls it accepts writes to unknown items silently and stores them where no read finds them.
    """

    code = TARGET

    def __init__(self, seed: Mapping[str, int]) -> None:
        super().__init__()
        self.items: dict[str, int] = dict(seed)
        self.orphans: dict[str, int] = {}

    def routes(self) -> list[BaseRoute]:
        return [
            self.token_route(),
            Route(STOCK_PATH, self._read, methods=["GET"]),
            Route(STOCK_PATH, self._write, methods=["PUT"]),
        ]

    def stock(self) -> dict[str, int]:
        return dict(self.items)

    def set_stock(self, items: Mapping[str, int]) -> None:
        self.items.update(items)

    async def _read(self, request: Request) -> Response:
        if not self.authorized(request):
            return _unauthorized()
        wanted = request.query_params.getlist("item")
        if len(wanted) > BATCH:
            return _too_many("items", BATCH)
        found = [{"item": i, "quantity": self.items[i]} for i in wanted if i in self.items]
        return JSONResponse({"items": found})

    async def _write(self, request: Request) -> Response:
        if not self.authorized(request):
            return _unauthorized()
        body = await request.json()
        entries = body.get("items") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            return JSONResponse({"error": "bad_request", "detail": "items must be a list"}, status_code=400)
        if len(entries) > BATCH:
            return _too_many("items", BATCH)
        for e in entries:
            ok = isinstance(e, dict) and isinstance(e.get("item"), str) and isinstance(e.get("quantity"), int)
            if not ok or e["quantity"] < 0:
                return JSONResponse({"error": "bad_request", "detail": f"bad entry {e!r}"}, status_code=400)
        for e in entries:
            (self.items if e["item"] in self.items else self.orphans)[e["item"]] = e["quantity"]
        return JSONResponse({"accepted": len(entries)})


class FakeSourceEmulator(_FakeApi):
    """
    The source: ``GET /v1/inventory`` lists every SKU, ``PAGE`` a page (``next`` is the cursor), and
    ``GET /v1/inventory?sku=..`` answers the SKUs asked for (unknown ones left out).
    """

    code = SOURCE

    def __init__(self, seed: Mapping[str, int]) -> None:
        super().__init__()
        self.skus: dict[str, int] = dict(seed)

    def routes(self) -> list[BaseRoute]:
        return [self.token_route(), Route(INVENTORY_PATH, self._inventory, methods=["GET"])]

    def stock(self) -> dict[str, int]:
        return dict(self.skus)

    def set_stock(self, items: Mapping[str, int]) -> None:
        self.skus.update(items)

    async def _inventory(self, request: Request) -> Response:
        if not self.authorized(request):
            return _unauthorized()
        asked = request.query_params.getlist("sku")
        if asked:
            if len(asked) > BATCH:
                return _too_many("skus", BATCH)
            return JSONResponse({"items": [_line(s, self.skus[s]) for s in asked if s in self.skus], "next": None})
        cursor = request.query_params.get("cursor", "0")
        if not cursor.isdigit():
            return JSONResponse({"error": "bad_cursor"}, status_code=400)
        listed = sorted(self.skus.items())
        start = int(cursor)
        page = listed[start : start + PAGE]
        after = start + PAGE
        return JSONResponse(
            {"items": [_line(s, q) for s, q in page], "next": str(after) if after < len(listed) else None}
        )


def _line(sku: str, quantity: int) -> dict[str, object]:
    return {"sku": sku, "fulfillable": quantity}


# -- adapters: what a plugin's make_adapter builds -----------------------------------------------------------


class _FakeClient:
    """One mall's HTTP client: paced by the published limit, token on first use, retries as SPEC says."""

    def __init__(self, context: MallContext) -> None:
        settings: FakeApiSettings = context.settings
        self.code = context.code
        self.settings = settings
        id_name, secret_name = _secret_names(context.code)
        self._credentials = (context.secrets.get(id_name, ""), context.secrets.get(secret_name, ""))
        self._names = (id_name, secret_name)
        self._reads = TokenBucket(settings.rate, settings.burst)
        self._writes = TokenBucket(settings.write_rate, settings.write_burst)
        self._token: str | None = None
        self._http = httpx.AsyncClient(base_url=settings.endpoint, transport=context.transport, timeout=10.0)

    async def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async for attempt in retrying():
            with attempt:
                await (self._writes if method == "PUT" else self._reads).acquire()
                try:
                    response = await self._http.request(method, url, **kwargs)
                except httpx.TransportError as exc:
                    raise transport_error(self.code, exc) from exc
                self._check(response)
                return response
        raise AssertionError("unreachable: retrying() raises after the last attempt")  # pragma: no cover

    def _check(self, response: httpx.Response) -> None:
        status = response.status_code
        if status == 429 or status >= 500:
            after = response.headers.get("retry-after")
            retry_after = float(after) if after and after.isdigit() else None
            raise MallError(self.code, f"HTTP {status}", retryable=True, retry_after=retry_after)
        if status == 401:
            raise CredentialError(self.code, f"credentials refused: check {' and '.join(self._names)} in .env")
        if status >= 400:
            raise MallError(self.code, f"HTTP {status}: {response.text[:200]}")

    async def _authorized(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if self._token is None:
            if not all(self._credentials):
                raise CredentialError(self.code, f"missing {' or '.join(self._names)} in .env")
            client_id, client_secret = self._credentials
            data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
            token = await self._call("POST", self.settings.token_url, data=data)
            self._token = str(token.json()["access_token"])
        return await self._call(method, url, headers={"Authorization": f"Bearer {self._token}"}, **kwargs)

    async def credentials(self) -> list[CredentialStatus]:
        return []

    async def ping(self) -> str:
        await self._authorized("GET", self._ping_path())
        return "answered"

    def _ping_path(self) -> str:
        return STOCK_PATH

    async def aclose(self) -> None:
        await self._http.aclose()


class FakeMallClient(_FakeClient):
    """The ``MallInventory`` of ``fakemall``."""

    async def read(self, items: Sequence[str]) -> StockReading:
        found: dict[str, int] = {}
        for start in range(0, len(items), BATCH):
            params = [("item", i) for i in items[start : start + BATCH]]
            answer = (await self._authorized("GET", STOCK_PATH, params=params)).json()
            found.update({e["item"]: int(e["quantity"]) for e in answer["items"]})
        return StockReading(found)

    async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
        results: list[ItemResult] = []
        for start in range(0, len(writes), BATCH):
            batch = writes[start : start + BATCH]
            body = {"items": [{"item": w.item, "quantity": w.quantity} for w in batch]}
            try:
                await self._authorized("PUT", STOCK_PATH, json=body)
            except CredentialError:
                raise
            except MallError as exc:
                results += [ItemResult(w.item, ok=False, error=str(exc)) for w in batch]
                continue
            results += [ItemResult(w.item, ok=True) for w in batch]
        return results


class FakeSourceClient(_FakeClient):
    """The ``StockSource`` of ``fakesource``."""

    def _ping_path(self) -> str:
        return INVENTORY_PATH

    async def snapshot(self) -> dict[str, int]:
        stock: dict[str, int] = {}
        cursor: str | None = "0"
        while cursor is not None:
            answer = (await self._authorized("GET", INVENTORY_PATH, params={"cursor": cursor})).json()
            stock.update({e["sku"]: int(e["fulfillable"]) for e in answer["items"]})
            cursor = answer["next"]
        return stock

    async def lookup(self, skus: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(skus), BATCH):
            params = [("sku", s) for s in skus[start : start + BATCH]]
            answer = (await self._authorized("GET", INVENTORY_PATH, params=params)).json()
            found.update({e["sku"]: int(e["fulfillable"]) for e in answer["items"]})
        return found


# -- the descriptors ---------------------------------------------------------------------------------------


def sample_item_key(n: int) -> str:
    """The demo catalogue's *n*-th item code: zero-padded digits, as many malls' item codes are."""
    return f"FM{n:06d}"


def source_plugin() -> MallPlugin:
    return MallPlugin(
        code=SOURCE,
        name="Fake source (tests)",
        role="source",
        settings_type=FakeApiSettings,
        make_adapter=FakeSourceClient,
        make_emulator=FakeSourceEmulator,
        secret_names=_secret_names(SOURCE),
    )


def target_plugin() -> MallPlugin:
    return MallPlugin(
        code=TARGET,
        name="Fake mall (tests)",
        role="target",
        sheet_column=COLUMN,
        settings_type=FakeApiSettings,
        make_adapter=FakeMallClient,
        make_emulator=FakeMallEmulator,
        sample_item_key=sample_item_key,
        secret_names=_secret_names(TARGET),
    )


@hookimpl
def ecsync_malls() -> list[MallPlugin]:
    return [source_plugin(), target_plugin()]


def fake_host(*more: MallPlugin) -> PluginHost:
    """A plugin host with the fake malls (and *more*) only, whatever else is installed."""
    return PluginHost({p.code: InstalledMall(p, "ecsync-core (testing)", "local") for p in (*ecsync_malls(), *more)})
