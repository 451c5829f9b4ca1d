"""
The Rakuten plugin's test rig: its real adapter on its own emulator, in-process, with the HTTP calls recorded.
"""

from __future__ import annotations

import asyncio

from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import attrs
import httpx
import pytest

from ecsync_core.mall import MallContext
from ecsync_core.pacing import TokenBucket
from ecsync_core.testing import emulated
from ecsync_rakuten.client import RakutenRmsClient
from ecsync_rakuten.emulator import RakutenEmulator
from ecsync_rakuten.plugin import ecsync_malls


T = TypeVar("T")


@attrs.frozen
class Call:
    method: str
    path: str
    status: int
    body: bytes


class Recording(httpx.AsyncBaseTransport):
    """
    Passes every request on, and records it with the status it got.

    Args:
        fail: answers to give instead, in order, to the calls whose path contains *fail_on*: a status, a whole
            response, or an httpx transport error to raise.
        strict: path -> a bucket of the real, unscaled shape (burst 1) that answers 429 past the rate, as the
            RMS gateway would (the sandbox harness scales the burst with the speed, which hides such races).
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        fail: list[int | Exception | httpx.Response] | None = None,
        fail_on: str = "",
        strict: Mapping[str, TokenBucket] | None = None,
    ) -> None:
        self.inner = inner
        self.calls: list[Call] = []
        self.fail = list(fail or [])
        self.fail_on = fail_on
        self.strict = dict(strict or {})

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path, body = request.url.path, request.content
        if self.fail and self.fail_on in path:
            answer = self.fail.pop(0)
            if isinstance(answer, Exception):
                self.calls.append(Call(request.method, path, 0, body))
                raise answer
            if isinstance(answer, httpx.Response):
                self.calls.append(Call(request.method, path, answer.status_code, body))
                return answer
            self.calls.append(Call(request.method, path, answer, body))
            return httpx.Response(answer, json={"errors": [{"code": str(answer), "message": "injected"}]})
        bucket = next((b for prefix, b in self.strict.items() if path.startswith(prefix)), None)
        if bucket is not None and not bucket.try_take():
            self.calls.append(Call(request.method, path, 429, body))
            return httpx.Response(429, json={"errors": [{"code": "TooManyRequests", "message": "Too Many Requests"}]})
        response = await self.inner.handle_async_request(request)
        self.calls.append(Call(request.method, path, response.status_code, body))
        return response

    def count(self, fragment: str) -> int:
        return sum(fragment in c.path for c in self.calls)


@attrs.frozen
class Rig:
    adapter: RakutenRmsClient
    emulator: RakutenEmulator
    http: Recording
    context: MallContext

    def run(self, make: Callable[[], Coroutine[Any, Any, T]], *more: RakutenRmsClient) -> T:
        """Run a coroutine, closing this rig's adapter (and *more*) afterwards."""

        async def go() -> T:
            try:
                return await make()
            finally:
                for adapter in (self.adapter, *more):
                    await adapter.aclose()

        return asyncio.run(go())

    def another_adapter(self) -> RakutenRmsClient:
        """A second adapter (a later run) on the same emulator, recording and store."""
        adapter = ecsync_malls()[0].make_adapter(self.context)
        assert isinstance(adapter, RakutenRmsClient)
        return adapter


def make_rig(
    seed: Mapping[str, int],
    *,
    speed: float = 1000.0,
    settings: Mapping[str, object] | None = None,
    secrets: Mapping[str, str] | None = None,
    **recording: Any,
) -> Rig:
    """The real adapter over the emulator seeded with *seed* (limits scaled by *speed*), calls recorded."""
    plugin = ecsync_malls()[0]
    built = emulated(plugin, seed, speed=speed, settings=settings, secrets=secrets)
    http = Recording(built.transport, **recording)
    context = attrs.evolve(built.context, transport=http)
    adapter = plugin.make_adapter(context)
    assert isinstance(adapter, RakutenRmsClient)
    assert isinstance(built.emulator, RakutenEmulator)
    return Rig(adapter, built.emulator, http, context)


@pytest.fixture(name="make_rig")
def _make_rig() -> Callable[..., Rig]:
    """Builds a rig: ``make_rig(seed, speed=..., settings=..., secrets=..., fail=[...], fail_on=..., strict=...)``."""
    return make_rig
