"""
What the emulator's inventory and reports parts share: the fixed catalogue facts of a SKU, times, responses.
"""

from __future__ import annotations

import uuid
import zlib

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from starlette.responses import JSONResponse, Response

from ecsync_amazon._wire import Error, ErrorList, unstructure


# Reports API 2021-06-30's paths as the facts sheet gives them, not the adapter's constants (see emulator.py).
REPORTS = "/reports/2021-06-30/reports"
DOCUMENTS = "/reports/2021-06-30/documents"


@attrs.frozen
class CatalogueFacts:
    """What Amazon knows of a SKU besides its fulfillable stock; fixed, so every answer agrees with the last."""

    asin: str
    fnsku: str
    inbound: int
    reserved: int

    @property
    def product_name(self) -> str:
        return f"FBA商品 {self.asin}"


def catalogue(sku: str) -> CatalogueFacts:
    h = zlib.crc32(sku.encode("utf-8"))
    code = f"{h:010X}"[-8:]
    return CatalogueFacts(asin=f"B0{code}", fnsku=f"X00{code[:7]}", inbound=h % 5, reserved=(h >> 8) % 3)


def iso(timestamp: float, *, millis: bool = True) -> str:
    """UTC ISO-8601 with ``Z``; the Reports API writes milliseconds, the inventory API does not."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def respond(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer with the ``x-amzn-RequestId`` every SP-API answer carries."""
    return JSONResponse(body, status, headers={"x-amzn-RequestId": str(uuid.uuid4()), **(headers or {})})


def respond_text(json_text: str, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer already written as text (see ``_emulated_pages``)."""
    all_headers = {"x-amzn-RequestId": str(uuid.uuid4()), **(headers or {})}
    return Response(json_text.encode("utf-8"), status, headers=all_headers, media_type="application/json")


def sp_error(
    status: int, code: str, message: str, details: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    return respond(unstructure(ErrorList([Error(code=code, message=message, details=details)])), status, headers)
