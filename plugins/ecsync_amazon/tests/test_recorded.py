"""
Amazon's own recorded payloads (tests/recorded/amazon) read by the wire models and by the real adapter.

The adapter meets them through a replay server that answers each call with a recorded body as it stands;
where a flow needs one more answer than was recorded (a last page, a DONE report), that answer is the
recorded body with only the named key changed, and the test says so.
"""

from __future__ import annotations

import asyncio
import copy
import json

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ecsync_amazon import _wire
from ecsync_amazon.client import SUMMARIES, FbaInventoryClient, build_client
from ecsync_amazon.plugin import AmazonSettings
from ecsync_amazon.reports_api import DOCUMENTS, REPORTS
from ecsync_core.errors import MallError
from ecsync_core.mall import MallContext
from ecsync_core.testing import InMemoryKeyValue


RECORDED = Path(__file__).resolve().parents[3] / "tests" / "recorded" / "amazon"

SCHEMAS = ("definitions.HEAD.json", ".operation.HEAD.json", ".x-amzn-api-sandbox.HEAD.json", ".request.json")

WIRE_FOR = {
    "fbaInventory/getInventorySummaries.200": _wire.InventorySummariesResponse,
    "lwa/token.": _wire.LwaToken,
    "reports/createReport.202": _wire.CreateReportResponse,
    "reports/getReport.200": _wire.Report,
    "reports/getReportDocument.200": _wire.ReportDocument,
}


def load(name: str) -> Any:
    return json.loads((RECORDED / name).read_text(encoding="utf-8"))


def response_bodies() -> list[str]:
    names = sorted(str(p.relative_to(RECORDED)) for p in RECORDED.rglob("*.json"))
    return [n for n in names if not n.endswith(SCHEMAS)]


def wire_class(name: str) -> type[Any]:
    status = name.split(".")[1]
    if status.startswith(("4", "5")):
        return _wire.ErrorList
    for prefix, cls in WIRE_FOR.items():
        if name.startswith(prefix):
            return cls
    raise AssertionError(f"no wire class reads {name}: add one")


def test_the_recorded_corpus_is_there() -> None:
    """The corpus holds the bodies this file relies on (a missing checkout must fail, not pass empty)."""
    assert len(response_bodies()) >= 11


@pytest.mark.parametrize("name", response_bodies())
def test_every_recorded_body_reads_with_the_strict_wire_models(name: str) -> None:
    """Each recorded answer structures into its wire class, with ints as ints and text as text."""
    cls = wire_class(name)
    value = _wire.CONVERTER.structure(load(name), cls)
    assert isinstance(value, cls)


@pytest.mark.parametrize(
    ("cls", "schema", "definition"),
    [
        (_wire.InventorySummariesResponse, "fbaInventory", "GetInventorySummariesResponse"),
        (_wire.InventorySummariesResult, "fbaInventory", "GetInventorySummariesResult"),
        (_wire.Granularity, "fbaInventory", "Granularity"),
        (_wire.InventorySummary, "fbaInventory", "InventorySummary"),
        (_wire.InventoryDetails, "fbaInventory", "InventoryDetails"),
        (_wire.ReservedQuantity, "fbaInventory", "ReservedQuantity"),
        (_wire.ResearchingQuantity, "fbaInventory", "ResearchingQuantity"),
        (_wire.ResearchingQuantityEntry, "fbaInventory", "ResearchingQuantityEntry"),
        (_wire.UnfulfillableQuantity, "fbaInventory", "UnfulfillableQuantity"),
        (_wire.Pagination, "fbaInventory", "Pagination"),
        (_wire.Error, "fbaInventory", "Error"),
        (_wire.Error, "reports", "Error"),
        (_wire.CreateReportResponse, "reports", "CreateReportResponse"),
        (_wire.Report, "reports", "Report"),
        (_wire.ReportDocument, "reports", "ReportDocument"),
    ],
)
def test_wire_models_name_exactly_the_models_properties(cls: type[Any], schema: str, definition: str) -> None:
    """Every wire class has the fields of Amazon's model definition, no more and no fewer."""
    properties = set(load(f"{schema}/definitions.HEAD.json")[definition]["properties"])
    assert properties == {f.name for f in attrs.fields(cls)}


# -- the adapter against replayed recordings ------------------------------------------------------------------


@attrs.define
class Replay:
    """An HTTP server answering from recorded bodies; it keeps every request it saw."""

    answers: dict[tuple[str, str], Callable[[Request], Response]]
    seen: list[tuple[str, str, dict[str, str]]] = attrs.field(factory=list)

    def app(self) -> Starlette:
        async def answer(request: Request) -> Response:
            self.seen.append((request.method, request.url.path, dict(request.query_params)))
            return self.answers[(request.method, request.url.path)](request)

        paths = {path for _method, path in self.answers}
        return Starlette(routes=[Route(p, answer, methods=["GET", "POST"]) for p in paths])

    def adapter(self, **settings: object) -> FbaInventoryClient:
        context = MallContext(
            code="amazon",
            settings=AmazonSettings(
                endpoint="https://sellingpartnerapi-fe.amazon.com",
                token_url="https://api.amazon.com/auth/o2/token",
                rate=1000.0,
                report_poll_s=0.0,
                **settings,  # type: ignore[arg-type]
            ),
            secrets={"AMAZON_LWA_CLIENT_ID": "id", "AMAZON_LWA_CLIENT_SECRET": "s", "AMAZON_LWA_REFRESH_TOKEN": "r"},
            store=InMemoryKeyValue(),
            transport=httpx.ASGITransport(app=self.app()),
        )
        return build_client(context)


def recorded(name: str, status: int = 200) -> Callable[[Request], Response]:
    return lambda _request: JSONResponse(load(name), status)


TOKEN = ("POST", "/auth/o2/token")
LWA_200 = recorded("lwa/token.refresh_token.200.json")


def run(adapter: FbaInventoryClient, call: Callable[[FbaInventoryClient], Any]) -> Any:
    async def go() -> Any:
        try:
            return await call(adapter)
        finally:
            await adapter.aclose()

    return asyncio.run(go())


def test_the_adapter_reads_amazons_recorded_listing() -> None:
    """The recorded 200 (3 SKUs, nextToken "seed") gives fulfillable 0, 0 and 66, not totalQuantity 87."""
    first = load("fbaInventory/getInventorySummaries.200.sandbox-static-1.json")
    last = copy.deepcopy(first)
    del last["pagination"]  # the recording is one page; its follow-up is the same page without a nextToken

    def page(request: Request) -> Response:
        return JSONResponse(last if request.query_params.get("nextToken") == "seed" else first)

    replay = Replay({TOKEN: LWA_200, ("GET", SUMMARIES): page})
    stock = run(replay.adapter(), lambda a: a.snapshot())
    assert {"EMTEC 1 GB": 0, "EMTEC-SdCard-reader": 0, "Silicon Power 32GB": 66} == stock
    listing = [q for method, path, q in replay.seen if path == SUMMARIES]
    assert 2 == len(listing)
    assert {**listing[0], "nextToken": "seed"} == listing[1]


def test_the_recorded_500_is_retried_then_reported_in_amazons_words() -> None:
    """Amazon's recorded InternalFailure is retried, then fails the listing with its code and message."""
    replay = Replay(
        {
            TOKEN: LWA_200,
            ("GET", SUMMARIES): recorded("fbaInventory/getInventorySummaries.500.sandbox-static-1.json", 500),
        }
    )
    with pytest.raises(MallError) as caught:
        run(replay.adapter(), lambda a: a.snapshot())
    assert caught.value.retryable
    assert "InternalFailure: We encountered an internal error. Please try again." in caught.value.message
    assert 5 == len([s for s in replay.seen if s[1] == SUMMARIES])


def test_the_developer_guides_error_body_is_reported_whole() -> None:
    """The guide's error (a 400 carrying Unauthorized) is not retried and names code, message and details."""
    replay = Replay({TOKEN: LWA_200, ("GET", SUMMARIES): recorded("error.400.devguide.json", 400)})
    with pytest.raises(MallError) as caught:
        run(replay.adapter(), lambda a: a.snapshot())
    assert not caught.value.retryable
    assert (
        "Unauthorized: Access to requested resource is denied. (Access token is missing in the request header.)"
        in caught.value.message
    )


def test_the_adapter_runs_the_recorded_reports_flow() -> None:
    """createReport 202 -> getReport IN_PROGRESS -> (DONE) -> getReportDocument -> download, from recordings."""
    in_progress = load("reports/getReport.200.sandbox-static-1.json")
    done = {**in_progress, "processingStatus": "DONE", "reportDocumentId": "0356cf79-b8b0-4226-b4b9-0ee058ea5760"}
    polls = iter([in_progress, done])
    document = load("reports/getReportDocument.200.sandbox-static-1.json")
    download_path = httpx.URL(document["url"]).path
    tsv = "sku\tafn-fulfillable-quantity\n0012\t4\n".encode("cp932")
    replay = Replay(
        {
            TOKEN: LWA_200,
            ("GET", REPORTS): lambda _r: JSONResponse({"reports": []}),
            ("POST", REPORTS): recorded("reports/createReport.202.sandbox-static-1.json", 202),
            # The recording answers reportId ReportId1 for ID323; the adapter polls the id it was given.
            ("GET", f"{REPORTS}/ID323"): lambda _r: JSONResponse(next(polls)),
            ("GET", f"{DOCUMENTS}/{done['reportDocumentId']}"): lambda _r: JSONResponse(document),
            ("GET", download_path): lambda _r: Response(tsv, media_type="text/plain;charset=windows-31j"),
        }
    )
    assert {"0012": 4} == run(replay.adapter(source="report"), lambda a: a.snapshot())
    created = [q for method, path, q in replay.seen if (method, path) == ("POST", REPORTS)]
    assert 1 == len(created)
