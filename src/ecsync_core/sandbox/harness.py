"""
What an emulator provides, and (issue 03) what the harness adds around it.

An emulator only writes its mall's API. The harness gives every emulator the same ``/_sandbox/`` routes,
fault injection, pacing (429 past the published limits scaled by ``--speed``) and a request log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import attrs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route


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


def build_app(emulator: Emulator, *, speed: float = 1.0) -> Starlette:
    """
    The emulator's API plus the shared ``/_sandbox/`` routes.

    Issue 03 completes this with faults, pacing and the request log; until then only the stock routes.
    """

    async def get_stock(_request: Request) -> Response:
        return JSONResponse(emulator.stock())

    async def put_stock(request: Request) -> Response:
        body = await request.json()
        if not isinstance(body, dict) or not all(isinstance(v, int) for v in body.values()):
            return JSONResponse({"error": "body must be {item: quantity}"}, status_code=400)
        emulator.set_stock({str(k): int(v) for k, v in body.items()})
        return JSONResponse(emulator.stock())

    routes: list[BaseRoute] = [
        Route("/_sandbox/stock", get_stock, methods=["GET"]),
        Route("/_sandbox/stock", put_stock, methods=["PUT"]),
        *emulator.routes(),
    ]
    return Starlette(routes=routes)
