"""
What an emulator provides, and what the harness adds around it.

An emulator only writes its mall's API. The harness gives every emulator the same ``/_sandbox/`` routes,
fault injection, pacing (429 past the published limits scaled by ``--speed``) and a request log, so every
mall's sandbox behaves alike and a plugin author writes none of it.
"""

from __future__ import annotations

import asyncio
import math
import time

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, Protocol

import attrs
import httpx

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from ecsync_core.pacing import TokenBucket


__all__ = [
    "CONTROL_PREFIX",
    "FAULT_STATUSES",
    "DroppedConnection",
    "Emulator",
    "Fault",
    "Pacer",
    "RateLimit",
    "RequestLog",
    "SandboxApp",
    "build_app",
    "parse_fault",
]

CONTROL_PREFIX = "/_sandbox/"
"""Calls under this prefix drive the sandbox; they are never faulted, paced or counted."""

FAULT_STATUSES = frozenset({429, 500, 502, 503, 504})
"""The statuses a fault may answer with: what a real mall answers when it is busy or broken."""

MAX_DELAY_S = 600.0


@attrs.frozen
class RateLimit:
    """
    A published limit: calls whose path starts with *prefix* share one bucket of *rate*/s, *burst* deep.

    *method* narrows it to one HTTP method ("" = any).
    """

    prefix: str
    rate: float
    burst: float
    method: str = ""

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.prefix) and (not self.method or self.method == method)


class Emulator(Protocol):
    """
    One mall's API, as a plugin's ``make_emulator(seed)`` builds it.

    Stock keys are the item keys as the master sheet names them (Amazon: seller SKUs).
    """

    limits: Sequence[RateLimit]

    def routes(self) -> list[BaseRoute]:
        """The mall's API routes (paths as the real API has them)."""

    def stock(self) -> dict[str, int]:
        """Every item and its quantity (Amazon: fulfillable)."""

    def set_stock(self, items: Mapping[str, int]) -> None:
        """Set the listed items; the others stay."""

    def throttled(self, request: Request) -> Response:
        """The mall's own 429 answer."""

    def failure(self, request: Request, status: int) -> Response:
        """The mall's own answer for an injected 5xx (or 429) fault."""

    def sandbox_settings(self, base_url: str, speed: float) -> dict[str, object]:
        """
        The ``malls.<code>`` config that points the adapter at this emulator at *base_url*, with the
        adapter's own pacing scaled by *speed* as the harness scales the emulator's limits.
        """

    def sandbox_secrets(self) -> dict[str, str]:
        """The ``.env`` lines (name -> value) that this emulator accepts as credentials."""


class DroppedConnection(httpx.RemoteProtocolError):
    """
    Raised by the harness to cut the connection without an answer (a ``drop`` fault).

    In-process (``httpx.ASGITransport``) the client sees it as the transport error it is; served by uvicorn,
    ``ecsync_core.sandbox.serve`` aborts the socket instead, and the client sees a real dropped connection.
    """

    def __init__(self) -> None:
        super().__init__("Server disconnected without sending a response.")


@attrs.frozen
class Fault:
    """
    A pending fault: the next *count* API calls fail this way.

    Attributes:
        kind: ``status`` (answer *status*), ``delay`` (wait *delay_s*, then answer normally) or ``drop``.
    """

    kind: Literal["status", "delay", "drop"]
    count: int
    status: int | None = None
    delay_s: float | None = None

    def as_json(self, remaining: int | None = None) -> dict[str, object]:
        doc: dict[str, object] = {"count": self.count if remaining is None else remaining}
        if self.kind == "status":
            doc["status"] = self.status
        elif self.kind == "delay":
            doc["delay_s"] = self.delay_s
        else:
            doc["drop"] = True
        return doc


def parse_fault(body: object) -> Fault:
    """
    Read a ``POST /_sandbox/faults`` body: exactly one of ``status``, ``delay_s``, ``drop``, and ``count``.

    Raises:
        ValueError: saying what is wrong with the body.
    """
    if not isinstance(body, dict):
        msg = 'the body must be a JSON object such as {"status": 503, "count": 2}'
        raise ValueError(msg)
    kinds = [k for k in ("status", "delay_s", "drop") if k in body]
    unknown = sorted(set(body) - {"status", "delay_s", "drop", "count"})
    if unknown:
        msg = f"unknown key {unknown[0]!r} (a fault has status, delay_s or drop, and count)"
        raise ValueError(msg)
    if len(kinds) != 1:
        msg = "give exactly one of status, delay_s, drop"
        raise ValueError(msg)
    count = body.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        msg = f"count must be a whole number >= 1, got {count!r}"
        raise ValueError(msg)
    if "status" in body:
        status = body["status"]
        if isinstance(status, bool) or status not in FAULT_STATUSES:
            msg = f"status must be one of {sorted(FAULT_STATUSES)}, got {status!r}"
            raise ValueError(msg)
        return Fault("status", count, status=int(status))
    if "delay_s" in body:
        delay = body["delay_s"]
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= MAX_DELAY_S:
            msg = f"delay_s must be a number of seconds from 0 to {MAX_DELAY_S:g}, got {delay!r}"
            raise ValueError(msg)
        return Fault("delay", count, delay_s=float(delay))
    if body["drop"] is not True:
        msg = f"drop must be true, got {body['drop']!r}"
        raise ValueError(msg)
    return Fault("drop", count)


@attrs.define
class RequestLog:
    """
    Every API call the emulator received, faulted and throttled ones included; ``/_sandbox/`` calls are not.
    """

    count: int = 0
    by_path: Counter[str] = attrs.field(factory=Counter)
    throttled: int = 0

    def record(self, path: str) -> None:
        self.count += 1
        self.by_path[path] += 1

    def as_json(self) -> dict[str, object]:
        return {"count": self.count, "by_path": dict(sorted(self.by_path.items())), "throttled": self.throttled}


class Pacer:
    """
    The emulator's published limits as token buckets, rate and burst scaled by *speed* (burst at least 1).

    Time compressed, the real limit would keep its burst. It is scaled anyway: at the speeds tests run (1000x),
    a published burst of 1 leaves a window of a millisecond or less, below the jitter of a loaded test process
    between the client's pacing and this clock, and every test would draw 429s its client did not cause. At
    ``--speed 1`` (the operator's sandbox) the limits are the published ones. The adapters' pacing is tested
    against the published bursts by their own strict rigs (Amazon's ``at_real_burst``, Rakuten's ``strict``).

    A call must find a token in every limit it matches; it takes them in the order the limits are listed
    and stops at the first that has none, as a real mall counts a refused call against the limits it passed.
    """

    def __init__(
        self, limits: Sequence[RateLimit], speed: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not speed > 0 or math.isinf(speed):
            msg = f"speed must be a positive number, got {speed!r}"
            raise ValueError(msg)
        self.buckets = [
            (limit, TokenBucket(limit.rate * speed, max(1.0, limit.burst * speed), clock)) for limit in limits
        ]

    def admit(self, method: str, path: str) -> bool:
        return all(bucket.try_take() for limit, bucket in self.buckets if limit.matches(method, path))


class SandboxApp:
    """
    The ASGI app the sandbox serves for one emulator: its API behind faults, pacing and the request log,
    and the ``/_sandbox/`` control routes beside it.

    The same object answers in-process (``httpx.ASGITransport``) and over loopback (uvicorn), so a test
    sees in-process exactly what the served sandbox does.

    Attributes:
        emulator: the mall's emulator.
        log: the API calls received so far.
        fault: the pending fault, if any; *remaining* is how many more calls it hits.
    """

    def __init__(self, emulator: Emulator, *, speed: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.emulator = emulator
        self.speed = speed
        self.pacer = Pacer(emulator.limits, speed, clock)
        self.log = RequestLog()
        self.fault: Fault | None = None
        self.remaining = 0
        self._api = Starlette(routes=emulator.routes())
        self._control = Starlette(routes=self._control_routes())

    # -- what tests in-process may call directly; the HTTP routes below call the same --------------------

    def set_fault(self, fault: Fault) -> None:
        """Make the next ``fault.count`` API calls fail; replaces a pending fault."""
        self.fault, self.remaining = fault, fault.count

    def clear_faults(self) -> None:
        self.fault, self.remaining = None, 0

    def _take_fault(self) -> Fault | None:
        # No await between the check and the decrement: concurrent calls cannot both take the last one.
        if self.fault is None:
            return None
        fault = self.fault
        self.remaining -= 1
        if self.remaining <= 0:
            self.clear_faults()
        return fault

    # -- ASGI ------------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._api(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(CONTROL_PREFIX) or path == CONTROL_PREFIX.rstrip("/"):
            await self._control(scope, receive, send)
            return
        self.log.record(path)
        fault = self._take_fault()
        if fault is not None:
            if fault.kind == "drop":
                raise DroppedConnection
            if fault.kind == "status":
                assert fault.status is not None
                await self.emulator.failure(Request(scope, receive), fault.status)(scope, receive, send)
                return
            await asyncio.sleep(fault.delay_s or 0.0)
        if not self.pacer.admit(scope["method"], path):
            self.log.throttled += 1
            await self.emulator.throttled(Request(scope, receive))(scope, receive, send)
            return
        await self._api(scope, receive, send)

    # -- /_sandbox/ ------------------------------------------------------------------------------------

    def _control_routes(self) -> list[BaseRoute]:
        return [
            Route("/_sandbox/stock", self._get_stock, methods=["GET"]),
            Route("/_sandbox/stock", self._put_stock, methods=["PUT"]),
            Route("/_sandbox/faults", self._get_faults, methods=["GET"]),
            Route("/_sandbox/faults", self._post_faults, methods=["POST"]),
            Route("/_sandbox/faults", self._delete_faults, methods=["DELETE"]),
            Route("/_sandbox/requests", self._get_requests, methods=["GET"]),
            Route("/_sandbox/requests", self._delete_requests, methods=["DELETE"]),
        ]

    async def _get_stock(self, _request: Request) -> Response:
        return JSONResponse(self.emulator.stock())

    async def _put_stock(self, request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in body.values()
        ):
            return _bad_request('the body must map each item to a whole quantity >= 0, e.g. {"ITEM-1": 5}')
        self.emulator.set_stock({str(k): int(v) for k, v in body.items()})
        return JSONResponse(self.emulator.stock())

    async def _get_faults(self, _request: Request) -> Response:
        return JSONResponse({"fault": None if self.fault is None else self.fault.as_json(self.remaining)})

    async def _post_faults(self, request: Request) -> Response:
        try:
            fault = parse_fault(await _json_body(request))
        except ValueError as exc:
            return _bad_request(str(exc))
        self.set_fault(fault)
        return JSONResponse({"fault": fault.as_json()})

    async def _delete_faults(self, _request: Request) -> Response:
        self.clear_faults()
        return JSONResponse({"fault": None})

    async def _get_requests(self, _request: Request) -> Response:
        return JSONResponse(self.log.as_json())

    async def _delete_requests(self, _request: Request) -> Response:
        self.log = RequestLog()
        return JSONResponse(self.log.as_json())


_NO_JSON = object()


async def _json_body(request: Request) -> object:
    try:
        return await request.json()
    except ValueError:
        return _NO_JSON


def _bad_request(message: str) -> Response:
    return JSONResponse({"error": message}, status_code=400)


def build_app(emulator: Emulator, *, speed: float = 1.0, clock: Callable[[], float] = time.monotonic) -> SandboxApp:
    """
    The emulator's API plus the shared ``/_sandbox/`` routes, faults, pacing scaled by *speed* and a request
    log: the one app both the in-process helpers and ``ecsync sandbox`` serve.

    Args:
        clock: what the pacing measures time by; tests pass a ``ManualClock`` so that pacing does not
            depend on how fast the machine runs them.
    """
    return SandboxApp(emulator, speed=speed, clock=clock)
