"""A small world of fake malls over a real DuckDB file, for the sync and rollback use cases."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import types

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

from ecsync_core import MallContext, MallPlugin, hookimpl
from ecsync_core.bootstrap import App, build_app
from ecsync_core.domain import ItemResult, Mapping, StockWrite
from ecsync_core.errors import MallError
from ecsync_core.ports import StockReading
from ecsync_core.services.sync import SyncOptions, run_sync
from ecsync_core.testing import FakeMall, FakeStockSource


@attrs.frozen
class _Settings:
    pass


@attrs.define
class RecordingNotifier:
    sent: list[tuple[str, str]] = attrs.field(factory=list)

    def notify(self, subject: str, body: str, *, run_id: str | None = None) -> None:
        self.sent.append((subject, body))


@attrs.define
class DownMall(FakeMall):
    """A mall whose every call fails as a whole (a 500 that outlived the retries), or refuses credentials."""

    error: MallError = attrs.field(factory=lambda: MallError("down", "HTTP 500 after 5 attempts", retryable=True))

    async def read(self, items: Sequence[str]) -> StockReading:
        raise self.error

    async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
        raise self.error


class CrashOnSecondWrite(FakeMall):
    """A plugin whose second write call (shop writes one item a call) hits a bug, once the first was read back."""

    async def write(self, writes: Sequence[StockWrite]) -> list[ItemResult]:
        if self.writes:
            await asyncio.sleep(0.05)
            raise RuntimeError("boom in write")
        return await super().write(writes)


class BrokenSource(FakeStockSource):
    """A listing that cannot complete."""

    async def snapshot(self) -> dict[str, int]:
        raise MallError("src", "nextToken expired three times")


@attrs.define
class World:
    """The fakes the plugins hand out (swap them here) and the app built over them."""

    holder: dict[str, Any]
    app: App
    notifier: RecordingNotifier

    @property
    def source(self) -> FakeStockSource:
        src: FakeStockSource = self.holder["source"]
        return src

    @property
    def malls(self) -> dict[str, FakeMall]:
        malls: dict[str, FakeMall] = self.holder["malls"]
        return malls

    def sync(self, **options: Any) -> Any:
        return run_sync(self.app, SyncOptions(**options), self.notifier)


def _plugins(world: dict[str, Any]) -> types.ModuleType:
    module = types.ModuleType("fake_world")

    @hookimpl
    def ecsync_malls() -> list[MallPlugin]:
        def target(code: str, **more: Any) -> MallPlugin:
            return MallPlugin(
                code=code,
                name=f"{code.title()} Mall",
                role="target",
                sheet_column=f"{code}_code",
                settings_type=_Settings,
                make_adapter=lambda _c: world["malls"][code],
                **more,
            )

        def source(_c: MallContext) -> FakeStockSource:
            src: FakeStockSource = world["source"]
            return src

        def report_file(path: Path) -> dict[str, int]:
            """A stock report as ``SKU,quantity`` lines."""
            return {sku: int(q) for sku, q in (line.split(",") for line in path.read_text().split())}

        return [
            MallPlugin(
                code="src",
                name="Source",
                role="source",
                settings_type=_Settings,
                make_adapter=source,
                read_stock_file=report_file,
            ),
            target("shop", write_slice=1),  # one item a write call; mart takes the default
            target("mart"),
        ]

    module.ecsync_malls = ecsync_malls  # type: ignore[attr-defined]
    return module


def make_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("ECSYNC_DISABLE_PLUGINS", "amazon,yahoo,rakuten")
    cfg = tmp_path / "config.yaml"
    # A small world: a share of 1/2 keeps one planned zero among three stocked items from being refused.
    cfg.write_text(
        f"database: {tmp_path / 'e.duckdb'}\nlog_file: {tmp_path / 'log' / 'x.log'}\nsafety:\n  max_zero_ratio: 1/2\n"
    )
    holder: dict[str, Any] = {
        "source": FakeStockSource({"A": 25, "B": 16, "C": 9, "D": 0, "E": 3}),
        "malls": {
            "shop": FakeMall({"a": 5, "b": 0, "c": 3, "d": 2}),
            "mart": FakeMall({"a": 1, "b": 4, "x": 0}),
        },
    }
    app = build_app(cfg, extra_plugins=(_plugins(holder),))
    app.mappings.apply(
        [
            Mapping("A", "shop", "a"),
            Mapping("B", "shop", "b"),
            Mapping("C", "shop", "c"),
            Mapping("D", "shop", "d"),
            Mapping("A", "mart", "a"),
            Mapping("B", "mart", "b"),
            Mapping("X", "mart", "x"),
            Mapping("E", "shop", "e", active=False),
        ],
        replace=True,
    )
    return World(holder, app, RecordingNotifier())


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """
    *folder* made unwritable for the block, in the way that holds for root too (``chattr +i``), else by its mode.
    """
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False).returncode != 0:
            pytest.skip("running as root on a filesystem without chattr +i: no way to make a folder unwritable")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        return
    folder.chmod(0o555)
    try:
        yield
    finally:
        folder.chmod(0o755)
