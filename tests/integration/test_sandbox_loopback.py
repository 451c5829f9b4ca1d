"""The same emulator answers identically in-process (ASGITransport) and served by uvicorn on loopback."""

from __future__ import annotations

import asyncio
import time

from collections.abc import Awaitable, Callable

import httpx

from ecsync_core.sandbox.harness import build_app
from ecsync_core.sandbox.serve import Servers
from ecsync_core.testing import EMULATOR_BASE, ManualClock
from ecsync_core.testing.fake_mall import STOCK_PATH, TOKEN_PATH, FakeMallEmulator


SEED = {"FM000001": 5, "FM000002": 0, "FM000003": 12}
Answer = tuple[object, ...]


async def script(client: httpx.AsyncClient) -> list[Answer]:
    """A session touching each behaviour: auth, reads, writes, faults of each kind, pacing, the log."""
    seen: list[Answer] = []

    async def call(method: str, path: str, **kwargs: object) -> httpx.Response | None:
        try:
            r = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            seen.append((method, path, "transport error", isinstance(exc, httpx.RemoteProtocolError)))
            return None
        body = r.json() if r.headers.get("content-type") == "application/json" else r.text
        seen.append((method, path, r.status_code, r.headers.get("content-type"), r.headers.get("retry-after"), body))
        return r

    await call("GET", STOCK_PATH, params={"item": "FM000001"})  # no token: 401 (and one read token spent)
    form = {"grant_type": "client_credentials", "client_id": "sandbox-fakemall-client"}
    token = await call("POST", TOKEN_PATH, data={**form, "client_secret": "sandbox-fakemall-secret-0000"})
    assert token is not None
    auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
    await call("GET", STOCK_PATH, headers=auth, params=[("item", "FM000001"), ("item", "FM000009")])
    await call("PUT", "/_sandbox/stock", json={"FM000003": 1})
    await call("GET", "/_sandbox/stock")
    # Faulted calls spend no read token; the call after each fault and the delayed one do: five in all.
    for fault, calls in (({"status": 503, "count": 2}, 3), ({"drop": True, "count": 2}, 3), ({"delay_s": 0.01}, 1)):
        await call("POST", "/_sandbox/faults", json=fault)
        for _ in range(calls):
            await call("GET", STOCK_PATH, headers=auth, params={"item": "FM000003"})
    await call("GET", STOCK_PATH, headers=auth)  # the sixth read: past the burst of 5, the mall's 429
    await call("POST", "/_sandbox/faults", json={"status": 418, "count": 1})
    await call("GET", "/nowhere")
    # Writes: the burst of 2, then the mall's 429.
    for quantity in (4, 5, 6):
        await call("PUT", STOCK_PATH, headers=auth, json={"items": [{"item": "FM000002", "quantity": quantity}]})
    await call("GET", "/_sandbox/stock")
    await call("GET", "/_sandbox/requests")
    return seen


def run_both(session: Callable[[httpx.AsyncClient], Awaitable[list[Answer]]]) -> tuple[list[Answer], list[Answer]]:
    async def go() -> tuple[list[Answer], list[Answer]]:
        # Stopped clocks: the pacing answers cannot depend on how fast each transport is.
        in_process = build_app(FakeMallEmulator(SEED), speed=1.0, clock=ManualClock())
        transport = httpx.ASGITransport(app=in_process)
        async with httpx.AsyncClient(transport=transport, base_url=EMULATOR_BASE) as client:
            here = await session(client)

        servers = Servers.bind({"fakemall": build_app(FakeMallEmulator(SEED), speed=1.0, clock=ManualClock())})
        stop, ready = asyncio.Event(), asyncio.Event()
        serving = asyncio.create_task(servers.serve(stop, ready.set))
        await asyncio.wait_for(ready.wait(), 10)
        try:
            async with httpx.AsyncClient(base_url=servers.urls["fakemall"]) as client:
                there = await session(client)
        finally:
            stop.set()
            await serving
        return here, there

    return asyncio.run(go())


def test_in_process_and_loopback_answer_the_same() -> None:
    """Every answer (status, body, content type, Retry-After, dropped connections) matches call for call."""
    here, there = run_both(script)
    assert here == there
    kinds = {a[2] for a in here}
    assert {200, 400, 401, 404, 429, 503, "transport error"} <= kinds


def test_served_answers_do_not_wait_for_delayed_acks() -> None:
    """A keep-alive client gets each answer at once: the server turns Nagle off (no ~40 ms stall per call)."""

    async def go() -> float:
        servers = Servers.bind({"fakemall": build_app(FakeMallEmulator(SEED))})
        stop, ready = asyncio.Event(), asyncio.Event()
        serving = asyncio.create_task(servers.serve(stop, ready.set))
        await asyncio.wait_for(ready.wait(), 10)
        fastest = float("inf")
        try:
            async with httpx.AsyncClient(base_url=servers.urls["fakemall"]) as client:
                await client.get("/_sandbox/stock")  # the connection is made: the stall hits the calls after
                for _ in range(6):
                    t0 = time.perf_counter()
                    await client.get("/_sandbox/stock")
                    fastest = min(fastest, time.perf_counter() - t0)
        finally:
            stop.set()
            await serving
        return fastest

    assert asyncio.run(go()) < 0.02
