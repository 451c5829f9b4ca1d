"""
Finding the installed mall plugins: entry points of the group ``ecsync``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re

from collections.abc import Iterable
from types import ModuleType

import attrs
import pluggy

from ecsync_core import hookspecs
from ecsync_core.errors import PluginError
from ecsync_core.mall import MallPlugin


DISABLE_ENV = "ECSYNC_DISABLE_PLUGINS"
EXTRA_ENV = "ECSYNC_EXTRA_PLUGINS"
"""Comma-separated plugin modules to load besides the entry points (a plugin not installed yet, a test fake)."""


@attrs.frozen
class InstalledMall:
    """A mall descriptor and the distribution that brought it."""

    plugin: MallPlugin
    distribution: str
    version: str


@attrs.frozen
class PluginHost:
    """
    The installed malls, by code, and the plugins that failed to load.

    Attributes:
        malls: code -> installed mall, in a stable order (sources first, then by code).
        broken: entry-point name -> why it could not be loaded.
        disabled: entry-point names left out by ``ECSYNC_DISABLE_PLUGINS`` or the config's ``disable_plugins``.
        unmatched: disabled names that are neither an entry point's nor a declared mall code (a typo, which
            would leave enabled the mall it meant).
    """

    malls: dict[str, InstalledMall]
    broken: dict[str, str] = attrs.field(factory=dict)
    disabled: frozenset[str] = frozenset()
    unmatched: frozenset[str] = frozenset()

    def get(self, code: str) -> MallPlugin:
        try:
            return self.malls[code].plugin
        except KeyError:
            have = ", ".join(self.malls) or "none"
            raise PluginError(f"no mall plugin {code!r} is installed (installed: {have})") from None

    def targets(self) -> list[MallPlugin]:
        return [m.plugin for m in self.malls.values() if m.plugin.role == "target"]

    def source(self) -> MallPlugin:
        sources = [m.plugin for m in self.malls.values() if m.plugin.role == "source"]
        if not sources:
            raise PluginError("no source mall plugin is installed (install ecsync-amazon)")
        if len(sources) > 1:
            codes = ", ".join(p.code for p in sources)
            raise PluginError(
                f"more than one source mall is installed ({codes}): disable all but one with ECSYNC_DISABLE_PLUGINS"
            )
        return sources[0]


def _entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    return importlib.metadata.entry_points(group=hookspecs.NAME)


def get_plugin_host(extra: Iterable[ModuleType] = (), disabled: Iterable[str] = ()) -> PluginHost:
    """
    Load every ``ecsync`` entry point (minus those named in ``ECSYNC_DISABLE_PLUGINS`` or *disabled*), *extra*,
    and the modules named in ``ECSYNC_EXTRA_PLUGINS``.

    A plugin that cannot be used is reported in ``broken``, never raised: one bad plugin must not stop the
    operator from running the others, or health. That covers a plugin that fails to import, whose hook raises
    or declares an invalid mall, a name two distributions install, and a mall code or sheet column two
    plugins claim (all of them are left out: which one would win is an accident of install order).
    """
    pm = pluggy.PluginManager(hookspecs.NAME)
    pm.add_hookspecs(hookspecs)
    blocked = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()} | set(disabled)
    origin: dict[str, tuple[str, str]] = {}
    broken: dict[str, str] = {}
    names = _register_entry_points(pm, blocked, origin, broken)
    for module in extra:
        pm.register(module, name=module.__name__)
        origin[module.__name__] = (module.__name__, "local")
    _register_extra_modules(pm, origin, broken)
    _leave_out_misfits(pm, origin, broken)
    # A disabled name that no entry point has is a mall code: every plugin declaring it is left out.
    declared: set[str] = set()
    found = _malls(pm, origin, broken, blocked - names, declared)
    ordered = sorted(found.values(), key=lambda m: (m.plugin.role != "source", m.plugin.code))
    unmatched = frozenset(blocked - names - declared)
    return PluginHost({m.plugin.code: m for m in ordered}, broken, frozenset(blocked), unmatched)


def _register_entry_points(
    pm: pluggy.PluginManager, blocked: set[str], origin: dict[str, tuple[str, str]], broken: dict[str, str]
) -> set[str]:
    """Register every entry point not disabled by name; the names of all of them, disabled or not."""
    by_name: dict[str, dict[str, importlib.metadata.EntryPoint]] = {}
    names: set[str] = set()
    for ep in _entry_points():
        names.add(ep.name)
        if ep.name not in blocked:  # one distribution found twice on the path is one plugin
            by_name.setdefault(ep.name, {}).setdefault(ep.dist.name if ep.dist else ep.value, ep)
    for name, eps in by_name.items():
        if len(eps) > 1:
            broken[name] = f"installed by {len(eps)} distributions ({', '.join(sorted(eps))}): uninstall all but one"
            continue
        (ep,) = eps.values()
        try:
            pm.register(ep.load(), name=f"ecsync:{name}")
        except Exception as exc:
            broken[name] = _one_line(exc)
            continue
        origin[f"ecsync:{name}"] = (ep.dist.name, ep.dist.version) if ep.dist else ("?", "?")
    return names


def _register_extra_modules(
    pm: pluggy.PluginManager, origin: dict[str, tuple[str, str]], broken: dict[str, str]
) -> None:
    for name in (n.strip() for n in os.environ.get(EXTRA_ENV, "").split(",")):
        if not name or pm.has_plugin(name):
            continue
        try:
            module = importlib.import_module(name)
            if pm.is_registered(module):  # also installed: already loaded by its entry point
                continue
            pm.register(module, name=name)
        except Exception as exc:
            broken[name] = _one_line(exc)
            continue
        origin[name] = (name, "local")


def _leave_out_misfits(pm: pluggy.PluginManager, origin: dict[str, tuple[str, str]], broken: dict[str, str]) -> None:
    """
    Leave out, as broken, a plugin that implements a hook ecsync does not have (a misspelt ``ecsync_malls``: pluggy's
    own check stopped every command, the other malls' too) or none at all (``ecsync_malls`` without
    ``@hookimpl``: its mall was then said not to be installed).
    """
    for name in list(origin):
        hooks = [caller.name for caller in pm.get_hookcallers(pm.get_plugin(name)) or []]
        if unknown := [h for h in hooks if not getattr(pm.hook, h).has_spec()]:
            why = f"it implements {unknown[0]!r}, a hook ecsync does not have (the hook is ecsync_malls)"
        elif "ecsync_malls" not in hooks:
            why = "it declares no mall: no function ecsync_malls marked @hookimpl (from ecsync_core import hookimpl)"
        else:
            continue
        pm.unregister(name=name)
        del origin[name]
        broken[name.removeprefix("ecsync:")] = why


def _one_line(exc: Exception) -> str:
    """An import's or pluggy's error in one line (pluggy's about a hook's arguments takes three)."""
    return f"{type(exc).__name__}: {'; '.join(line.strip() for line in str(exc).splitlines() if line.strip())}"


def _malls(
    pm: pluggy.PluginManager,
    origin: dict[str, tuple[str, str]],
    broken: dict[str, str],
    codes_off: set[str],
    declared_codes: set[str],
) -> dict[str, InstalledMall]:
    """
    Every valid mall the hooks declare, by code, but those in *codes_off* (every code declared goes in
    *declared_codes*); the rest into *broken*. A disabled
    name is an entry point's when one has it (disabling the shipped ``yahoo`` keeps a replacement declaring
    ``yahoo`` under another name), else a mall code (the sandbox disables by code the malls it does not
    serve, whatever loaded them).
    """
    claims: dict[str, list[InstalledMall]] = {}
    for impl in pm.hook.ecsync_malls.get_hookimpls():
        dist_name, version = origin.get(impl.plugin_name, ("?", "?"))
        try:
            declared = _declared(impl.function())
        except Exception as exc:
            name = impl.plugin_name.removeprefix("ecsync:")
            broken[name] = f"its ecsync_malls hook failed: {type(exc).__name__}: {exc}"
            continue
        for plugin in declared:
            declared_codes.add(plugin.code)
            if plugin.code not in codes_off:
                claims.setdefault(plugin.code, []).append(InstalledMall(plugin, dist_name, version))
    found: dict[str, InstalledMall] = {}
    for code, installed in claims.items():
        if len(installed) > 1:
            who = " and ".join(m.distribution for m in installed)
            broken[code] = f"two plugins claim the mall code {code!r}: {who}; uninstall or disable one"
        else:
            found[code] = installed[0]
    for code, why in _column_clashes(found).items():
        del found[code]
        broken[code] = why
    return found


_CODE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_CORE_COLUMNS = frozenset({"amazon_sku", "is_active"})


def _declared(answer: object) -> list[MallPlugin]:
    """What an ``ecsync_malls`` hook returned, if it is a list of valid descriptors; else why not."""
    if not isinstance(answer, list | tuple) or not all(isinstance(p, MallPlugin) for p in answer):
        raise TypeError(f"it must return a list of MallPlugin, not {type(answer).__name__}")
    for plugin in answer:
        if not _CODE.fullmatch(plugin.code):
            raise ValueError(f"mall code {plugin.code!r} must be a letter then up to 31 of a-z, 0-9, _")
        if plugin.sheet_column in _CORE_COLUMNS:
            raise ValueError(f"mall {plugin.code!r}: sheet_column {plugin.sheet_column!r} is the core's own column")
    return list(answer)


def _column_clashes(found: dict[str, InstalledMall]) -> dict[str, str]:
    """Target malls sharing a sheet column: one column cannot name items of two malls."""
    by_column: dict[str, list[str]] = {}
    for code, m in found.items():
        if m.plugin.role == "target" and m.plugin.sheet_column:
            by_column.setdefault(m.plugin.sheet_column, []).append(code)
    return {
        code: f"the sheet column {column!r} is claimed by the malls {', '.join(codes)}"
        for column, codes in by_column.items()
        if len(codes) > 1
        for code in codes
    }
