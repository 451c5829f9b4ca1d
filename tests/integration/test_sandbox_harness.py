"""The sandbox harness in-process: /_sandbox/ routes, faults, pacing and the request log around an emulator."""

from __future__ import annotations

import asyncio
import time

from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import pytest

from ecsync_core.sandbox.harness import SandboxApp, build_app, parse_fault
from ecsync_core.testing import EMULATOR_BASE, ManualClock
from ecsync_core.testing.fake_mall import API_BURST, STOCK_PATH, TOKEN_PATH, FakeMallEmulator


T = TypeVar("T")
SEED = {"FM000001": 5, "FM000002": 0, "FM000003": 12}


def drive(
    speed: float, script: Callable[[httpx.AsyncClient, SandboxApp], Awaitable[T]], clock: ManualClock | None = None
) -> T:
    """Run *script* against a fresh fake-mall emulator behind the harness, in-process, on a stopped clock."""
    app = build_app(FakeMallEmulator(SEED), speed=speed, clock=clock or ManualClock())

    async def go() -> T:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=EMULATOR_BASE) as client:
            return await script(client, app)

    return asyncio.run(go())


async def token(client: httpx.AsyncClient) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_id": "sandbox-fakemall-client"}
    form["client_secret"] = "sandbox-fakemall-secret-0000"
    answer = await client.post(TOKEN_PATH, data=form)
    assert 200 == answer.status_code
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_stock_get_and_put_change_only_the_listed_items() -> None:
    """PUT /_sandbox/stock sets the listed items and leaves every other item as it was."""

    async def script(client: httpx.AsyncClient, _app: SandboxApp) -> tuple[dict[str, int], dict[str, int]]:
        before = (await client.get("/_sandbox/stock")).json()
        put = await client.put("/_sandbox/stock", json={"FM000002": 7})
        assert 200 == put.status_code
        return before, (await client.get("/_sandbox/stock")).json()

    before, after = drive(1.0, script)
    assert SEED == before
    assert {**SEED, "FM000002": 7} == after


@pytest.mark.parametrize("body", [[1, 2], {"FM000001": -1}, {"FM000001": "3"}, {"FM000001": True}])
def test_stock_put_refuses_a_bad_body_and_changes_nothing(body: object) -> None:
    """A PUT that is not {item: whole quantity >= 0} is a 400 saying so, and the stock stays."""

    async def script(client: httpx.AsyncClient, _app: SandboxApp) -> tuple[httpx.Response, dict[str, int]]:
        answer = await client.put("/_sandbox/stock", json=body)
        return answer, (await client.get("/_sandbox/stock")).json()

    answer, after = drive(1.0, script)
    assert (400, SEED) == (answer.status_code, after)
    assert "quantity" in answer.json()["error"]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_status_fault_with_count_n_fires_exactly_n_times(status: int) -> None:
    """POST /_sandbox/faults {status, count: 3} fails the next 3 API calls with that status, then no more."""

    async def script(client: httpx.AsyncClient, _app: SandboxApp) -> list[int]:
        headers = await token(client)
        posted = await client.post("/_sandbox/faults", json={"status": status, "count": 3})
        assert 200 == posted.status_code
        return [(await client.get(STOCK_PATH, headers=headers)).status_code for _ in range(5)]

    assert [status, status, status, 200, 200] == drive(100.0, script)


def test_faults_hit_the_token_endpoint_too() -> None:
    """A pending fault fails the token call as well: every API call of the emulator is hit."""

    async def script(client: httpx.AsyncClient, _app: SandboxApp) -> int:
        await client.post("/_sandbox/faults", json={"status": 503, "count": 1})
        form = {"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}
        return (await client.post(TOKEN_PATH, data=form)).status_code

    assert 503 == drive(100.0, script)


def test_a_new_post_replaces_the_pending_fault_and_delete_clears_it() -> None:
    """The second POST wins over what is left of the first; DELETE leaves no fault pending."""

    async def script(client: httpx.AsyncClient, _app: SandboxApp) -> tuple[list[int], list[int]]:
        headers = await token(client)
        await client.post("/_sandbox/faults", json={"status": 500, "count": 5})
        await client.post("/_sandbox/faults", json={"status": 503, "count": 1})
        replaced = [(await client.get(STOCK_PATH, headers=headers)).status_code for _ in range(2)]
        await client.post("/_sandbox/faults", json={"status": 500, "count": 5})
        assert 200 == (await client.delete("/_sandbox/faults")).status_code
        cleared = [(await client.get(STOCK_PATH, headers=headers)).status_code for _ in range(2)]
        return replaced, cleared

    assert ([503, 200], [200, 200]) == drive(100.0, script)


def test_a_delay_fault_answers_normally_after_the_delay() -> None:
    """{delay_s, count} makes the call wait that long, then it gets the normal answer; then it is spent."""

    async def script(client: httpx.AsyncClient, _app: SandboxApp) -> tuple[float, httpx.Response, object]:
        headers = await token(client)
        await client.post("/_sandbox/faults", json={"delay_s": 0.2, "count": 1})
        t0 = time.monotonic()
        slow = await client.get(STOCK_PATH, headers=headers, params={"item": "FM000001"})
        waited = time.monotonic() - t0
        return waited, slow, (await client.get("/_sandbox/faults")).json()["fault"]

    waited, slow, pending = drive(100.0, script)
    assert (200, {"items": [{"item": "FM000001", "quantity": 5}]}) == (slow.status_code, slow.json())
    assert waited >= 0.2
    assert pending is None


def test_a_drop_fault_is_a_transport_error_in_process() -> None:
    """{drop: true} cuts the call: the client gets a transport error, not an HTTP answer, N times."""

    async def script(client: httpx.AsyncClient, _app: SandboxApp) -> list[str]:
        headers = await token(client)
        await client.post("/_sandbox/faults", json={"drop": True, "count": 2})
        seen = []
        for _ in range(3):
            try:
                seen.append(str((await client.get(STOCK_PATH, headers=headers)).status_code))
            except httpx.RemoteProtocolError:
                seen.append("dropped")
        return seen

    assert ["dropped", "dropped", "200"] == drive(100.0, script)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"status": 404, "count": 1}, "status must be one of"),
        ({"status": 503, "count": 0}, "count must be"),
        ({"status": 503, "drop": True, "count": 1}, "exactly one of"),
        ({"drop": False, "count": 1}, "drop must be true"),
        ({"delay_s": -1, "count": 1}, "delay_s must be"),
        ({"status": 503, "count": 1, "after": 2}, "unknown key 'after'"),
        ([503], "JSON object"),
    ],
)
def test_a_bad_fault_is_refused_with_the_reason(body: object, says: str) -> None:
    """A fault body the harness cannot honour is a 400 naming the problem, and nothing is pending."""

    async def script(client: httpx.AsyncClient, _app: SandboxApp) -> tuple[httpx.Response, object]:
        answer = await client.post("/_sandbox/faults", json=body)
        return answer, (await client.get("/_sandbox/faults")).json()["fault"]

    answer, pending = drive(1.0, script)
    assert 400 == answer.status_code
    assert says in answer.json()["error"]
    assert pending is None


def test_pacing_answers_429_past_the_burst_scaled_by_speed() -> None:
    """At speed 2 the /v1/ limit (burst 5) lets 10 calls through at once; the 11th is the mall's own 429."""

    async def script(
        client: httpx.AsyncClient, _app: SandboxApp
    ) -> tuple[list[int], httpx.Response, dict[str, object]]:
        headers = await token(client)
        codes = [(await client.get(STOCK_PATH, headers=headers)).status_code for _ in range(int(API_BURST * 2))]
        refused = await client.get(STOCK_PATH, headers=headers)
        return codes, refused, (await client.get("/_sandbox/requests")).json()

    codes, refused, log = drive(2.0, script)
    assert [200] * 10 == codes
    assert (429, {"error": "rate_limited"}) == (refused.status_code, refused.json())
    assert "1" == refused.headers["retry-after"]
    assert 1 == log["throttled"]


def test_pacing_refills_at_the_scaled_rate() -> None:
    """After the burst is spent, a token comes back every 1/(rate x speed) seconds, not sooner."""
    clock = ManualClock()
    speed = 0.8  # 4 reads a second, 4 at once; each interval (0.25 s) and its half are exact in binary

    async def script(client: httpx.AsyncClient, _app: SandboxApp) -> list[int]:
        headers = await token(client)
        codes = [(await client.get(STOCK_PATH, headers=headers)).status_code for _ in range(5)]
        clock.advance(0.125)
        codes.append((await client.get(STOCK_PATH, headers=headers)).status_code)
        clock.advance(0.125)
        codes.append((await client.get(STOCK_PATH, headers=headers)).status_code)
        codes.append((await client.get(STOCK_PATH, headers=headers)).status_code)
        return codes

    assert [200, 200, 200, 200, 429, 429, 200, 429] == drive(speed, script, clock)


def test_sandbox_calls_are_never_faulted_paced_or_counted() -> None:
    """With a fault pending and the burst spent, /_sandbox/ calls still answer and the log ignores them."""

    async def script(client: httpx.AsyncClient, app: SandboxApp) -> tuple[list[int], dict, int]:  # type: ignore[type-arg]
        await client.post("/_sandbox/faults", json={"status": 503, "count": 1})
        codes = [(await client.get("/_sandbox/stock")).status_code for _ in range(20)]
        log = (await client.get("/_sandbox/requests")).json()
        return codes, log, app.remaining

    codes, log, remaining = drive(1.0, script)
    assert [200] * 20 == codes
    assert {"count": 0, "by_path": {}, "throttled": 0} == log
    assert 1 == remaining


def test_the_request_log_counts_every_api_call_by_path() -> None:
    """/_sandbox/requests counts each API call by path, faulted and throttled ones included."""

    async def script(client: httpx.AsyncClient, _app: SandboxApp) -> dict[str, object]:
        headers = await token(client)
        await client.post("/_sandbox/faults", json={"status": 500, "count": 1})
        for _ in range(3):
            await client.get(STOCK_PATH, headers=headers)
        await client.put(STOCK_PATH, headers=headers, json={"items": [{"item": "FM000001", "quantity": 1}]})
        return (await client.get("/_sandbox/requests")).json()

    assert {"count": 5, "by_path": {STOCK_PATH: 4, TOKEN_PATH: 1}, "throttled": 0} == drive(100.0, script)


def test_parse_fault_reads_each_kind() -> None:
    """The three fault kinds of SPEC parse to what the harness applies; count defaults to 1."""
    assert (503, 2) == (parse_fault({"status": 503, "count": 2}).status, parse_fault({"status": 503, "count": 2}).count)
    assert 0.5 == parse_fault({"delay_s": 0.5, "count": 1}).delay_s
    assert ("drop", 1) == (parse_fault({"drop": True}).kind, parse_fault({"drop": True}).count)
