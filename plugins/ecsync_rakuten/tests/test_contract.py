"""The Rakuten adapter passes the core's target-mall contract against its own emulator."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ecsync_core.ports import MallInventory
from ecsync_core.testing import emulated
from ecsync_core.testing.contract import MallInventoryContract
from ecsync_rakuten.client import RakutenRmsClient
from ecsync_rakuten.plugin import ecsync_malls


class TestRakutenContract(MallInventoryContract):
    # Mixed-case manageNumber, a multi-variant product, and a bare manageNumber resolved through Items API.
    sample_items = ("Ec00001:normal-inventory", "tee-01:red-m", "tee-01:red-l", "single-sku")

    def make(self, stock: Mapping[str, int]) -> tuple[MallInventory, Callable[[], dict[str, int]]]:
        built = emulated(ecsync_malls()[0], stock, speed=1000.0)
        assert isinstance(built.adapter, RakutenRmsClient)
        adapter: MallInventory = built.adapter
        return adapter, built.emulator.stock
