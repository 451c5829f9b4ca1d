"""The Amazon adapter passes the core's source contract against its own emulator, by listing and by report."""

from __future__ import annotations

from collections.abc import Mapping

from ecsync_amazon.client import FbaInventoryClient
from ecsync_amazon.emulator import AmazonEmulator
from ecsync_amazon.plugin import ecsync_malls
from ecsync_core.ports import StockSource
from ecsync_core.testing import emulated
from ecsync_core.testing.contract import StockSourceContract


class TestAmazonListingContract(StockSourceContract):
    def make(self, stock: Mapping[str, int]) -> StockSource:
        built = emulated(ecsync_malls()[0], stock, speed=1000.0)
        assert isinstance(built.adapter, FbaInventoryClient)
        return built.adapter


class TestAmazonReportContract(StockSourceContract):
    def make(self, stock: Mapping[str, int]) -> StockSource:
        built = emulated(ecsync_malls()[0], stock, speed=1000.0, settings={"source": "report"})
        assert isinstance(built.emulator, AmazonEmulator)
        built.emulator.reports.processing_s = 0.03
        assert isinstance(built.adapter, FbaInventoryClient)
        return built.adapter
