"""
The Yahoo!ショッピング adapter: ``MallInventory`` over the store API's getStock and setStock.

Both calls are form-encoded POSTs of up to 1,000 item codes (``item`` or ``item:subcode``) answered by an XML
``ResultSet``. setStock takes absolute quantities and a per-item ``allow_overdraft`` (超過購入) flag; whether
leaving the flag out keeps the current value is not documented, so it is always sent, as last read.
Yahoo accepts unknown item codes without an error, so a written item proves nothing until it reads back;
the core's sync reads every written item again.
"""

from __future__ import annotations

import asyncio
import re
import time

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote_plus

import attrs
import httpx

from ecsync_core.domain import CredentialStatus, ItemResult, StockWrite
from ecsync_core.errors import ConfigError, CredentialError, MallError, MallWarning
from ecsync_core.logging import get_logger
from ecsync_core.mall import shared_tls
from ecsync_core.pacing import TokenBucket, retrying, transport_error
from ecsync_core.ports import StockReading
from ecsync_yahoo import _wire
from ecsync_yahoo.auth import JST, RENEW, PublicKeySigner, YConnect, credential_statuses, require_secrets, retry_after
from ecsync_yahoo.plugin import CODE, YahooSettings, check_item_key


if TYPE_CHECKING:
    from ecsync_core.mall import MallContext
    from ecsync_core.ports import KeyValueStore


log = get_logger("ecsync.yahoo")

MAX_QUANTITY = 999_999_999
"""setStock's largest quantity; a bare number is absolute, a leading ``+``/``-`` would be relative."""

ITEM_LEVEL_CODES = frozenset({"st-02101", "st-02104", "st-02106"})
"""Per-item parameter errors. A one-code call answers them with the whole-request ``<Error>`` envelope, which
then concerns that one item only (peer client JSPSystem/yahoo-shopping-api-client)."""

WRITTEN_UNREAD = "ed-10002"
"""setStock: "the update succeeded but reading the new stock failed" (HTTP 207). The write stands; the
read-back that follows every write decides."""

TRANSIENT_CODES = frozenset({"ed-00001", "ed-00002", "st-02999", "st-02000"})
"""System error and maintenance (and their pre-2023 names): retried like a 5xx, whatever status carries them."""

PING_CODE = "ecsync-ping"
"""The code `health --online` asks getStock about: Yahoo answers unknown codes without an error."""


@attrs.define(str=False)
class YahooRequestError(MallError):
    """Raised when the store API refuses a whole call with an ``<Error>`` envelope; ``code`` is Yahoo's."""

    code: str | None = None


class DailyQuota:
    """
    The calls made today (JST) against the per-application quota, kept in the plugin's store.

    Calls are reserved in the store before they are made, a block at a time (1% of the quota), and the
    unused part of the block is given back on close. So the stored count is never below the calls made:
    a crash mid-run loses none, it over-counts by at most the unused block (500 of Yahoo's 50,000), and
    another process's ``health`` sees this run's block as spent until it ends. Each reservation and each
    give-back reads and adds to what is stored, so two processes do not erase each other's calls, and a
    block never takes the count past the quota.

    Why blocks: one store write opens the DuckDB file twice (read, then write), ~55 ms of CPU and ~130 ms
    of a blocked event loop; saving once a second cost a 100,000-SKU sync about a second of CPU and still
    lost up to a second's calls on a crash. A block costs one write per 500 calls and loses nothing.
    """

    RESERVE_FRACTION = 0.01

    def __init__(
        self, store: KeyValueStore, limit: int, clock: Callable[[], float] = time.time, *, app: str = ""
    ) -> None:
        self.store = store
        self.limit = limit
        self.clock = clock
        self.app = app  # the quota is Yahoo's per application ID: another ID starts its own count
        self.block = max(1, int(limit * self.RESERVE_FRACTION))
        self._day = ""
        self._stored = 0  # what the store held for _day after our last write (our unused block included)
        self._left = 0  # calls reserved in the store and not made yet

    def _key(self, day: str) -> str:
        return f"calls:{self.app}:{day}" if self.app else f"calls:{day}"

    def _roll(self) -> None:
        day = datetime.fromtimestamp(self.clock(), JST).date().isoformat()
        if day != self._day:
            self.save()
            self._day = day
            self._stored = int(self.store.get(self._key(day)) or 0)

    def used(self) -> tuple[str, int]:
        """Today's JST date and the calls counted on it (what the store holds, less our unused block)."""
        self._roll()
        return self._day, self._stored - self._left

    def spend(self) -> None:
        """
        Count one call, reserving the next block in the store first when this run's is used up.

        Raises:
            MallError: today's quota is used up. Counted per JST date: the facts sheet gives no reset time,
                and a Japanese service's day is the likeliest [I]; at worst the count is off for part of a day.
        """
        self._roll()
        if not self._left:
            key = self._key(self._day)
            stored = int(self.store.get(key) or 0)
            if stored >= self.limit:
                self._stored = stored
                raise MallError(
                    CODE,
                    f"the daily quota of {self.limit:,} store-API calls is used up for {self._day} (JST); it "
                    "resets at midnight JST (Yahoo no longer raises quotas: another application ID would be needed)",
                )
            block = min(self.block, self.limit - stored)
            self._stored = stored + block
            self.store.put(key, str(self._stored))
            self._left = block
        self._left -= 1

    def save(self) -> None:
        """Give the unused part of this run's block back to the store (on close, and when the day turns)."""
        if not self._left:
            return
        key = self._key(self._day)
        self._stored = max(0, int(self.store.get(key) or 0) - self._left)
        self.store.put(key, str(self._stored))
        self._left = 0


_FORM_PLAIN = re.compile(r"[A-Za-z0-9_.~:,-]*")
"""What a form value made of item codes and numbers holds: ``quote_plus`` keeps all but ``:`` and ``,``."""


def encode_form(form: Mapping[str, str]) -> bytes:
    """
    *form* as the ``application/x-www-form-urlencoded`` body httpx's ``data=`` would send, byte for byte.

    ``urlencode`` quotes a value with a character it does not keep byte by byte in Python (~1 ms for the
    13 kB ``item_code`` of a 1,000-code call). Values of codes, commas and digits (every value our calls
    send, as ``check_item_key`` admits only letters, digits, ``-`` and one ``:``) need two replaces; any
    other value still goes through ``quote_plus``.
    """
    return "&".join(
        f"{quote_plus(k)}={v.replace(':', '%3A').replace(',', '%2C') if _FORM_PLAIN.fullmatch(v) else quote_plus(v)}"
        for k, v in form.items()
    ).encode()


def _key_refused(status: str) -> str:
    return (
        f"Yahoo did not accept the public-key signature (X-SWS-Authorize-Status: {status}): Yahoo may then hold "
        "the session to 12 hours instead of 28 days (for which APIs is unconfirmed); check YAHOO_PUBLIC_KEY and "
        "YAHOO_PUBLIC_KEY_VERSION against Store Creator Pro → 設定 → 暗号鍵管理"
    )


def match_rows(requested: Sequence[str], rows: Sequence[_wire.StockRow]) -> dict[str, _wire.StockRow]:
    """
    The answer's rows by the item key asked for.

    Yahoo answers one ``Result`` per code, in order; a getStock row for an unknown code may carry no
    ``ItemCode``, so rows are matched by position when that agrees with the codes they name, else by code.
    """
    if len(rows) == len(requested):
        for row, key in zip(rows, requested, strict=True):
            if row.key is not None and row.key != key:
                break
        else:
            return dict(zip(requested, rows, strict=True))
    return {r.key: r for r in rows if r.key is not None}


def _batches(items: Sequence[str], size: int) -> list[Sequence[int]]:
    """
    Positions of the writes, in runs of at most *size*; an item written twice starts a new run (``st-02103``
    otherwise). Without duplicates (the usual case) the runs are plain ranges, made at once.
    """
    if len(set(items)) == len(items):
        return [range(start, min(start + size, len(items))) for start in range(0, len(items), size)]
    runs: list[Sequence[int]] = []
    run: list[int] = []
    seen: set[str] = set()
    for n, item in enumerate(items):
        if len(run) == size or item in seen:
            runs.append(run)
            run, seen = [], set()
        run.append(n)
        seen.add(item)
    if run:
        runs.append(run)
    return runs


def _screen_quantity(quantity: int) -> str | None:
    if quantity < 0:
        return f"quantity {quantity} is below 0 (Yahoo would read a leading '-' as a subtraction)"
    if quantity > MAX_QUANTITY:
        return f"quantity {quantity} is above Yahoo's maximum {MAX_QUANTITY:,}"
    return None


def _first_error(errors: Sequence[MallError]) -> MallError:
    return next((e for e in errors if isinstance(e, CredentialError)), errors[0])


class YahooShoppingClient:
    """
    ``MallInventory`` for Yahoo!ショッピング: getStock / setStock in batches of up to 1,000 codes, paced.

    Attributes:
        authorize_status: the last ``X-SWS-Authorize-Status`` Yahoo sent (``authorized`` when the public-key
            signature was accepted; a bad signature does not fail the call, only this header tells).
    """

    def __init__(
        self,
        settings: YahooSettings,
        secrets: Mapping[str, str],
        store: KeyValueStore,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.secrets = secrets
        self.http = httpx.AsyncClient(transport=transport, verify=shared_tls(), timeout=settings.timeout_s)
        self.bucket = TokenBucket(settings.requests_per_second, settings.burst)
        self.quota = DailyQuota(store, settings.daily_quota, clock, app=secrets.get("YAHOO_CLIENT_ID", ""))
        self.authorize_status: str | None = None
        self._slots = asyncio.Semaphore(settings.max_in_flight)
        # Batches are prepared just in time (at most max_in_flight at once), not all before the first call.
        # Reads and writes have their own, as a write batch may read AllowOverdraft while it holds its own.
        self._writing = asyncio.Semaphore(settings.max_in_flight)
        self._reading = asyncio.Semaphore(settings.max_in_flight)
        self._signer: PublicKeySigner | None = None
        self._signer_loaded = False
        self._auth: YConnect | None = None
        self._overdraft: dict[str, int] = {}
        self._overdraft_warned: set[str] = set()

    @classmethod
    def from_context(cls, context: MallContext) -> YahooShoppingClient:
        return cls(context.settings, context.secrets, context.store, transport=context.transport)

    # -- the port ---------------------------------------------------------------------------------------

    async def read(self, items: Sequence[str]) -> StockReading:
        """Quantities of the items Yahoo knows; unknown items are absent, malformed codes are problems."""
        rows, problems = await self._get_stock(list(dict.fromkeys(items)))
        self._warn_overdraft(rows)
        return StockReading({k: r.quantity for k, r in rows.items() if r.quantity is not None}, problems)

    async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
        """
        Set absolute quantities, with each item's ``allow_overdraft`` resent as read (``keep_overdraft``) or else
        0 (the items read with it on are named by ``read``).

        Each batch is checked, completed and sent on its own, so the first call leaves at once and the
        work on the next batches fits in the waits between calls.

        Raises:
            CredentialError: the credentials were refused.
            MallError: no batch could be written at all.
        """
        batches = _batches([w.item for w in writes], self.settings.batch_size)
        answers = await asyncio.gather(*(self._write_batch(writes, b) for b in batches), return_exceptions=True)
        results: list[ItemResult | None] = [None] * len(writes)
        errors: list[MallError] = []
        for batch, answer in zip(batches, answers, strict=True):
            if isinstance(answer, MallError):
                errors.append(answer)
                for n in batch:
                    results[n] = ItemResult(writes[n].item, ok=False, error=str(answer))
            elif isinstance(answer, BaseException):
                raise answer
            else:
                for n, result in answer:
                    results[n] = result
        if batches and len(errors) == len(batches):
            raise _first_error(errors)
        out = [r for r in results if r is not None]
        if len(out) != len(writes):  # every batch answers for each of its writes; anything else is a bug here
            raise AssertionError(f"{len(writes) - len(out)} writes got no result")
        return out

    def _warn_overdraft(self, rows: Mapping[str, _wire.StockRow]) -> None:
        """
        Say, once a run, which items read have 超過購入 on: Yahoo sells them beyond their stock, so the stock we
        set does not stop an oversell. Every mapped item is read, so unchanged ones are named too.
        """
        on = [k for k, r in rows.items() if r.allow_overdraft == 1 and k not in self._overdraft_warned]
        if not on:
            return
        self._overdraft_warned.update(on)
        if self.settings.keep_overdraft:
            action = "turn it off in the store, or set malls.yahoo.keep_overdraft: false (0 is sent with each write)"
        else:
            action = "keep_overdraft is false: ecsync sends 0 when it next writes them; until then it stays on"
        log.warning(
            "yahoo.overdraft_on",
            items=len(on),
            first=on[:10],
            detail="超過購入 is on: Yahoo takes orders beyond the stock set, so these can be oversold",
            action=action,
        )

    def _flag(self, item: str) -> int:
        """The 超過購入 flag to send for *item*."""
        if not self.settings.keep_overdraft:
            return 0
        return self._overdraft.get(item, self.settings.default_allow_overdraft)

    async def _write_batch(self, writes: Sequence[StockWrite], batch: Sequence[int]) -> list[tuple[int, ItemResult]]:
        """Screen one batch, read AllowOverdraft for items the last read did not cover, then setStock."""
        async with self._writing:
            return await self._write_admitted([(n, writes[n]) for n in batch])

    async def _write_admitted(self, batch: list[tuple[int, StockWrite]]) -> list[tuple[int, ItemResult]]:
        done: list[tuple[int, ItemResult]] = []
        send: list[tuple[int, StockWrite]] = []
        for n, w in batch:
            if why := check_item_key(w.item) or _screen_quantity(w.quantity):
                done.append((n, ItemResult(w.item, ok=False, error=why)))
            else:
                send.append((n, w))
        keep = self.settings.keep_overdraft
        unknown = [w.item for _, w in send if keep and w.item not in self._overdraft]
        if unknown:
            _rows, unread = await self._get_stock(list(dict.fromkeys(unknown)))
            if unread:
                why = "its AllowOverdraft could not be read to send it back ({})"
                done.extend(
                    (n, ItemResult(w.item, ok=False, error=why.format(unread[w.item])))
                    for n, w in send
                    if w.item in unread
                )
                send = [(n, w) for n, w in send if w.item not in unread]
        if send:
            done.extend(await self._set_batch(send))
        return done

    async def credentials(self) -> list[CredentialStatus]:
        """
        The refresh token's days left (28 from consent) and the public key's, if one is set; no API call. A
        missing store account raises here too: without it no call can be made, which health must say offline.
        """
        self._seller_id()
        return credential_statuses(self.secrets, self.settings)

    async def ping(self) -> str:
        """One getStock call; the detail names today's call count against the quota."""
        answer = await self._call("getStock", {"seller_id": self._seller_id(), "item_code": PING_CODE})
        day, used = self.quota.used()
        parts = [
            f"getStock answered ({len(answer.rows)} result)",
            f"{used:,} of {self.settings.daily_quota:,} calls used on {day} (JST)",
        ]
        # Only a header that says otherwise fails: that Yahoo always sends it is a peer's word [P], not a fact.
        if self.signer() is not None and self.authorize_status not in {None, "authorized"}:
            raise MallWarning(CODE, f"{'; '.join(parts)}; {_key_refused(self.authorize_status)}")
        if self.authorize_status is not None:
            parts.append(f"public key {self.authorize_status}")
        return "; ".join(parts)

    async def aclose(self) -> None:
        self.quota.save()
        await self.http.aclose()

    def calls_today(self) -> tuple[str, int]:
        """Today's JST date and the store-API calls counted on it (for health)."""
        return self.quota.used()

    # -- batches ----------------------------------------------------------------------------------------

    async def _get_stock(self, keys: Sequence[str]) -> tuple[dict[str, _wire.StockRow], dict[str, str]]:
        """The rows Yahoo has for *keys*, and the keys it could not read with why; remembers AllowOverdraft."""
        size = self.settings.batch_size
        chunks = [list(keys[i : i + size]) for i in range(0, len(keys), size)]
        answers = await asyncio.gather(*(self._get_chunk(c) for c in chunks), return_exceptions=True)
        rows: dict[str, _wire.StockRow] = {}
        problems: dict[str, str] = {}
        errors: list[MallError] = []
        for chunk, answer in zip(chunks, answers, strict=True):
            if isinstance(answer, MallError):
                errors.append(answer)
                problems.update(dict.fromkeys(chunk, str(answer)))
            elif isinstance(answer, BaseException):
                raise answer
            else:
                rows.update(answer[0])
                problems.update(answer[1])
        if chunks and len(errors) == len(chunks):
            raise _first_error(errors)
        return rows, problems

    async def _get_chunk(self, keys: list[str]) -> tuple[dict[str, _wire.StockRow], dict[str, str]]:
        async with self._reading:
            return await self._get_admitted(keys)

    async def _get_admitted(self, keys: list[str]) -> tuple[dict[str, _wire.StockRow], dict[str, str]]:
        found: dict[str, _wire.StockRow] = {}
        problems: dict[str, str] = {}
        chunk = []
        for key in keys:  # a code Yahoo would refuse is reported here, not sent (it would fail the whole call)
            if why := check_item_key(key):
                problems[key] = why
            else:
                chunk.append(key)
        if not chunk:
            return found, problems
        try:
            answer = await self._call("getStock", {"seller_id": self._seller_id(), "item_code": ",".join(chunk)})
        except YahooRequestError as exc:
            if self._item_level(exc, len(chunk)):
                problems[chunk[0]] = f"Yahoo refused the code: {exc.code}"
                return found, problems
            raise
        self._sort_rows(chunk, match_rows(chunk, answer.rows), found, problems)
        if answer.total_available is not None and len(answer.rows) < answer.total_available:
            # Fewer rows than Yahoo says it has (paged or cut short, [U]): a code without its row is not known
            # to be absent, so it is a problem (never sent), not a missing item (sent blind, zeros unchecked).
            short = f"getStock answered {len(answer.rows)} of {answer.total_available} rows"
            problems.update({key: short for key in chunk if key not in found and key not in problems})
        return found, problems

    def _sort_rows(
        self,
        chunk: list[str],
        by_key: dict[str, _wire.StockRow],
        found: dict[str, _wire.StockRow],
        problems: dict[str, str],
    ) -> None:
        """Known items into *found* (remembering AllowOverdraft), refused ones into *problems*, the rest absent."""
        for key in chunk:
            row = by_key.get(key)
            if row is None:
                continue
            if row.status == "0" and self.settings.status_zero_is_missing and not row.error_code:
                # Status's meaning is [U]: the log says which items this reading of it took as absent.
                log.info("yahoo.status_zero_taken_as_missing", item=key, quantity=row.quantity)
                continue
            if row.error_code:
                said = f" ({row.error_message})" if row.error_message else ""
                problems[key] = f"getStock answered {row.error_code}{said}"
            elif row.quantity is None:
                # An empty Quantity was "stock not managed" (unlimited) before 2018; it reads as no number.
                log.warning("yahoo.quantity_empty", item=key)
            else:
                found[key] = row
                if row.allow_overdraft is not None:
                    self._overdraft[key] = row.allow_overdraft

    async def _set_batch(self, batch: list[tuple[int, StockWrite]]) -> list[tuple[int, ItemResult]]:
        keys = [w.item for _, w in batch]
        form = {
            "seller_id": self._seller_id(),
            "item_code": ",".join(keys),
            "quantity": ",".join(str(w.quantity) for _, w in batch),
            "allow_overdraft": ",".join(str(self._flag(k)) for k in keys),
        }
        try:
            answer = await self._call("setStock", form)
        except YahooRequestError as exc:
            if exc.code == WRITTEN_UNREAD:  # the whole call's envelope (a one-code call): written, read back next
                return [(n, ItemResult(w.item, ok=True)) for n, w in batch]
            if self._item_level(exc, len(batch)):
                n, w = batch[0]
                return [(n, ItemResult(w.item, ok=False, error=f"Yahoo refused the item: {exc.code}"))]
            raise
        by_key = match_rows(keys, answer.rows)
        out = []
        for n, w in batch:
            out.append((n, self._set_result(w, by_key.get(w.item))))
        return out

    def _set_result(self, write: StockWrite, row: _wire.StockRow | None) -> ItemResult:
        if row is None:
            return ItemResult(write.item, ok=False, error="Yahoo's setStock answer has no result for this item")
        if row.error_code == WRITTEN_UNREAD:
            return ItemResult(write.item, ok=True)
        if row.error_code:
            said = f" ({row.error_message})" if row.error_message else ""
            return ItemResult(write.item, ok=False, error=f"setStock answered {row.error_code}{said}")
        if row.quantity != write.quantity:
            return ItemResult(
                write.item, ok=False, error=f"setStock answered quantity {row.quantity} after setting {write.quantity}"
            )
        return ItemResult(write.item, ok=True)

    @staticmethod
    def _item_level(exc: MallError, codes: int) -> bool:
        return codes == 1 and isinstance(exc, YahooRequestError) and exc.code in ITEM_LEVEL_CODES

    # -- one call ---------------------------------------------------------------------------------------

    def _seller_id(self) -> str:
        if not self.settings.seller_id:
            raise ConfigError("malls.yahoo.seller_id", "not set: the store account (ストアアカウント) is required")
        return self.settings.seller_id

    def signer(self) -> PublicKeySigner | None:
        """The public-key header maker, when ``YAHOO_PUBLIC_KEY`` is set."""
        if not self._signer_loaded:
            self._signer = PublicKeySigner.from_secrets(self.secrets, self.settings.seller_id)
            self._signer_loaded = True
        return self._signer

    def auth(self) -> YConnect:
        if self._auth is None:
            require_secrets(self.secrets)
            signer = self.signer() if self.settings.sign_token_requests else None
            self._auth = YConnect(self.http, self.settings.token_url, self.secrets, signer=signer)
        return self._auth

    async def _call(self, op: str, form: dict[str, str]) -> _wire.ResultSet:
        """One store-API call, paced, counted and retried (5xx, 429, timeouts); a 401 refreshes once."""
        async with self._slots:
            async for attempt in retrying():
                with attempt:
                    return await self._attempt(op, form)
        raise AssertionError("unreachable: retrying() raises once its attempts are spent")  # pragma: no cover

    async def _attempt(self, op: str, form: dict[str, str]) -> _wire.ResultSet:
        auth = self.auth()
        token = await auth.access_token()
        response = await self._post(op, form, token)
        refreshed = response.status_code == 401 and self._renewable(response)
        if refreshed:
            log.info("yahoo.token_refused", op=op, detail=response.headers.get("WWW-Authenticate", ""))
            token = await auth.refresh(stale=token)
            response = await self._post(op, form, token)
        if response.status_code == 401:
            raise self._refused(op, response, refreshed=refreshed)
        return self._answer(op, response)

    async def _post(self, op: str, form: dict[str, str], token: str) -> httpx.Response:
        await self.bucket.acquire()
        self.quota.spend()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-www-form-urlencoded"}
        if (signer := self.signer()) is not None:
            headers.update(signer.headers())
        try:
            response = await self.http.post(
                f"{self.settings.endpoint.rstrip('/')}/{op}", content=encode_form(form), headers=headers
            )
        except httpx.TransportError as exc:
            raise transport_error(CODE, exc) from None
        if status := response.headers.get("X-SWS-Authorize-Status"):
            if status not in {"authorized", self.authorize_status} and self.signer() is not None:
                # A bad signature fails no call: this header is the only sign, once a run in the log.
                log.warning("yahoo.public_key_refused", detail=_key_refused(status))
            self.authorize_status = status
        log.debug("yahoo.call", op=op, status=response.status_code, codes=form["item_code"].count(",") + 1)
        return response

    @staticmethod
    def _challenge(response: httpx.Response) -> tuple[dict[str, str], str | None]:
        """The 401's ``WWW-Authenticate`` parameters (or the same text in the body) and Yahoo's code, if any."""
        challenge = _wire.auth_challenge(response.headers.get("WWW-Authenticate", ""))
        code = None
        try:
            parsed = _wire.parse(response.content)
        except _wire.WireError:
            parsed = None
        if isinstance(parsed, _wire.ApiError):
            code = parsed.code
            challenge = challenge or _wire.auth_challenge(parsed.message)
        return challenge, code

    def _renewable(self, response: httpx.Response) -> bool:
        # Key on error="invalid_token", never on the description ("expired token" / "invalid token format").
        challenge, code = self._challenge(response)
        return challenge.get("error") == "invalid_token" or code == "px-04102"

    def _answer(self, op: str, response: httpx.Response) -> _wire.ResultSet:
        status = response.status_code
        if status == 429 or status >= 500:
            raise MallError(
                CODE, f"{op}: HTTP {status}{self._code_of(response)}", retryable=True, retry_after=retry_after(response)
            )
        try:
            parsed = _wire.parse(response.content)
        except _wire.WireError as exc:
            if status == 403:
                raise self._forbidden(op, None) from None
            raise MallError(CODE, f"{op}: HTTP {status} with an answer that is {exc}") from None
        if isinstance(parsed, _wire.ApiError):
            # The ID codes first: whatever the status, they are a credential problem, not the daily quota.
            if parsed.code in {"px-14303", "px-14304"}:
                raise CredentialError(
                    CODE,
                    f"{op}: Yahoo does not let this ID use the API ({parsed.code}): register the Yahoo! JAPAN / "
                    "Business ID in Store Creator Pro (設定 → 権限管理設定) with tool permission, and set "
                    "YAHOO_PUBLIC_KEY_VERSION if a public key is used",
                )
            if status == 403:
                raise self._forbidden(op, parsed.code)
            said = f" {parsed.message}" if parsed.message else ""
            # A system error or maintenance is passing, whatever status carried it (statuses are [U]).
            transient = parsed.code in TRANSIENT_CODES
            raise YahooRequestError(
                CODE, f"{op} refused the request: {parsed.code}{said}", retryable=transient, code=parsed.code
            )
        if status == 403:
            raise self._forbidden(op, None)
        if status not in {200, 207}:
            raise MallError(CODE, f"{op}: unexpected HTTP {status}")
        return parsed

    @staticmethod
    def _code_of(response: httpx.Response) -> str:
        try:
            parsed = _wire.parse(response.content)
        except _wire.WireError:
            return ""
        return f" ({parsed.code})" if isinstance(parsed, _wire.ApiError) and parsed.code else ""

    def _forbidden(self, op: str, code: str | None) -> MallError:
        day, used = self.quota.used()
        return MallError(
            CODE,
            f"{op}: Yahoo answered 403 Forbidden{f' ({code})' if code else ''}; the documented cause is the daily "
            f"quota of {self.settings.daily_quota:,} calls per application ID ({used:,} counted here for JST {day}); "
            "it resets at midnight JST",
        )

    def _refused(self, op: str, response: httpx.Response, *, refreshed: bool) -> CredentialError:
        challenge, code = self._challenge(response)
        error = challenge.get("error") or code or "unauthorized"
        if error == "insufficient_scope":
            return CredentialError(
                CODE,
                f"{op}: the app lacks the store-operations scope (insufficient_scope): use a Client ID whose app "
                "has ストア向け操作関連の機能 (開示先限定スコープ)",
            )
        if code == "px-04102":
            return CredentialError(
                CODE,
                f"{op}: Yahoo held this session to 12 hours (px-04102): set YAHOO_PUBLIC_KEY and "
                f"YAHOO_PUBLIC_KEY_VERSION for public-key authentication, then {RENEW}",
            )
        after = " even after a refresh" if refreshed else ""
        return CredentialError(CODE, f"{op}: the store API refused the access token ({error}){after}; {RENEW}")
