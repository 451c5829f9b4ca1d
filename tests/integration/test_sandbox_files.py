"""What a sandbox writes into its directory, and the whole tool running on it in-process."""

from __future__ import annotations

import asyncio
import json

from pathlib import Path
from typing import Any

import attrs
import openpyxl
import pytest

from ecsync_core.bootstrap import build_app
from ecsync_core.config import load_secrets, load_settings, mall_settings
from ecsync_core.mall import MallPlugin
from ecsync_core.plugins import DISABLE_ENV, EXTRA_ENV, get_plugin_host
from ecsync_core.sandbox.files import write_files
from ecsync_core.testing import fake_mall
from ecsync_core.testing.fake_mall import (
    COLUMN,
    SOURCE,
    TARGET,
    FakeApiSettings,
    FakeMallEmulator,
    fake_host,
    target_plugin,
)
from ecsync_core.testing.sandbox import IN_PROCESS_URL, sandbox_in_process


def sheet_rows(path: Path) -> list[tuple[object, ...]]:
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return list(wb.worksheets[0].iter_rows(values_only=True))
    finally:
        wb.close()


def test_the_config_loads_strictly_and_points_every_mall_at_its_emulator(tmp_path: Path) -> None:
    """config.yaml passes the strict loader; database, log and master live in DIR; each mall has its section."""
    sb = sandbox_in_process(tmp_path / "sb", fake_host())
    settings = load_settings(sb.files.config)
    directory = (tmp_path / "sb").resolve()
    assert directory / "ecsync.duckdb" == settings.database
    assert directory / "logs" / "inventory_sync.log" == settings.log_file
    assert directory / "master.xlsx" == settings.master_file
    for code in (SOURCE, TARGET):
        section = mall_settings(settings, code, FakeApiSettings)
        assert (IN_PROCESS_URL, f"{IN_PROCESS_URL}/oauth/token") == (section.endpoint, section.token_url)


def test_the_env_file_holds_every_emulators_credentials(tmp_path: Path) -> None:
    """.env beside the config gives the tool exactly the secrets the emulators accept."""
    sb = sandbox_in_process(tmp_path, fake_host())
    want: dict[str, str] = {}
    for app in sb.apps.values():
        want.update(app.emulator.sandbox_secrets())
    secrets = load_secrets(load_settings(sb.files.config), environ={})
    assert want == secrets
    assert 0o600 == sb.files.env.stat().st_mode & 0o777


def test_env_values_round_trip_whatever_they_hold(tmp_path: Path) -> None:
    """A secret with quotes, backslashes or a newline reads back from .env unchanged."""
    odd = {"A_KEY": "it's", "B_KEY": 'q"x\\y', "C_KEY": "two\nlines", "D_KEY": "plain-0123"}
    files = write_files(tmp_path, malls={}, secrets=odd, urls={}, rows=[], columns=[])
    assert odd == load_secrets(load_settings(files.config), environ={})


def test_the_master_sheet_and_sandbox_json_name_every_mall(tmp_path: Path) -> None:
    """master.xlsx has a column per target mall and the catalogue's rows; sandbox.json maps codes to URLs."""
    sb = sandbox_in_process(tmp_path, fake_host())
    rows = sheet_rows(sb.files.master)
    assert ("amazon_sku", COLUMN, "is_active") == rows[0]
    assert len(sb.prepared.catalogue.rows) == len(rows) - 1
    assert {False, True} == {r[2] for r in rows[1:]}
    assert {SOURCE: IN_PROCESS_URL, TARGET: IN_PROCESS_URL} == json.loads(sb.files.urls.read_text())


def test_the_tool_reads_the_demo_through_the_in_process_transports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bootstrap with the sandbox's config and transports: the source lists 142 SKUs, the mall its items."""
    monkeypatch.setenv(DISABLE_ENV, "amazon,yahoo,rakuten")
    sb = sandbox_in_process(tmp_path, fake_host())
    app = build_app(sb.files.config, extra_plugins=(fake_mall,), transports=sb.transports)
    source, target = app.source(), app.targets()[TARGET]
    items = sorted(sb.prepared.catalogue.malls[TARGET])

    async def go() -> tuple[dict[str, int], dict[str, int]]:
        try:
            return await source.snapshot(), (await target.read(items)).quantities
        finally:
            await source.aclose()
            await target.aclose()

    listed, held = asyncio.run(go())
    assert sb.prepared.catalogue.source == listed
    assert 142 == len(listed)
    assert sb.apps[TARGET].emulator.stock() == held


def _no_adapter(_context: Any) -> None:
    return None


def _broken_emulator(_seed: Any) -> Any:
    raise ModuleNotFoundError("No module named 'elsewhere.emulator'")


class _MisnamedSettings(FakeMallEmulator):
    """An emulator whose sandbox section names a key its own plugin's settings do not have."""

    def sandbox_settings(self, base_url: str, speed: float) -> dict[str, object]:
        return {**super().sandbox_settings(base_url, speed), "rate_per_s": 5}


def test_a_mall_whose_settings_refuse_its_sandbox_section_is_skipped_and_says_why(tmp_path: Path) -> None:
    """The sandbox said `ready`, and every sync was then refused over the config it had written itself."""
    odd = attrs.evolve(target_plugin(), code="odd", sheet_column="odd_code", make_emulator=_MisnamedSettings)
    sb = sandbox_in_process(tmp_path, fake_host(odd))
    assert "odd" not in sb.apps
    assert "its own settings refuse its emulator's sandbox_settings" in sb.prepared.skipped["odd"]
    assert "malls.odd.rate_per_s" in sb.prepared.skipped["odd"]
    assert {SOURCE, TARGET} == set(sb.apps)


def test_a_mall_without_a_working_emulator_is_skipped_and_says_why(tmp_path: Path) -> None:
    """A mall with no emulator, or one that fails to build, is not served; its column stays, blank."""
    quiet = MallPlugin("quiet", "Quiet", "target", object, _no_adapter, sheet_column="quiet_code")
    broken = MallPlugin(
        "broken", "Broken", "target", object, _no_adapter, sheet_column="broken_code", make_emulator=_broken_emulator
    )
    sb = sandbox_in_process(tmp_path, fake_host(quiet, broken))
    assert {SOURCE, TARGET} == set(sb.apps)
    assert "it has no emulator" == sb.prepared.skipped["quiet"]
    assert "ModuleNotFoundError" in sb.prepared.skipped["broken"]
    rows = sheet_rows(sb.files.master)
    assert ("amazon_sku", COLUMN, "quiet_code", "broken_code", "is_active") == rows[0]
    assert all(r[2] is None and r[3] is None for r in rows[1:])
    assert 15 == sb.prepared.catalogue.updates
    # With no section of their own in the sandbox's config, their adapters would call the real API.
    assert ("broken", "quiet") == load_settings(sb.files.config).disable_plugins


def test_extra_plugins_from_the_environment_are_loaded_or_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """ECSYNC_EXTRA_PLUGINS loads a plugin module that is not installed; a module that is missing is reported."""
    monkeypatch.setenv(EXTRA_ENV, "ecsync_core.testing.fake_mall, no_such_module_here")
    host = get_plugin_host()
    assert {SOURCE, TARGET} <= set(host.malls)
    assert ("ecsync_core.testing.fake_mall", "local") == (host.malls[TARGET].distribution, host.malls[TARGET].version)
    assert "ModuleNotFoundError" in host.broken["no_such_module_here"]
