"""
Login with Amazon (LWA): the refresh-token grant, and the access token kept until shortly before it expires.
"""

from __future__ import annotations

import asyncio
import time

from collections.abc import Callable, Mapping
from datetime import date, timedelta

import httpx

from ecsync_amazon._wire import LwaError, LwaToken, structure
from ecsync_amazon.plugin import CODE
from ecsync_core.domain import CredentialStatus
from ecsync_core.errors import CredentialError, MallError
from ecsync_core.logging import get_logger
from ecsync_core.pacing import retrying, transport_error


log = get_logger("ecsync.amazon")

CLIENT_ID = "AMAZON_LWA_CLIENT_ID"
CLIENT_SECRET = "AMAZON_LWA_CLIENT_SECRET"
REFRESH_TOKEN = "AMAZON_LWA_REFRESH_TOKEN"

RENEW_REFRESH_TOKEN = (
    f"authorize the app for the seller account again (Seller Central > Apps and Services > Manage Your Apps) "
    f"and put the new refresh token in {REFRESH_TOKEN}"
)
CLIENT_SECRET_ISSUED = "AMAZON_LWA_CLIENT_SECRET_ISSUED"
RENEW_CLIENT_SECRET = (
    f"LWA client secrets expire every 180 days: put the app's current {CLIENT_ID} and {CLIENT_SECRET} "
    f"(Developer Central > Edit App > View LWA credentials) in .env, and the day it was made in {CLIENT_SECRET_ISSUED}"
)


def client_secret_status(secrets: Mapping[str, str], days: int, warn_days: int, today: date) -> CredentialStatus:
    """The client secret's days left, counted from the day it was made (``AMAZON_LWA_CLIENT_SECRET_ISSUED``)."""
    issued = secrets.get(CLIENT_SECRET_ISSUED, "").strip()
    if not issued:
        why = f"{CLIENT_SECRET_ISSUED} is not set, so its {days} days cannot be counted: {RENEW_CLIENT_SECRET}"
        return CredentialStatus("LWA client secret", None, why, warn_days, expires_unknown=True)
    try:
        made = date.fromisoformat(issued[:10])
    except ValueError:
        why = f"{CLIENT_SECRET_ISSUED} is not a date (YYYY-MM-DD): {issued!r}"
        return CredentialStatus("LWA client secret", None, why, warn_days, expires_unknown=True)
    if made > today:
        # A typo here would show more days than any secret has, and the warning would never come.
        why = f"{CLIENT_SECRET_ISSUED} is {made}, a day still to come: set the day the secret was made"
        return CredentialStatus("LWA client secret", None, why, warn_days, expires_unknown=True)
    ends = made + timedelta(days=days)
    # Counted to the last whole day it works: on the day it lapses it may already be dead (made at some hour).
    left = (ends - today).days - 1
    return CredentialStatus(f"LWA client secret (lapses {ends})", left, RENEW_CLIENT_SECRET, warn_days)


_REFRESH_TOKEN_REFUSED = {"invalid_grant", "access_denied"}
_CLIENT_REFUSED = {"invalid_client", "unauthorized_client"}


class LwaAuth:
    """
    Access tokens for SP-API calls, from LWA's refresh-token grant.

    A token is reused until *margin_s* before its ``expires_in``; ``renew`` replaces it after SP-API refused
    it (403), once per refusal however many calls saw that refusal at the same time.

    Attributes:
        grants: how many tokens LWA handed out (tests and health count them).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        token_url: str,
        secrets: Mapping[str, str],
        *,
        margin_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._url = token_url
        self._secrets = {name: secrets.get(name, "").strip() for name in (CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)}
        self._margin = margin_s
        self._clock = clock
        self._token: str | None = None
        self._good_until = 0.0
        self._lock = asyncio.Lock()
        self.grants = 0

    def missing(self) -> list[str]:
        """The secret names that are not set."""
        return [name for name, value in self._secrets.items() if not value]

    async def token(self) -> str:
        """A valid access token, from the cache while it lasts."""
        async with self._lock:
            if self._token is None or self._clock() >= self._good_until:
                await self._grant()
            assert self._token is not None
            return self._token

    async def renew(self, refused: str) -> str:
        """A new access token after SP-API refused *refused* (unless another call has already replaced it)."""
        async with self._lock:
            if self._token == refused or self._token is None:
                await self._grant()
            assert self._token is not None
            return self._token

    async def _grant(self) -> None:
        if missing := self.missing():
            raise CredentialError(CODE, f"{', '.join(missing)} not set: put the app's LWA credentials in .env")
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self._secrets[REFRESH_TOKEN],
            "client_id": self._secrets[CLIENT_ID],
            "client_secret": self._secrets[CLIENT_SECRET],
        }
        try:
            async for attempt in retrying():
                with attempt:
                    try:
                        response = await self._http.post(self._url, data=form, headers={"accept": "application/json"})
                    except httpx.TransportError as exc:
                        raise transport_error(CODE, exc) from exc
                    granted = _read_grant(response)
        except CredentialError:
            raise
        except MallError as exc:
            # Spent here, so an SP-API call's own retries must not start this whole round again.
            said = exc.message if exc.message.startswith("LWA") else f"LWA token endpoint: {exc.message}"
            raise MallError(CODE, f"{said}; gave up after retries") from exc
        lifetime = granted.expires_in
        self._token = granted.access_token
        self._good_until = self._clock() + max(lifetime - self._margin, lifetime / 2)
        self.grants += 1
        log.info("amazon_lwa_token", expires_in=lifetime)


def _read_grant(response: httpx.Response) -> LwaToken:
    status = response.status_code
    if status == 200:
        return structure(_json(response), LwaToken, "LWA token endpoint")
    body = _json(response)
    error = structure(body, LwaError, "LWA token endpoint") if isinstance(body, dict) and "error" in body else None
    said = f"{error.error}: {error.error_description}" if error else f"HTTP {status}"
    if status == 429 or status >= 500:
        raise MallError(CODE, f"LWA token endpoint answered {status} ({said})", retryable=True)
    code = error.error if error else ""
    if code in _REFRESH_TOKEN_REFUSED:
        raise CredentialError(CODE, f"LWA refused the refresh token ({said}): {RENEW_REFRESH_TOKEN}")
    if code in _CLIENT_REFUSED or (status == 401 and not code):
        raise CredentialError(CODE, f"LWA refused the app's client id/secret ({said}): {RENEW_CLIENT_SECRET}")
    raise MallError(CODE, f"LWA token endpoint refused the request (HTTP {status}, {said})")


def _json(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None
