"""
A loopback RMS that answers like the real one for what ecsync uses: Inventory API 2.0 (``bulk-get``,
``bulk-upsert``, ``variants.get``), Items API 2.0 ``items.get``, and the license-key expiry date.

Built from the facts sheet (``shared/malls/yahoo-rakuten.md`` §3, §4, §5.1, §7); there are no recorded RMS
payloads. What it copies on purpose: ESA auth with 401 ``GA0001`` for a wrong or expired key; 204 with no
body on a good upsert; 400 ``errors[]`` naming the bad item by ``propertyPath`` and applying nothing; 404
``GE0014``; manageNumber folded to lower case; writes to unknown SKUs accepted silently and stored where no
read finds them (purged 24 h after their last write). The harness answers past ``limits`` with
``throttled()``. It plays dumb on purpose where the real API is unknown [U]: the 429 and 5xx bodies.
"""

from __future__ import annotations

import base64
import re
import time

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import attrs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ecsync_core.sandbox.harness import RateLimit


# The facts sheet's paths and limits, written here rather than taken from the adapter: an emulator that shared
# the adapter's constants would follow its mistakes (a 2.1 path, a wrong batch size) instead of failing them.
BULK_GET = "/es/2.0/inventories/bulk-get"
BULK_UPSERT = "/es/2.0/inventories/bulk-upsert"
EXPIRY = "/es/1.0/license-management/license-key/expiry-date"
JST = timezone(timedelta(hours=9), "JST")

SANDBOX_SECRET = "SP000000_sandboxsecret"
SANDBOX_LICENSE_KEY = "SL000000_sandboxlicense"
DEFAULT_VARIANT = "normal-inventory"
"""The variantId of a product seeded by a bare manageNumber (what peers see on migrated single-SKU items)."""

MAX_QUANTITY = 99_999
ORPHAN_LIFE_S = 24 * 3600.0
_ID = re.compile(r"[A-Za-z0-9_-]+")
_ID32 = re.compile(r"[A-Za-z0-9_-]{1,32}")


@attrs.define
class _Sku:
    quantity: int
    created: str
    updated: str


def _error(status: int, code: str, message: str, path: str | None = None) -> JSONResponse:
    entry: dict[str, Any] = {"code": code, "message": message}
    if path is not None:
        entry["metadata"] = {"propertyPath": path}
    return JSONResponse({"errors": [entry]}, status_code=status)


def _id_problems(entry: dict[str, Any], at: str) -> list[dict[str, Any]]:
    m, v = entry.get("manageNumber"), entry.get("variantId")
    if isinstance(m, str) and isinstance(v, str) and _ID32.fullmatch(m) and _ID32.fullmatch(v):
        return []
    return [p for p in (_check_id(n, entry.get(n), at) for n in ("manageNumber", "variantId")) if p]


def _check_id(name: str, value: object, at: str) -> dict[str, Any] | None:
    path = f"{at}.{name}"
    if not isinstance(value, str) or not value:
        return {"code": "IE0105", "message": f"{name} is required.", "metadata": {"propertyPath": path}}
    if len(value.encode()) > 32:
        return {"code": "IE0004", "message": f"{name} is too long.", "metadata": {"propertyPath": path}}
    if not _ID.fullmatch(value):
        return {
            "code": "IE0002",
            "message": f"{name} has an invalid value : {value}.",
            "metadata": {"propertyPath": path},
        }
    return None


class RakutenEmulator:
    """
    RMS on loopback, seeded with stock.

    Args:
        seed: ``manageNumber:variantId`` -> quantity; a bare ``manageNumber`` seeds a single-variant product
            (variant ``normal-inventory``). ``/_sandbox/stock`` answers with the keys as seeded.
        license_expiry: when the sandbox license key expires (JST); 90 days from now by default.
        clock: seconds since the epoch, for the key's expiry and the purge of orphan writes.
        refuse_unknown: bulk-get answers a batch holding an unknown SKU with a 404 ``GE0014`` instead of
            leaving the SKU out. Which one RMS does is [U] (facts sheet §3.1 assumes left out, the default
            here); the adapter copes with both.
        refusal_names: how such a refusal names the SKU: ``"message"`` as RMS's documented not-found error
            does (``Not found for inputs; manageNumber=…, variantId=…``, no ``metadata``), ``"path"`` by
            ``propertyPath``, ``"none"`` not at all.
        fold_variant_case: variantIds are folded to lower case like manageNumbers. Most RMS pages say they are
            case-sensitive (the default here), one says folded [U]; the adapter's setting of the same name
            must then be on.
    """

    limits: Sequence[RateLimit] = (
        RateLimit(BULK_UPSERT, rate=1.0, burst=1.0, method="POST"),
        RateLimit(BULK_GET, rate=5.0, burst=1.0, method="POST"),
        RateLimit("/es/2.0/inventories/manage-numbers/", rate=1.0, burst=1.0),
        # Items API's limit is not published in the facts sheet [U]; the adapter assumes 1/s, and so do we.
        RateLimit("/es/2.0/items/", rate=1.0, burst=1.0),
    )

    def __init__(
        self,
        seed: Mapping[str, int],
        *,
        license_expiry: datetime | None = None,
        clock: Callable[[], float] = time.time,
        refuse_unknown: bool = False,
        refusal_names: Literal["message", "path", "none"] = "message",
        fold_variant_case: bool = False,
    ) -> None:
        self._clock = clock
        self.refuse_unknown = refuse_unknown
        self.refusal_names = refusal_names
        self.fold_variant_case = fold_variant_case
        self.products: dict[str, dict[str, _Sku]] = {}
        self.orphans: dict[tuple[str, str], tuple[int, float]] = {}
        self._spelling: dict[tuple[str, str], str] = {}
        if license_expiry is None:
            last_day = datetime.fromtimestamp(clock(), JST) + timedelta(days=90)
            license_expiry = last_day.replace(hour=23, minute=59, second=59, microsecond=0)
        self.license_expiry = license_expiry
        self.set_stock(seed)

    def _not_found(self, manage_number: str, variant_id: str, at: str) -> dict[str, object]:
        if self.refusal_names == "path":
            return {"code": "GE0014", "message": "Not found.", "metadata": {"propertyPath": at}}
        if self.refusal_names == "message":
            said = f"Not found for inputs; manageNumber={manage_number}, variantId={variant_id}"
            return {"code": "GE0014", "message": said}
        return {"code": "GE0014", "message": "Not found."}

    # -- the product catalogue -------------------------------------------------------------------------------

    def _now(self) -> str:
        return datetime.fromtimestamp(self._clock(), JST).isoformat(timespec="seconds")

    def _fold_variant(self, variant_id: str) -> str:
        return variant_id.lower() if self.fold_variant_case else variant_id

    def add_product(self, manage_number: str, variant_ids: Sequence[str], quantity: int = 0) -> None:
        """A product with these variants (none is allowed: a product whose SKUs were all deleted)."""
        now = self._now()
        skus = self.products.setdefault(manage_number.lower(), {})
        for variant_id in variant_ids:
            skus[self._fold_variant(variant_id)] = _Sku(quantity, now, now)

    def stock(self) -> dict[str, int]:
        return {
            self._spelling.get((m, v), f"{m}:{v}"): sku.quantity
            for m, skus in self.products.items()
            for v, sku in skus.items()
        }

    def set_stock(self, items: Mapping[str, int]) -> None:
        now = self._now()
        for key, quantity in items.items():
            manage_number, sep, variant_id = key.partition(":")
            m, variant_id = manage_number.lower(), self._fold_variant(variant_id)
            skus = self.products.setdefault(m, {})
            if not sep:
                variant_id = next(iter(skus)) if len(skus) == 1 else DEFAULT_VARIANT
            if variant_id in skus:
                skus[variant_id].quantity = quantity
                skus[variant_id].updated = now
            else:
                skus[variant_id] = _Sku(quantity, now, now)
                self._spelling[(m, variant_id)] = key

    # -- the harness's hooks -----------------------------------------------------------------------------------

    def throttled(self, request: Request) -> Response:
        # The real 429 body is not documented [U]; the RMS error envelope is the likeliest shape.
        return _error(429, "TooManyRequests", "Too Many Requests")

    def failure(self, request: Request, status: int) -> Response:
        if status == 429:
            return self.throttled(request)
        return _error(status, "SystemError", "A system error occurred.")

    def sandbox_settings(self, base_url: str, speed: float) -> dict[str, object]:
        return {
            "endpoint": base_url,
            "bulk_get_rate": 5.0 * speed,
            "upsert_rate": 1.0 * speed,
            "items_rate": 1.0 * speed,
        }

    def sandbox_secrets(self) -> dict[str, str]:
        return {"RAKUTEN_SERVICE_SECRET": SANDBOX_SECRET, "RAKUTEN_LICENSE_KEY": SANDBOX_LICENSE_KEY}

    def routes(self) -> list[BaseRoute]:
        return [
            Route(BULK_GET, self._bulk_get, methods=["POST"]),
            Route(BULK_UPSERT, self._bulk_upsert, methods=["POST"]),
            Route("/es/2.0/inventories/manage-numbers/{m}/variants/{v}", self._variant, methods=["GET"]),
            Route("/es/2.0/items/manage-numbers/{m}", self._item, methods=["GET"]),
            Route(EXPIRY, self._expiry, methods=["GET"]),
        ]

    # -- the API ---------------------------------------------------------------------------------------------------

    def _refused(self, request: Request) -> Response | None:
        """401 ``GA0001`` unless the ESA header carries the sandbox's secret and an unexpired license key."""
        expected = base64.b64encode(f"{SANDBOX_SECRET}:{SANDBOX_LICENSE_KEY}".encode()).decode()
        expired = datetime.fromtimestamp(self._clock(), JST) > self.license_expiry
        if request.headers.get("authorization") != f"ESA {expected}" or expired:
            return _error(401, "GA0001", "Un-Authorised")
        return None

    async def _list_body(self, request: Request, limit: int) -> list[Any] | Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "IE0105", "The request body is not valid JSON.")
        inventories = body.get("inventories") if isinstance(body, dict) else None
        if not isinstance(inventories, list):
            return _error(400, "IE0105", "inventories is required.", "inventories")
        if not 1 <= len(inventories) <= limit:
            return _error(400, "IE0003", f"inventories size must be between 1 and {limit}.", "inventories")
        return inventories

    async def _bulk_get(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        inventories = await self._list_body(request, 1000)
        if isinstance(inventories, Response):
            return inventories
        answer = None if self.refuse_unknown else self._bulk_get_valid(inventories)
        if answer is not None:
            return answer
        errors: list[dict[str, Any]] = []
        unknown: list[dict[str, Any]] = []
        rows = []
        for i, entry in enumerate(inventories):
            at = f"inventories[{i}]"
            if not isinstance(entry, dict):
                errors.append({"code": "IE0105", "message": "invalid element.", "metadata": {"propertyPath": at}})
                continue
            problems = _id_problems(entry, at)
            if problems:
                errors.extend(problems)
                continue
            m, v = entry["manageNumber"].lower(), self._fold_variant(entry["variantId"])
            sku = self.products.get(m, {}).get(v)
            if sku is None and self.refuse_unknown:
                unknown.append(self._not_found(m, v, at))
            if sku is not None:  # unknown SKUs (and orphan writes) are left out, not answered as errors
                rows.append(
                    {
                        "manageNumber": m,
                        "variantId": v,
                        "quantity": sku.quantity,
                        "created": sku.created,
                        "updated": sku.updated,
                    }
                )
        if errors:
            return JSONResponse({"errors": errors}, status_code=400)
        if unknown:
            # The documented not-found error is one error for the call: only a propertyPath names each.
            return JSONResponse({"errors": unknown if self.refusal_names == "path" else unknown[:1]}, status_code=404)
        return JSONResponse({"inventories": rows})

    def _bulk_get_valid(self, inventories: list[Any]) -> Response | None:
        """
        The answer to a bulk-get whose every entry is valid, written as text; ``None`` at the first entry
        that is not, for ``_bulk_get`` to answer with every error.

        The emulator serves in the sandbox's process, on the same two cores as the adapter: with a dict a SKU
        JSON-encoded, and every entry checked for every error, a 1,000-SKU call took 2.8 ms here; this way
        1.3 ms. The bytes are the ones ``JSONResponse`` would send: the ids matched ``_ID32`` and the dates
        are ``_now()``'s ISO text, so nothing in them needs escaping.
        """
        rows: list[str] = []
        products, fullmatch, variant = self.products, _ID32.fullmatch, self._fold_variant
        for entry in inventories:
            if type(entry) is not dict:
                return None
            m, v = entry.get("manageNumber"), entry.get("variantId")
            if type(m) is not str or type(v) is not str or not fullmatch(m) or not fullmatch(v):
                return None
            folded, v = m.lower(), variant(v)
            skus = products.get(folded)
            sku = None if skus is None else skus.get(v)
            if sku is not None:  # unknown SKUs (and orphan writes) are left out, not answered as errors
                rows.append(
                    f'{{"manageNumber":"{folded}","variantId":"{v}","quantity":{sku.quantity},'
                    f'"created":"{sku.created}","updated":"{sku.updated}"}}'
                )
        return Response(f'{{"inventories":[{",".join(rows)}]}}', media_type="application/json")

    async def _bulk_upsert(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        inventories = await self._list_body(request, 400)
        if isinstance(inventories, Response):
            return inventories
        errors: list[dict[str, Any]] = []
        valid: list[tuple[str, str, str, int]] = []
        for i, entry in enumerate(inventories):
            at = f"inventories[{i}]"
            if not isinstance(entry, dict):
                errors.append({"code": "IE0105", "message": "invalid element.", "metadata": {"propertyPath": at}})
                continue
            problems = _id_problems(entry, at)
            mode, quantity = entry.get("mode"), entry.get("quantity")
            if mode not in ("ABSOLUTE", "RELATIVE"):
                problems.append(
                    {
                        "code": "IE0002",
                        "message": f"mode has an invalid value : {mode}.",
                        "metadata": {"propertyPath": f"{at}.mode"},
                    }
                )
            if isinstance(quantity, bool) or not isinstance(quantity, int):
                problems.append(
                    {
                        "code": "IE0002",
                        "message": f"quantity has an invalid value : {quantity}.",
                        "metadata": {"propertyPath": f"{at}.quantity"},
                    }
                )
            elif mode == "ABSOLUTE" and not 0 <= quantity <= MAX_QUANTITY:
                problems.append(
                    {
                        "code": "IE0003",
                        "message": f"quantity must be between 0 and {MAX_QUANTITY}.",
                        "metadata": {"propertyPath": f"{at}.quantity"},
                    }
                )
            if problems:
                errors.extend(problems)
                continue
            assert isinstance(quantity, int)  # checked above; says so to the type checker
            valid.append((entry["manageNumber"].lower(), self._fold_variant(entry["variantId"]), str(mode), quantity))
        if errors:  # RMS documents no partial success: a 400 applies nothing
            return JSONResponse({"errors": errors}, status_code=400)
        self._apply(valid)
        return Response(status_code=204)

    def _apply(self, valid: list[tuple[str, str, str, int]]) -> None:
        now_s = self._clock()
        now = self._now()
        self.orphans = {pair: held for pair, held in self.orphans.items() if now_s - held[1] < ORPHAN_LIFE_S}
        for m, v, mode, quantity in valid:
            sku = self.products.get(m, {}).get(v)
            if sku is None:
                # Rakuten keeps a write to an unknown SKU as an "inventory-only" record no read returns.
                before = self.orphans.get((m, v), (0, now_s))[0]
                self.orphans[(m, v)] = (quantity if mode == "ABSOLUTE" else before + quantity, now_s)
                continue
            # RELATIVE outside 0..99,999 is not documented [U]; clamp rather than invent an error.
            sku.quantity = quantity if mode == "ABSOLUTE" else min(MAX_QUANTITY, max(0, sku.quantity + quantity))
            sku.updated = now

    async def _variant(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        m, v = request.path_params["m"].lower(), self._fold_variant(request.path_params["v"])
        sku = self.products.get(m, {}).get(v)
        if sku is None:
            return _error(404, "GE0014", f"Not found for inputs; manageNumber={m}, variantId={v}")
        return JSONResponse(
            {
                "manageNumber": m,
                "variantId": v,
                "quantity": sku.quantity,
                "created": sku.created,
                "updated": sku.updated,
            }
        )

    async def _item(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        m = request.path_params["m"].lower()
        if m not in self.products:
            return _error(404, "GE0014", f"Not found for inputs; manageNumber={m}")
        variants: dict[str, object] = {
            v: {"selectorValues": {}, "merchantDefinedSkuId": None} for v in self.products[m]
        }
        return JSONResponse({"manageNumber": m, "itemType": "NORMAL", "title": f"sandbox {m}", "variants": variants})

    async def _expiry(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        key = request.query_params.get("licenseKey")
        if not key:  # observed on the live service (recorded README)
            return _error(400, "DR0005", "licenseKey is required")
        if key != SANDBOX_LICENSE_KEY:  # another shop's key: the real answer is [U]
            return _error(404, "GE0014", "Not found for inputs; licenseKey")
        return JSONResponse({"expiryDate": self.license_expiry.strftime("%Y-%m-%dT%H:%M:%S")})
