"""
Contract tests every adapter passes: subclass, say how to build the adapter over seeded stock, inherit the tests.

    class TestYahooContract(MallInventoryContract):
        sample_items = ("item-1", "item-2:sub-a", "item-3")

        def make(self, stock):
            e = emulated(yahoo_plugin(), stock)
            return e.adapter, e.emulator.stock

The in-memory fakes of :mod:`ecsync_core.testing` pass the same contract in the core's own tests, so a fake
cannot drift from what real adapters do.
"""

from __future__ import annotations

import asyncio

from collections.abc import Callable, Coroutine, Mapping
from typing import Any, ClassVar, TypeVar

from ecsync_core.domain import StockWrite
from ecsync_core.ports import MallInventory, StockSource


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class MallInventoryContract:
    """
    A target mall adapter: read and write absolute stock by the sheet's item keys.

    Attributes:
        sample_items: at least three valid item keys of this mall, as the master sheet writes them: in a spelling
            your ``normalize_item_key`` changes too (Rakuten's ``Ec00001``), since the core gives the adapter the
            sheet's own spelling and reads the answer under it.
    """

    sample_items: ClassVar[tuple[str, ...]] = ()

    def make(self, stock: Mapping[str, int]) -> tuple[MallInventory, Callable[[], dict[str, int]]]:
        """The adapter over a mall seeded with *stock*, and a function that shows what the mall holds."""
        raise NotImplementedError

    def _seed(self) -> dict[str, int]:
        assert len(self.sample_items) >= 3, "sample_items needs at least three item keys"
        return {item: 3 + n for n, item in enumerate(self.sample_items)}

    def test_read_returns_every_seeded_quantity(self) -> None:
        """A read answers the quantity the mall holds for each item asked for."""
        seed = self._seed()
        adapter, _peek = self.make(seed)

        async def go() -> dict[str, int]:
            try:
                return (await adapter.read(list(seed))).quantities
            finally:
                await adapter.aclose()

        assert seed == run(go())

    def test_write_sets_absolute_quantities(self) -> None:
        """A write sets the given numbers (0 included), reports each item ok, and leaves the others alone."""
        seed = self._seed()
        adapter, peek = self.make(seed)
        first, second, untouched = self.sample_items[:3]
        writes = [StockWrite(first, 0), StockWrite(second, 11)]

        async def go() -> tuple[list[bool], dict[str, int]]:
            try:
                results = await adapter.write(writes)
                return [r.ok for r in results], (await adapter.read([first, second, untouched])).quantities
            finally:
                await adapter.aclose()

        oks, after = run(go())
        assert oks == [True, True]
        assert {first: 0, second: 11, untouched: seed[untouched]} == after
        held = peek()
        assert (0, 11, seed[untouched]) == (held[first], held[second], held[untouched])

    def test_write_answers_each_write_in_its_order(self) -> None:
        """
        One result per write, in the order given. The sync takes a refusal by its item, and judges the rest by the
        read-back: a result left out hides what the mall said of that item.
        """
        seed = self._seed()
        adapter, _peek = self.make(seed)
        writes = [StockWrite(item, 1 + n) for n, item in enumerate(reversed(self.sample_items))]

        async def go() -> list[str]:
            try:
                return [r.item for r in await adapter.write(writes)]
            finally:
                await adapter.aclose()

        assert [w.item for w in writes] == run(go())

    def test_a_read_may_run_while_a_write_does(self) -> None:
        """The sync reads one slice back while it writes the next: both at once on one adapter must work."""
        seed = self._seed()
        adapter, peek = self.make(seed)
        first, *rest = self.sample_items

        async def go() -> tuple[dict[str, int], list[bool]]:
            try:
                reading, results = await asyncio.gather(adapter.read(rest), adapter.write([StockWrite(first, 9)]))
                return reading.quantities, [r.ok for r in results]
            finally:
                await adapter.aclose()

        assert ({item: seed[item] for item in rest}, [True]) == run(go())
        assert 9 == peek()[first]

    def test_unknown_item_reads_as_absent(self) -> None:
        """An item the mall does not have is absent from a read, not an error and never a 0."""
        seed = self._seed()
        known = self.sample_items[0]
        missing = self.unknown_item()
        adapter, _peek = self.make({known: seed[known]})

        async def go() -> dict[str, int]:
            try:
                return (await adapter.read([known, missing])).quantities
            finally:
                await adapter.aclose()

        assert {known: seed[known]} == run(go())

    def unknown_item(self) -> str:
        """A valid key of an item the mall does not hold."""
        return self.sample_items[-1] + "9"


class StockSourceContract:
    """The Amazon side: a full snapshot, and lookups for SKUs the listing did not show."""

    def make(self, stock: Mapping[str, int]) -> StockSource:
        raise NotImplementedError

    def test_snapshot_lists_every_sku_with_zeros(self) -> None:
        """Every SKU comes back with its fulfillable quantity, quantity 0 included."""
        seed = {"SKU-A": 25, "SKU-B": 0, "0123": 7}
        source = self.make(seed)

        async def go() -> dict[str, int]:
            try:
                return await source.snapshot()
            finally:
                await source.aclose()

        assert seed == run(go())

    def test_lookup_finds_known_and_omits_unknown(self) -> None:
        """A lookup answers the SKUs FBA knows and leaves out the ones it does not."""
        source = self.make({"SKU-A": 4, "SKU-B": 9})

        async def go() -> dict[str, int]:
            try:
                return await source.lookup(["SKU-B", "NOPE-1"])
            finally:
                await source.aclose()

        assert run(go()) == {"SKU-B": 9}
