"""The Yahoo adapter passes the core's MallInventory contract against its own emulator."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ecsync_core.ports import MallInventory
from ecsync_core.testing import emulated
from ecsync_core.testing.contract import MallInventoryContract
from ecsync_yahoo.plugin import ecsync_malls


class TestYahooContract(MallInventoryContract):
    sample_items = ("ec-item-00001", "ec-tee-00003:size-s", "ec-item-00004")

    def make(self, stock: Mapping[str, int]) -> tuple[MallInventory, Callable[[], dict[str, int]]]:
        e = emulated(ecsync_malls()[0], stock, speed=1000)
        return e.adapter, e.emulator.stock  # type: ignore[return-value]
