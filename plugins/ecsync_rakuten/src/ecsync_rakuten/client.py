"""
The Rakuten adapter: RMS Inventory API 2.0 over httpx, as a ``MallInventory``.

Reads go through ``inventories/bulk-get`` (1,000 SKUs, 5/s), writes through ``inventories/bulk-upsert`` of
**2.0** (400 SKUs, 1/s; 2.1's upsert would delete the lead-time and ship-from fields it is not sent), always
``ABSOLUTE`` so a retry is harmless. Bare manageNumbers are resolved through Items API 2.0 (identity.py).
Rakuten stores writes to unknown SKUs silently; the core's read-back after every write turns those into
failed items, so ``write`` does not read back itself.

UNCERTAIN (facts sheet §3.1 [U]): whether a 2.0 write leaves a shop's 2.1 lead-time settings alone. 2.0 sends
no such field, so nothing of ours asks for a change, but no source confirms RMS keeps them: check one SKU's
operationLeadTime in RMS after the first live run.
"""

from __future__ import annotations

import asyncio
import base64
import re

from collections.abc import Coroutine, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import httpx

from ecsync_core.domain import CredentialStatus, ItemResult, StockWrite
from ecsync_core.errors import CredentialError, MallError
from ecsync_core.mall import MallContext, shared_tls
from ecsync_core.pacing import TokenBucket, retrying, transport_error
from ecsync_core.ports import KeyValueStore, StockReading
from ecsync_rakuten import _wire as wire
from ecsync_rakuten.identity import ProductVariants, VariantResolver
from ecsync_rakuten.plugin import CODE, SECRET_NAMES, RakutenSettings


T = TypeVar("T")

JST = timezone(timedelta(hours=9), "JST")

BULK_GET = "/es/2.0/inventories/bulk-get"
BULK_UPSERT = "/es/2.0/inventories/bulk-upsert"
ITEMS_PREFIX = "/es/2.0/items/manage-numbers/"
EXPIRY = "/es/1.0/license-management/license-key/expiry-date"

RENEW = (
    "renew it in RMS (店舗様向け情報・サービス → WEB APIサービス → ライセンスキー) "
    "and put the new key in RAKUTEN_LICENSE_KEY"
)
ENABLE = "enable this API for the key in RMS → WEB APIサービス → 利用機能編集"
REFUSED_BATCH = "not applied: the batch was refused (400)"

_INDEX = re.compile(r"inventories\[(\d+)\]")


class RakutenRmsClient:
    """
    ``MallInventory`` for Rakuten Ichiba through RMS Inventory API 2.0.

    Args:
        settings: ``malls.rakuten``.
        secrets: holds ``RAKUTEN_SERVICE_SECRET`` and ``RAKUTEN_LICENSE_KEY``.
        store: where resolved variants are cached.
        transport: an httpx transport instead of the network (tests, the in-process sandbox).
    """

    def __init__(
        self,
        settings: RakutenSettings,
        secrets: Mapping[str, str],
        store: KeyValueStore,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._license_key = secrets.get("RAKUTEN_LICENSE_KEY", "")
        self._missing = [name for name in SECRET_NAMES if not secrets.get(name)]
        token = base64.b64encode(f"{secrets.get('RAKUTEN_SERVICE_SECRET', '')}:{self._license_key}".encode())
        margin = 1 + settings.pacing_margin
        # RMS publishes no burst: one token deep. A bucket of depth 1 also drops the time a late wake-up
        # overslept, so calls are never closer together than 1/rate, which is what the gateway checks.
        pacer = Pacer(
            {
                ("POST", BULK_UPSERT): TokenBucket(settings.upsert_rate / margin, 1),
                ("POST", BULK_GET): TokenBucket(settings.bulk_get_rate / margin, 1),
                ("GET", ITEMS_PREFIX): TokenBucket(settings.items_rate / margin, 1),
            }
        )
        self._http = httpx.AsyncClient(
            base_url=settings.endpoint,
            transport=transport,
            verify=shared_tls(),
            timeout=settings.timeout_s,
            headers={"Authorization": f"ESA {token.decode()}", "Accept": "application/json"},
            event_hooks={"request": [pacer]},
        )
        self._resolver = VariantResolver(
            store,
            self._product,
            fold_variant_case=settings.fold_variant_case,
            trust_for=timedelta(hours=settings.variant_cache_hours),
        )
        self._credential_error: CredentialError | None = None
        self._items_off: MallError | None = None

    @classmethod
    def from_context(cls, context: MallContext) -> RakutenRmsClient:
        return cls(context.settings, context.secrets, context.store, context.transport)

    # -- MallInventory -------------------------------------------------------------------------------------

    async def read(self, items: Sequence[str]) -> StockReading:
        """
        Stock of *items*, keyed as given. SKUs Rakuten does not hold are absent; keys that name no single SKU
        (a product with several variants, or none) are problems, with the reason.
        """
        resolution = await self._resolver.resolve(dict.fromkeys(items))
        held = await self._held(resolution.pairs.values())
        # A cached single variant that reads absent was deleted or replaced since: asked again now, or the
        # run would write to it (Rakuten accepts that silently) while the product's real SKU keeps its stock.
        stale = {key: resolution.pairs[key] for key in resolution.cached if resolution.pairs[key] not in held}
        if stale:
            self._resolver.forget(m for m, _ in stale.values())
            again = await self._resolver.resolve(stale)
            for key in stale:
                del resolution.pairs[key]
            resolution.pairs.update(again.pairs)
            resolution.refused.update(again.refused)
            held.update(await self._held(again.pairs.values()))
        problems = {**resolution.refused, **resolution.shared()}
        quantities = {
            key: q
            for key, pair in resolution.pairs.items()
            if key not in problems and (q := held.get(pair)) is not None
        }
        return StockReading(quantities, problems=problems)

    async def _held(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """What Rakuten holds of these SKUs; the SKUs it does not hold are absent."""
        wanted = list(dict.fromkeys(pairs))
        held: dict[tuple[str, str], int] = {}
        for answer in await self._bounded([self._bulk_get(b) for b in _chunks(wanted, self.settings.bulk_get_batch)]):
            held.update(answer)
        return held

    async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
        """
        Set absolute stock, 400 SKUs a call. A 400 names its bad items by ``propertyPath``; as RMS documents
        no partial success, the whole call is taken as not applied and the other items are sent once more
        without the bad ones (``ABSOLUTE`` makes that safe). Raises only when no item could be written.
        """
        resolution = await self._resolver.resolve(w.item for w in writes)
        errors: dict[str, str] = {**resolution.refused, **resolution.unknown, **resolution.shared()}
        sent = {pair: w.quantity for w in writes if w.item not in errors and (pair := resolution.pairs.get(w.item))}
        outcomes = await self._bounded(
            [self._upsert_or_fail(batch) for batch in _chunks(list(sent.items()), self.settings.upsert_batch)]
        )
        pair_errors = {pair: error for failed, _ in outcomes for pair, error in failed.items()}
        raised = [exc for _, exc in outcomes if exc is not None]
        if raised and len(raised) == len(outcomes):
            raise raised[0]
        for key, pair in resolution.pairs.items():
            if pair in pair_errors:
                errors[key] = pair_errors[pair]
        return [ItemResult(w.item, ok=w.item not in errors, error=errors.get(w.item)) for w in writes]

    async def credentials(self) -> list[CredentialStatus]:
        """The license key's days left, from the license-management expiry-date API (the one call it makes)."""
        response = await self._call("GET", EXPIRY, params={"licenseKey": self._license_key})
        if response.status_code != 200:
            raise self._unexpected("license-key expiry-date", response)
        expiry = self._parse(response, wire.ExpiryDate, "license-key expiry-date").expiry_date
        try:
            # No offset on the wire: the time is JST (facts sheet §4).
            expires = datetime.fromisoformat(expiry).replace(tzinfo=JST)
        except ValueError:
            raise MallError(CODE, f"license-key expiry-date: not a date: {expiry!r}") from None
        days_left = (expires.date() - datetime.now(JST).date()).days
        return [
            CredentialStatus(
                name="license key",
                days_left=days_left,
                action=f"expires {expires:%Y-%m-%d %H:%M} JST; {RENEW}",
                warn_days=self.settings.expiry_warn_days,
            )
        ]

    async def ping(self) -> str:
        """One cheap call: the expiry-date API (it needs no SKU)."""
        (status,) = await self.credentials()
        return f"license key valid, {status.days_left} days left"

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- calls -----------------------------------------------------------------------------------------------

    async def _bounded(self, calls: list[Coroutine[Any, Any, T]]) -> list[T]:
        """
        Run *calls* with at most ``max_in_flight`` under way: the buckets still space the calls out; this only
        lets one answer be decoded while the next call is on the wire. The first error cancels the rest.
        """
        slots = asyncio.Semaphore(self.settings.max_in_flight)

        async def one(call: Coroutine[Any, Any, T]) -> T:
            async with slots:
                return await call

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(call)) for call in calls]
        except BaseExceptionGroup as failed:
            raise _first(failed) from None
        return [task.result() for task in tasks]

    async def _bulk_get(self, batch: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
        response = await self._call("POST", BULK_GET, json=wire.bulk_get_body(batch))
        if response.status_code in (400, 404):
            # UNCERTAIN (facts sheet §3.1 [U]): RMS may leave an unknown SKU out of a bulk-get (assumed) or
            # refuse the call over it. The SKUs a refusal names (by propertyPath, or as the documented
            # not-found error does, in its message) are asked again without, so they read as absent, as if
            # left out. A not-found naming none of ours is halved until the unknown SKUs stand alone.
            errors = self._errors(response)
            named = set(_blame(errors))
            not_found = response.status_code == 404 and any(e.code == "GE0014" for e in errors)
            if not_found:
                named |= _named_in_message(errors, batch)
            if named and all(i < len(batch) for i in named):
                rest = [pair for i, pair in enumerate(batch) if i not in named]
                return await self._bulk_get(rest) if rest else {}
            if not_found:
                if len(batch) == 1:
                    return {}
                half = len(batch) // 2
                return {**await self._bulk_get(batch[:half]), **await self._bulk_get(batch[half:])}
        if response.status_code != 200:
            raise self._unexpected("bulk-get", response)
        data = self._json(response, "bulk-get")
        held = wire.bulk_get_quantities(data)
        if held is None:  # not the plain shape: cattrs reads it, or says what is wrong with it
            answer = self._structure(data, wire.BulkGetResponse, "bulk-get")
            # Rakuten answers the manageNumber folded; the variantId as stored.
            held = {(row.manage_number.lower(), row.variant_id): row.quantity for row in answer.inventories}
        return held

    async def _upsert_or_fail(
        self, batch: list[tuple[tuple[str, str], int]]
    ) -> tuple[dict[tuple[str, str], str], MallError | None]:
        """One batch's failed SKUs; when the call fails as a whole, every SKU of it, and the error."""
        if self._credential_error is not None:  # a refused key stays refused: spare the other batches
            return {pair: str(self._credential_error) for pair, _ in batch}, self._credential_error
        try:
            return await self._upsert(batch), None
        except MallError as exc:
            if isinstance(exc, CredentialError):
                self._credential_error = exc
            return {pair: exc.message for pair, _ in batch}, exc

    async def _upsert(self, batch: list[tuple[tuple[str, str], int]]) -> dict[tuple[str, str], str]:
        """Send one batch; return the failed SKUs with their errors (after one resend of the good ones)."""
        failed: dict[tuple[str, str], str] = {}
        pending = batch
        for attempt in range(2):
            response = await self._call("POST", BULK_UPSERT, json=wire.bulk_upsert_body(pending))
            if response.status_code == 204:
                return failed
            if response.status_code != 400:
                raise self._unexpected("bulk-upsert", response)
            blamed = _blame(self._errors(response))
            if not blamed or any(i >= len(pending) for i in blamed):
                # Errors that name no item of ours: nothing tells the good items from the bad.
                summary = "; ".join(e.describe() for e in self._errors(response)) or "no detail"
                failed.update((pair, f"refused by Rakuten (400): {summary}") for pair, _ in pending)
                return failed
            for index, messages in blamed.items():
                failed[pending[index][0]] = f"refused by Rakuten: {'; '.join(messages)}"
            rest = [entry for i, entry in enumerate(pending) if i not in blamed]
            if not rest:
                return failed
            if attempt == 1:
                failed.update((pair, REFUSED_BATCH) for pair, _ in rest)
            pending = rest
        return failed

    async def _product(self, manage_number: str) -> ProductVariants:
        """Items API 2.0 ``items.get``: the product's variant ids, or ``None`` for a product Rakuten lacks."""
        if self._items_off is not None:  # refused once: the other bare keys are not asked, 1 s each
            raise self._items_off
        try:
            response = await self._call("GET", ITEMS_PREFIX + manage_number)
        except CredentialError as refused:
            # Each API family is switched on for the key on its own (facts sheet §3, "Enabling"); how RMS
            # refuses one that is off (403, or a 401 such as GE0011) is [U]. If the inventory API takes the key,
            # Items API is off for it: only the bare keys stop. If it refuses it too, the key itself is
            # refused: its own words are raised. Either way the verdict holds for the run.
            try:
                await self._call("POST", BULK_GET, json=wire.bulk_get_body([(manage_number, "normal-inventory")]))
            except CredentialError as exc:
                raise exc from refused
            except MallError as exc:
                self._items_off = MallError(CODE, f"Items API refused the key; the inventory API: {exc.message}")
            else:
                self._items_off = MallError(CODE, f"Items API refused the key, which the inventory API takes: {ENABLE}")
            raise self._items_off from None
        if response.status_code == 404:
            return ProductVariants(manage_number, None)
        if response.status_code != 200:
            raise self._unexpected("items.get", response)
        item = self._parse(response, wire.Item, "items.get")
        return ProductVariants(manage_number, tuple(item.variants))

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """
        One API call, retried on 429, 5xx and transport errors (each try paced by the request hook).
        Credential refusals raise ``CredentialError`` (never retried); any other answer is returned to judge.
        """
        if self._missing:
            raise CredentialError(CODE, f"{' and '.join(self._missing)} not set: add it to .env")
        async for attempt in retrying():
            with attempt:
                try:
                    response = await self._http.request(method, path, json=json, params=params)
                except httpx.TransportError as exc:
                    raise transport_error(CODE, exc) from exc
                self._check_gateway(response, path)
                return response
        raise AssertionError("unreachable: retrying() either returns or raises")  # pragma: no cover

    def _check_gateway(self, response: httpx.Response, path: str) -> None:
        status = response.status_code
        if status == 401:
            codes = {e.code for e in self._errors(response)}
            if "GA0001" in codes:  # the gateway's answer to the pair: a wrong secret reads as a lapsed key
                raise CredentialError(
                    CODE,
                    "credentials refused (401 GA0001): RAKUTEN_SERVICE_SECRET or RAKUTEN_LICENSE_KEY is wrong, or the "
                    f"license key expired or was revoked: check both against RMS; a lapsed key: {RENEW}",
                )
            code = ", ".join(sorted(codes)) or "no code"
            raise CredentialError(CODE, f"credentials refused (401 {code}): check {' and '.join(SECRET_NAMES)}")
        if status == 403:
            raise CredentialError(CODE, f"{path}: access denied (403): {ENABLE}")
        if status == 429 or status >= 500:
            retry_after = _seconds(response.headers.get("Retry-After"))
            raise MallError(CODE, f"{path}: HTTP {status}", retryable=True, retry_after=retry_after)

    def _errors(self, response: httpx.Response) -> list[wire.ApiError]:
        try:
            return wire.structure(response.json(), wire.ErrorResponse).errors
        except Exception:  # an answer without the RMS envelope (a proxy's HTML page, say) has no codes
            return []

    def _parse(self, response: httpx.Response, cls: type[T], what: str) -> T:
        return self._structure(self._json(response, what), cls, what)

    @staticmethod
    def _json(response: httpx.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise MallError(CODE, f"{what}: answer is not JSON: {exc}") from None

    @staticmethod
    def _structure(data: Any, cls: type[T], what: str) -> T:
        try:
            return wire.structure(data, cls)
        except Exception as exc:  # cattrs' validation errors, made one line
            raise MallError(CODE, f"{what}: unexpected answer: {wire.describe_structure_error(exc)}") from None

    def _unexpected(self, what: str, response: httpx.Response) -> MallError:
        detail = "; ".join(e.describe() for e in self._errors(response)) or response.text[:200]
        return MallError(CODE, f"{what}: HTTP {response.status_code}: {detail}")


class Pacer:
    """
    An httpx request hook that takes a token from the call's bucket at the last moment before sending.

    httpx runs request hooks after the body is encoded and right before the transport, with nothing of ours
    (encoding 400 SKUs, decoding another answer) in between, so the calls reach RMS spaced as the bucket
    spaced them, up to network jitter, which the pacing margin absorbs. A retry passes here again: paced too.

    Args:
        buckets: (method, path fragment) -> its bucket; a call matching none is not paced.
    """

    def __init__(self, buckets: Mapping[tuple[str, str], TokenBucket]) -> None:
        self._buckets = dict(buckets)

    async def __call__(self, request: httpx.Request) -> None:
        path = request.url.path
        for (method, fragment), bucket in self._buckets.items():
            if request.method == method and fragment in path:
                await bucket.acquire()
                return


def _first(group: BaseExceptionGroup[Any]) -> BaseException:
    """The first leaf of a task group's failure (a MallError, normally), to raise on its own."""
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


def _blame(errors: list[wire.ApiError]) -> dict[int, list[str]]:
    """Batch index -> its error texts, for the errors whose ``propertyPath`` names an item; {} if one does not."""
    blamed: dict[int, list[str]] = {}
    for error in errors:
        path = error.metadata.property_path if error.metadata else None
        match = _INDEX.match(path or "")
        if match is None:
            return {}
        blamed.setdefault(int(match[1]), []).append(error.describe())
    return blamed


_NOT_FOUND = re.compile(r"manageNumber=(?P<m>[^,\s]+),\s*variantId=(?P<v>[^,\s]+)")


def _named_in_message(errors: list[wire.ApiError], batch: list[tuple[str, str]]) -> set[int]:
    """
    Batch indexes a not-found message names (``Not found for inputs; manageNumber=…, variantId=…``). One naming
    a manageNumber alone names none: its known variants must not be left out with it (the batch is halved).
    """
    named: set[int] = set()
    for error in errors:
        if (match := _NOT_FOUND.search(error.message or "")) is None:
            continue
        m, v = match["m"].lower(), match["v"]
        named.update(i for i, pair in enumerate(batch) if pair == (m, v))
    return named


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _chunks(values: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
