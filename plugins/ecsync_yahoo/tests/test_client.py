"""
The adapter over its emulator: batching, allow_overdraft resent as read, per-item failures, whole-request
errors, retries, token renewal, the daily quota and the public-key headers.
"""

from __future__ import annotations

import asyncio

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ecsync_core.domain import ItemResult, StockWrite
from ecsync_core.errors import ConfigError, CredentialError, MallError, MallWarning
from ecsync_core.testing import logged_events
from ecsync_yahoo import _wire
from ecsync_yahoo.client import JST, YahooRequestError
from ecsync_yahoo.emulator import YahooEmulator, demo_public_pem


SEED = {"ec-item-00001": 5, "ec-tee-00003:size-s": 2, "ec-item-00004": 0}


def test_read_batches_by_a_thousand_and_leaves_unknown_codes_out(rig: Callable[..., Any]) -> None:
    """2,500 codes go as three getStock calls of at most 1,000; unknown codes are absent, never 0."""
    seed = {f"ec-item-{n:05d}": n % 9 for n in range(2400)}
    r = rig(seed)

    async def go() -> Any:
        return await r.adapter.read([*seed, *(f"gone-{n}" for n in range(100))])

    reading = r.run(go)
    assert (seed, {}) == (reading.quantities, reading.problems)
    assert [1000, 1000, 500] == [len(f["item_code"].split(",")) for f in r.wire.forms("getStock")]


def test_a_short_answer_makes_its_missing_codes_problems_not_absent_items(rig: Callable[..., Any]) -> None:
    """
    getStock answering fewer rows than its counters say ([U] whether it pages or cuts): the codes without a
    row are problems (never sent), not items Yahoo lacks (sent with their stock unknown).
    """
    r = rig(SEED)
    r.emulator.cut_rows = 1
    reading = r.run(lambda: r.adapter.read(["ec-item-00001", "ec-item-00002"]))
    assert {"ec-item-00001": 5} == reading.quantities
    assert {"ec-item-00002": "getStock answered 1 of 2 rows"} == reading.problems


def test_malformed_codes_are_problems_and_not_sent(rig: Callable[..., Any]) -> None:
    """A code Yahoo would refuse is reported as a problem with the reason, and never sent."""
    r = rig(SEED)

    async def go() -> Any:
        return await r.adapter.read(["ec-item-00001", "bad_code"])

    reading = r.run(go)
    assert {"ec-item-00001": 5} == reading.quantities
    assert ["bad_code"] == list(reading.problems)
    assert ["ec-item-00001"] == [f["item_code"] for f in r.wire.forms("getStock")]


@pytest.mark.parametrize("omitted", [None, 0], ids=["omission-keeps", "omission-resets"])
def test_write_resends_allow_overdraft_as_read(rig: Callable[..., Any], omitted: int | None) -> None:
    """
    setStock carries every item's AllowOverdraft as getStock last said (1 stays 1), absolute quantities: right
    whether Yahoo keeps or resets a flag left out (which it does is unknown).
    """
    r = rig(SEED, emulator=YahooEmulator(SEED, omitted_overdraft=omitted))
    r.emulator.items["ec-tee-00003:size-s"].allow_overdraft = 1

    async def go() -> list[ItemResult]:
        await r.adapter.read(list(SEED))
        return await r.adapter.write([StockWrite("ec-item-00001", 9), StockWrite("ec-tee-00003:size-s", 0)])

    assert [True, True] == [x.ok for x in r.run(go)]
    [form] = r.wire.forms("setStock")
    expected = {"item_code": "ec-item-00001,ec-tee-00003:size-s", "quantity": "9,0", "allow_overdraft": "0,1"}
    assert expected == {k: form[k] for k in expected}
    assert (1, 0) == (
        r.emulator.items["ec-tee-00003:size-s"].allow_overdraft,
        r.emulator.stock()["ec-tee-00003:size-s"],
    )


def test_overdraft_on_is_warned_of_once_a_run_written_or_not(rig: Callable[..., Any]) -> None:
    """Every item read with 超過購入 on is named once, with the way out, unchanged ones too."""
    r = rig(SEED)
    r.emulator.items["ec-item-00004"].allow_overdraft = 1

    async def go() -> None:
        await r.adapter.read(list(SEED))
        await r.adapter.read(["ec-item-00004"])  # a read-back: said already

    with logged_events() as logs:
        r.run(go)
    assert [(1, ["ec-item-00004"])] == [(e["items"], e["first"]) for e in logs if e["event"] == "yahoo.overdraft_on"]


def test_overdraft_kept_is_warned_of(rig: Callable[..., Any]) -> None:
    """An item Yahoo sells beyond its stock is named in a warning with the way out, and its flag is kept."""
    r = rig(SEED)
    r.emulator.items["ec-tee-00003:size-s"].allow_overdraft = 1

    async def go() -> list[ItemResult]:
        await r.adapter.read(list(SEED))
        return await r.adapter.write([StockWrite("ec-item-00001", 9), StockWrite("ec-tee-00003:size-s", 0)])

    with logged_events() as logs:
        r.run(go)
    [warning] = [e for e in logs if e["event"] == "yahoo.overdraft_on"]
    assert (1, ["ec-tee-00003:size-s"]) == (warning["items"], warning["first"])
    assert "malls.yahoo.keep_overdraft: false" in warning["action"]
    assert 1 == r.emulator.items["ec-tee-00003:size-s"].allow_overdraft


def test_overdraft_not_kept_sends_0_without_reading_first(rig: Callable[..., Any]) -> None:
    """``keep_overdraft: false`` turns 超過購入 off on every item written (none can be oversold); no getStock first."""
    r = rig(SEED, settings={"keep_overdraft": False})
    r.emulator.items["ec-item-00004"].allow_overdraft = 1

    with logged_events() as logs:
        assert [True] == [x.ok for x in r.run(lambda: r.adapter.write([StockWrite("ec-item-00004", 3)]))]
    assert ["setStock"] == [p.rsplit("/", 1)[-1] for p in r.wire.paths() if "/V1/" in p]
    assert "0" == r.wire.forms("setStock")[0]["allow_overdraft"]
    assert 0 == r.emulator.items["ec-item-00004"].allow_overdraft
    assert not [e for e in logs if e["event"] == "yahoo.overdraft_on"]


def test_write_without_a_read_fetches_allow_overdraft_first(rig: Callable[..., Any]) -> None:
    """An item the adapter has not read yet is read first, so its AllowOverdraft is never guessed."""
    r = rig(SEED)
    r.emulator.items["ec-item-00004"].allow_overdraft = 1

    async def go() -> list[ItemResult]:
        return await r.adapter.write([StockWrite("ec-item-00004", 3)])

    assert [True] == [x.ok for x in r.run(go)]
    assert ["getStock", "setStock"] == [p.rsplit("/", 1)[-1] for p in r.wire.paths() if "/V1/" in p]
    assert "1" == r.wire.forms("setStock")[0]["allow_overdraft"]
    assert 1 == r.emulator.items["ec-item-00004"].allow_overdraft


def test_unknown_code_write_is_accepted_and_does_not_read_back(rig: Callable[..., Any]) -> None:
    """Yahoo takes a write to an unknown code as a success, and the code stays absent on read: hence read-back."""
    r = rig(SEED)

    async def go() -> tuple[list[ItemResult], dict[str, int]]:
        results = await r.adapter.write([StockWrite("ec-item-09999", 4)])
        return results, (await r.adapter.read(["ec-item-09999"])).quantities

    results, after = r.run(go)
    assert ([ItemResult("ec-item-09999", ok=True)], {}) == (results, after)
    assert "0" == r.wire.forms("setStock")[0]["allow_overdraft"]
    assert {"ec-item-09999": 4} == r.emulator.orphans


def test_mixed_results_fail_only_their_items(rig: Callable[..., Any]) -> None:
    """A 207 with one row's ErrorCode fails that item with the code; the others are written and succeed."""
    r = rig(SEED)
    r.emulator.item_faults["ec-tee-00003:size-s"] = "st-02104"

    async def go() -> list[ItemResult]:
        await r.adapter.read(list(SEED))
        return await r.adapter.write([StockWrite(k, 7) for k in SEED])

    results = r.run(go)
    assert [True, False, True] == [x.ok for x in results]
    assert "st-02104" in str(results[1].error)
    assert {"ec-item-00001": 7, "ec-tee-00003:size-s": 2, "ec-item-00004": 7} == r.emulator.stock()
    assert 207 == r.emulator.mixed_status


def test_written_unread_rows_count_as_written(rig: Callable[..., Any]) -> None:
    """ed-10002 (updated, re-read failed) is not a failure: the write went through, the read-back decides."""
    r = rig(SEED)
    r.emulator.item_faults["ec-item-00001"] = "ed-10002"

    async def go() -> list[ItemResult]:
        return await r.adapter.write([StockWrite("ec-item-00001", 3)])

    assert [ItemResult("ec-item-00001", ok=True)] == r.run(go)
    assert 3 == r.emulator.stock()["ec-item-00001"]


def test_written_unread_as_the_whole_answer_counts_as_written(rig: Callable[..., Any]) -> None:
    """A one-code setStock answered by the <Error> envelope ed-10002 (updated, re-read failed) stands written."""
    r = rig(SEED, settings={"keep_overdraft": False})  # no getStock first: the one call is the setStock
    answer = _wire.render_error("ed-10002", "update succeeded, reading it failed")
    r.wire.faults = [httpx.Response(207, content=answer, headers={"Content-Type": "application/xml"})]

    async def go() -> list[ItemResult]:
        return await r.adapter.write([StockWrite("ec-item-00001", 3)])

    assert [ItemResult("ec-item-00001", ok=True)] == r.run(go)
    assert ["setStock"] == [p.rsplit("/", 1)[-1] for p in r.wire.paths() if "Stock" in p]


def test_a_single_refused_item_fails_alone(rig: Callable[..., Any]) -> None:
    """A one-code setStock answered by the <Error> envelope (st-021xx) fails that item, without an exception."""
    r = rig(SEED)
    r.emulator.item_faults["ec-item-00001"] = "st-02104"

    async def go() -> list[ItemResult]:
        return await r.adapter.write([StockWrite("ec-item-00001", 3)])

    [result] = r.run(go)
    assert (False, "Yahoo refused the item: st-02104") == (result.ok, result.error)


def test_whole_request_error_is_a_clear_error_with_its_code(rig: Callable[..., Any]) -> None:
    """A whole-request <Error> (an unknown store account) raises one error naming the call and Yahoo's code."""
    r = rig(SEED, settings={"seller_id": "another-store"})

    async def go() -> list[ItemResult]:
        return await r.adapter.write([StockWrite("ec-item-00001", 3)])

    with pytest.raises(YahooRequestError) as caught:
        r.run(go)
    assert "ed-00004" == caught.value.code
    assert str(caught.value).startswith("yahoo: getStock refused the request: ed-00004")
    assert not caught.value.retryable


def test_quantities_yahoo_would_misread_are_refused_locally(rig: Callable[..., Any]) -> None:
    """A negative quantity (Yahoo: subtraction) or one above 999,999,999 fails its item and is never sent."""
    r = rig(SEED)

    async def go() -> list[ItemResult]:
        await r.adapter.read(list(SEED))
        return await r.adapter.write(
            [
                StockWrite("ec-item-00001", -1),
                StockWrite("ec-item-00004", 1_000_000_000),
                StockWrite("ec-item-00001", 2),
            ]
        )

    results = r.run(go)
    assert [False, False, True] == [x.ok for x in results]
    assert ["ec-item-00001"] == [f["item_code"] for f in r.wire.forms("setStock")]


def test_an_item_twice_goes_in_separate_calls(rig: Callable[..., Any]) -> None:
    """The same code twice in one write is split over two calls (Yahoo refuses duplicates: st-02103)."""
    r = rig(SEED)

    async def go() -> list[ItemResult]:
        await r.adapter.read(list(SEED))
        return await r.adapter.write([StockWrite("ec-item-00001", 1), StockWrite("ec-item-00001", 2)])

    assert [True, True] == [x.ok for x in r.run(go)]
    assert 2 == len(r.wire.forms("setStock"))


def test_writes_go_in_batches_of_the_configured_size(rig: Callable[..., Any]) -> None:
    """batch_size caps the codes a call carries (Yahoo's limit, 1,000, is the default)."""
    seed = {f"ec-item-{n:05d}": 1 for n in range(25)}
    r = rig(seed, settings={"batch_size": 10})

    async def go() -> list[ItemResult]:
        await r.adapter.read(list(seed))
        return await r.adapter.write([StockWrite(k, 4) for k in seed])

    assert all(x.ok for x in r.run(go))
    assert [10, 10, 5] == sorted((len(f["item_code"].split(",")) for f in r.wire.forms("setStock")), reverse=True)
    assert {4} == set(r.emulator.stock().values())


def outage(status: int) -> httpx.Response:
    return httpx.Response(
        status, content=_wire.render_error("ed-00002", "maintenance"), headers={"Content-Type": "application/xml"}
    )


@pytest.mark.parametrize(
    "fault",
    [
        outage(503),
        outage(500),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("dropped"),
        outage(429),
        outage(200),
        outage(400),
    ],
    ids=["503", "500", "timeout", "dropped", "429", "maintenance-200", "maintenance-400"],
)
def test_transient_failures_are_retried(rig: Callable[..., Any], fault: Any) -> None:
    """
    5xx, 429, timeouts and dropped connections are tried again; the read then succeeds. So is Yahoo's maintenance
    (ed-00002) under any status: which status carries it is not documented, and it passes.
    """
    r = rig(SEED)
    r.wire.faults = [fault, fault]

    async def go() -> dict[str, int]:
        return (await r.adapter.read(list(SEED))).quantities

    assert SEED == r.run(go)
    assert 3 == len(r.wire.forms("getStock"))


def test_a_lasting_outage_fails_the_call_after_the_retries(rig: Callable[..., Any]) -> None:
    """A 503 that does not go away fails after 5 attempts with a retryable error naming the status and code."""
    r = rig(SEED)
    r.wire.faults = [outage(503)] * 10

    async def go() -> Any:
        return await r.adapter.write([StockWrite("ec-item-00001", 3)])

    with pytest.raises(MallError) as caught:
        r.run(go)
    assert (True, "yahoo: getStock: HTTP 503 (ed-00002)") == (caught.value.retryable, str(caught.value))
    assert 5 == len(r.wire.forms("getStock"))


# -- tokens -------------------------------------------------------------------------------------------------


def test_access_token_is_reused(rig: Callable[..., Any]) -> None:
    """One access token serves many calls: the token endpoint is asked once."""
    r = rig({f"ec-item-{n:05d}": 1 for n in range(3000)})

    async def go() -> None:
        await r.adapter.read([f"ec-item-{n:05d}" for n in range(3000)])
        await r.adapter.ping()

    r.run(go)
    assert 1 == r.wire.paths().count("/yconnect/v2/token")
    assert 1 == r.adapter.auth().refreshes


def test_expired_access_token_is_refreshed_once(rig: Callable[..., Any]) -> None:
    """A 401 invalid_token (the token expired on Yahoo's side) refreshes once and the call goes through."""
    r = rig(SEED)

    async def go() -> dict[str, int]:
        await r.adapter.read(["ec-item-00001"])
        r.emulator.advance(3601)
        return (await r.adapter.read(list(SEED))).quantities

    assert SEED == r.run(go)
    assert 2 == r.wire.paths().count("/yconnect/v2/token")
    statuses = [p for p in r.wire.paths() if p.endswith("getStock")]
    assert 3 == len(statuses)


def test_a_token_refused_after_the_refresh_is_a_credential_error(rig: Callable[..., Any]) -> None:
    """If the store API still refuses the fresh token, the call fails once, as a credential problem."""
    r = rig(SEED)

    def forge(request: httpx.Request) -> None:
        request.headers["Authorization"] = "Bearer forged"

    r.wire.rewrite = forge

    async def go() -> Any:
        return await r.adapter.read(list(SEED))

    with pytest.raises(CredentialError) as caught:
        r.run(go)
    assert "invalid_token" in str(caught.value)
    assert "scripts/get_yahoo_token.py" in str(caught.value)
    assert (2, 2) == (r.wire.paths().count("/yconnect/v2/token"), len(r.wire.forms("getStock")))


@pytest.mark.parametrize("how", ["unknown token", "28 days passed"])
def test_invalid_grant_says_to_run_the_token_helper(rig: Callable[..., Any], how: str) -> None:
    """A refused refresh token (invalid_grant) is a credential error naming scripts/get_yahoo_token.py, not retried."""
    r = rig(SEED, secrets={"YAHOO_REFRESH_TOKEN": "not-a-token"} if how == "unknown token" else {})
    if how == "28 days passed":
        r.emulator.advance(28 * 86400 + 1)

    async def go() -> Any:
        return await r.adapter.write([StockWrite("ec-item-00001", 1)])

    with pytest.raises(CredentialError) as caught:
        r.run(go)
    assert "invalid_grant" in str(caught.value)
    assert "python scripts/get_yahoo_token.py" in str(caught.value)
    assert 1 == r.wire.paths().count("/yconnect/v2/token")
    assert [] == r.wire.forms("getStock")


def test_missing_secrets_are_named(rig: Callable[..., Any]) -> None:
    """Without a client secret, the error names the .env entry and what to do; nothing is sent."""
    r = rig(SEED, secrets={"YAHOO_CLIENT_SECRET": ""})

    async def go() -> Any:
        return await r.adapter.read(list(SEED))

    with pytest.raises(CredentialError, match=r"YAHOO_CLIENT_SECRET not set in \.env"):
        r.run(go)
    assert [] == r.wire.requests


def test_missing_seller_id_is_a_config_error(rig: Callable[..., Any]) -> None:
    """
    Without malls.yahoo.seller_id the error names that key, on a read and in credentials() too, so health
    without --online FAILs it instead of saying OK while every sync leaves Yahoo out.
    """
    r = rig(SEED, settings={"seller_id": ""})

    async def go() -> Any:
        with pytest.raises(ConfigError, match=r"malls\.yahoo\.seller_id"):
            await r.adapter.credentials()
        return await r.adapter.read(list(SEED))

    with pytest.raises(ConfigError, match=r"malls\.yahoo\.seller_id"):
        r.run(go)
    assert 0 == len(r.wire.requests), "no call made"


# -- quota --------------------------------------------------------------------------------------------------


def test_calls_are_counted_per_jst_day_in_the_store(rig: Callable[..., Any]) -> None:
    """
    Every store-API call counts toward today's (JST) quota of its application ID, kept in the plugin store
    across adapters; another ID (the way out of a spent quota) starts its own count.
    """
    r = rig(SEED)
    today = datetime.now(JST).date().isoformat()
    key = f"calls:{r.adapter.secrets['YAHOO_CLIENT_ID']}:{today}"
    r.store.put(key, "40")
    r.store.put(f"calls:another-app:{today}", "49999")

    async def go() -> str:
        await r.adapter.read(list(SEED))
        await r.adapter.write([StockWrite("ec-item-00001", 1)])
        return await r.adapter.ping()

    detail = r.run(go)
    assert "43" == r.store.get(key)
    assert f"43 of 50,000 calls used on {today} (JST)" in detail


def test_a_coded_403_for_the_id_is_a_credential_error_not_the_quota(rig: Callable[..., Any]) -> None:
    """px-14303 (this ID may not use the API) is a credential problem whatever the status, never 'quota used up'."""
    r = rig(SEED)
    answer = httpx.Response(403, content=_wire.render_error("px-14303", "Forbidden"))
    with pytest.raises(CredentialError, match="does not let this ID use the API"):
        r.adapter._answer("getStock", answer)  # the adapter's reading of Yahoo's answer, as received
    r.run(lambda: asyncio.sleep(0))


def test_quota_used_up_stops_before_calling(rig: Callable[..., Any]) -> None:
    """With today's quota spent, the call is refused here, without reaching Yahoo, saying when it resets."""
    r = rig(SEED, settings={"daily_quota": 2})

    async def go() -> Any:
        await r.adapter.read(["ec-item-00001"])
        await r.adapter.read(["ec-item-00004"])
        return await r.adapter.read(["ec-item-00001"])

    with pytest.raises(MallError, match="daily quota of 2 store-API calls is used up") as caught:
        r.run(go)
    assert "midnight JST" in str(caught.value)
    assert 2 == len(r.wire.forms("getStock"))


def test_yahoo_quota_403_is_not_retried(rig: Callable[..., Any]) -> None:
    """Yahoo's own 403 (quota) fails the call at once with the quota explained, not retried."""
    r = rig(SEED)
    r.emulator.daily_quota = 0

    async def go() -> Any:
        return await r.adapter.read(list(SEED))

    with pytest.raises(MallError, match=r"403 Forbidden.*50,000 calls per application ID") as caught:
        r.run(go)
    assert not caught.value.retryable
    assert 1 == len(r.wire.forms("getStock"))


# -- public key ---------------------------------------------------------------------------------------------


def test_public_key_headers_are_sent_when_configured(rig: Callable[..., Any]) -> None:
    """With a key and its version set, every store-API call is signed, and Yahoo reports it authorized."""
    r = rig(SEED, secrets={"YAHOO_PUBLIC_KEY": demo_public_pem(), "YAHOO_PUBLIC_KEY_VERSION": "1"})
    r.emulator.accept_demo_key()

    async def go() -> str:
        await r.adapter.read(list(SEED))
        return await r.adapter.ping()

    detail = r.run(go)
    store_calls = [q for q in r.wire.requests if "/V1/" in q.url.path]
    assert {"1"} == {q.headers["X-sws-signature-version"] for q in store_calls}
    assert all(q.headers.get("X-sws-signature") for q in store_calls)
    assert "X-sws-signature" not in r.wire.requests[0].headers  # the token call, unless sign_token_requests
    assert ("authorized", True) == (r.adapter.authorize_status, detail.endswith("public key authorized"))


def test_a_public_key_yahoo_does_not_accept_is_a_ping_warning(rig: Callable[..., Any]) -> None:
    """
    A signature Yahoo does not accept fails no call (only a header says it), yet the session may then be held to
    12 hours: the ping raises a MallWarning (health WARNs) naming the header and the two settings, not OK.
    """
    r = rig(SEED, secrets={"YAHOO_PUBLIC_KEY": demo_public_pem(), "YAHOO_PUBLIC_KEY_VERSION": "1"})  # not accepted

    async def go() -> tuple[dict[str, int], str]:
        read = (await r.adapter.read(list(SEED))).quantities
        with pytest.raises(MallWarning) as caught:
            await r.adapter.ping()
        return read, caught.value.message

    read, said = r.run(go)
    assert SEED == read, "the calls themselves go through"
    assert "X-SWS-Authorize-Status: unauthorized" in said
    assert "hold the session to 12 hours" in said


def test_no_public_key_no_headers(rig: Callable[..., Any]) -> None:
    """Without a key, no signature headers go out."""
    r = rig(SEED)

    async def go() -> None:
        await r.adapter.read(list(SEED))

    r.run(go)
    assert not any("X-sws-signature" in q.headers for q in r.wire.requests)
    assert r.adapter.authorize_status is None


def test_a_key_without_its_version_is_refused(rig: Callable[..., Any]) -> None:
    """A key without YAHOO_PUBLIC_KEY_VERSION is a credential error saying Yahoo ignores it (px-14303)."""
    r = rig(SEED, secrets={"YAHOO_PUBLIC_KEY": demo_public_pem()})

    async def go() -> Any:
        return await r.adapter.read(list(SEED))

    with pytest.raises(CredentialError, match="YAHOO_PUBLIC_KEY_VERSION"):
        r.run(go)


def test_public_key_read_from_a_file(rig: Callable[..., Any], tmp_path: Any) -> None:
    """YAHOO_PUBLIC_KEY may name the PEM file instead of holding its text."""
    pem = tmp_path / "yahoo_public.pem"
    pem.write_text(demo_public_pem())
    r = rig(SEED, secrets={"YAHOO_PUBLIC_KEY": str(pem), "YAHOO_PUBLIC_KEY_VERSION": "1"})
    r.emulator.accept_demo_key()

    async def go() -> None:
        await r.adapter.read(list(SEED))

    r.run(go)
    assert "authorized" == r.adapter.authorize_status


# -- credentials --------------------------------------------------------------------------------------------


def test_credentials_count_28_days_from_consent(rig: Callable[..., Any]) -> None:
    """Health sees the refresh token's days left from YAHOO_CONSENT_AT, and the action to renew it."""
    consent = datetime.now(UTC) - timedelta(days=21, hours=1)
    r = rig(SEED, secrets={"YAHOO_CONSENT_AT": consent.isoformat()})

    async def go() -> Any:
        return await r.adapter.credentials()

    [status] = r.run(go)
    assert 6 == status.days_left
    assert "scripts/get_yahoo_token.py" in status.action
    assert (consent + timedelta(days=28)).astimezone(JST).date().isoformat() in status.name
    assert [] == r.wire.requests


@pytest.mark.parametrize(
    "fault",
    [{"status": 503, "count": 3}, {"status": 500, "count": 2}, {"status": 429, "count": 3}, {"drop": True, "count": 3}],
    ids=["503", "500", "429", "drop"],
)
def test_sandbox_faults_on_token_and_store_calls_are_retried(
    rig: Callable[..., Any], arun: Any, fault: dict[str, object]
) -> None:
    """The sandbox's injected faults (the emulator's own 5xx/429 answers, cut connections) hit the token call and
    the store call alike; both are retried and the read completes."""
    r = rig(SEED)

    async def go() -> tuple[dict[str, int], dict[str, Any]]:
        async with httpx.AsyncClient(transport=r.wire, base_url="http://emulator.test") as sandbox:
            assert 200 == (await sandbox.post("/_sandbox/faults", json=fault)).status_code
            try:
                quantities = (await r.adapter.read(list(SEED))).quantities
            finally:
                await r.adapter.aclose()
            return quantities, (await sandbox.get("/_sandbox/requests")).json()

    quantities, log = arun(go())
    assert SEED == quantities
    assert fault["count"] + 2 == log["count"]  # the faulted calls, then one token call and one getStock


def test_a_token_endpoint_down_is_tried_five_times_not_five_times_five(rig: Callable[..., Any], arun: Any) -> None:
    """
    The token call's own retries are the only ones: a YConnect that answers 503 throughout fails the read after
    5 token calls and no store call. The store call's retries started the whole round again (25 calls, a minute).
    """
    r = rig(SEED)

    async def go() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=r.wire, base_url="http://emulator.test") as sandbox:
            assert 200 == (await sandbox.post("/_sandbox/faults", json={"status": 503, "count": 100})).status_code
            try:
                with pytest.raises(MallError, match=r"YConnect token endpoint: .*gave up after retries"):
                    await r.adapter.read(list(SEED))
            finally:
                await r.adapter.aclose()
            await sandbox.post("/_sandbox/faults", json={"status": 503, "count": 0})
            return dict((await sandbox.get("/_sandbox/requests")).json())

    log = arun(go())
    assert 5 == log["count"]


def test_insufficient_scope_is_not_refreshed(rig: Callable[..., Any]) -> None:
    """A 401 insufficient_scope (wrong kind of app) fails at once, naming the scope the app needs; no refresh."""
    r = rig(SEED)
    challenge = 'Bearer realm="yahooapis.jp", error="insufficient_scope"'
    r.wire.faults = [
        httpx.Response(401, content=_wire.render_auth_error(challenge), headers={"WWW-Authenticate": challenge})
    ]

    async def go() -> Any:
        return await r.adapter.read(list(SEED))

    with pytest.raises(CredentialError, match="ストア向け操作関連の機能") as caught:
        r.run(go)
    assert "insufficient_scope" in str(caught.value)
    assert (1, 1) == (r.wire.paths().count("/yconnect/v2/token"), len(r.wire.forms("getStock")))
