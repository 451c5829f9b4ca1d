"""The Amazon adapter against its emulator: pacing, pages, restarts, tokens, retries, lookups, reports."""

from __future__ import annotations

import asyncio

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

import attrs
import httpx
import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecsync_amazon.client import SUMMARIES, FbaInventoryClient
from ecsync_amazon.emulator import TOKEN_PATH, AmazonEmulator
from ecsync_amazon.plugin import ecsync_malls
from ecsync_core.errors import CredentialError, MallError
from ecsync_core.mall import MallPlugin
from ecsync_core.sandbox.harness import parse_fault
from ecsync_core.testing import EMULATOR_BASE, Emulated, emulated


T = TypeVar("T")

SEED = {f"JP-{n:04d}": n % 23 for n in range(120)}  # three pages of 50, 50, 20


@attrs.frozen
class Rig:
    built: Emulated

    @property
    def adapter(self) -> FbaInventoryClient:
        assert isinstance(self.built.adapter, FbaInventoryClient)
        return self.built.adapter

    @property
    def emulator(self) -> AmazonEmulator:
        assert isinstance(self.built.emulator, AmazonEmulator)
        return self.built.emulator

    def calls(self, path: str) -> int:
        return self.built.app.log.by_path[path]

    def run(self, call: Callable[[FbaInventoryClient], Awaitable[T]]) -> T:
        async def go() -> T:
            try:
                return await call(self.adapter)
            finally:
                await self.adapter.aclose()

        return asyncio.run(go())


def rig(
    seed: Mapping[str, int] = SEED,
    *,
    speed: float = 1000.0,
    settings: Mapping[str, object] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> Rig:
    return Rig(emulated(ecsync_malls()[0], seed, speed=speed, settings=settings, secrets=secrets))


def snapshot(adapter: FbaInventoryClient) -> Awaitable[dict[str, int]]:
    return adapter.snapshot()


# -- the listing ----------------------------------------------------------------------------------------------


def at_real_burst(speed: float) -> MallPlugin:
    """
    The plugin whose emulator keeps Amazon's burst of 2 when the harness speeds its rates up by *speed*.

    The harness scales burst with rate, so at speed 50 a 100-call burst would swallow a whole 100-page
    listing and no pacing could fail; time compressed, the real limits are rate x speed and burst 2.
    """

    def make(seed: Mapping[str, int]) -> AmazonEmulator:
        emulator = AmazonEmulator(seed)
        emulator.limits = [attrs.evolve(limit, burst=limit.burst / speed) for limit in emulator.limits]
        return emulator

    return attrs.evolve(ecsync_malls()[0], make_emulator=make)


FIVE_THOUSAND = {f"SKU-{n:05d}": n % 40 for n in range(5000)}


def test_a_5000_sku_listing_at_the_real_limits_draws_no_429() -> None:
    """5,000 SKUs (100 pages) at 2/s burst 2, time compressed 50 times: every SKU, and the sandbox saw no 429."""
    r = Rig(emulated(at_real_burst(50.0), FIVE_THOUSAND, speed=50.0))

    async def listing_then_log(adapter: FbaInventoryClient) -> tuple[dict[str, int], dict[str, object]]:
        stock = await adapter.snapshot()
        async with httpx.AsyncClient(transport=r.built.transport, base_url=EMULATOR_BASE) as http:
            log = (await http.get("/_sandbox/requests")).json()
        return stock, log

    stock, log = r.run(listing_then_log)
    assert FIVE_THOUSAND == stock
    assert 0 == log["throttled"]
    assert 100 == log["by_path"][SUMMARIES]


def test_the_real_limit_rig_does_catch_a_client_that_paces_too_fast() -> None:
    """The same rig with the adapter 20% over the limit sees 429s: the test above can fail."""
    r = Rig(emulated(at_real_burst(50.0), FIVE_THOUSAND, speed=50.0, settings={"rate": 120.0}))
    assert FIVE_THOUSAND == r.run(snapshot)
    assert r.built.app.log.throttled > 0
    assert r.built.app.log.throttled == r.adapter.stats.throttled


def test_quantities_are_fulfillable_not_total() -> None:
    """The number taken is inventoryDetails.fulfillableQuantity, though the emulator's totals include inbound."""
    r = rig({"A": 0, "B": 5})
    assert {"A": 0, "B": 5} == r.run(snapshot)


def test_an_expired_next_token_restarts_the_listing_from_scratch() -> None:
    """Amazon refusing page 2's nextToken makes the adapter list again from page 1, and the result is whole."""
    r = rig()
    r.emulator.stale_next_tokens = 1
    assert SEED == r.run(snapshot)
    assert 1 == r.adapter.stats.restarts
    assert 2 + 3 == r.calls(SUMMARIES)


def test_next_tokens_refused_every_time_fail_the_run_and_never_yield_part() -> None:
    """When every restart meets a refused nextToken too, the snapshot raises instead of returning page 1."""
    r = rig(settings={"listing_restarts": 2})
    r.emulator.stale_next_tokens = 100
    with pytest.raises(MallError) as caught:
        r.run(snapshot)
    assert not caught.value.retryable
    assert "3 times in a row" in caught.value.message
    assert "Next token is invalid or expired" in caught.value.message
    assert 3 * 2 == r.calls(SUMMARIES)


def test_the_status_of_a_lapsed_next_token_is_a_setting() -> None:
    """Which status Amazon answers a lapsed nextToken with is unconfirmed: the one configured restarts, others fail."""
    configured = rig(settings={"next_token_refused": [404]})
    configured.emulator.next_token_refused_status = 404
    configured.emulator.stale_next_tokens = 1
    assert SEED == configured.run(snapshot)
    assert 1 == configured.adapter.stats.restarts
    default = rig()
    default.emulator.next_token_refused_status = 404
    default.emulator.stale_next_tokens = 1
    with pytest.raises(MallError, match="refused the request \\(HTTP 404"):
        default.run(snapshot)


def test_a_next_token_that_comes_back_stops_the_listing_instead_of_looping() -> None:
    """Amazon answering the nextToken it was sent (its 2022 bug) fails the snapshot at once, never endlessly."""
    r = rig()
    r.emulator.constant_next_token = True
    with pytest.raises(MallError, match="answered a nextToken it had already given after 2 pages"):
        r.run(snapshot)
    assert 2 == r.calls(SUMMARIES)


def test_an_account_without_fba_skus_is_told_why_its_listing_is_refused() -> None:
    """Amazon answers 400 InvalidInput, not an empty page, to an account with no FBA SKUs: the error says so."""
    r = rig({})
    with pytest.raises(MallError) as caught:
        r.run(snapshot)
    assert "InvalidInput" in caught.value.message
    assert "holds no FBA SKUs in this marketplace" in caught.value.message
    assert 1 == r.calls(SUMMARIES), "a 400 is not retried"


def test_a_500_in_the_middle_of_a_listing_is_retried_and_the_listing_completes() -> None:
    """Two 500s on page 2 are retried in place; the listing goes on without a restart."""
    r = rig()
    r.emulator.fail_summaries(after=1, status=500, count=2)
    assert SEED == r.run(snapshot)
    assert (2, 0) == (r.adapter.stats.server_errors, r.adapter.stats.restarts)
    assert 3 + 2 == r.calls(SUMMARIES)


def test_a_500_that_persists_fails_the_run_with_amazons_words() -> None:
    """A page that fails on every attempt stops the listing with InternalFailure named, after the retries."""
    r = rig()
    r.emulator.fail_summaries(after=1, status=500, count=50)
    with pytest.raises(MallError) as caught:
        r.run(snapshot)
    assert "InternalFailure" in caught.value.message
    assert 5 == r.adapter.stats.server_errors


def test_harness_faults_429_503_and_a_dropped_connection_are_retried() -> None:
    """Throttles, 503s and a cut connection from the sandbox's fault injection are all absorbed by retries."""
    for fault in ({"status": 429, "count": 2}, {"status": 503, "count": 2}, {"drop": True, "count": 1}):
        r = rig()
        r.built.app.set_fault(parse_fault(fault))
        assert SEED == r.run(snapshot), fault


def test_an_html_5xx_is_a_failure_never_an_empty_page() -> None:
    """A 503 with an HTML body (a load balancer's) is a failed call, not a page without SKUs."""
    r = rig()
    r.emulator.html_failures = True
    r.emulator.fail_summaries(after=0, status=503, count=50)
    with pytest.raises(MallError) as caught:
        r.run(snapshot)
    assert "not JSON" in caught.value.message


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12),
        st.integers(0, 500),
        min_size=1,
        max_size=70,
    )
)
def test_any_sku_text_round_trips_through_listing_and_lookup(seed: dict[str, int]) -> None:
    """SKUs with commas, '%', '+', spaces or Japanese come back byte for byte from both listing and lookup."""
    r = rig(seed)

    async def both(adapter: FbaInventoryClient) -> tuple[dict[str, int], dict[str, int]]:
        return await adapter.snapshot(), await adapter.lookup(list(seed))

    listed, looked_up = r.run(both)
    assert (seed, seed) == (listed, looked_up)


# -- tokens ---------------------------------------------------------------------------------------------------


def test_the_access_token_is_reused_then_renewed_once_after_a_403() -> None:
    """Two listings share one LWA token; after Amazon revokes it, one 403 brings one new token and the call goes on."""
    r = rig()

    async def three(adapter: FbaInventoryClient) -> list[dict[str, int]]:
        first = await adapter.snapshot()
        second = await adapter.snapshot()
        r.emulator.revoke_access_tokens()
        return [first, second, await adapter.snapshot()]

    assert [SEED, SEED, SEED] == r.run(three)
    assert 2 == r.calls(TOKEN_PATH)
    assert 1 == r.adapter.stats.refused_tokens


def test_a_token_that_expires_in_the_middle_of_a_listing_is_renewed_there() -> None:
    """An access token that lapses between pages costs one 403 and one LWA call, not a restart."""
    r = rig()
    ticks = iter(range(10**6))
    r.emulator.clock = lambda: float(next(ticks))  # every look at the clock is a second later
    r.emulator.next_token_ttl_s = 10**6
    r.emulator.access_token_ttl_s = 3
    assert SEED == r.run(snapshot)
    assert r.adapter.stats.refused_tokens >= 1
    assert 0 == r.adapter.stats.restarts


def test_a_fresh_token_refused_too_is_a_credential_error() -> None:
    """When even a new token gets 403, the run stops with a credential error naming what to renew."""
    r = rig()
    r.emulator.access_token_ttl_s = 0
    with pytest.raises(CredentialError) as caught:
        r.run(snapshot)
    assert "AMAZON_LWA_REFRESH_TOKEN" in caught.value.message
    assert 2 == r.calls(SUMMARIES)


def test_invalid_grant_names_the_refresh_token_and_is_not_retried() -> None:
    """LWA's invalid_grant becomes one CredentialError telling to renew AMAZON_LWA_REFRESH_TOKEN; one LWA call."""
    r = rig(secrets={"AMAZON_LWA_REFRESH_TOKEN": "Atzr|revoked"})
    with pytest.raises(CredentialError) as caught:
        r.run(snapshot)
    assert "invalid_grant" in caught.value.message
    assert "AMAZON_LWA_REFRESH_TOKEN" in caught.value.message
    assert (1, 0) == (r.calls(TOKEN_PATH), r.calls(SUMMARIES))


def test_invalid_client_names_the_client_secret_and_its_180_days() -> None:
    """LWA's invalid_client becomes a CredentialError about the client id/secret and their rotation."""
    r = rig(secrets={"AMAZON_LWA_CLIENT_SECRET": "rotated-away"})
    with pytest.raises(CredentialError) as caught:
        r.run(snapshot)
    assert "invalid_client" in caught.value.message
    assert "AMAZON_LWA_CLIENT_SECRET" in caught.value.message
    assert "180 days" in caught.value.message
    assert 1 == r.calls(TOKEN_PATH)


def test_a_missing_secret_is_named_before_any_call() -> None:
    """An empty AMAZON_LWA_CLIENT_ID stops the run with its name, and nothing is sent anywhere."""
    r = rig(secrets={"AMAZON_LWA_CLIENT_ID": ""})
    with pytest.raises(CredentialError) as caught:
        r.run(snapshot)
    assert "AMAZON_LWA_CLIENT_ID" in caught.value.message
    assert 0 == r.built.app.log.count


def test_lwa_5xx_is_retried() -> None:
    """Two 500s from the token endpoint are retried; the listing then runs."""
    r = rig()
    r.built.app.set_fault(parse_fault({"status": 500, "count": 2}))
    assert SEED == r.run(snapshot)
    assert 3 == r.calls(TOKEN_PATH)


def test_lwa_down_says_so_once() -> None:
    """The endpoint named once: it read "LWA token endpoint: LWA token endpoint answered 503"."""
    r = rig()
    r.built.app.set_fault(parse_fault({"status": 503, "count": 100}))
    with pytest.raises(MallError) as caught:
        r.run(snapshot)
    assert caught.value.message.startswith("LWA token endpoint answered 503")
    assert caught.value.message.endswith("; gave up after retries")


# -- lookups, ping, credentials -------------------------------------------------------------------------------


def test_lookup_asks_50_skus_a_call_and_a_comma_sku_alone() -> None:
    """120 plain SKUs take three sellerSkus calls and a SKU with a comma one sellerSku call of its own."""
    seed = {**SEED, "BOX,2": 6}
    r = rig(seed)
    wanted = [*SEED, "BOX,2", "NOT-AT-FBA"]
    assert seed == r.run(lambda a: a.lookup(wanted))
    assert 3 + 1 == r.calls(SUMMARIES)


def test_a_sku_missing_from_the_listing_is_found_by_lookup() -> None:
    """A SKU Amazon's full listing skips is still found by name, so it is never taken as 0."""
    r = rig()
    r.emulator.hidden = {"JP-0007"}

    async def both(adapter: FbaInventoryClient) -> tuple[dict[str, int], dict[str, int]]:
        return await adapter.snapshot(), await adapter.lookup(["JP-0007"])

    listed, found = r.run(both)
    assert "JP-0007" not in listed
    assert {"JP-0007": SEED["JP-0007"]} == found


def test_a_sku_listed_twice_with_two_numbers_is_asked_again_by_name() -> None:
    """
    A listing that gives JP-0007 as 7 and, on its last page, as 40 (a stale copy) is not settled by which page
    came last: FBA is asked for JP-0007 by name, and that answer is the one used.
    """
    r = rig()
    r.emulator.stale_copies = [("JP-0007", 40)]
    assert SEED == r.run(snapshot)
    assert 3 + 1 == r.calls(SUMMARIES)


def test_a_clashing_sku_fba_no_longer_knows_by_name_stops_the_run() -> None:
    """Listed twice with two numbers, then unknown by name: the run stops, naming the SKU and both numbers."""
    r = rig()
    r.emulator.stale_copies = [("GONE-1", 5), ("GONE-1", 9)]
    with pytest.raises(MallError, match=r"SKU 'GONE-1' as 5 and 9, then asked by name did not know it"):
        r.run(snapshot)


def test_lookup_of_nothing_calls_nothing() -> None:
    """An empty lookup answers {} without a request."""
    r = rig()
    assert {} == r.run(lambda a: a.lookup([]))
    assert 0 == r.built.app.log.count


def test_ping_makes_one_listing_call_and_says_what_it_saw() -> None:
    """health --online's ping is one token and one page, and names the marketplace."""
    r = rig()
    said = r.run(lambda a: a.ping())
    assert "A1VC38T7YXB528" in said
    assert "50 SKUs on the first page, more pages follow" in said
    assert (1, 1) == (r.calls(TOKEN_PATH), r.calls(SUMMARIES))


def test_credentials_make_no_call_and_say_how_to_renew() -> None:
    """
    credentials() answers from what it knows, with an action for each: the refresh token has no expiry date;
    the client secret lapses 180 days after the day in AMAZON_LWA_CLIENT_SECRET_ISSUED, unknown without it.
    """
    made = (datetime.now(ZoneInfo("Asia/Tokyo")).date() - timedelta(days=170)).isoformat()
    r = rig(secrets={"AMAZON_LWA_CLIENT_SECRET_ISSUED": made})
    token, secret = r.run(lambda a: a.credentials())
    assert (None, False) == (token.days_left, token.expires_unknown)
    assert (9, 30) == (secret.days_left, secret.warn_days), "10 days to the lapse day, 9 it surely works"
    assert all(s.action for s in (token, secret))
    assert 0 == r.built.app.log.count
    lapse_day = (datetime.now(ZoneInfo("Asia/Tokyo")).date() - timedelta(days=180)).isoformat()
    [_, secret] = rig(secrets={"AMAZON_LWA_CLIENT_SECRET_ISSUED": lapse_day}).run(lambda a: a.credentials())
    assert -1 == secret.days_left, "on the day it lapses health says expired (FAIL), not 'last day'"
    unknown = rig(secrets={"AMAZON_LWA_CLIENT_SECRET_ISSUED": ""})
    [_, secret] = unknown.run(lambda a: a.credentials())
    assert (None, True) == (secret.days_left, secret.expires_unknown), "health warns: no countdown possible"
    typo = (datetime.now(ZoneInfo("Asia/Tokyo")).date() + timedelta(days=335)).isoformat()
    [_, secret] = rig(secrets={"AMAZON_LWA_CLIENT_SECRET_ISSUED": typo}).run(lambda a: a.credentials())
    assert (None, True) == (secret.days_left, secret.expires_unknown), "a day to come counts no 515 days: warned"
    assert "a day still to come" in secret.action


# -- the Reports API source -----------------------------------------------------------------------------------


def report_rig(seed: Mapping[str, int] = SEED, **extra: object) -> Rig:
    r = rig(seed, settings={"source": "report", **extra})
    r.emulator.reports.processing_s = 0.03
    return r


def test_the_report_source_reads_the_gzipped_cp932_report() -> None:
    """source: report creates the report, polls it to DONE, downloads the gzipped cp932 TSV and reads it."""
    seed = {**SEED, "日本語-SKU": 4, "007": 2}
    r = report_rig(seed)
    assert seed == r.run(snapshot)
    assert 1 == r.emulator.reports.made


def test_a_recent_done_report_is_reused_within_the_regeneration_window() -> None:
    """A second run within 30 minutes downloads the report already made instead of asking again (and FATAL)."""
    r = report_rig()

    async def twice(adapter: FbaInventoryClient) -> list[dict[str, int]]:
        return [await adapter.snapshot(), await adapter.snapshot()]

    assert [SEED, SEED] == r.run(twice)
    assert 1 == r.emulator.reports.made


def test_a_fatal_report_fails_the_run_and_says_why() -> None:
    """Asked again within 30 minutes (reuse off), Amazon's FATAL stops the run with the regeneration limit named."""
    r = report_rig(report_reuse_minutes=0)

    async def twice(adapter: FbaInventoryClient) -> None:
        await adapter.snapshot()
        await adapter.snapshot()

    with pytest.raises(MallError) as caught:
        r.run(twice)
    assert "FATAL" in caught.value.message
    assert "30 minutes" in caught.value.message


@pytest.mark.parametrize(("gzip", "charset"), [(False, "windows-31j"), (True, "UTF-8"), (False, "UTF-8")])
def test_the_report_is_read_gzipped_or_not_in_either_encoding(gzip: bool, charset: str) -> None:
    """Plain or gzipped, cp932 or UTF-8: the same stock comes out."""
    seed = {**SEED, "日本語-SKU": 4}
    r = report_rig(seed)
    r.emulator.reports.gzip = gzip
    r.emulator.reports.charset = charset
    assert seed == r.run(snapshot)


def test_a_report_that_never_finishes_times_out() -> None:
    """A report still processing after report_timeout_s fails the run, naming the setting."""
    r = report_rig(report_timeout_s=0.05)
    r.emulator.reports.processing_s = 3600
    with pytest.raises(MallError) as caught:
        r.run(snapshot)
    assert "report_timeout_s" in caught.value.message


def test_a_finished_report_is_reused_before_a_newer_one_still_on_its_way() -> None:
    """A newer report on its way may end FATAL (made within 30 minutes of another); a DONE one is taken first."""
    from ecsync_amazon._wire import Report
    from ecsync_amazon.reports_api import reusable

    def made(report_id: str, status: str, at: str) -> Report:
        return Report(report_id, "GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA", status, f"2026-11-29T{at}:00Z")

    done, waiting = made("1", "DONE", "03:40"), made("2", "IN_PROGRESS", "03:55")
    assert done == reusable([done, waiting])
    assert waiting == reusable([waiting])
    assert reusable([]) is None
