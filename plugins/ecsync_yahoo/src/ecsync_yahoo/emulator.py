"""
A loopback emulator of the Yahoo!ショッピング store API (getStock, setStock) and YConnect v2 (authorize,
token), built from the facts sheet: same paths, form bodies, XML shapes, error codes and auth failures.

What it copies from the real service (and where the sheet is unsure, what it guesses):

- ``Authorization: Bearer`` required; unknown or expired token -> 401 with ``WWW-Authenticate: Bearer
  realm="yahooapis.jp", error="invalid_token", error_description="expired token"`` and an XML ``Message``.
- setStock: at most 1,000 codes (``st-02102``), no duplicates (``st-02103``), equal counts (``st-02105``,
  ``st-02107``), quantity ``+n``/``-n`` relative and bare absolute, ``INI`` refused (``st-02104``); a bad code,
  quantity or flag fails its own row (``ErrorCode``) when several codes are sent and the whole request (the
  ``<Error>`` envelope, HTTP 400) when one is. Unknown codes are accepted silently and kept where no read
  finds them. Mixed results answer 207 (configurable: whether Yahoo does so for ordinary item errors is
  unconfirmed).
- getStock: a known item's full row; an unknown code's row carries only ``Status`` 0 (as in the documentation
  sample). getStock's own error codes are unpublished: the ``st-011xx`` codes here are a guess.
- YConnect: Basic or body client authentication, codes single-use for 600 s, PKCE (S256), access tokens for
  3,600 s, refresh tokens fixed at 28 days from the consent and never rotated, ``invalid_grant`` as 400 JSON.
- Daily quota (50,000) -> 403 "Your Request was Forbidden" (the body format is unpublished: a guess).
- Public key: ``X-sws-signature`` decrypted with the store key of that ``X-sws-signature-version``; the
  answer's ``X-SWS-Authorize-Status`` says ``authorized`` or ``unauthorized``, the call never fails for it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import secrets
import time

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlencode, urlsplit

import attrs

from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, generate_private_key
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ecsync_core.sandbox.harness import RateLimit
from ecsync_yahoo import _wire
from ecsync_yahoo.plugin import YahooSettings


API = "/ShoppingWebService/V1"
TOKEN_PATH = "/yconnect/v2/token"
AUTHORIZE_PATH = "/yconnect/v2/authorization"
JST = timezone(timedelta(hours=9))

ACCESS_TOKEN_S = 3600
CODE_S = 600
REFRESH_TOKEN_S = 28 * 24 * 3600
PUBLISHED_RATE = 10.0
"""Requests a second per API, from the older help page (the newer one is silent)."""
# The facts sheet's item_code rules, written here rather than taken from the adapter, so that an adapter that
# sends more codes, or codes of another shape, is refused as Yahoo would refuse it instead of agreed with.
MAX_CODES_PER_CALL = 1000
_CODE = re.compile(r"[A-Za-z0-9-]{1,99}(?::[A-Za-z0-9-]{1,99})?")

CHALLENGE = 'Bearer realm="yahooapis.jp", error="invalid_token", error_description="expired token"'
_SELLER = re.compile(r"[a-z0-9_-]{1,128}")
_XML = "text/xml"  # the stock APIs answer text/xml; errors are application/xml (as recorded)

DEMO_KEY_VERSION = "1"
WRITTEN_UNREAD = "ed-10002"
UNKNOWN_ROW = "<Result><Status>0</Status></Result>"
"""getStock's row for a code Yahoo does not know: only Status 0 (the documentation's sample)."""


@functools.cache
def demo_key() -> RSAPrivateKey:
    """The emulator's store key (made once a process): tests and the sandbox sign with its public half."""
    return generate_private_key(public_exponent=65537, key_size=2048)


def demo_public_pem() -> str:
    return demo_key().public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


@attrs.define
class Item:
    """A registered item; its getStock row is rendered once per change (the sandbox serves 100,000)."""

    quantity: int
    allow_overdraft: int = 0
    updated: float = 0.0
    _row: str | None = attrs.field(default=None, init=False, repr=False, eq=False)

    def change(self, quantity: int, at: float, allow_overdraft: int | None = None) -> None:
        self.quantity, self.updated, self._row = quantity, at, None
        if allow_overdraft is not None:
            self.allow_overdraft = allow_overdraft

    def row(self, key: str) -> str:
        if self._row is None:
            # Registered keys are valid codes (letters, digits, '-', ':'): nothing in them needs escaping.
            item, _, sub = key.partition(":")
            when = datetime.fromtimestamp(self.updated, JST).isoformat(timespec="seconds")
            self._row = (
                f"<Result><ItemCode>{item}</ItemCode><SubCode>{sub}</SubCode><Status>1</Status>"
                f"<Quantity>{self.quantity}</Quantity><AllowOverdraft>{self.allow_overdraft}</AllowOverdraft>"
                f"<IsPublished>1</IsPublished><UpdateTime>{when}</UpdateTime></Result>"
            )
        return self._row


def _set_row(item: str, sub: str, quantity: int) -> str:
    # setStock's row. A code that passed _CODE holds only letters, digits and '-': nothing to escape.
    return f"<Result><ItemCode>{item}</ItemCode><SubCode>{sub}</SubCode><Quantity>{quantity}</Quantity></Result>"


@attrs.frozen
class Grant:
    """An authorization code waiting to be exchanged."""

    client_id: str
    redirect_uri: str
    issued_at: float
    challenge: str | None
    nonce: str | None


def _item_parts(key: str) -> tuple[str, str]:
    item, _, sub = key.partition(":")
    return item, sub


def _error(code: str, message: str, status: int = 400) -> Response:
    return Response(_wire.render_error(code, message), status_code=status, media_type="application/xml")


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class YahooEmulator:
    """
    Yahoo's store API and YConnect on one ASGI app; the stock keys are ``item`` or ``item:subcode``.

    Attributes:
        orphans: quantities set on codes Yahoo does not know (kept, never read back).
        mixed_status: the HTTP status of a setStock answer with both ok and failed rows.
        daily_quota: calls a JST day before 403.
        cut_rows: getStock leaves out its last N rows while its counters still count them (paging or a cut
            answer: whether Yahoo ever does is [U]).
        omitted_overdraft: what a setStock without ``allow_overdraft`` sets it to; ``None`` keeps the item's
            value. Which one Yahoo does is [U] (facts sheet §1.1), so both can be tested; the adapter always
            sends the flag.
        consent_denied: the authorize page answers ``error=access_denied`` (the user said no).
        item_faults: item key -> the ``ErrorCode`` setStock answers for it (per-item failures that a correct
            client cannot provoke: ``ed-10002``, or ``st-02104`` from a Yahoo-side rule).
    """

    limits: Sequence[RateLimit] = (
        RateLimit(f"{API}/getStock", PUBLISHED_RATE, PUBLISHED_RATE),
        RateLimit(f"{API}/setStock", PUBLISHED_RATE, PUBLISHED_RATE),
    )

    def __init__(
        self,
        seed: Mapping[str, int],
        *,
        seller_id: str = "snbx-ecsync",
        clock: Callable[[], float] = time.time,
        daily_quota: int = 50_000,
        mixed_status: int = 207,
        omitted_overdraft: int | None = None,
    ) -> None:
        self.seller_id = seller_id
        self._clock = clock
        self._offset = 0.0
        now = self.now()
        self.items: dict[str, Item] = {k: Item(int(q), 0, now) for k, q in seed.items()}
        self.orphans: dict[str, int] = {}
        self.mixed_status = mixed_status
        self.omitted_overdraft = omitted_overdraft
        self.cut_rows = 0
        self.daily_quota = daily_quota
        self.consent_denied = False
        self.item_faults: dict[str, str] = {}
        self.client_id = "dj00aiZpPWVjc3luYy1zYW5kYm94"  # shaped like a YConnect Client ID
        self.client_secret = "sandbox-" + secrets.token_hex(16)
        self.callbacks: set[str] = set()
        self.grants: dict[str, Grant] = {}
        self.refresh_tokens: dict[str, float] = {}
        self.access_tokens: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.store_keys: dict[str, RSAPrivateKey] = {}
        self.signature_window_s = YahooSettings().signature_window_s
        self.sandbox_refresh_token = self.issue_refresh_token(now)

    # -- time and test controls -------------------------------------------------------------------------

    def now(self) -> float:
        return self._clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock on (tokens expire, codes lapse, the JST day turns)."""
        self._offset += seconds

    def issue_refresh_token(self, consent_at: float) -> str:
        token = secrets.token_urlsafe(48)
        self.refresh_tokens[token] = consent_at
        return token

    def issue_access_token(self) -> str:
        token = secrets.token_urlsafe(32)
        self.access_tokens[token] = self.now() + ACCESS_TOKEN_S
        return token

    def accept_demo_key(self) -> str:
        """Register the demo store key; returns its version, for ``YAHOO_PUBLIC_KEY_VERSION``."""
        self.store_keys[DEMO_KEY_VERSION] = demo_key()
        return DEMO_KEY_VERSION

    # -- the Emulator protocol ----------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"{API}/getStock", self.get_stock, methods=["POST"]),
            Route(f"{API}/setStock", self.set_stock_api, methods=["POST"]),
            Route(TOKEN_PATH, self.token, methods=["POST"]),
            Route(AUTHORIZE_PATH, self.authorize, methods=["GET"]),
        ]

    def stock(self) -> dict[str, int]:
        return {k: item.quantity for k, item in self.items.items()}

    def set_stock(self, items: Mapping[str, int]) -> None:
        now = self.now()
        for key, quantity in items.items():
            if key in self.items:
                self.items[key].change(int(quantity), now)
            else:
                self.items[key] = Item(int(quantity), 0, now)
                self.orphans.pop(key, None)

    def throttled(self, request: Request) -> Response:
        # Yahoo publishes no throttle answer; a 429 in the store API's own error shape is our guess, and no
        # Retry-After: no source shows one, so the adapter's own back-off is what a throttled call meets.
        body = _wire.render_auth_error("Too Many Requests")
        return Response(body, status_code=429, media_type="application/xml")

    def failure(self, request: Request, status: int) -> Response:
        if status == 429:
            return self.throttled(request)
        if request.url.path.startswith("/yconnect/"):
            return _oauth_error("server_error", "injected failure", status)
        if status == 503:
            return _error("ed-00002", "ただいまメンテナンス中です。", status)
        return _error("ed-00001", "システムエラーが発生しました。", status)

    def sandbox_settings(self, base_url: str, speed: float) -> dict[str, object]:
        base = base_url.rstrip("/")
        own = YahooSettings()
        return {
            "endpoint": base + API,
            "token_url": base + TOKEN_PATH,
            "authorize_url": base + AUTHORIZE_PATH,
            "seller_id": self.seller_id,
            # the pace scales with the emulator's limits; the burst stays a couple of calls, as in production
            "requests_per_second": own.requests_per_second * speed,
        }

    def sandbox_secrets(self) -> dict[str, str]:
        consent = datetime.fromtimestamp(self.refresh_tokens[self.sandbox_refresh_token], UTC)
        return {
            "YAHOO_CLIENT_ID": self.client_id,
            "YAHOO_CLIENT_SECRET": self.client_secret,
            "YAHOO_REFRESH_TOKEN": self.sandbox_refresh_token,
            "YAHOO_CONSENT_AT": consent.isoformat(timespec="seconds"),
        }

    # -- store API ----------------------------------------------------------------------------------------

    def _admit(self, request: Request) -> Response | None:
        """Quota and bearer token; ``None`` when the call may go on."""
        day = datetime.fromtimestamp(self.now(), JST).date().isoformat()
        self.calls[day] = self.calls.get(day, 0) + 1
        if self.calls[day] > self.daily_quota:
            return Response(_wire.render_auth_error("Your Request was Forbidden"), 403, media_type="application/xml")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expires = self.access_tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expires is None or expires <= self.now():
            return Response(
                _wire.render_auth_error(f"Please provide valid credentials. {CHALLENGE}"),
                status_code=401,
                media_type="application/xml",
                headers={"WWW-Authenticate": CHALLENGE},
            )
        return None

    def _signature_status(self, request: Request) -> dict[str, str]:
        signature = request.headers.get("X-sws-signature")
        if signature is None:
            return {}
        key = self.store_keys.get(request.headers.get("X-sws-signature-version", ""))
        status = "unauthorized"
        if key is not None:
            try:
                plain: bytes | None = key.decrypt(base64.b64decode(signature, validate=True), PKCS1v15())
            except ValueError:
                plain = None
            seller, _, stamp = (plain or b"").decode(errors="replace").rpartition(":")
            if seller == self.seller_id and stamp.isdigit() and abs(self.now() - int(stamp)) <= self.signature_window_s:
                status = "authorized"
        return {"X-SWS-Authorize-Status": status}

    async def _form(self, request: Request) -> dict[str, list[str]]:
        return parse_qs((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True)

    def _seller_problem(self, form: Mapping[str, list[str]]) -> Response | None:
        seller = form.get("seller_id", [""])[0]
        if not seller:
            return _error("ed-00003", "ストアアカウントが指定されていません。")
        if not _SELLER.fullmatch(seller):
            return _error("ed-00005", "ストアアカウントの形式が不正です。")
        if seller != self.seller_id:
            return _error("ed-00004", "指定されたストアアカウントは存在しません。")
        return None

    async def _store_call(self, request: Request) -> tuple[dict[str, list[str]], dict[str, str]] | Response:
        """What every store-API call goes through first: quota and token, signature, form, seller id."""
        if refused := self._admit(request):
            return refused
        headers = self._signature_status(request)
        form = await self._form(request)
        if problem := self._seller_problem(form):
            return problem
        return form, headers

    async def get_stock(self, request: Request) -> Response:
        checked = await self._store_call(request)
        if isinstance(checked, Response):
            return checked
        form, headers = checked
        codes = form.get("item_code", [""])[0].split(",")
        if codes == [""]:
            return _error("st-01101", "パラメータ「item_code」が指定されていません。")
        if len(codes) > MAX_CODES_PER_CALL:
            return _error("st-01102", "商品コードの指定数が上限を超えています。")
        if len(codes) == 1 and not _CODE.fullmatch(codes[0]):
            return _error("st-01101", "パラメータ「item_code」が不正です。")
        rows: list[str] = []
        ok = 0
        for code in codes:
            if (held := self.items.get(code)) is not None:
                ok += 1
                rows.append(held.row(code))
            elif not _CODE.fullmatch(code):
                item, sub = _item_parts(code)
                rows.append(_wire.render_row([("ItemCode", item), ("SubCode", sub), ("ErrorCode", "st-01101")]))
            else:
                rows.append(UNKNOWN_ROW)
        if self.cut_rows:  # a short answer: the counters still speak of every row
            rows = rows[: max(0, len(rows) - self.cut_rows)]
        body = _wire.render_result_set(rows, ok=ok, ng=len(codes) - ok)
        return Response(body, media_type=_XML, headers=headers)

    async def set_stock_api(self, request: Request) -> Response:
        checked = await self._store_call(request)
        if isinstance(checked, Response):
            return checked
        form, headers = checked
        codes = form.get("item_code", [""])[0].split(",")
        quantities = form.get("quantity", [""])[0].split(",")
        flags = form["allow_overdraft"][0].split(",") if "allow_overdraft" in form else None
        if problem := self._set_request_problem(codes, quantities, flags):
            return problem
        plans = [
            self._faulted(c) or self._plan(c, q, flags[n] if flags else None)
            for n, (c, q) in enumerate(zip(codes, quantities, strict=True))
        ]
        if len(codes) == 1 and isinstance(plans[0], str):
            return _error(plans[0], "パラメータが不正です。")
        rows: list[str] = []
        ok = unread = 0
        for code, plan in zip(codes, plans, strict=True):
            item, sub = _item_parts(code)
            if isinstance(plan, str):
                rows.append(_wire.render_row([("ItemCode", item), ("SubCode", sub), ("ErrorCode", plan)]))
                continue
            if self.item_faults.get(code) == WRITTEN_UNREAD:  # written, then the re-read "failed"
                self._apply(code, *plan)
                unread += 1
                rows.append(_wire.render_row([("ItemCode", item), ("SubCode", sub), ("ErrorCode", WRITTEN_UNREAD)]))
                continue
            ok += 1
            rows.append(_set_row(item, sub, self._apply(code, *plan)))
        ng = len(codes) - ok
        # 207: some rows failed while at least one update went through (ed-10002 rows were written too)
        status = self.mixed_status if ng and (ok or unread) else 200
        return Response(
            _wire.render_result_set(rows, ok=ok, ng=ng), status_code=status, media_type=_XML, headers=headers
        )

    def _faulted(self, code: str) -> str | None:
        fault = self.item_faults.get(code)
        return None if fault in {None, WRITTEN_UNREAD} else fault

    @staticmethod
    def _set_request_problem(codes: list[str], quantities: list[str], flags: list[str] | None) -> Response | None:
        if codes == [""]:
            return _error("st-02101", "パラメータ「item_code」が指定されていません。")
        if len(codes) > MAX_CODES_PER_CALL:
            return _error("st-02102", "商品コードの指定数が上限を超えています。")
        if len(set(codes)) != len(codes):
            return _error("st-02103", "商品コードが重複しています。")
        if len(quantities) != len(codes):
            return _error("st-02105", "商品コードと在庫数の指定数が一致しません。")
        if flags is not None and len(flags) != len(codes):
            return _error("st-02107", "商品コードと超過購入の指定数が一致しません。")
        return None

    def _plan(self, code: str, quantity: str, flag: str | None) -> tuple[str, int, int | None] | str:
        """(mode, number, flag) for one row, or the row's error code."""
        if code not in self.items and not _CODE.fullmatch(code):
            return "st-02101"
        text = quantity.strip()  # a '+' sent unencoded arrives as a space: the number then reads as absolute
        mode = text[0] if text[:1] in {"+", "-"} else "="
        digits = text[1:] if mode != "=" else text
        if not digits.isdigit() or int(digits) > 999_999_999:
            return "st-02104"  # INI (abolished 2018-02-13) lands here too
        if flag is not None and flag not in {"0", "1"}:
            return "st-02106"
        return mode, int(digits), self.omitted_overdraft if flag is None else int(flag)

    def _apply(self, code: str, mode: str, number: int, flag: int | None) -> int:
        held = self.items.get(code)
        current = held.quantity if held is not None else self.orphans.get(code, 0)
        new = number if mode == "=" else current + number if mode == "+" else current - number
        if held is None:
            self.orphans[code] = new  # Yahoo keeps it for an item registered later; no read shows it
        else:
            held.change(new, self.now(), flag)
        return new

    # -- YConnect -----------------------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        """The consent page, consented at once: a redirect to the callback with ``code`` and ``state``."""
        q = request.query_params
        redirect = q.get("redirect_uri", "")
        if q.get("client_id") != self.client_id:
            return PlainTextResponse("invalid client_id", status_code=400)
        if not self._registered(redirect):
            return PlainTextResponse("redirect_uri is not registered for this Client ID", status_code=400)
        back: dict[str, str] = {}
        if q.get("state") is not None:
            back["state"] = q["state"]
        if q.get("response_type") != "code":
            back["error"] = "unsupported_response_type"
        elif self.consent_denied:
            back["error"] = "access_denied"
        else:
            method = q.get("code_challenge_method", "plain")
            challenge = q.get("code_challenge")
            if challenge is not None and method != "S256":
                back["error"] = "invalid_request"
            else:
                code = secrets.token_urlsafe(24)
                self.grants[code] = Grant(self.client_id, redirect, self.now(), challenge, q.get("nonce"))
                back["code"] = code
        sep = "&" if urlsplit(redirect).query else "?"
        return RedirectResponse(redirect + sep + urlencode(back), status_code=302)

    def _registered(self, redirect: str) -> bool:
        # Real YConnect wants an exact match with a registered callback; a loopback callback (any port) is
        # accepted here so that tests can listen on a free port.
        parts = urlsplit(redirect)
        return redirect in self.callbacks or (parts.scheme == "http" and parts.hostname in {"127.0.0.1", "localhost"})

    def _client(self, request: Request, form: Mapping[str, list[str]]) -> str | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(value.strip()).decode().partition(":")
            except ValueError:
                return None
        else:
            client_id, secret = form.get("client_id", [""])[0], form.get("client_secret", [""])[0]
        return client_id if (client_id, secret) == (self.client_id, self.client_secret) else None

    async def token(self, request: Request) -> Response:
        form = await self._form(request)
        if self._client(request, form) is None:
            return _oauth_error("invalid_client", "client authentication failed", 401)
        grant_type = form.get("grant_type", [""])[0]
        if grant_type == "refresh_token":
            consent = self.refresh_tokens.get(form.get("refresh_token", [""])[0])
            if consent is None or self.now() >= consent + REFRESH_TOKEN_S:
                return _oauth_error("invalid_grant", "invalid refresh token")
            return self._tokens({})
        if grant_type == "authorization_code":
            return self._exchange(form)
        return _oauth_error("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    def _exchange(self, form: Mapping[str, list[str]]) -> Response:
        grant = self.grants.pop(form.get("code", [""])[0], None)  # single use, even when it fails
        if grant is None or self.now() > grant.issued_at + CODE_S:
            return _oauth_error("invalid_grant", "invalid or expired authorization code")
        if form.get("redirect_uri", [""])[0] != grant.redirect_uri:
            return _oauth_error("invalid_grant", "redirect_uri does not match the authorization request")
        if grant.challenge is not None:
            verifier = form.get("code_verifier", [""])[0]
            if _b64url(hashlib.sha256(verifier.encode()).digest()) != grant.challenge:
                return _oauth_error("invalid_grant", "code_verifier does not match code_challenge")
        refresh = self.issue_refresh_token(grant.issued_at)
        now = int(self.now())
        claims: dict[str, object] = {
            "iss": "https://auth.login.yahoo.co.jp/yconnect/v2",
            "sub": "sandbox-user",
            "aud": [grant.client_id],
        }
        claims |= {"iat": now, "exp": now + ACCESS_TOKEN_S, **({"nonce": grant.nonce} if grant.nonce else {})}
        id_token = ".".join(
            [_b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode()), _b64url(json.dumps(claims).encode()), ""]
        )
        return self._tokens({"refresh_token": refresh, "id_token": id_token})

    def _tokens(self, extra: dict[str, str]) -> Response:
        body = {
            "access_token": self.issue_access_token(),
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_S,
            **extra,
        }
        return Response(json.dumps(body), media_type="application/json;charset=UTF-8")
