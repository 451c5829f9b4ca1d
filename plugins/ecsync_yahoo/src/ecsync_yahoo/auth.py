"""
Yahoo! ID連携 (YConnect) v2 for a server-side app, and the store API's public-key headers.

- Access tokens come from the refresh token (``grant_type=refresh_token``, client authenticated with HTTP
  Basic); one lasts an hour and is reused until shortly before that.
- The refresh token lasts 4 weeks *from the user's consent*; refreshing does not extend it, and YConnect
  issues no new one. When it is refused (``invalid_grant``) only a person can renew it, by consenting
  again: ``scripts/get_yahoo_token.py``.
- Public-key authentication (公開鍵認証): ``X-sws-signature`` = base64 of ``"<seller_id>:<unix seconds>"``
  encrypted with the store's public key, and ``X-sws-signature-version`` = the key's version.
"""

from __future__ import annotations

import asyncio
import base64
import time

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import attrs
import httpx

from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from ecsync_core.domain import CredentialStatus
from ecsync_core.errors import CredentialError, MallError
from ecsync_core.pacing import retrying, transport_error
from ecsync_yahoo.plugin import CODE, SECRET_NAMES, YahooSettings


RENEW = "run `python scripts/get_yahoo_token.py` (or `ecsync yahoo-token`) and consent again"
"""The action for every refresh-token problem: YConnect cannot renew it without a person."""

EARLY_S = 300.0
"""Refresh an access token this long before YConnect says it expires (clock skew, a slow call)."""


def missing_secrets(secrets: Mapping[str, str]) -> list[str]:
    return [name for name in SECRET_NAMES if not secrets.get(name)]


def require_secrets(secrets: Mapping[str, str]) -> None:
    """Raise a CredentialError naming the ``.env`` entries that are not set."""
    if missing := missing_secrets(secrets):
        client = {"YAHOO_CLIENT_ID", "YAHOO_CLIENT_SECRET"} & set(missing)
        first = "put the app's Client ID and secret there (Yahoo! JAPAN developer page), then " if client else ""
        raise CredentialError(CODE, f"{', '.join(missing)} not set in .env: {first}{RENEW}")


JST = timezone(timedelta(hours=9), "JST")
"""Yahoo's day: quotas reset and dates are shown on it."""


def parse_time(text: str, name: str) -> datetime:
    """An ISO time or date from ``.env`` as an aware UTC datetime (a naive one is taken as UTC)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CredentialError(CODE, f"{name}={text!r} is not an ISO date or time (e.g. 2026-11-29T08:00:00Z)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _days_left(until: datetime, now: datetime) -> int:
    return (until - now) // timedelta(days=1)


def load_public_pem(text: str) -> RSAPublicKey:
    """An RSA public key from PEM (``BEGIN PUBLIC KEY`` or PKCS#1 ``BEGIN RSA PUBLIC KEY``)."""
    try:
        key = load_pem_public_key(text.encode("ascii", errors="replace"))
    except (ValueError, TypeError) as exc:
        raise ValueError(str(exc).splitlines()[0] if str(exc) else "not a PEM public key") from None
    if not isinstance(key, RSAPublicKey):
        msg = f"a {type(key).__name__}, not an RSA key"
        raise ValueError(msg)
    return key


@attrs.frozen
class PublicKeySigner:
    """
    The two headers of public-key authentication for one store.

    Attributes:
        key: the store's public key (Store Creator Pro → 設定 → 暗号鍵管理).
        version: the key's version number as shown there; without it Yahoo ignores the key.
    """

    key: RSAPublicKey
    version: str
    seller_id: str
    clock: Callable[[], float] = time.time

    def headers(self) -> dict[str, str]:
        plain = f"{self.seller_id}:{int(self.clock())}".encode()
        return {
            "X-sws-signature": base64.b64encode(self.key.encrypt(plain, PKCS1v15())).decode(),
            "X-sws-signature-version": self.version,
        }

    @classmethod
    def from_secrets(cls, secrets: Mapping[str, str], seller_id: str) -> PublicKeySigner | None:
        """The signer when ``YAHOO_PUBLIC_KEY`` is set (PEM text, or the path of a PEM file), else ``None``."""
        text = secrets.get("YAHOO_PUBLIC_KEY", "").strip()
        if not text:
            return None
        version = secrets.get("YAHOO_PUBLIC_KEY_VERSION", "").strip()
        if not version:
            raise CredentialError(
                CODE,
                "YAHOO_PUBLIC_KEY is set but YAHOO_PUBLIC_KEY_VERSION is not: Yahoo ignores a key without its "
                "version (px-14303); copy the version from Store Creator Pro → 設定 → 暗号鍵管理",
            )
        if not text.startswith("-----BEGIN"):
            path = Path(text).expanduser()
            try:
                text = path.read_text(encoding="ascii")
            except OSError as exc:
                raise CredentialError(CODE, f"YAHOO_PUBLIC_KEY: cannot read {path}: {exc.strerror}") from None
        try:
            key = load_public_pem(text.replace("\\n", "\n"))
        except ValueError as exc:
            raise CredentialError(CODE, f"YAHOO_PUBLIC_KEY is not an RSA public key in PEM: {exc}") from None
        return cls(key, version, seller_id)


@attrs.define
class YConnect:
    """
    Access tokens for the store API, from the refresh token; one refresh at a time.

    Attributes:
        clock: monotonic seconds, for the access token's lifetime.
    """

    http: httpx.AsyncClient
    token_url: str
    secrets: Mapping[str, str]
    signer: PublicKeySigner | None = None
    clock: Callable[[], float] = time.monotonic
    refreshes: int = 0
    _token: str | None = None
    _expires_at: float = 0.0
    _lock: asyncio.Lock = attrs.field(factory=asyncio.Lock)

    async def access_token(self) -> str:
        """A valid access token: the cached one while it has some life left, else a fresh one."""
        if self._token is not None and self.clock() < self._expires_at:
            return self._token
        return await self.refresh(stale=self._token)

    async def refresh(self, stale: str | None) -> str:
        """
        A new access token, unless another task already replaced *stale* (then that one).

        Raises:
            CredentialError: the client or the refresh token was refused.
        """
        async with self._lock:
            if self._token is not None and self._token != stale and self.clock() < self._expires_at:
                return self._token
            require_secrets(self.secrets)
            try:
                async for attempt in retrying():
                    with attempt:
                        answer = await self._token_call()
            except CredentialError:
                raise
            except MallError as exc:
                # Spent here, so a store call's own retries must not start this whole round again (5 x 5 calls).
                raise MallError(CODE, f"YConnect token endpoint: {exc.message}; gave up after retries") from exc
            self._token = answer.access_token
            self._expires_at = self.clock() + max(0.0, answer.expires_in - EARLY_S)
            self.refreshes += 1
            return self._token

    async def _token_call(self) -> TokenAnswer:
        headers = self.signer.headers() if self.signer is not None else {}
        try:
            response = await self.http.post(
                self.token_url,
                data={"grant_type": "refresh_token", "refresh_token": self.secrets["YAHOO_REFRESH_TOKEN"]},
                auth=(self.secrets["YAHOO_CLIENT_ID"], self.secrets["YAHOO_CLIENT_SECRET"]),
                headers=headers,
            )
        except httpx.TransportError as exc:
            raise transport_error(CODE, exc) from None
        return token_answer(response)


@attrs.frozen
class TokenAnswer:
    """What the token endpoint hands out (``refresh_token`` only for the authorization-code grant)."""

    access_token: str
    expires_in: float
    refresh_token: str | None = None


def token_answer(response: httpx.Response, grant: str = "refresh_token") -> TokenAnswer:
    """
    A YConnect token endpoint answer to *grant* (``refresh_token``, ``authorization_code``), or the error that
    says what to do.

    Raises:
        CredentialError: ``invalid_grant`` (renew by consenting again), ``invalid_client`` and the like.
        MallError: 5xx or 429 (retryable), or an answer that is not a token.
    """
    status = response.status_code
    if status == 429 or status >= 500:
        raise MallError(
            CODE,
            f"YConnect token endpoint answered HTTP {status}",
            retryable=True,
            retry_after=retry_after(response),
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise MallError(CODE, f"YConnect token endpoint answered HTTP {status} without a JSON object")
    token, lifetime, refresh = body.get("access_token"), body.get("expires_in", 3600), body.get("refresh_token")
    if status == 200 and isinstance(token, str) and token:
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool):
            raise MallError(CODE, f"YConnect answered expires_in={lifetime!r}, not a number of seconds")
        return TokenAnswer(token, float(lifetime), refresh if isinstance(refresh, str) and refresh else None)
    error = str(body.get("error", f"HTTP {status}"))
    detail = str(body.get("error_description", "")).strip()
    said = f"{error}{f' ({detail})' if detail else ''}"
    if error == "invalid_grant" and grant == "authorization_code":
        raise CredentialError(
            CODE,
            f"YConnect refused the authorization code ({said}): a code works once, within 10 minutes, with the "
            "redirect_uri it was issued for; run the flow again",
        )
    if error == "invalid_grant":
        raise CredentialError(
            CODE,
            f"YConnect refused the refresh token ({said}): it lasts 28 days from consent and ends early on a "
            f"password change or withdrawn consent; {RENEW}",
        )
    if error in {"invalid_client", "unauthorized_client"}:
        raise CredentialError(
            CODE, f"YConnect refused YAHOO_CLIENT_ID/YAHOO_CLIENT_SECRET ({said}); check them on the app's page"
        )
    raise CredentialError(CODE, f"YConnect token endpoint refused the request ({said}); {RENEW}")


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds, when the answer gives it as a number."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def credential_statuses(
    secrets: Mapping[str, str], settings: YahooSettings, now: datetime | None = None
) -> list[CredentialStatus]:
    """The refresh token's days left (from ``YAHOO_CONSENT_AT``) and the public key's, when one is set."""
    now = now or datetime.now(UTC)
    days, warn = settings.refresh_token_days, settings.refresh_token_warn_days
    consent = secrets.get("YAHOO_CONSENT_AT", "").strip()
    if not secrets.get("YAHOO_REFRESH_TOKEN"):
        token = CredentialStatus("Yahoo refresh token", None, f"YAHOO_REFRESH_TOKEN is not set: {RENEW}", warn)
    elif not consent:
        why = f"YAHOO_CONSENT_AT is not set, so the {days} days cannot be counted: {RENEW}"
        token = CredentialStatus("Yahoo refresh token", None, why, warn, expires_unknown=True)
    elif (consented := parse_time(consent, "YAHOO_CONSENT_AT")) > now:
        # A typo here would show more days than any token has, and the warning would never come.
        why = f"YAHOO_CONSENT_AT is {consent}, a time still to come: set when the consent was given"
        token = CredentialStatus("Yahoo refresh token", None, why, warn, expires_unknown=True)
    else:
        expires = consented + timedelta(days=days)
        name = f"Yahoo refresh token (expires {expires.astimezone(JST).date().isoformat()})"
        token = CredentialStatus(name, _days_left(expires, now), RENEW, warn)
    out = [token]
    if secrets.get("YAHOO_PUBLIC_KEY", "").strip():
        name = f"Yahoo public key v{secrets.get('YAHOO_PUBLIC_KEY_VERSION', '?')}"
        renew_key = (
            "issue a new key in Store Creator Pro → 設定 → 暗号鍵管理 and set YAHOO_PUBLIC_KEY, "
            "YAHOO_PUBLIC_KEY_VERSION and YAHOO_PUBLIC_KEY_EXPIRES"
        )
        expiry = secrets.get("YAHOO_PUBLIC_KEY_EXPIRES", "").strip()
        if expiry:
            until = parse_time(expiry, "YAHOO_PUBLIC_KEY_EXPIRES")
            if len(expiry) <= len("YYYY-MM-DD"):
                # A bare date is Store Creator Pro's, a Japanese one: the key works through that day in Japan,
                # not until 09:00 the next morning (a 04:00 run was told "0 days left" of a lapsed key).
                until = until.replace(tzinfo=JST) + timedelta(days=1)
            out.append(CredentialStatus(name, _days_left(until, now), renew_key, settings.public_key_warn_days))
        else:
            why = "YAHOO_PUBLIC_KEY_EXPIRES is not set (keys last one year from issue); " + renew_key
            out.append(CredentialStatus(name, None, why, settings.public_key_warn_days, expires_unknown=True))
    return out


def consent_expiry(consent_at: datetime, days: int) -> date:
    """The date the refresh token stops working, for the token helper's closing line."""
    return (consent_at + timedelta(days=days)).astimezone(JST).date()
