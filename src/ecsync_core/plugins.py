"""
Finding the installed mall plugins: entry points of the group ``ecsync``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os

from collections.abc import Iterable
from types import ModuleType
from typing import cast

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
        disabled: entry-point names left out by ``ECSYNC_DISABLE_PLUGINS``.
    """

    malls: dict[str, InstalledMall]
    broken: dict[str, str] = attrs.field(factory=dict)
    disabled: frozenset[str] = frozenset()

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


def get_plugin_host(extra: Iterable[ModuleType] = ()) -> PluginHost:
    """
    Load every ``ecsync`` entry point (minus those named in ``ECSYNC_DISABLE_PLUGINS``), *extra*, and the
    modules named in ``ECSYNC_EXTRA_PLUGINS``.

    A plugin that fails to import is reported in ``broken``, not raised: one broken plugin must not
    stop the operator from running the others' health check. Two descriptors with one code are an error.
    """
    pm = pluggy.PluginManager(hookspecs.NAME)
    pm.add_hookspecs(hookspecs)
    blocked = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    origin: dict[str, tuple[str, str]] = {}
    broken: dict[str, str] = {}
    for ep in _entry_points():
        if ep.name in blocked or pm.has_plugin(f"ecsync:{ep.name}"):
            continue
        try:
            module = ep.load()
            pm.register(module, name=f"ecsync:{ep.name}")
        except Exception as exc:
            broken[ep.name] = f"{type(exc).__name__}: {exc}"
            continue
        dist = ep.dist
        origin[f"ecsync:{ep.name}"] = (dist.name, dist.version) if dist else ("?", "?")
    for module in extra:
        pm.register(module, name=module.__name__)
        origin[module.__name__] = (module.__name__, "local")
    for name in (n.strip() for n in os.environ.get(EXTRA_ENV, "").split(",")):
        if not name or pm.has_plugin(name):
            continue
        try:
            pm.register(importlib.import_module(name), name=name)
        except Exception as exc:
            broken[name] = f"{type(exc).__name__}: {exc}"
            continue
        origin[name] = (name, "local")
    pm.check_pending()

    found: dict[str, InstalledMall] = {}
    for impl in pm.hook.ecsync_malls.get_hookimpls():
        dist_name, version = origin.get(impl.plugin_name, ("?", "?"))
        declared = cast("list[MallPlugin]", impl.function())
        for plugin in declared:
            if plugin.code in found:
                other = found[plugin.code].distribution
                raise PluginError(f"two plugins claim the mall code {plugin.code!r}: {other} and {dist_name}")
            found[plugin.code] = InstalledMall(plugin, dist_name, version)
    ordered = sorted(found.values(), key=lambda m: (m.plugin.role != "source", m.plugin.code))
    return PluginHost({m.plugin.code: m for m in ordered}, broken, frozenset(blocked))
