"""
``ecsync sandbox``: build every installed mall's emulator over the demo catalogue, write the files, serve.

``prepare`` and ``write`` are shared with the in-process sandbox of :mod:`ecsync_core.testing`, so tests
get the same emulators, the same data and the same config as the served sandbox.
"""

from __future__ import annotations

import asyncio

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import attrs

from ecsync_core.config import Settings, mall_settings
from ecsync_core.domain import RuleSet
from ecsync_core.errors import ConfigError
from ecsync_core.mall import MallPlugin
from ecsync_core.plugins import PluginHost
from ecsync_core.sandbox.demo import MANUAL_SKUS, Catalogue, DemoMall, demo_catalogue
from ecsync_core.sandbox.files import SandboxFiles, claim, write_files
from ecsync_core.sandbox.harness import SandboxApp, build_app


@attrs.frozen
class Prepared:
    """
    A sandbox ready to serve.

    Attributes:
        apps: mall code -> its emulator behind the harness, for every installed mall that has an emulator.
        skipped: code -> why, for the installed malls not served (no emulator, or it failed to build);
            their sheet column is left blank.
        columns: every installed target mall's sheet column (the sheet must hold them all to import).
        speed: the factor every rate limit is scaled by.
    """

    catalogue: Catalogue
    apps: dict[str, SandboxApp]
    skipped: dict[str, str]
    columns: tuple[str, ...]
    speed: float

    def write(self, directory: Path, urls: Mapping[str, str]) -> SandboxFiles:
        """Write config.yaml, .env, master.xlsx and sandbox.json for emulators at *urls*."""
        secrets: dict[str, str] = {}
        for app in self.apps.values():
            secrets.update(app.emulator.sandbox_secrets())
        return write_files(
            directory,
            malls={code: app.emulator.sandbox_settings(urls[code], self.speed) for code, app in self.apps.items()},
            secrets=secrets,
            urls={code: urls[code] for code in self.apps},
            rows=self.catalogue.rows,
            columns=self.columns,
            unserved=sorted(self.skipped),
        )


def prepare(host: PluginHost, *, skus: int = MANUAL_SKUS, seed: int = 0, speed: float = 1.0) -> Prepared:
    """
    The demo catalogue over the installed malls, and an emulator for each that has one.

    Raises:
        ValueError: when *skus* is too small for the demo's mix (see ``demo.MIN_SKUS``).
    """
    plugins = [m.plugin for m in host.malls.values()]
    skipped = {p.code: "it has no emulator" for p in plugins if p.make_emulator is None}
    sources = [p for p in plugins if p.role == "source"]
    while True:
        # A mall whose emulator fails to build is dropped and the catalogue made again without it, so the
        # sheet and the demo's counts only name malls that are served.
        served = [p for p in plugins if p.code not in skipped]
        catalogue = demo_catalogue(
            [DemoMall.of(p) for p in served if p.role == "target"],
            skus=skus,
            seed=seed,
            source_key=sources[0].sample_item_key if sources else None,
            rules=RuleSet(),
        )
        apps, failed = _build(served, catalogue, speed)
        if not failed:
            break
        skipped.update(failed)
    return Prepared(
        catalogue=catalogue,
        apps=apps,
        skipped=skipped,
        columns=tuple(p.sheet_column for p in plugins if p.role == "target" and p.sheet_column),
        speed=speed,
    )


def _build(
    plugins: Sequence[MallPlugin], catalogue: Catalogue, speed: float
) -> tuple[dict[str, SandboxApp], dict[str, str]]:
    apps: dict[str, SandboxApp] = {}
    failed: dict[str, str] = {}
    for plugin in plugins:
        assert plugin.make_emulator is not None
        seed_stock = catalogue.source if plugin.role == "source" else catalogue.malls[plugin.code]
        try:
            app = build_app(plugin.make_emulator(dict(seed_stock)), speed=speed)
            section = dict(app.emulator.sandbox_settings(PROBE_URL, speed))
        except Exception as exc:  # one plugin's broken emulator must not take the others' sandbox down
            failed[plugin.code] = f"its emulator failed to build: {type(exc).__name__}: {exc}"
            continue
        try:
            # Its own settings must take the section the sandbox writes for it: else the sandbox said `ready`
            # and every sync was refused ("malls.<code>.<key>: unknown key").
            mall_settings(Settings(malls={plugin.code: section}), plugin.code, plugin.settings_type)
        except ConfigError as exc:
            failed[plugin.code] = f"its own settings refuse its emulator's sandbox_settings: {exc.one_line()}"
            continue
        apps[plugin.code] = app
    return apps, failed


PROBE_URL = "http://127.0.0.1:1"
"""A loopback URL to check a plugin's sandbox settings with, before the real one is bound."""


def serve(prepared: Prepared, directory: Path, echo: Callable[[str], None]) -> SandboxFiles:
    """
    Claim *directory*, bind a loopback port per emulator, write the files, serve until SIGINT or SIGTERM.

    Prints each mall's URL, then ``ready`` on its own line once every server listens.
    """
    from ecsync_core.sandbox.serve import Servers, stop_on_signals

    with claim(directory):
        servers = Servers.bind(prepared.apps)
        try:
            files = prepared.write(directory, servers.urls)
        except BaseException:
            servers.close()
            raise

        def ready() -> None:
            width = max((len(code) for code in servers.urls), default=0)
            for code, url in servers.urls.items():
                echo(f"{code:<{width}}  {url}")
            echo(f"config: {files.config}")
            echo(f"next:   ecsync -c {files.config} import-sku -f {files.master}")
            echo("ready")

        async def main() -> None:
            stop = asyncio.Event()
            restore = stop_on_signals(stop)
            try:
                await servers.serve(stop, ready)
            finally:
                restore()

        asyncio.run(main())
    return files
