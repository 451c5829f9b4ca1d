"""The fake mall plugin's real httpx adapters against its emulators, in-process through the full harness."""

from __future__ import annotations

import asyncio

from collections.abc import Callable, Iterator, Mapping

import pytest
import stamina

from ecsync_core.domain import StockWrite
from ecsync_core.errors import CredentialError
from ecsync_core.pacing import RETRY_ATTEMPTS
from ecsync_core.ports import MallInventory, StockSource
from ecsync_core.sandbox.harness import parse_fault
from ecsync_core.testing import emulated
from ecsync_core.testing.contract import MallInventoryContract, StockSourceContract
from ecsync_core.testing.fake_mall import PAGE, FakeMallClient, FakeSourceClient, source_plugin, target_plugin


@pytest.fixture(autouse=True)
def no_backoff_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=RETRY_ATTEMPTS):
        yield


class TestFakeMallContract(MallInventoryContract):
    sample_items = ("FM000001", "FM000002", "FM000003")

    def make(self, stock: Mapping[str, int]) -> tuple[MallInventory, Callable[[], dict[str, int]]]:
        e = emulated(target_plugin(), stock, speed=100)
        assert isinstance(e.adapter, FakeMallClient)
        return e.adapter, e.emulator.stock


class TestFakeSourceContract(StockSourceContract):
    def make(self, stock: Mapping[str, int]) -> StockSource:
        e = emulated(source_plugin(), stock, speed=100)
        assert isinstance(e.adapter, FakeSourceClient)
        return e.adapter


def test_snapshot_reads_every_page() -> None:
    """A listing longer than one page comes back whole."""
    seed = {f"SKU-{n:04d}": n % 7 for n in range(PAGE * 2 + 3)}
    e = emulated(source_plugin(), seed, speed=100)
    assert isinstance(e.adapter, FakeSourceClient)
    adapter = e.adapter

    async def go() -> dict[str, int]:
        try:
            return await adapter.snapshot()
        finally:
            await adapter.aclose()

    assert seed == asyncio.run(go())
    assert 3 == e.app.log.by_path["/v1/inventory"]


@pytest.mark.parametrize(
    "fault", [{"status": 503, "count": 2}, {"drop": True, "count": 2}, {"status": 429, "count": 1}]
)
def test_the_adapter_retries_through_faults_the_harness_injects(fault: dict[str, object]) -> None:
    """A 5xx, a 429 or a dropped connection from the emulator is retried until the call gets through."""
    e = emulated(target_plugin(), {"FM000001": 4}, speed=100)
    assert isinstance(e.adapter, FakeMallClient)
    adapter = e.adapter
    e.app.set_fault(parse_fault(fault))

    async def go() -> dict[str, int]:
        try:
            return (await adapter.read(["FM000001"])).quantities
        finally:
            await adapter.aclose()

    assert {"FM000001": 4} == asyncio.run(go())
    assert int(str(fault["count"])) + 2 == e.app.log.count  # the faulted calls, the token, the read


def test_a_wrong_secret_is_a_credential_error_naming_the_env_names() -> None:
    """The emulator refuses a wrong client secret; the adapter says which .env names to fix."""
    e = emulated(target_plugin(), {"FM000001": 4}, secrets={"FAKEMALL_CLIENT_SECRET": "wrong"})
    assert isinstance(e.adapter, FakeMallClient)
    adapter = e.adapter

    async def go() -> None:
        try:
            await adapter.write([StockWrite("FM000001", 1)])
        finally:
            await adapter.aclose()

    with pytest.raises(CredentialError, match="FAKEMALL_CLIENT_SECRET"):
        asyncio.run(go())
    assert {"FM000001": 4} == e.emulator.stock()
