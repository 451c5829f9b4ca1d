"""Settings and helpers the Yahoo plugin's tests share."""

from __future__ import annotations

import asyncio

from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qs

import attrs
import httpx
import pytest

from ecsync_core.config import make_converter
from ecsync_core.sandbox.harness import build_app
from ecsync_core.testing import EMULATOR_BASE, InMemoryKeyValue
from ecsync_yahoo.client import YahooShoppingClient
from ecsync_yahoo.emulator import API, YahooEmulator
from ecsync_yahoo.plugin import YahooSettings


T = TypeVar("T")


# -- the rig: the real adapter talking to the real emulator through a recording wire ----------------------


class Wire(httpx.AsyncBaseTransport):
    """
    The emulator's ASGI transport, with a log of every request and failures injected on store-API calls
    (what a flaky network or a Yahoo outage looks like from the adapter).
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []
        self.faults: list[httpx.Response | Exception] = []
        self.rewrite: Callable[[httpx.Request], None] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        if request.url.path.startswith(API):
            if self.faults:
                fault = self.faults.pop(0)
                if isinstance(fault, Exception):
                    raise fault
                return fault
            if self.rewrite is not None:
                self.rewrite(request)
        return await self.inner.handle_async_request(request)

    def forms(self, op: str) -> list[dict[str, str]]:
        """The form bodies sent to one store-API operation (``getStock``/``setStock``), in order."""
        return [
            {k: v[0] for k, v in parse_qs(r.content.decode(), keep_blank_values=True).items()}
            for r in self.requests
            if r.url.path == f"{API}/{op}"
        ]

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


@attrs.define
class Rig:
    adapter: YahooShoppingClient
    emulator: YahooEmulator
    wire: Wire
    store: InMemoryKeyValue

    def run(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run *make*'s coroutine to completion, then close the adapter as the core does after a run."""

        async def go() -> T:
            try:
                return await make()
            finally:
                await self.adapter.aclose()

        return asyncio.run(go())


def make_rig(
    seed: Mapping[str, int],
    *,
    speed: float = 1000.0,
    settings: Mapping[str, object] | None = None,
    secrets: Mapping[str, str] | None = None,
    emulator: YahooEmulator | None = None,
    store: InMemoryKeyValue | None = None,
) -> Rig:
    emulator = emulator or YahooEmulator(seed)
    wire = Wire(httpx.ASGITransport(app=build_app(emulator, speed=speed)))
    raw = {**emulator.sandbox_settings(EMULATOR_BASE, speed), **(settings or {})}
    store = store or InMemoryKeyValue()
    adapter = YahooShoppingClient(
        make_converter().structure(raw, YahooSettings),
        {**emulator.sandbox_secrets(), **(secrets or {})},
        store,
        transport=wire,
    )
    return Rig(adapter, emulator, wire, store)


@pytest.fixture
def rig() -> Callable[..., Rig]:
    """Build the real adapter over the real emulator, seeded; ``settings``/``secrets`` override the sandbox's."""
    return make_rig


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def arun() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """Run a coroutine to completion (the tests are plain functions)."""
    return run
