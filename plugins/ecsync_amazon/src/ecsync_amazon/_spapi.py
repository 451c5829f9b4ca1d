"""
One SP-API call: paced, authorized (refreshing the access token once on 403), retried, and its error named.
"""

from __future__ import annotations

import platform
import sys

from collections.abc import Collection, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import attrs
import httpx

from ecsync_amazon._wire import ErrorList, structure
from ecsync_amazon.auth import RENEW_REFRESH_TOKEN, LwaAuth
from ecsync_amazon.plugin import CODE
from ecsync_core.errors import CredentialError, MallError
from ecsync_core.logging import get_logger
from ecsync_core.pacing import TokenBucket, retrying, transport_error


log = get_logger("ecsync.amazon")

Json = Any


def user_agent() -> str:
    # Amazon asks for AppName/Version (Language=...; Platform=...), at most 500 characters.
    try:
        ours = version("ecsync-amazon")
    except PackageNotFoundError:  # run from a source tree that was never installed
        ours = "0"
    py = ".".join(map(str, sys.version_info[:3]))
    return f"ecsync/{ours} (Language=Python/{py}; Platform={platform.system()})"


@attrs.define
class CallStats:
    """
    What the adapter's calls met; the benchmark and the tests read it.

    Attributes:
        requests: HTTP requests sent to SP-API (retries and re-sends included; LWA not).
        throttled: 429 answers.
        server_errors: 5xx answers.
        refused_tokens: 403 answers that made the adapter renew its access token.
        restarts: listings started again after Amazon refused a nextToken.
    """

    requests: int = 0
    throttled: int = 0
    server_errors: int = 0
    refused_tokens: int = 0
    restarts: int = 0


class NextTokenRefusedError(MallError):
    """Raised when Amazon refuses a nextToken (it lives 30 seconds): the listing must start over."""


class InvalidInputError(MallError):
    """Raised on a 400 (``InvalidInput``): not retried; the caller may know what it means for its call."""


class SpApi:
    """SP-API calls for one seller: JSON in, JSON out, or a MallError that says what failed and why."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        auth: LwaAuth,
        endpoint: str,
        stats: CallStats,
        *,
        next_token_refused: Collection[int] = (400,),
    ) -> None:
        self._http = http
        self._auth = auth
        self._endpoint = endpoint.rstrip("/")
        self._stats = stats
        self._next_token_refused = frozenset(next_token_refused)
        self._agent = user_agent()

    async def call(
        self,
        method: str,
        path: str,
        op: str,
        bucket: TokenBucket,
        *,
        params: Mapping[str, str] | None = None,
        body: Json = None,
    ) -> Json:
        """
        One operation (*op* names it in errors), retried on 429, 5xx and transport errors.

        Raises:
            NextTokenRefusedError: a 400 to a request carrying ``nextToken``.
            CredentialError: the access token is refused even fresh.
            MallError: anything else, after the retries when it is retryable.
        """
        async for attempt in retrying():
            with attempt:
                response = await self._authorized(method, path, op, bucket, params, body)
                return self._read(response, op, params or {})
        raise AssertionError("unreachable: retrying() raises when its attempts are spent")  # pragma: no cover

    async def download(self, url: str, what: str) -> httpx.Response:
        """A pre-signed document URL: a plain GET, no SP-API headers (the token must not leave for S3)."""
        async for attempt in retrying():
            with attempt:
                try:
                    response = await self._http.get(url)
                except httpx.TransportError as exc:
                    raise transport_error(CODE, exc) from exc
                if response.status_code == 200:
                    return response
                retryable = response.status_code == 429 or response.status_code >= 500
                raise MallError(CODE, f"{what}: download answered HTTP {response.status_code}", retryable=retryable)
        raise AssertionError("unreachable: retrying() raises when its attempts are spent")  # pragma: no cover

    async def _authorized(
        self,
        method: str,
        path: str,
        op: str,
        bucket: TokenBucket,
        params: Mapping[str, str] | None,
        body: Json,
    ) -> httpx.Response:
        token = await self._auth.token()
        response = await self._send(method, path, bucket, params, body, token)
        if response.status_code not in (401, 403):
            return response
        # Expired, revoked or rotated: SP-API says 403 Unauthorized, never 401. One fresh token, one re-send.
        self._stats.refused_tokens += 1
        log.info("amazon_access_token_refused", op=op, request_id=_request_id(response))
        token = await self._auth.renew(token)
        response = await self._send(method, path, bucket, params, body, token)
        if response.status_code in (401, 403):
            raise CredentialError(
                CODE,
                f"{op} refused a fresh access token ({_said(response)}): the app needs the Amazon Fulfillment "
                f"role and the JP seller's authorization; {RENEW_REFRESH_TOKEN}",
            )
        return response

    async def _send(
        self,
        method: str,
        path: str,
        bucket: TokenBucket,
        params: Mapping[str, str] | None,
        body: Json,
        token: str,
    ) -> httpx.Response:
        await bucket.acquire()
        self._stats.requests += 1
        headers = {"x-amz-access-token": token, "user-agent": self._agent, "accept": "application/json"}
        try:
            return await self._http.request(method, self._endpoint + path + _query(params), json=body, headers=headers)
        except httpx.TransportError as exc:
            raise transport_error(CODE, exc) from exc

    def _read(self, response: httpx.Response, op: str, params: Mapping[str, str]) -> Json:
        status = response.status_code
        if 200 <= status < 300:
            try:
                return response.json()
            except ValueError:
                raise MallError(CODE, f"{op} answered HTTP {status} with a body that is not JSON") from None
        said = _said(response)
        where = f", request id {rid}" if (rid := _request_id(response)) else ""
        if status == 429:
            self._stats.throttled += 1
            log.warning("amazon_throttled", op=op, request_id=rid)
            raise MallError(CODE, f"{op} throttled ({said}{where})", retryable=True)
        if status >= 500:
            self._stats.server_errors += 1
            log.warning("amazon_server_error", op=op, status=status, request_id=rid)
            raise MallError(CODE, f"{op} failed on Amazon's side (HTTP {status}, {said}{where})", retryable=True)
        if status in self._next_token_refused and "nextToken" in params:
            # The same query without the token was just answered, so the token is what Amazon refuses:
            # "Next token is invalid or expired". Its status is UNCERTAIN (amazon.md): settings.next_token_refused.
            raise NextTokenRefusedError(CODE, f"{op} refused the nextToken ({said}{where})")
        refused = InvalidInputError if status == 400 else MallError
        raise refused(CODE, f"{op} refused the request (HTTP {status}, {said}{where})")


def _query(params: Mapping[str, str] | None) -> str:
    """
    ``?`` and *params* encoded as httpx encodes ``params=``, for a URL httpx then parses once.

    Given ``params=``, httpx parses the bare URL, then the whole URL again with the query merged in; a listing
    page's URL carries a ~150-character nextToken that its parser checks character by character in Python.
    """
    return "?" + str(httpx.QueryParams(params)) if params else ""


def _request_id(response: httpx.Response) -> str:
    return str(response.headers.get("x-amzn-requestid", ""))


def _said(response: httpx.Response) -> str:
    """Amazon's own words for an error: ``code: message (details)``, or what came instead of them."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code} with a body that is not JSON"
    if not isinstance(body, dict) or "errors" not in body:
        return f"HTTP {response.status_code} without an errors list"
    try:
        errors = structure(body, ErrorList, "SP-API").errors
    except MallError as exc:
        return exc.message
    if not errors:
        return f"HTTP {response.status_code} with an empty errors list"
    first = errors[0]
    details = f" ({first.details})" if first.details else ""
    return f"{first.code}: {first.message}{details}"
