"""
The emulator answers like Amazon: raw HTTP against it behind the sandbox harness, checked against Amazon's own
model definitions and recorded bodies in tests/recorded/amazon.
"""

from __future__ import annotations

import asyncio
import gzip
import json

from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from hypothesis import given
from hypothesis import strategies as st

from ecsync_amazon._emulated_pages import Row, dumps, page_json, page_model
from ecsync_amazon._emulated_reports import COLUMNS
from ecsync_amazon._wire import unstructure
from ecsync_amazon.client import SUMMARIES
from ecsync_amazon.emulator import (
    MARKETPLACE,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REFRESH_TOKEN,
    TOKEN_PATH,
    AmazonEmulator,
)
from ecsync_amazon.plugin import ecsync_malls
from ecsync_amazon.report import parse_report
from ecsync_amazon.reports_api import DOCUMENTS, REPORTS
from ecsync_core.sandbox.harness import SandboxApp, build_app, parse_fault


RECORDED = Path(__file__).resolve().parents[3] / "tests" / "recorded" / "amazon"
INVENTORY = json.loads((RECORDED / "fbaInventory/definitions.HEAD.json").read_text(encoding="utf-8"))
REPORT_MODELS = json.loads((RECORDED / "reports/definitions.HEAD.json").read_text(encoding="utf-8"))
REPORT_TYPE = "GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA"

SEED = {f"JP-{n:03d}": n for n in range(120)}
LIST = {"granularityType": "Marketplace", "granularityId": MARKETPLACE, "marketplaceIds": MARKETPLACE}


def recorded(name: str) -> Any:
    return json.loads((RECORDED / name).read_text(encoding="utf-8"))


def shape_problems(value: Any, schema: dict[str, Any], models: dict[str, Any], at: str = "$") -> list[str]:
    """Where *value* leaves Amazon's model: unknown or missing keys, wrong JSON types (a tiny Swagger check)."""
    if "$ref" in schema:
        schema = models[schema["$ref"].rsplit("/", 1)[-1]]
    kind = schema.get("type", "object" if "properties" in schema else None)
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{at}: not an object"]
        props = schema.get("properties", {})
        problems = [f"{at}.{k}: not in the model" for k in value if k not in props]
        problems += [f"{at}.{k}: required, missing" for k in schema.get("required", []) if k not in value]
        for key, item in value.items():
            if key in props:
                problems += shape_problems(item, props[key], models, f"{at}.{key}")
        return problems
    if kind == "array":
        if not isinstance(value, list):
            return [f"{at}: not an array"]
        return [p for i, item in enumerate(value) for p in shape_problems(item, schema["items"], models, f"{at}[{i}]")]
    expected = {"string": str, "integer": int, "boolean": bool}.get(kind or "")
    if expected and (not isinstance(value, expected) or (expected is int and isinstance(value, bool))):
        return [f"{at}: not {kind}: {value!r}"]
    return []


def keys(value: Any) -> Any:
    """The key structure of a JSON value (first item of each list), to compare shapes regardless of values."""
    if isinstance(value, dict):
        return {k: keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [keys(value[0])] if value else []
    return None


@attrs.define
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@attrs.define
class Served:
    emulator: AmazonEmulator
    app: SandboxApp
    token: str = ""

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def one() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://emulator.test") as http:
                return await http.request(method, path, **kwargs)

        return asyncio.run(one())

    def grant(self) -> str:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": SANDBOX_REFRESH_TOKEN,
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
        }
        self.token = self.call("POST", TOKEN_PATH, data=form).json()["access_token"]
        return self.token

    def get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        return self.call("GET", path, params=params, headers={"x-amz-access-token": self.token or self.grant()})

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.call("POST", path, json=body, headers={"x-amz-access-token": self.token or self.grant()})


def serve(seed: dict[str, int] = SEED, *, clock: Clock | None = None, speed: float = 1000.0) -> Served:
    emulator = AmazonEmulator(seed, clock=clock or Clock())
    return Served(emulator, build_app(emulator, speed=speed))


# -- LWA ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True])
def test_lwa_grants_a_token_shaped_like_the_recorded_one(as_json: bool) -> None:
    """Form or JSON, the refresh-token grant answers the recorded four keys, expires_in 3600, no-store."""
    s = serve()
    fields = {
        "grant_type": "refresh_token",
        "refresh_token": SANDBOX_REFRESH_TOKEN,
        "client_id": SANDBOX_CLIENT_ID,
        "client_secret": SANDBOX_CLIENT_SECRET,
    }
    response = s.call("POST", TOKEN_PATH, **({"json": fields} if as_json else {"data": fields}))
    assert 200 == response.status_code
    body = response.json()
    assert keys(recorded("lwa/token.refresh_token.200.json")) == keys(body)
    assert ("bearer", 3600, SANDBOX_REFRESH_TOKEN) == (body["token_type"], body["expires_in"], body["refresh_token"])
    assert body["access_token"].startswith("Atza|")
    assert "no-store" == response.headers["cache-control"]


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"refresh_token": "Atzr|other"}, 400, "invalid_grant"),
        ({"client_secret": "other"}, 401, "invalid_client"),
        ({"client_id": "other"}, 401, "invalid_client"),
        ({"refresh_token": ""}, 400, "invalid_request"),
        ({"grant_type": "client_credentials"}, 400, "invalid_request"),
    ],
)
def test_lwa_refusals_speak_oauth(change: dict[str, str], status: int, error: str) -> None:
    """A wrong refresh token is 400 invalid_grant, a wrong client 401 invalid_client, in OAuth's two keys."""
    s = serve()
    form = {
        "grant_type": "refresh_token",
        "refresh_token": SANDBOX_REFRESH_TOKEN,
        "client_id": SANDBOX_CLIENT_ID,
        "client_secret": SANDBOX_CLIENT_SECRET,
        **change,
    }
    response = s.call("POST", TOKEN_PATH, data=form)
    assert (status, error) == (response.status_code, response.json()["error"])
    assert {"error", "error_description"} == set(response.json())


# -- auth on SP-API -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "details"),
    [
        (None, "Access token is missing in the request header."),
        ("Atza|forged", "The access token you provided is revoked, malformed or invalid."),
    ],
)
def test_a_missing_or_bad_token_is_403_unauthorized(token: str | None, details: str) -> None:
    """No token or a bad one: 403 (never 401), code Unauthorized, with Amazon's two details texts."""
    s = serve()
    headers = {"x-amz-access-token": token} if token else {}
    response = s.call("GET", SUMMARIES, params={**LIST, "details": "true"}, headers=headers)
    assert 403 == response.status_code
    assert [{"code": "Unauthorized", "message": "Access to requested resource is denied.", "details": details}] == (
        response.json()["errors"]
    )
    assert response.headers["x-amzn-requestid"]


def test_an_access_token_expires_after_its_hour() -> None:
    """A token good now is refused 3600 s later."""
    clock = Clock()
    s = serve(clock=clock)
    assert 200 == s.get(SUMMARIES, LIST).status_code
    clock.now += 3601
    assert 403 == s.get(SUMMARIES, LIST).status_code


# -- getInventorySummaries ------------------------------------------------------------------------------------


def test_a_page_matches_amazons_model_and_the_recorded_shape() -> None:
    """With details=true each summary has the recorded keys, inventoryDetails included; nothing off-model."""
    s = serve()
    body = s.get(SUMMARIES, {**LIST, "details": "true"}).json()
    assert [] == shape_problems(body, INVENTORY["GetInventorySummariesResponse"], INVENTORY)
    sample = recorded("fbaInventory/getInventorySummaries.200.sandbox-static-1.json")
    assert keys(sample["payload"]["inventorySummaries"][2]) == keys(body["payload"]["inventorySummaries"][0])
    assert list(sample) == list(body)  # pagination before payload, as recorded


_ROWS = st.lists(
    st.builds(
        Row,
        st.text(min_size=1),
        st.text(),
        st.text(),
        st.text(),
        st.text(),
        st.integers(0, 10**6),
        st.integers(0, 10**6),
        st.integers(0, 10**6),
    ),
    max_size=5,
)


@given(_ROWS, st.booleans(), st.none() | st.text(min_size=1))
def test_the_fast_page_text_is_the_wire_models_text(rows: list[Row], details: bool, token: str | None) -> None:
    """The template-written page equals the wire model unstructured and dumped, for any SKU text and token."""
    assert dumps(unstructure(page_model(rows, details, token, MARKETPLACE))) == page_json(
        rows, details, token, MARKETPLACE
    )


def test_details_false_leaves_inventory_details_out() -> None:
    """Without details=true there is no inventoryDetails key at all (not null)."""
    s = serve()
    summaries = s.get(SUMMARIES, LIST).json()["payload"]["inventorySummaries"]
    assert all("inventoryDetails" not in summary for summary in summaries)


def test_fulfillable_is_the_stock_and_total_is_more() -> None:
    """fulfillableQuantity is the seeded stock; totalQuantity adds inbound and reserved units, as Amazon's does."""
    s = serve({"A": 3})
    summary = s.get(SUMMARIES, {**LIST, "details": "true"}).json()["payload"]["inventorySummaries"][0]
    assert 3 == summary["inventoryDetails"]["fulfillableQuantity"]
    assert summary["totalQuantity"] >= 3


def test_pages_of_50_in_sku_order_with_opaque_tokens_until_the_last() -> None:
    """120 SKUs come as 50, 50, 20 in SKU order; tokens carry ':' and '%'; the last page has no pagination."""
    s = serve()
    seen: list[str] = []
    tokens: list[str] = []
    params = dict(LIST)
    while True:
        body = s.get(SUMMARIES, params).json()
        seen += [x["sellerSku"] for x in body["payload"]["inventorySummaries"]]
        if "pagination" not in body:
            break
        tokens.append(body["pagination"]["nextToken"])
        params = {**LIST, "nextToken": tokens[-1]}
    assert sorted(SEED) == seen
    assert 2 == len(tokens)
    assert all(":" in t and "%" in t for t in tokens)


@pytest.mark.parametrize(("late_by", "status"), [(29.0, 200), (31.0, 400)])
def test_a_next_token_lives_30_seconds(late_by: float, status: int) -> None:
    """A nextToken used 29 s after it was issued works; at 31 s it is 400 InvalidInput, invalid or expired."""
    clock = Clock()
    s = serve(clock=clock)
    s.grant()
    token = s.get(SUMMARIES, LIST).json()["pagination"]["nextToken"]
    clock.now += late_by
    response = s.get(SUMMARIES, {**LIST, "nextToken": token})
    assert status == response.status_code
    if status == 400:
        assert "InvalidInput" == response.json()["errors"][0]["code"]
        assert "Next token is invalid or expired" == response.json()["errors"][0]["message"]


@pytest.mark.parametrize("misuse", ["double-encoded", "other-query", "garbled"])
def test_a_token_misused_is_refused_like_an_expired_one(misuse: str) -> None:
    """Double percent-encoding, another query's token, or a made-up one: all 400 "invalid or expired"."""
    s = serve()
    token = s.get(SUMMARIES, LIST).json()["pagination"]["nextToken"]
    params = {**LIST, "nextToken": token}
    if misuse == "double-encoded":
        params["nextToken"] = httpx.QueryParams({"t": token}).get("t").replace("%", "%25")
    elif misuse == "other-query":
        params["sellerSkus"] = "JP-001,JP-002"
    else:
        params["nextToken"] = "12345:JP%2D050"
    response = s.get(SUMMARIES, params)
    assert 400 == response.status_code
    assert "Next token is invalid or expired" in response.text


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"granularityType": "Seller"}, "granularityType"),
        ({"marketplaceIds": f"{MARKETPLACE},A1PA6795UKMFR9"}, "marketplaceIds"),
        ({"sellerSkus": ",".join(f"S{n}" for n in range(51))}, "at most 50"),
        ({"startDateTime": "yesterday"}, "not a valid ISO date-time"),
        ({"startDateTime": "2020-01-01T00:00:00Z"}, "earlier than 18 months"),
        ({"details": "yes"}, "details"),
    ],
)
def test_bad_parameters_are_400_invalid_input(change: dict[str, str], said: str) -> None:
    """Wrong granularity, two marketplaces, 51 SKUs, a bad or too old startDateTime: 400 InvalidInput."""
    s = serve()
    response = s.get(SUMMARIES, {**LIST, **change})
    assert 400 == response.status_code
    error = response.json()["errors"][0]
    assert "InvalidInput" == error["code"]
    assert said in error["details"]
    assert "2.0" == response.headers["x-amzn-ratelimit-limit"]


def test_selection_precedence_start_date_then_seller_skus_then_seller_sku() -> None:
    """startDateTime beats sellerSkus, which beats sellerSku; sellerSkus splits on the decoded comma."""
    clock = Clock()
    s = serve(clock=clock)
    clock.now += 60
    s.emulator.set_stock({"JP-005": 9})
    since = "2027-01-15T08:00:30Z"  # between the seed (clock start) and the change a minute later

    def skus(params: dict[str, str]) -> list[str]:
        return [x["sellerSku"] for x in s.get(SUMMARIES, {**LIST, **params}).json()["payload"]["inventorySummaries"]]

    assert ["JP-005"] == skus({"startDateTime": since, "sellerSkus": "JP-001"})
    assert ["JP-001", "JP-002"] == skus({"sellerSkus": "JP-002,JP-001,NOPE", "sellerSku": "JP-003"})
    assert ["JP-003"] == skus({"sellerSku": "JP-003"})


def test_sandbox_stock_is_the_fulfillable_stock_both_ways() -> None:
    """GET /_sandbox/stock shows fulfillable quantities; PUT sets them and the API answers the new number."""
    s = serve({"A": 1})
    assert {"A": 1} == s.call("GET", "/_sandbox/stock").json()
    s.call("PUT", "/_sandbox/stock", json={"A": 7, "B": 0})
    summaries = s.get(SUMMARIES, {**LIST, "details": "true"}).json()["payload"]["inventorySummaries"]
    assert {"A": 7, "B": 0} == {x["sellerSku"]: x["inventoryDetails"]["fulfillableQuantity"] for x in summaries}


# -- limits, throttling, faults -------------------------------------------------------------------------------


def test_the_published_limits_are_declared() -> None:
    """getInventorySummaries 2/s burst 2; createReport and getReportDocument 0.0167/s burst 15; getReport 2/15."""
    limits = {(limit.method, limit.prefix): (limit.rate, limit.burst) for limit in AmazonEmulator({}).limits}
    assert (2.0, 2.0) == limits[("GET", SUMMARIES)]
    assert (0.0167, 15.0) == limits[("POST", REPORTS)]
    assert (2.0, 15.0) == limits[("GET", REPORTS + "/")]
    assert (0.0167, 15.0) == limits[("GET", DOCUMENTS)]


def test_past_the_burst_amazon_answers_429_quota_exceeded_without_retry_after() -> None:
    """At the real limits a third call in a row is 429 QuotaExceeded, TooManyRequestsException, no Retry-After."""
    s = serve(speed=1.0)
    s.grant()
    statuses = [s.get(SUMMARIES, LIST) for _ in range(3)]
    assert [200, 200, 429] == [r.status_code for r in statuses]
    throttled = statuses[2]
    assert [
        {"code": "QuotaExceeded", "message": "You exceeded your quota for the requested resource.", "details": ""}
    ] == (throttled.json()["errors"])
    assert "TooManyRequestsException" == throttled.headers["x-amzn-errortype"]
    assert "retry-after" not in throttled.headers
    assert "x-amzn-ratelimit-limit" not in throttled.headers
    assert 1 == s.call("GET", "/_sandbox/requests").json()["throttled"]


@pytest.mark.parametrize(("status", "code"), [(500, "InternalFailure"), (503, "ServiceUnavailable")])
def test_injected_5xx_answer_in_amazons_error_shape(status: int, code: str) -> None:
    """A harness fault on SP-API answers like the recorded 500: message and code, nothing else."""
    s = serve()
    s.grant()
    s.app.set_fault(parse_fault({"status": status, "count": 1}))
    response = s.get(SUMMARIES, LIST)
    assert status == response.status_code
    assert keys(recorded("fbaInventory/getInventorySummaries.500.sandbox-static-1.json")) == keys(response.json())
    assert code == response.json()["errors"][0]["code"]


def test_injected_faults_on_lwa_speak_oauth() -> None:
    """A 500 fault on the token endpoint answers OAuth's server_error, not SP-API's errors list."""
    s = serve()
    s.app.set_fault(parse_fault({"status": 500, "count": 1}))
    response = s.call("POST", TOKEN_PATH, data={})
    assert (500, "server_error") == (response.status_code, response.json()["error"])


def test_sandbox_settings_point_both_urls_at_the_emulator_and_scale_pacing() -> None:
    """The sandbox config sends SP-API and LWA to the emulator, with the adapter's rate and poll scaled by speed."""
    settings = AmazonEmulator({}).sandbox_settings("http://127.0.0.1:8001/", 10.0)
    assert "http://127.0.0.1:8001" == settings["endpoint"]
    assert "http://127.0.0.1:8001/auth/o2/token" == settings["token_url"]
    assert pytest.approx(19.0) == settings["rate"]
    assert pytest.approx(1.5) == settings["report_poll_s"]
    plugin = ecsync_malls()[0]
    assert plugin.make_emulator is not None
    # every secret the plugin requires, and the optional day the client secret was made (health counts it)
    assert {*plugin.secret_names, "AMAZON_LWA_CLIENT_SECRET_ISSUED"} == set(plugin.make_emulator({}).sandbox_secrets())


# -- the Reports API ------------------------------------------------------------------------------------------


def create(s: Served, report_type: str = REPORT_TYPE) -> httpx.Response:
    return s.post(REPORTS, {"reportType": report_type, "marketplaceIds": [MARKETPLACE]})


def test_a_report_goes_queued_in_progress_done_and_its_document_is_gzipped_cp932() -> None:
    """createReport 202 -> IN_QUEUE -> IN_PROGRESS -> DONE; the document is gzipped cp932 TSV of the stock then."""
    clock = Clock()
    s = serve({"0012": 4, "日本語": 2}, clock=clock)
    created = create(s)
    assert 202 == created.status_code
    report_id = created.json()["reportId"]
    s.emulator.set_stock({"0012": 99})  # after the request: not in the report
    statuses = []
    for _ in range(3):
        report = s.get(f"{REPORTS}/{report_id}").json()
        assert [] == shape_problems(report, REPORT_MODELS["Report"], REPORT_MODELS)
        statuses.append(report["processingStatus"])
        clock.now += 1.5
    assert ["IN_QUEUE", "IN_PROGRESS", "DONE"] == statuses
    document = s.get(f"{DOCUMENTS}/{report['reportDocumentId']}").json()
    assert [] == shape_problems(document, REPORT_MODELS["ReportDocument"], REPORT_MODELS)
    assert "GZIP" == document["compressionAlgorithm"]
    download = s.call("GET", document["url"])  # no SP-API headers: a pre-signed URL
    assert "charset=windows-31j" in download.headers["content-type"]
    text = gzip.decompress(download.content).decode("cp932")
    assert "\t".join(COLUMNS) == text.splitlines()[0]
    assert {"0012": 4, "日本語": 2} == parse_report(download.content, source="r")


def test_a_second_report_within_30_minutes_ends_fatal() -> None:
    """Asked again 10 minutes later, the new report ends FATAL without a document; after 30 minutes it is DONE."""
    clock = Clock()
    s = serve(clock=clock)
    first = create(s).json()["reportId"]
    clock.now += 600
    second = create(s).json()["reportId"]
    clock.now += 1800
    third = create(s).json()["reportId"]
    clock.now += 5
    reports = [s.get(f"{REPORTS}/{rid}").json() for rid in (first, second, third)]
    assert ["DONE", "FATAL", "DONE"] == [r["processingStatus"] for r in reports]
    assert "reportDocumentId" not in reports[1]


def test_get_reports_lists_by_type_status_and_age_newest_first() -> None:
    """getReports filters reportTypes, processingStatuses and createdSince, newest first."""
    clock = Clock()
    s = serve(clock=clock)
    old = create(s).json()["reportId"]
    clock.now += 3500
    new = create(s).json()["reportId"]
    params = {"reportTypes": REPORT_TYPE, "processingStatuses": "IN_QUEUE,IN_PROGRESS,DONE"}
    assert [new, old] == [r["reportId"] for r in s.get(REPORTS, params).json()["reports"]]
    recent = s.get(REPORTS, {**params, "createdSince": "2027-01-15T08:30:00Z"}).json()["reports"]
    assert [new] == [r["reportId"] for r in recent]
    assert [] == s.get(REPORTS, {**params, "processingStatuses": "FATAL"}).json()["reports"]
    assert 400 == s.get(REPORTS, {"processingStatuses": "DONE"}).status_code


def test_report_errors_have_the_recorded_shape() -> None:
    """An unknown reportType or reportId is 400 in the recorded Reports API shape (code "400", details)."""
    s = serve()
    shape = keys(recorded("reports/createReport.400.sandbox-static-1.json"))
    bad_type = create(s, "GET_MERCHANT_LISTINGS_ALL_DATA")
    unknown = s.get(f"{REPORTS}/badReportId1")
    for response in (bad_type, unknown):
        assert 400 == response.status_code
        assert shape == keys(response.json())
        assert "400" == response.json()["errors"][0]["code"]


def test_a_download_url_expires_after_5_minutes() -> None:
    """The pre-signed URL works at once and is refused (403, S3's XML) after 300 seconds."""
    clock = Clock()
    s = serve(clock=clock)
    report_id = create(s).json()["reportId"]
    clock.now += 5
    document_id = s.get(f"{REPORTS}/{report_id}").json()["reportDocumentId"]
    url = s.get(f"{DOCUMENTS}/{document_id}").json()["url"]
    assert 200 == s.call("GET", url).status_code
    clock.now += 301
    late = s.call("GET", url)
    assert 403 == late.status_code
    assert "<Code>AccessDenied</Code>" in late.text
