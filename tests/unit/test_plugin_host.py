"""The plugin host: entry points, duplicates, broken plugins, the kill switch."""

from __future__ import annotations

import importlib.metadata
import sys
import types

from typing import Any

import attrs
import pytest

from ecsync_core import MallPlugin, hookimpl
from ecsync_core.errors import PluginError
from ecsync_core.plugins import get_plugin_host


@attrs.frozen
class _Settings:
    endpoint: str = "https://example.invalid"


def _module(name: str, code: str, role: str = "target") -> types.ModuleType:
    module = types.ModuleType(name)

    @hookimpl
    def ecsync_malls() -> list[MallPlugin]:
        return [
            MallPlugin(
                code=code,
                name=code,
                role=role,
                sheet_column=f"{code}_code",  # type: ignore[arg-type]
                settings_type=_Settings,
                make_adapter=lambda _c: None,
            )
        ]

    module.ecsync_malls = ecsync_malls  # type: ignore[attr-defined]
    return module


def test_installed_plugins_are_found_by_entry_point() -> None:
    """amazon (source), yahoo and rakuten (targets) come from their distributions' entry points."""
    host = get_plugin_host()
    roles = {code: (m.plugin.role, m.distribution) for code, m in host.malls.items()}
    assert roles["amazon"] == ("source", "ecsync-amazon")
    assert roles["yahoo"] == ("target", "ecsync-yahoo")
    assert roles["rakuten"] == ("target", "ecsync-rakuten")
    assert host.source().code == "amazon"
    assert {"yahoo_item_code", "rakuten_item_number"} == {p.sheet_column for p in host.targets()}


def test_disabled_plugin_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """ECSYNC_DISABLE_PLUGINS removes a plugin and the core carries on with the rest."""
    monkeypatch.setenv("ECSYNC_DISABLE_PLUGINS", "rakuten")
    host = get_plugin_host()
    assert [p.code for p in host.targets()] == ["yahoo"]


def test_two_plugins_claiming_one_code_are_refused() -> None:
    """A second plugin with an installed mall's code is an error naming both."""
    with pytest.raises(PluginError, match="two plugins claim the mall code 'yahoo'"):
        get_plugin_host(extra=(_module("shop_clone", "yahoo"),))


def test_broken_plugin_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin that fails to import is listed as broken; the others still load."""
    broken = importlib.metadata.EntryPoint(name="broken", value="ecsync_no_such_module.plugin", group="ecsync")
    real = importlib.metadata.entry_points

    def entry_points(**kw: Any) -> Any:
        found = list(real(**kw))
        return [*found, broken] if kw.get("group") == "ecsync" else found

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    host = get_plugin_host()
    assert "ModuleNotFoundError" in host.broken["broken"]
    assert "yahoo" in host.malls


def test_missing_source_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the source plugin disabled, asking for it names what to install."""
    monkeypatch.setenv("ECSYNC_DISABLE_PLUGINS", "amazon")
    with pytest.raises(PluginError, match="ecsync-amazon"):
        get_plugin_host().source()


def test_extra_module_adds_a_mall() -> None:
    """A module registered directly (as tests and notebooks do) adds its mall beside the installed ones."""
    host = get_plugin_host(extra=(_module("my_shop", "myshop"),))
    assert "myshop" in host.malls
    assert sys.modules.get("my_shop") is None


def test_two_sources_are_ambiguous() -> None:
    """With a second source installed, asking for the source says so instead of picking one silently."""
    host = get_plugin_host(extra=(_module("other_fba", "otherfba", role="source"),))
    with pytest.raises(PluginError, match=r"more than one source mall is installed \(amazon, otherfba\)"):
        host.source()
