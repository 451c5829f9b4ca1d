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


def _also_installed(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    """Entry points as if a distribution also installed ``name = value`` in the ``ecsync`` group."""
    extra = importlib.metadata.EntryPoint(name=name, value=value, group="ecsync")
    real = importlib.metadata.entry_points

    def entry_points(**kw: Any) -> Any:
        found = list(real(**kw))
        return [*found, extra] if kw.get("group") == "ecsync" else found

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


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


def test_a_disabled_name_matching_nothing_is_kept_to_be_warned_of(monkeypatch: pytest.MonkeyPatch) -> None:
    """``rakutn`` disables nothing and Rakuten stays on: the host says which names matched no plugin or mall."""
    monkeypatch.setenv("ECSYNC_DISABLE_PLUGINS", "rakutn")
    host = get_plugin_host(disabled=["yahoo", "qmall"], extra=(_module("qmall_dev", "qmall"),))
    assert ("rakuten" in host.malls, host.unmatched) == (True, frozenset({"rakutn"}))


def test_a_disabled_code_is_left_out_whatever_loaded_it() -> None:
    """The sandbox disables a mall it does not serve by code: a plugin loaded as an extra module is left out too."""
    host = get_plugin_host(extra=(_module("qmall_dev", "qmall"),), disabled=["qmall"])
    assert "qmall" not in host.malls


def test_disabling_the_shipped_plugin_keeps_a_replacement_that_declares_its_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Disabling the entry point ``yahoo`` (by its name) leaves an installed replacement declaring ``yahoo``."""
    monkeypatch.setitem(sys.modules, "yahoo_next_plugin", _module("yahoo_next_plugin", "yahoo"))
    _also_installed(monkeypatch, "yahoo_next", "yahoo_next_plugin")
    host = get_plugin_host(disabled=["yahoo"])
    assert ({}, "yahoo") == (host.broken, host.malls["yahoo"].plugin.name)
    assert "ecsync-yahoo" != host.malls["yahoo"].distribution


def test_disabling_a_code_no_entry_point_is_named_leaves_out_its_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """`disable_plugins: [qmall]` (the manual says: the code) works for an entry point named otherwise."""
    monkeypatch.setitem(sys.modules, "outside_ep_plugin", _module("outside_ep_plugin", "qmall"))
    _also_installed(monkeypatch, "outside_ep", "outside_ep_plugin")
    assert "qmall" in get_plugin_host().malls
    assert "qmall" not in get_plugin_host(disabled=["qmall"]).malls


def test_two_plugins_claiming_one_code_are_both_left_out_and_named() -> None:
    """
    A second plugin with an installed mall's code: which would win is an accident of install order, so
    neither does; the host still loads (health and `malls` keep answering) and the others work.
    """
    host = get_plugin_host(extra=(_module("shop_clone", "yahoo"),))
    assert "yahoo" not in host.malls
    assert "two plugins claim the mall code 'yahoo': ecsync-yahoo and shop_clone" in host.broken["yahoo"]
    assert "rakuten" in host.malls


def _hook_answering(answer: Any) -> types.ModuleType:
    module = types.ModuleType("odd_plugin")
    module.ecsync_malls = hookimpl(lambda: answer() if callable(answer) else answer)  # type: ignore[attr-defined]
    return module


def _raise() -> Any:
    raise RuntimeError("settings file missing")


def _target(code: str, column: str) -> MallPlugin:
    return MallPlugin(
        code=code, name=code, role="target", sheet_column=column, settings_type=_Settings, make_adapter=lambda _c: None
    )


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (_raise, "its ecsync_malls hook failed: RuntimeError: settings file missing"),
        (lambda: _target("qmall", "q_code"), "must return a list of MallPlugin, not MallPlugin"),
        (lambda: [_target("Q Mall!", "q_code")], "mall code 'Q Mall!' must be a letter then up to 31 of a-z, 0-9, _"),
        (lambda: [_target("qmall", "amazon_sku")], "sheet_column 'amazon_sku' is the core's own column"),
    ],
)
def test_a_hook_that_fails_or_declares_nonsense_is_broken_not_fatal(answer: Any, why: str) -> None:
    """A plugin's hook raising or returning an invalid mall is listed as broken; every other mall loads."""
    host = get_plugin_host(extra=(_hook_answering(answer),))
    assert why in host.broken["odd_plugin"]
    assert {"amazon", "yahoo", "rakuten"} <= set(host.malls)


def test_two_malls_sharing_a_sheet_column_are_both_left_out() -> None:
    """One column cannot name two malls' items: import would give it to one and silently map none on the other."""
    host = get_plugin_host(extra=(_hook_answering(lambda: [_target("qmall", "yahoo_item_code")]),))
    assert {"qmall", "yahoo"}.isdisjoint(host.malls)
    assert "the sheet column 'yahoo_item_code' is claimed by the malls" in host.broken["qmall"]


def test_one_name_installed_by_two_distributions_is_broken(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two distributions installing the entry point ``yahoo``: neither is loaded, both named."""
    _also_installed(monkeypatch, "yahoo", "yahoo_clone.plugin")
    host = get_plugin_host()
    assert "yahoo" not in host.malls
    assert "installed by 2 distributions (ecsync-yahoo, yahoo_clone.plugin)" in host.broken["yahoo"]


def test_an_extra_module_also_installed_is_loaded_once_without_complaint(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ECSYNC_EXTRA_PLUGINS`` naming an installed plugin (while one works on it) is not a failure."""
    monkeypatch.setenv("ECSYNC_EXTRA_PLUGINS", "ecsync_yahoo.plugin")
    host = get_plugin_host()
    assert ({}, "ecsync-yahoo") == (host.broken, host.malls["yahoo"].distribution)


def test_broken_plugin_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin that fails to import is listed as broken; the others still load."""
    _also_installed(monkeypatch, "broken", "ecsync_no_such_module.plugin")
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


def _module_with(name: str, **functions: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    for attr, function in functions.items():
        setattr(module, attr, function)
    return module


def test_a_misspelt_hook_or_none_at_all_is_broken_not_fatal() -> None:
    """
    A misspelt hook stopped every command (pluggy's "unknown hook"), the other malls' too; a hook without
    @hookimpl loaded nothing in silence, and its mall was then said not to be installed. Both are named.
    """

    def ecsync_mall() -> list[MallPlugin]:
        return []

    typo = _module_with("typo_plugin", ecsync_mall=hookimpl(ecsync_mall))
    bare = _module_with("bare_plugin", ecsync_malls=lambda: [_target("qmall", "q_code")])
    host = get_plugin_host(extra=(typo, bare))
    assert "it implements 'ecsync_mall', a hook ecsync does not have" in host.broken["typo_plugin"]
    assert "it declares no mall: no function ecsync_malls marked @hookimpl" in host.broken["bare_plugin"]
    assert {"amazon", "yahoo", "rakuten"} <= set(host.malls)


def test_a_hook_with_the_wrong_arguments_is_broken_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """pluggy says it in three lines, repeated in every [WARN] and alert: one is enough."""

    def ecsync_malls(config: object) -> list[MallPlugin]:
        return []

    monkeypatch.setitem(sys.modules, "args_plugin", _module_with("args_plugin", ecsync_malls=hookimpl(ecsync_malls)))
    monkeypatch.setenv("ECSYNC_EXTRA_PLUGINS", "args_plugin")
    why = get_plugin_host().broken["args_plugin"]
    assert why.startswith("PluginValidationError: ")
    assert "\n" not in why
    assert "config" in why


def test_secret_names_as_one_string_is_refused_where_the_plugin_loads() -> None:
    """``secret_names="TOYMALL_API_KEY"`` passed, and health then wanted T, O, Y, ... in .env."""
    plugin = lambda: [attrs.evolve(_target("qmall", "q_code"), secret_names="TOYMALL_API_KEY")]  # noqa: E731
    host = get_plugin_host(extra=(_hook_answering(plugin),))
    assert "secret_names must be a tuple of .env names, not 'TOYMALL_API_KEY'" in host.broken["odd_plugin"]
