"""
The emulator answers in RMS's shapes, and the adapter's wire models read RMS's shapes.

``shared/recorded`` holds no Rakuten payloads; the shapes below are the facts sheet's examples
(``shared/malls/yahoo-rakuten.md`` §3.1 and §4), copied from the RMS docs there.
"""

from __future__ import annotations

import asyncio
import base64
import re

from collections.abc import Mapping
from typing import Any, Literal

import httpx
import pytest

from starlette.requests import Request

from ecsync_core.testing import EMULATOR_BASE, emulated
from ecsync_rakuten import _wire as wire
from ecsync_rakuten.client import BULK_GET, BULK_UPSERT, EXPIRY
from ecsync_rakuten.emulator import ORPHAN_LIFE_S, SANDBOX_LICENSE_KEY, SANDBOX_SECRET, RakutenEmulator
from ecsync_rakuten.plugin import ecsync_malls


FACTS_400 = {
    "errors": [
        {
            "code": "IE0003",
            "message": "quantity must be between 0 and 99999.",
            "metadata": {"propertyPath": "inventories[1].quantity"},
        }
    ]
}
FACTS_404 = {"errors": [{"code": "GE0014", "message": "Not found for inputs; manageNumber=a, variantId=b"}]}
FACTS_401 = {"errors": [{"code": "GA0001", "message": "Un-Authorised"}]}
FACTS_EXPIRY = {"expiryDate": "2026-11-28T23:59:59"}
FACTS_UPSERT = {
    "inventories": [
        {"manageNumber": "abc-001", "variantId": "normal-inventory", "mode": "ABSOLUTE", "quantity": 12},
        {"manageNumber": "tee-01", "variantId": "red-m", "mode": "ABSOLUTE", "quantity": 0},
    ]
}
VARIANT_FIELDS = {"manageNumber", "variantId", "quantity", "created", "updated"}
AUTH = {"Authorization": "ESA " + base64.b64encode(f"{SANDBOX_SECRET}:{SANDBOX_LICENSE_KEY}".encode()).decode()}


def call(
    emulator_seed: Mapping[str, int],
    method: str,
    path: str,
    *,
    body: object = None,
    headers: Mapping[str, str] = AUTH,
    params: Mapping[str, str] | None = None,
    refuse_unknown: bool = False,
    refusal_names: Literal["message", "path", "none"] = "message",
) -> tuple[httpx.Response, RakutenEmulator]:
    built = emulated(ecsync_malls()[0], emulator_seed, speed=1000.0)
    assert isinstance(built.emulator, RakutenEmulator)
    built.emulator.refuse_unknown = refuse_unknown
    built.emulator.refusal_names = refusal_names

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=built.transport, base_url=EMULATOR_BASE) as client:
            return await client.request(method, path, json=body, headers=dict(headers), params=params)

    return asyncio.run(go()), built.emulator


def test_wire_models_read_the_facts_sheet_examples() -> None:
    """The RMS error envelope, the not-found answer and the expiry date parse into the adapter's models."""
    refused = wire.structure(FACTS_400, wire.ErrorResponse).errors[0]
    assert "IE0003 quantity must be between 0 and 99999. (inventories[1].quantity)" == refused.describe()
    assert "GE0014" == wire.structure(FACTS_404, wire.ErrorResponse).errors[0].code
    assert "2026-11-28T23:59:59" == wire.structure(FACTS_EXPIRY, wire.ExpiryDate).expiry_date


def test_adapter_sends_the_facts_sheet_upsert_body() -> None:
    """The adapter's bulk-upsert body is the documented one, field for field."""
    sent = wire.BulkUpsertRequest(
        [wire.InventoryUpsert("abc-001", "normal-inventory", 12), wire.InventoryUpsert("tee-01", "red-m", 0)]
    )
    assert FACTS_UPSERT == wire.unstructure(sent)


def test_upsert_answers_204_with_no_body() -> None:
    """A good bulk-upsert is 204 No Content and sets the stock."""
    response, emulator = call(
        {"abc-001:normal-inventory": 1, "tee-01:red-m": 3}, "POST", BULK_UPSERT, body=FACTS_UPSERT
    )
    assert (204, b"") == (response.status_code, response.content)
    assert {"abc-001:normal-inventory": 12, "tee-01:red-m": 0} == emulator.stock()


def test_upsert_error_names_the_item_and_applies_nothing() -> None:
    """A bad quantity is a 400 in the documented envelope naming inventories[1]; the good item is not applied."""
    body = {
        "inventories": [dict(FACTS_UPSERT["inventories"][0]), {**FACTS_UPSERT["inventories"][1], "quantity": 100_000}]
    }
    response, emulator = call({"abc-001:normal-inventory": 1, "tee-01:red-m": 3}, "POST", BULK_UPSERT, body=body)
    assert (400, FACTS_400) == (response.status_code, response.json())
    assert {"abc-001:normal-inventory": 1, "tee-01:red-m": 3} == emulator.stock()


@pytest.mark.parametrize(
    ("entry", "path", "code"),
    [
        ({"variantId": "v", "mode": "ABSOLUTE", "quantity": 1}, "inventories[0].manageNumber", "IE0105"),
        (
            {"manageNumber": "a" * 33, "variantId": "v", "mode": "ABSOLUTE", "quantity": 1},
            "inventories[0].manageNumber",
            "IE0004",
        ),
        (
            {"manageNumber": "a b", "variantId": "v", "mode": "ABSOLUTE", "quantity": 1},
            "inventories[0].manageNumber",
            "IE0002",
        ),
        ({"manageNumber": "a", "variantId": "v", "mode": "SET", "quantity": 1}, "inventories[0].mode", "IE0002"),
        (
            {"manageNumber": "a", "variantId": "v", "mode": "ABSOLUTE", "quantity": "a"},
            "inventories[0].quantity",
            "IE0002",
        ),
        (
            {"manageNumber": "a", "variantId": "v", "mode": "ABSOLUTE", "quantity": -1},
            "inventories[0].quantity",
            "IE0003",
        ),
    ],
)
def test_upsert_validates_each_field(entry: dict[str, Any], path: str, code: str) -> None:
    """Each documented field rule answers 400 with its code at the field's propertyPath."""
    response, _ = call({}, "POST", BULK_UPSERT, body={"inventories": [entry]})
    assert 400 == response.status_code
    assert [(code, path)] == [(e["code"], e["metadata"]["propertyPath"]) for e in response.json()["errors"]]


def test_upsert_refuses_more_than_400_items() -> None:
    """401 SKUs in one upsert is refused as a whole, pointing at the list."""
    items = [{"manageNumber": f"p{n}", "variantId": "v", "mode": "ABSOLUTE", "quantity": 1} for n in range(401)]
    response, _ = call({}, "POST", BULK_UPSERT, body={"inventories": items})
    assert (400, "inventories") == (response.status_code, response.json()["errors"][0]["metadata"]["propertyPath"])


def test_relative_mode_adds_to_the_stock() -> None:
    """RELATIVE adds the (possibly negative) quantity to what is held."""
    body = {"inventories": [{"manageNumber": "a", "variantId": "v", "mode": "RELATIVE", "quantity": -2}]}
    response, emulator = call({"a:v": 5}, "POST", BULK_UPSERT, body=body)
    assert (204, {"a:v": 3}) == (response.status_code, emulator.stock())


def test_bulk_get_answers_known_skus_only_folding_manage_number() -> None:
    """bulk-get answers the SKUs held (manageNumber asked in any case), leaving unknown ones out."""
    body = {
        "inventories": [
            {"manageNumber": "ABC-001", "variantId": "normal-inventory"},
            {"manageNumber": "x", "variantId": "y"},
        ]
    }
    response, _ = call({"Abc-001:normal-inventory": 4}, "POST", BULK_GET, body=body)
    rows = response.json()["inventories"]
    assert [("abc-001", "normal-inventory", 4)] == [(r["manageNumber"], r["variantId"], r["quantity"]) for r in rows]
    assert VARIANT_FIELDS == set(rows[0])
    assert rows[0]["updated"].endswith("+09:00")


def test_bulk_get_refuses_more_than_1000_items() -> None:
    """1,001 SKUs in one bulk-get is a 400."""
    body = {"inventories": [{"manageNumber": f"p{n}", "variantId": "v"} for n in range(1001)]}
    response, _ = call({}, "POST", BULK_GET, body=body)
    assert 400 == response.status_code


def test_variant_get_unknown_is_404_ge0014() -> None:
    """variants.get of an unknown SKU is 404 GE0014 in the documented words; a known one has the documented fields."""
    missing, _ = call({"a:v": 1}, "GET", "/es/2.0/inventories/manage-numbers/a/variants/w")
    assert 404 == missing.status_code
    assert {
        "errors": [{"code": "GE0014", "message": "Not found for inputs; manageNumber=a, variantId=w"}]
    } == missing.json()
    found, _ = call({"a:v": 1}, "GET", "/es/2.0/inventories/manage-numbers/A/variants/v")
    assert (200, VARIANT_FIELDS) == (found.status_code, set(found.json()))


def test_orphan_writes_are_invisible_and_purged_after_a_day() -> None:
    """A write to an unknown SKU is kept out of sight, and dropped 24 hours after its last update."""
    now = [1_000_000.0]
    emulator = RakutenEmulator({"a:v": 1}, clock=lambda: now[0])
    emulator._apply([("ghost", "v", "ABSOLUTE", 5)])
    assert ({("ghost", "v"): (5, now[0])}, {"a:v": 1}) == (emulator.orphans, emulator.stock())
    now[0] += ORPHAN_LIFE_S
    emulator._apply([("a", "v", "ABSOLUTE", 2)])
    assert ({}, {"a:v": 2}) == (emulator.orphans, emulator.stock())


def test_items_api_lists_variants() -> None:
    """items.get lists a product's variant ids as the keys of ``variants``; an unknown product is 404."""
    response, _ = call({"tee-01:red-m": 1, "tee-01:red-l": 2}, "GET", "/es/2.0/items/manage-numbers/TEE-01")
    assert ["red-m", "red-l"] == list(wire.structure(response.json(), wire.Item).variants)
    missing, _ = call({}, "GET", "/es/2.0/items/manage-numbers/nope")
    assert (404, "GE0014") == (missing.status_code, missing.json()["errors"][0]["code"])


def test_bulk_get_can_refuse_unknown_skus_as_the_documented_not_found() -> None:
    """
    With ``refuse_unknown`` (whether RMS does is [U]) an unknown SKU is a 404 GE0014 in the documented shape
    (no ``metadata``, the SKU in the message); ``refusal_names="path"`` names its index instead.
    """
    body = {"inventories": [{"manageNumber": "a", "variantId": "v"}, {"manageNumber": "a", "variantId": "gone"}]}
    response, _ = call({"a:v": 1}, "POST", BULK_GET, body=body, refuse_unknown=True)
    assert 404 == response.status_code
    assert [{"code": "GE0014", "message": "Not found for inputs; manageNumber=a, variantId=gone"}] == response.json()[
        "errors"
    ]
    response, _ = call({"a:v": 1}, "POST", BULK_GET, body=body, refuse_unknown=True, refusal_names="path")
    assert [("GE0014", "inventories[1]")] == [
        (e["code"], e["metadata"]["propertyPath"]) for e in response.json()["errors"]
    ]


def test_expiry_date_is_jst_without_offset() -> None:
    """The expiry-date API answers ``expiryDate`` as YYYY-MM-DDTHH:MM:SS, no offset, 23:59:59 of day 90."""
    response, _ = call({}, "GET", EXPIRY, params={"licenseKey": SANDBOX_LICENSE_KEY})
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT23:59:59", response.json()["expiryDate"])
    missing, _ = call({}, "GET", EXPIRY)
    assert (400, "DR0005") == (missing.status_code, missing.json()["errors"][0]["code"]), "as the live service"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "ESA " + base64.b64encode(b"SP1:SL1").decode()}])
def test_wrong_or_missing_esa_header_is_401_ga0001(headers: dict[str, str]) -> None:
    """Without the sandbox's ESA credentials every API answers 401 GA0001 "Un-Authorised"."""
    response, _ = call(
        {}, "POST", BULK_GET, body={"inventories": [{"manageNumber": "a", "variantId": "v"}]}, headers=headers
    )
    assert (401, FACTS_401) == (response.status_code, response.json())


def test_limits_are_the_published_ones() -> None:
    """The harness is told RMS's limits: upsert 1/s and bulk-get 5/s, with no burst."""
    limits = {(lim.prefix, lim.method): (lim.rate, lim.burst) for lim in RakutenEmulator({}).limits}
    assert (1.0, 1.0) == limits[(BULK_UPSERT, "POST")]
    assert (5.0, 1.0) == limits[(BULK_GET, "POST")]


def test_throttled_and_failure_answers_use_the_error_envelope() -> None:
    """A 429 or an injected 5xx carries RMS's error envelope, so the adapter reads it like any refusal."""
    emulator = RakutenEmulator({})
    request = Request({"type": "http", "method": "POST", "path": BULK_UPSERT, "headers": []})
    throttled, failed = emulator.throttled(request), emulator.failure(request, 503)
    assert (429, 503) == (throttled.status_code, failed.status_code)
    assert all("errors" in wire.unstructure(wire.structure(_json(r), wire.ErrorResponse)) for r in (throttled, failed))


def _json(response: Any) -> Any:
    import json

    return json.loads(bytes(response.body))


def test_sandbox_settings_scale_the_adapter_pacing() -> None:
    """The sandbox config points the adapter at the emulator with its rates scaled by --speed."""
    settings = RakutenEmulator({}).sandbox_settings("http://127.0.0.1:9", 10.0)
    assert {
        "endpoint": "http://127.0.0.1:9",
        "bulk_get_rate": 50.0,
        "upsert_rate": 10.0,
        "items_rate": 10.0,
    } == settings


def test_bare_seed_key_is_a_single_variant_product_listed_as_seeded() -> None:
    """A seed key without a variantId makes a one-SKU product, and /_sandbox/stock keeps the seed's spelling."""
    emulator = RakutenEmulator({"Single": 3})
    assert {"Single": 3} == emulator.stock()
    assert ["normal-inventory"] == list(emulator.products["single"])
    emulator.set_stock({"single": 9})
    assert {"Single": 9} == emulator.stock()
