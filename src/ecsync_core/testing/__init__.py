"""
Public test helpers for ecsync and for mall plugin authors: fakes, an in-process emulator, contract tests.

    from ecsync_core.testing import emulated                          # one plugin, in-process, full harness
    from ecsync_core.testing.contract import MallInventoryContract    # the adapter contracts
    from ecsync_core.testing.fake_mall import fake_host               # a fake source and mall over HTTP
    from ecsync_core.testing.sandbox import sandbox_in_process, start_sandbox  # the whole sandbox
    from ecsync_core.testing import logged_events                     # what a block logged, as dicts
    pytest_plugins = ["ecsync_core.testing.pytest_plugin"]            # the `ecsync_sandbox` fixture

See docs/plugins.md.
"""

from __future__ import annotations

import contextlib
import logging
import time

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import httpx

from ecsync_core.domain import CredentialStatus, ItemResult, StockWrite
from ecsync_core.mall import MallContext, MallPlugin
from ecsync_core.ports import StockReading
from ecsync_core.sandbox.harness import Emulator, SandboxApp, build_app


__all__ = [
    "EMULATOR_BASE",
    "Emulated",
    "FakeMall",
    "FakeStockSource",
    "InMemoryKeyValue",
    "ManualClock",
    "emulated",
    "logged_events",
]

EMULATOR_BASE = "http://emulator.test"
"""The base URL in-process emulators answer on (nothing listens there; the transport routes it)."""


class ManualClock:
    """A clock that moves only when told: pass it to ``build_app(clock=...)`` for pacing that timing cannot flake."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class InMemoryKeyValue:
    """A ``KeyValueStore`` in a dict."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.data.get(key)

    def put(self, key: str, value: str) -> None:
        self.data[key] = value


@attrs.define
class FakeMall:
    """
    A ``MallInventory`` in memory. Like the real malls it accepts unknown items silently on write and reads
    back only the items it holds.

    Attributes:
        failing: item -> error; writes of these items fail with that error.
        writes: every write call's batch, in order (for tests that count calls).
    """

    stock: dict[str, int] = attrs.field(factory=dict)
    failing: dict[str, str] = attrs.field(factory=dict)
    writes: list[list[StockWrite]] = attrs.field(factory=list)

    async def read(self, items: Sequence[str]) -> StockReading:
        return StockReading({i: self.stock[i] for i in items if i in self.stock})

    async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
        self.writes.append(list(writes))
        results = []
        for w in writes:
            if w.item in self.failing:
                results.append(ItemResult(w.item, ok=False, error=self.failing[w.item]))
                continue
            # Like the real malls, an unknown item is accepted silently and stored where no read finds it.
            if w.item in self.stock:
                self.stock[w.item] = w.quantity
            results.append(ItemResult(w.item, ok=True))
        return results

    async def credentials(self) -> list[CredentialStatus]:
        return []

    async def ping(self) -> str:
        return "fake mall"

    async def aclose(self) -> None:
        return None


@attrs.define
class FakeStockSource:
    """A ``StockSource`` in memory; *hidden* SKUs are missing from the listing but found by ``lookup``."""

    stock: dict[str, int] = attrs.field(factory=dict)
    hidden: dict[str, int] = attrs.field(factory=dict)

    async def snapshot(self) -> dict[str, int]:
        return dict(self.stock)

    async def lookup(self, skus: Sequence[str]) -> dict[str, int]:
        known = {**self.stock, **self.hidden}
        return {s: known[s] for s in skus if s in known}

    async def credentials(self) -> list[CredentialStatus]:
        return []

    async def ping(self) -> str:
        return "fake source"

    async def aclose(self) -> None:
        return None


@attrs.frozen
class Emulated:
    """
    A plugin's real adapter wired to its own emulator in-process.

    Attributes:
        app: the emulator behind the sandbox harness, the same app ``ecsync sandbox`` serves: set faults
            (``app.set_fault(parse_fault({...}))``) and read the request log (``app.log``) on it directly,
            or over HTTP at ``EMULATOR_BASE + "/_sandbox/..."`` through *transport*.
    """

    adapter: object
    emulator: Emulator
    transport: httpx.ASGITransport
    context: MallContext
    app: SandboxApp


def emulated(
    plugin: MallPlugin,
    seed: Mapping[str, int],
    *,
    speed: float = 1.0,
    settings: Mapping[str, object] | None = None,
    secrets: Mapping[str, str] | None = None,
    clock: Callable[[], float] | None = None,
) -> Emulated:
    """
    Build *plugin*'s emulator from *seed* and its adapter talking to it through ``httpx.ASGITransport``.

    The emulator sits behind the complete sandbox harness, as ``ecsync sandbox`` serves it: faults, pacing
    by its limits scaled by *speed*, the request log and the ``/_sandbox/`` routes behave the same here.

    Args:
        settings: extra ``malls.<code>`` keys over the emulator's own sandbox settings.
        secrets: secrets over the emulator's sandbox secrets (a wrong token, say).
        clock: the emulator's pacing clock (a ``ManualClock``); default the real one.
    """
    from ecsync_core.config import make_converter

    if plugin.make_emulator is None:
        msg = f"mall plugin {plugin.code!r} has no emulator"
        raise ValueError(msg)
    emulator = plugin.make_emulator(seed)
    app = build_app(emulator, speed=speed, clock=clock or time.monotonic)
    transport = httpx.ASGITransport(app=app)
    raw = {**emulator.sandbox_settings(EMULATOR_BASE, speed), **(settings or {})}
    context = MallContext(
        code=plugin.code,
        settings=make_converter().structure(raw, plugin.settings_type),
        secrets={**emulator.sandbox_secrets(), **(secrets or {})},
        store=InMemoryKeyValue(),
        transport=transport,
    )
    return Emulated(plugin.make_adapter(context), emulator, transport, context, app)


@contextlib.contextmanager
def logged_events(name: str = "ecsync") -> Iterator[list[dict[str, Any]]]:
    """
    Every event ecsync's loggers under *name* log in the block, debug included, as dicts (``event``, ``level``, and
    the fields): structlog's ``capture_logs`` for loggers made by ``ecsync_core.logging.get_logger``, which do not
    follow structlog's global set-up.
    """
    events: list[dict[str, Any]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if isinstance(record.msg, dict):
                events.append(dict(record.msg))

    logger, keep = logging.getLogger(name), Keep(logging.DEBUG)
    level = logger.level
    logger.addHandler(keep)
    logger.setLevel(logging.DEBUG)
    try:
        yield events
    finally:
        logger.removeHandler(keep)
        logger.setLevel(level)
