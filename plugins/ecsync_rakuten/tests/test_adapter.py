"""The Rakuten adapter against its emulator: batches, refusals, identity, credentials, retries, pacing."""

from __future__ import annotations

import json
import time

from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import pytest
import stamina

from ecsync_core.domain import ItemResult, StockWrite
from ecsync_core.errors import CredentialError, MallError
from ecsync_core.pacing import RETRY_ATTEMPTS, TokenBucket
from ecsync_core.ports import StockReading
from ecsync_rakuten.client import BULK_GET, BULK_UPSERT, JST, REFUSED_BATCH
from ecsync_rakuten.identity import CACHE_KEY

from .conftest import Rig


MakeRig = Callable[..., Rig]

SEED = {"tee-01:red-m": 4, "tee-01:red-l": 5, "Abc-001:normal-inventory": 3, "single": 7}


def _bodies(rig: Rig, path: str) -> list[dict[str, object]]:
    return [json.loads(c.body) for c in rig.http.calls if c.path == path and c.body]


# -- writing ------------------------------------------------------------------------------------------------------


def test_write_goes_to_inventory_api_2_0_absolute_in_batches_of_400(make_rig: MakeRig) -> None:
    """1,000 SKUs go out as three 2.0 bulk-upserts (400, 400, 200), ABSOLUTE, and each answers 204."""
    seed = {f"p{n:04d}:normal-inventory": 1 for n in range(1000)}
    rig = make_rig(seed)
    results = rig.run(lambda: rig.adapter.write([StockWrite(k, 9) for k in seed]))
    assert [True] * 1000 == [r.ok for r in results]
    upserts = [c for c in rig.http.calls if "bulk-upsert" in c.path]
    assert [(BULK_UPSERT, 204)] * 3 == [(c.path, c.status) for c in upserts]
    sizes = [len(b["inventories"]) for b in _bodies(rig, BULK_UPSERT)]  # type: ignore[arg-type]
    assert [400, 400, 200] == sizes
    modes = {i["mode"] for b in _bodies(rig, BULK_UPSERT) for i in b["inventories"]}  # type: ignore[attr-defined]
    assert {"ABSOLUTE"} == modes
    assert {9} == set(rig.emulator.stock().values())


def test_400_fails_the_named_item_and_the_others_are_resent(make_rig: MakeRig) -> None:
    """A 400 naming inventories[1] fails that item with Rakuten's words; the others are sent again and land."""
    rig = make_rig(SEED)
    writes = [StockWrite("tee-01:red-m", 6), StockWrite("tee-01:red-l", 100_000), StockWrite("single", 2)]
    results = rig.run(lambda: rig.adapter.write(writes))
    assert [True, False, True] == [r.ok for r in results]
    assert "IE0003" in (results[1].error or "")
    assert "inventories[1].quantity" in (results[1].error or "")
    assert [400, 204] == [c.status for c in rig.http.calls if "bulk-upsert" in c.path]
    held = rig.emulator.stock()
    assert (6, 5, 2) == (held["tee-01:red-m"], held["tee-01:red-l"], held["single"])


def test_400_naming_no_item_fails_the_whole_batch(make_rig: MakeRig) -> None:
    """A 400 that names no item of ours fails every item of its batch, says so, and applies nothing."""
    rig = make_rig(SEED, fail=[400], fail_on="bulk-upsert")
    results = rig.run(lambda: rig.adapter.write([StockWrite("tee-01:red-m", 6), StockWrite("single", 2)]))
    assert [False, False] == [r.ok for r in results]
    assert all("refused by Rakuten (400)" in (r.error or "") for r in results)
    assert (4, 7) == (rig.emulator.stock()["tee-01:red-m"], rig.emulator.stock()["single"])


def _refusal(path: str) -> httpx.Response:
    error = {"code": "IE0002", "message": "quantity has an invalid value : a.", "metadata": {"propertyPath": path}}
    return httpx.Response(400, json={"errors": [error]})


def test_items_of_a_resend_refused_again_are_reported_not_applied(make_rig: MakeRig) -> None:
    """When the resend is refused too, its named item fails with Rakuten's words, the rest as not applied."""
    rig = make_rig(
        SEED, fail=[_refusal("inventories[1].quantity"), _refusal("inventories[0].quantity")], fail_on="bulk-upsert"
    )
    writes = [StockWrite("tee-01:red-m", 6), StockWrite("tee-01:red-l", 1), StockWrite("single", 2)]
    results = rig.run(lambda: rig.adapter.write(writes))
    assert [False, False, False] == [r.ok for r in results]
    assert "(inventories[0].quantity)" in (results[0].error or "")
    assert "(inventories[1].quantity)" in (results[1].error or "")
    assert REFUSED_BATCH == results[2].error
    assert 2 == rig.http.count("bulk-upsert")
    assert (4, 5, 7) == tuple(rig.emulator.stock()[k] for k in ("tee-01:red-m", "tee-01:red-l", "single"))


def test_write_to_unknown_sku_is_accepted_but_never_reads_back(make_rig: MakeRig) -> None:
    """Rakuten stores a write to an unknown SKU silently: the write says ok, and a read shows it absent."""
    rig = make_rig(SEED)

    async def go() -> tuple[list[ItemResult], StockReading]:
        written = await rig.adapter.write([StockWrite("ghost:normal-inventory", 5), StockWrite("tee-01:RED-M", 1)])
        return written, await rig.adapter.read(["ghost:normal-inventory", "tee-01:RED-M", "tee-01:red-m"])

    written, reading = rig.run(go)
    assert [True, True] == [r.ok for r in written]
    assert {"tee-01:red-m": 4} == reading.quantities  # variantId is case-sensitive: RED-M is another SKU
    assert {("ghost", "normal-inventory"), ("tee-01", "RED-M")} == set(rig.emulator.orphans)
    assert "ghost:normal-inventory" not in rig.emulator.stock()


def test_manage_number_case_is_folded_and_keys_come_back_as_given(make_rig: MakeRig) -> None:
    """ABC-001 and abc-001 are one product on Rakuten; a read answers under each key as the caller wrote it."""
    rig = make_rig(SEED)

    async def go() -> StockReading:
        await rig.adapter.write([StockWrite("ABC-001:normal-inventory", 12)])
        return await rig.adapter.read(["abc-001:normal-inventory", "ABC-001:normal-inventory"])

    reading = rig.run(go)
    assert {"abc-001:normal-inventory": 12, "ABC-001:normal-inventory": 12} == reading.quantities
    assert 12 == rig.emulator.stock()["Abc-001:normal-inventory"]
    sent = _bodies(rig, BULK_UPSERT)[0]["inventories"]
    assert [{"manageNumber": "abc-001", "variantId": "normal-inventory", "quantity": 12, "mode": "ABSOLUTE"}] == sent


# -- identity ---------------------------------------------------------------------------------------------------------


def test_bare_manage_number_resolves_to_its_single_variant_and_is_cached(make_rig: MakeRig) -> None:
    """A bare manageNumber of a one-SKU product is read and written on that SKU; the next run asks no Items API."""
    rig = make_rig(SEED)
    later = rig.another_adapter()

    async def go() -> tuple[StockReading, list[ItemResult], StockReading]:
        before = await rig.adapter.read(["Single"])
        written = await rig.adapter.write([StockWrite("Single", 1)])
        return before, written, await later.read(["single"])

    before, written, after = rig.run(go, later)
    assert {"Single": 7} == before.quantities
    assert [True] == [r.ok for r in written]
    assert {"single": 1} == after.quantities
    assert 1 == rig.http.count("/es/2.0/items/")
    assert ["normal-inventory"] == [v for v, _at in json.loads(rig.context.store.get(CACHE_KEY) or "{}").values()]
    assert {"manageNumber": "single", "variantId": "normal-inventory"} == _bodies(rig, BULK_GET)[0]["inventories"][0]  # type: ignore[index]


def test_a_product_that_gains_variants_is_refused_once_its_cached_variant_runs_out(make_rig: MakeRig) -> None:
    """Within the trust period the cached SKU is used; after it, Items API is asked again and the row refused."""
    trusted, every_run = make_rig(SEED), make_rig(SEED, settings={"variant_cache_hours": 0})
    for rig in (trusted, every_run):
        rig.run(lambda rig=rig: rig.adapter.read(["single"]))
        rig.emulator.add_product("single", ["red-m"])  # the shop adds an option to the product
    later = trusted.another_adapter()
    kept = trusted.run(lambda: later.write([StockWrite("single", 9)]), later)
    assert ([True], 1) == ([r.ok for r in kept], trusted.http.count("/es/2.0/items/"))
    later = every_run.another_adapter()
    [refused] = every_run.run(lambda: later.write([StockWrite("single", 9)]), later)
    assert (False, 2) == (refused.ok, every_run.http.count("/es/2.0/items/"))
    assert "2 variants (normal-inventory, red-m)" in (refused.error or "")
    assert "{}" == every_run.context.store.get(CACHE_KEY), "the stale entry is dropped"


def test_a_cached_variant_that_reads_absent_is_asked_for_again_at_once(make_rig: MakeRig) -> None:
    """
    The shop replaced the single SKU of ``single``: the cached variant reads absent, so Items API is asked
    again in the same read and the new SKU's stock is what the sync sees (and writes), not a silent orphan.
    """
    rig = make_rig(SEED)
    rig.run(lambda: rig.adapter.read(["single"]))
    del rig.emulator.products["single"]["normal-inventory"]
    rig.emulator.add_product("single", ["r-sku00000001"], quantity=7)
    later = rig.another_adapter()

    async def sync_it() -> tuple[StockReading, list[ItemResult]]:
        return await later.read(["single"]), await later.write([StockWrite("single", 0)])

    reading, [written] = rig.run(sync_it, later)
    assert ({"single": 7}, 2) == (reading.quantities, rig.http.count("/es/2.0/items/"))
    assert written.ok
    assert 0 == rig.emulator.stock()["single:r-sku00000001"]
    assert {} == rig.emulator.orphans
    assert ["r-sku00000001"] == [v for v, _at in json.loads(rig.context.store.get(CACHE_KEY) or "{}").values()]


def test_two_keys_naming_one_rakuten_sku_are_both_refused_never_written(make_rig: MakeRig) -> None:
    """
    ``single`` (bare, its one variant) and ``single:normal-inventory`` are one Rakuten SKU fed by two FBA SKUs:
    each run the last write won, and the item's stock flipped between the two. Both are problems on read and
    failures on write, naming the other key; nothing is sent for them, and the other items go on.
    """
    rig = make_rig(SEED)
    keys = ["single", "single:normal-inventory", "tee-01:red-m"]

    async def go() -> tuple[StockReading, list[ItemResult]]:
        reading = await rig.adapter.read(keys)
        return reading, await rig.adapter.write([StockWrite(k, 1) for k in keys])

    reading, written = rig.run(go)
    assert {"tee-01:red-m": 4} == reading.quantities
    assert {"single", "single:normal-inventory"} == set(reading.problems)
    assert "as 'single:normal-inventory', mapped from another FBA SKU" in reading.problems["single"]
    assert [False, False, True] == [r.ok for r in written]
    assert "as 'single'" in (written[1].error or "")
    sent = [i["manageNumber"] for body in _bodies(rig, BULK_UPSERT) for i in body["inventories"]]  # type: ignore[index]
    assert ["tee-01"] == sent
    assert 7 == rig.emulator.stock()["single"]


def test_variant_ids_one_under_case_folding_are_one_sku_and_refused(make_rig: MakeRig) -> None:
    """With fold_variant_case on, ``tee-01:RED-M`` and ``tee-01:red-m`` (two FBA SKUs) name one SKU: refused."""
    rig = make_rig(SEED, settings={"fold_variant_case": True})
    reading = rig.run(lambda: rig.adapter.read(["tee-01:RED-M", "tee-01:red-m"]))
    assert ({}, {"tee-01:RED-M", "tee-01:red-m"}) == (reading.quantities, set(reading.problems))


def test_bare_manage_number_of_a_multi_variant_product_is_refused(make_rig: MakeRig) -> None:
    """A bare manageNumber naming several SKUs is a problem on read and a failure on write, never guessed."""
    rig = make_rig(SEED)

    async def go() -> tuple[StockReading, list[ItemResult]]:
        return await rig.adapter.read(["tee-01", "single"]), await rig.adapter.write([StockWrite("tee-01", 3)])

    reading, written = rig.run(go)
    assert {"single": 7} == reading.quantities
    problem = reading.problems["tee-01"]
    assert "2 variants (red-m, red-l)" in problem
    assert "tee-01:<variantId>" in problem
    assert [ItemResult("tee-01", ok=False, error=problem)] == written
    assert 0 == rig.http.count("bulk-upsert")
    assert (4, 5) == (rig.emulator.stock()["tee-01:red-m"], rig.emulator.stock()["tee-01:red-l"])


def test_bare_manage_number_of_a_product_without_variants_is_refused(make_rig: MakeRig) -> None:
    """A product with no SKU left has no stock to set: refused with that reason, and not cached."""
    rig = make_rig(SEED)
    rig.emulator.add_product("empty-01", [])
    reading = rig.run(lambda: rig.adapter.read(["empty-01"]))
    assert {} == reading.quantities
    assert "has no variants" in reading.problems["empty-01"]
    assert rig.context.store.get(CACHE_KEY) is None


def test_bare_manage_number_unknown_to_rakuten_is_absent_then_fails_on_write(make_rig: MakeRig) -> None:
    """No such product: absent from a read (as any unknown item), and a write of it fails naming it."""
    rig = make_rig(SEED)

    async def go() -> tuple[StockReading, list[ItemResult]]:
        return await rig.adapter.read(["nope-01"]), await rig.adapter.write([StockWrite("nope-01", 3)])

    reading, written = rig.run(go)
    assert StockReading({}) == reading
    assert [
        ItemResult("nope-01", ok=False, error="not found on Rakuten: no product with manageNumber 'nope-01'")
    ] == written


def test_items_api_failure_refuses_that_key_and_writes_the_others(make_rig: MakeRig) -> None:
    """When Items API keeps failing for one product, only its key fails; the other items are written."""
    rig = make_rig(SEED, fail=[503] * RETRY_ATTEMPTS, fail_on="/es/2.0/items/")
    results = rig.run(lambda: rig.adapter.write([StockWrite("single", 1), StockWrite("tee-01:red-m", 2)]))
    assert [False, True] == [r.ok for r in results]
    assert "could not look up product 'single' in Items API" in (results[0].error or "")
    assert 2 == rig.emulator.stock()["tee-01:red-m"]


def _rms_error(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"errors": [{"code": code, "message": "refused"}]})


@pytest.mark.parametrize("refusal", [(403, "AuthError"), (401, "GE0011")])
def test_items_api_not_enabled_refuses_the_bare_keys_only_asking_once(
    make_rig: MakeRig, refusal: tuple[int, str]
) -> None:
    """
    Items API refusing a key the inventory API takes (how RMS says an API is off is [U]): the bare keys are
    refused, saying so, after one call (not one a product, 1 s each); the keys naming their variant read.
    """
    rig = make_rig({**SEED, "other": 2}, fail=[_rms_error(*refusal)] * 3, fail_on="/es/2.0/items/")
    reading = rig.run(lambda: rig.adapter.read(["single", "other", "tee-01:red-m"]))
    assert {"tee-01:red-m": 4} == reading.quantities
    assert [True, True] == ["Items API refused the key" in reading.problems[k] for k in ("single", "other")]
    assert "/items/" not in reading.problems["other"], "no product's path in another's problem"
    assert 1 == rig.http.count("/es/2.0/items/")


def test_a_key_every_api_refuses_is_a_credential_error(make_rig: MakeRig) -> None:
    """
    The key itself refused (the inventory API says so too): the whole mall stops, with the inventory API's
    words (here: expired) rather than the Items API's 'enable this API'.
    """
    rig = make_rig(SEED, fail=[_rms_error(403, "AuthError"), _rms_error(401, "GA0001")])
    with pytest.raises(CredentialError, match="license key expired or was revoked"):
        rig.run(lambda: rig.adapter.read(["single", "tee-01:red-m"]))


def test_a_probe_that_cannot_tell_still_asks_items_api_only_once(make_rig: MakeRig) -> None:
    """Items API refused and the inventory API down: the bare keys stop after one try each of both, saying so."""
    with stamina.set_testing(True, attempts=RETRY_ATTEMPTS):
        rig = make_rig({**SEED, "other": 2}, fail=[_rms_error(403, "AuthError"), *[503] * RETRY_ATTEMPTS])
        reading = rig.run(lambda: rig.adapter.read(["single", "other"]))
    assert 1 == rig.http.count("/es/2.0/items/")
    assert all("the inventory API" in reading.problems[k] for k in ("single", "other"))


def test_variant_case_folding_is_a_setting(make_rig: MakeRig) -> None:
    """With fold_variant_case on (one RMS page says variantId is folded too), RED-M writes red-m."""
    rig = make_rig(SEED, settings={"fold_variant_case": True})
    results = rig.run(lambda: rig.adapter.write([StockWrite("TEE-01:RED-M", 9)]))
    assert [True] == [r.ok for r in results]
    assert 9 == rig.emulator.stock()["tee-01:red-m"]


def test_malformed_key_is_a_problem_not_a_call(make_rig: MakeRig) -> None:
    """A key Rakuten could never hold is reported with the reason and sent nowhere."""
    rig = make_rig(SEED)
    reading = rig.run(lambda: rig.adapter.read(["bad key"]))
    assert "may hold only" in reading.problems["bad key"]
    assert [] == rig.http.calls


# -- credentials ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["RAKUTEN_LICENSE_KEY", "RAKUTEN_SERVICE_SECRET"])
def test_a_refused_key_pair_is_a_credential_error_naming_both_not_retried(make_rig: MakeRig, secret: str) -> None:
    """
    401 GA0001, after one call only, names both secrets and how to renew the key: the gateway answers a wrong
    service secret as it does a lapsed key, and "license key expired" alone sent the operator to renew a good key.
    """
    rig = make_rig(SEED, secrets={secret: "SL000000_revoked" if secret == "RAKUTEN_LICENSE_KEY" else "wrong"})
    with pytest.raises(CredentialError) as raised:
        rig.run(lambda: rig.adapter.write([StockWrite("single:normal-inventory", 1)]))
    said = raised.value.message
    assert ("RAKUTEN_SERVICE_SECRET or RAKUTEN_LICENSE_KEY is wrong" in said, "renew it in RMS" in said) == (True, True)
    assert [401] == [c.status for c in rig.http.calls]


def test_key_past_its_expiry_date_is_refused_on_read(make_rig: MakeRig) -> None:
    """Once the license key's expiry date has passed, a read raises the renewal message."""
    rig = make_rig(SEED)
    rig.emulator.license_expiry = datetime.now(JST) - timedelta(seconds=1)
    with pytest.raises(CredentialError, match="RAKUTEN_LICENSE_KEY"):
        rig.run(lambda: rig.adapter.read(["single:normal-inventory"]))


def test_credentials_report_license_key_days_left(make_rig: MakeRig) -> None:
    """Health learns the license key's days left from the expiry-date API, with where to renew it."""
    rig = make_rig(SEED)
    expiry = (datetime.now(JST) + timedelta(days=30)).replace(hour=23, minute=59, second=59, microsecond=0)
    rig.emulator.license_expiry = expiry
    (status,) = rig.run(rig.adapter.credentials)
    assert ("license key", 30, 14) == (status.name, status.days_left, status.warn_days)
    assert f"expires {expiry:%Y-%m-%d} 23:59 JST" in status.action
    assert "RMS" in status.action
    assert ["/es/1.0/license-management/license-key/expiry-date"] == [c.path for c in rig.http.calls]


def test_missing_secret_names_it(make_rig: MakeRig) -> None:
    """Without RAKUTEN_SERVICE_SECRET the adapter says which .env line is missing, before any call."""
    rig = make_rig(SEED, secrets={"RAKUTEN_SERVICE_SECRET": ""})
    with pytest.raises(CredentialError, match="RAKUTEN_SERVICE_SECRET not set"):
        rig.run(lambda: rig.adapter.read(["single:normal-inventory"]))
    assert [] == rig.http.calls


def test_ping_answers_with_days_left(make_rig: MakeRig) -> None:
    """health --online's one call says the key works and how long it lasts."""
    rig = make_rig(SEED)
    assert "license key valid, 90 days left" == rig.run(rig.adapter.ping)


# -- retries and pacing -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [429, 500, 503, httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
def test_transient_failures_are_retried(make_rig: MakeRig, failure: int | Exception) -> None:
    """A 429, a 5xx, a dropped connection or a timeout is tried again, and the write lands."""
    rig = make_rig(SEED, fail=[failure, failure], fail_on="bulk-upsert")
    results = rig.run(lambda: rig.adapter.write([StockWrite("single:normal-inventory", 2)]))
    assert [True] == [r.ok for r in results]
    assert 3 == rig.http.count("bulk-upsert")
    assert 2 == rig.emulator.stock()["single"]


def test_failing_batch_fails_its_items_and_the_others_land(make_rig: MakeRig) -> None:
    """When one batch fails every attempt, its items fail with the reason; the other batch is written."""
    seed = {f"p{n:04d}:v": 1 for n in range(500)}
    rig = make_rig(seed, settings={"max_in_flight": 1}, fail=[503] * RETRY_ATTEMPTS, fail_on="bulk-upsert")
    results = rig.run(lambda: rig.adapter.write([StockWrite(k, 2) for k in seed]))
    assert [False] * 400 + [True] * 100 == [r.ok for r in results]
    assert "HTTP 503" in (results[0].error or "")
    assert RETRY_ATTEMPTS + 1 == rig.http.count("bulk-upsert")


def test_nothing_written_raises(make_rig: MakeRig) -> None:
    """When every batch fails, write raises the mall error instead of reporting items."""
    rig = make_rig(SEED, fail=[503] * RETRY_ATTEMPTS, fail_on="bulk-upsert")
    with pytest.raises(MallError, match="HTTP 503") as caught:
        rig.run(lambda: rig.adapter.write([StockWrite("single:normal-inventory", 2)]))
    assert caught.value.retryable


def test_large_write_and_read_draw_no_429_from_a_strict_gateway(make_rig: MakeRig) -> None:
    """At RMS's limits (scaled 5x, burst 1 as published), 2,000 SKUs are written and read back without a 429."""
    # Scaled further, the pacing margin (3% of the spacing) shrinks below the jitter of a loaded test process
    # between a call's token and the gateway's clock, which the real spacing (200 ms, 1 s) dwarfs.
    speed = 5.0
    seed = {f"p{n:04d}:normal-inventory": 1 for n in range(2000)}
    strict = {BULK_UPSERT: TokenBucket(1.0 * speed, 1), BULK_GET: TokenBucket(5.0 * speed, 1)}
    rig = make_rig(seed, speed=speed, strict=strict)

    async def go() -> StockReading:
        await rig.adapter.write([StockWrite(k, 8) for k in seed])
        return await rig.adapter.read(list(seed))

    started = time.monotonic()
    reading = rig.run(go)
    elapsed = time.monotonic() - started
    assert {8} == set(reading.quantities.values())
    assert [] == [c for c in rig.http.calls if c.status == 429]
    assert (5, 2) == (rig.http.count("bulk-upsert"), rig.http.count("bulk-get"))
    assert elapsed >= 4 / speed  # paced: 5 upserts cannot go faster than the published rate allows


@pytest.mark.parametrize(("names", "calls"), [("message", 2), ("path", 2), ("none", 5)])
def test_a_bulk_get_refused_over_an_unknown_sku_is_asked_again_without_it(
    make_rig: MakeRig, names: str, calls: int
) -> None:
    """
    RMS may refuse a bulk-get over an unknown SKU instead of leaving it out [U]: the rest still reads. Named
    (in the documented not-found message, or by propertyPath) it is left out at once; named by neither, the
    batch is halved until it stands alone.
    """
    rig = make_rig(SEED)
    rig.emulator.refuse_unknown, rig.emulator.refusal_names = True, names  # type: ignore[assignment]
    reading = rig.run(lambda: rig.adapter.read(["tee-01:red-m", "tee-01:gone", "abc-001:normal-inventory"]))
    assert ({"tee-01:red-m": 4, "abc-001:normal-inventory": 3}, {}) == (reading.quantities, reading.problems)
    assert calls == rig.http.count(BULK_GET)


@pytest.mark.parametrize("body", [{}, {"errors": [{"code": "X", "message": "?"}]}, {"inventories": None}])
def test_a_bulk_get_answer_without_its_list_is_an_error_not_an_empty_shop(
    make_rig: MakeRig, body: dict[str, object]
) -> None:
    """A 200 with no ``inventories`` list would read as "none held", letting every item past the zeroing check."""
    rig = make_rig(SEED, fail=[httpx.Response(200, json=body)], fail_on=BULK_GET)
    with pytest.raises(MallError, match="bulk-get"):
        rig.run(lambda: rig.adapter.read(["tee-01:red-m"]))


def test_a_not_found_naming_only_the_product_does_not_drop_its_known_variants(make_rig: MakeRig) -> None:
    """``manageNumber=tee-01`` alone names no SKU: red-m (held) must still read, not vanish with the unknown one."""
    named_product = httpx.Response(
        404, json={"errors": [{"code": "GE0014", "message": "Not found for inputs; manageNumber=tee-01"}]}
    )
    rig = make_rig(SEED, fail=[named_product], fail_on=BULK_GET)
    reading = rig.run(lambda: rig.adapter.read(["tee-01:red-m", "tee-01:gone"]))
    assert {"tee-01:red-m": 4} == reading.quantities


@pytest.mark.parametrize(("fold", "found"), [(False, {}), (True, {"tee-01:Red-M": 4})])
def test_where_rakuten_folds_variant_ids_the_adapter_must_fold_them_too(
    make_rig: MakeRig, fold: bool, found: dict[str, int]
) -> None:
    """One RMS page says variantIds are folded like manageNumbers [U]: then only fold_variant_case reads them."""
    rig = make_rig({}, settings={"fold_variant_case": fold})
    rig.emulator.fold_variant_case = True
    rig.emulator.set_stock({"tee-01:Red-M": 4})
    assert found == rig.run(lambda: rig.adapter.read(["tee-01:Red-M"])).quantities
