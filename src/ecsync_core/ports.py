"""
What the core asks of the outside world. Adapters implement these; the services only see these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import attrs

from ecsync_core.domain import CredentialStatus, ItemResult, StockWrite


@attrs.frozen
class StockReading:
    """
    A mall's answer to "how many do you hold of these?".

    Attributes:
        quantities: item -> quantity, for the items the mall knows.
        problems: item -> why it could not be read (an ambiguous code, say); such an item is not written.
    """

    quantities: dict[str, int]
    problems: dict[str, str] = attrs.field(factory=dict)


class MallAdapter(Protocol):
    """What every mall adapter answers, source or target."""

    async def credentials(self) -> list[CredentialStatus]:
        """The credentials' remaining life, for health. Makes no API call unless that is the only way."""

    async def ping(self) -> str:
        """One cheap API call, for `health --online`; returns a short detail or raises MallError."""

    async def aclose(self) -> None:
        """Close the HTTP client."""


class StockSource(MallAdapter, Protocol):
    """The Amazon side: the truth."""

    async def snapshot(self) -> dict[str, int]:
        """Every SKU FBA lists with its fulfillable quantity, all pages, or raise: never a partial picture."""

    async def lookup(self, skus: Sequence[str]) -> dict[str, int]:
        """Ask for SKUs the listing did not show; the SKUs FBA does not know are absent from the answer."""


class MallInventory(MallAdapter, Protocol):
    """A target mall: read and write absolute stock by the item keys the master sheet names."""

    async def read(self, items: Sequence[str]) -> StockReading:
        """Current stock of *items*, in the mall's largest batches at its own pace."""

    async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
        """
        Set absolute stock. One result per write; a failed item does not fail the others.

        Raises MallError only when nothing at all could be written (credentials, the mall down).
        """


class KeyValueStore(Protocol):
    """A small persistent store a plugin keeps its own state in (a resolved variant, a daily call count)."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> None: ...
