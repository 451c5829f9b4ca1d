"""
The one composition root: config -> plugins -> adapters -> services. Nothing is built at import time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from types import ModuleType

import attrs
import httpx

from ecsync_core.config import Settings, env_file_for, load_rules_file, load_secrets, load_settings, mall_settings
from ecsync_core.domain import RuleSet
from ecsync_core.errors import ConfigError, EcsyncError, PluginError
from ecsync_core.logging import REDACTOR, library_trail, said
from ecsync_core.logging import configure as configure_logging
from ecsync_core.mall import MallContext, MallPlugin
from ecsync_core.plugins import PluginHost, get_plugin_host
from ecsync_core.ports import MallInventory, StockSource
from ecsync_core.store import Database, DuckDBKeyValue, DuckDBLedger, DuckDBMappings, RunLock
from ecsync_core.store.db import DatabaseError


@attrs.define
class App:
    """
    Everything a command needs, built from one config.

    Attributes:
        transports: mall code -> httpx transport to use instead of the network (tests, in-process sandbox).
    """

    settings: Settings
    host: PluginHost
    secrets: Mapping[str, str]
    transports: Mapping[str, httpx.AsyncBaseTransport] = attrs.field(factory=dict)
    db: Database = attrs.field(init=False)
    lock: RunLock = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.db = Database(self.settings.database)
        self.lock = RunLock(self.settings.database, self.settings.zone)

    @property
    def mappings(self) -> DuckDBMappings:
        return DuckDBMappings(self.db)

    @property
    def ledger(self) -> DuckDBLedger:
        return DuckDBLedger(self.db)

    def start_logging(self, verbosity: int = 0) -> None:
        """The CLI's console and the log file as configured: the run's audit trail."""
        log = self.settings.logging
        configure_logging(
            verbosity,
            self.settings.log_file,
            max_bytes=log.max_bytes,
            backups=log.backups,
            file_level=log.level,
            zone=self.settings.zone,
        )

    def require_database(self) -> None:
        """
        Refused where no database is: opened, a wrong working directory (relative paths are taken from it) or
        ``database:`` made an empty one, and a sync on it found nothing mapped and said SUCCESS.
        """
        if not self.settings.database.exists():
            raise DatabaseError(
                f"{self.settings.database}: no database here: nothing imported yet (`ecsync import-sku` first), "
                "or not the app's working directory (relative paths are taken from it), or `database:` points elsewhere"
            )

    def library_trail(self) -> AbstractContextManager[None]:
        """For a live run from the API: the log file as configured, for the run only (see ``library_trail``)."""
        log = self.settings.logging
        return library_trail(self.settings.log_file, max_bytes=log.max_bytes, backups=log.backups, file_level=log.level)

    def context(self, plugin: MallPlugin) -> MallContext:
        return MallContext(
            code=plugin.code,
            settings=mall_settings(self.settings, plugin.code, plugin.settings_type),
            secrets=self.secrets,
            store=DuckDBKeyValue(self.db, plugin.code),
            env_file=env_file_for(self.settings),
            transport=self.transports.get(plugin.code),
        )

    def check_mall_settings(self) -> None:
        """Structure every installed mall's section now, so a bad key fails before any work starts."""
        for installed in self.host.malls.values():
            mall_settings(self.settings, installed.plugin.code, installed.plugin.settings_type)

    def check_mall_codes(self) -> None:
        """
        Refuse a mall code no plugin has, in ``malls`` or ``rules.malls``: a misspelt code would silently leave
        that mall on the default rule or the default endpoint. Disabled plugins' codes pass. While a plugin is
        broken its code cannot be known, so nothing is refused: health names the broken plugin instead.
        """
        source = str(self.settings.path or "")
        self._check_codes("malls", self.settings.malls, source)
        self._check_codes("rules.malls", self.settings.rules.per_mall, source)

    def proposed_rules(self, path: Path) -> RuleSet:
        """A proposed rule table (``simulate --rules``), its mall codes checked as the config's are."""
        rules = load_rules_file(path)
        self._check_codes("rules.malls", rules.per_mall, str(path))
        return rules

    def _check_codes(self, section: str, codes: Iterable[str], source: str) -> None:
        if self.host.broken:
            return
        known = set(self.host.malls) | self.host.disabled
        installed = ", ".join(self.host.malls) or "none"
        for code in codes:
            if code not in known:
                raise ConfigError(
                    f"{section}.{code}", f"no installed mall plugin has this code (installed: {installed})", source
                )

    def source(self) -> StockSource:
        plugin = self.host.source()
        adapter: StockSource = plugin.make_adapter(self.context(plugin))
        return adapter

    def targets(self) -> dict[str, MallInventory]:
        """Every target mall's adapter; the first that cannot be made is raised (for all-or-nothing work)."""
        adapters, failed = self.open_targets()
        for exc in failed.values():
            raise exc
        return adapters

    def open_targets(self) -> tuple[dict[str, MallInventory], dict[str, EcsyncError]]:
        """
        The target malls' adapters, and the malls whose adapter could not be made, with why. A plugin's own
        exception is turned into a ``PluginError`` naming its mall, since its message may not.
        """
        adapters: dict[str, MallInventory] = {}
        failed: dict[str, EcsyncError] = {}
        for plugin in self.host.targets():
            try:
                adapters[plugin.code] = plugin.make_adapter(self.context(plugin))
            except EcsyncError as exc:
                failed[plugin.code] = exc
            except Exception as exc:
                failed[plugin.code] = PluginError(f"the {plugin.code} plugin could not start ({said(exc)})")
        return adapters, failed

    def unloaded(self, codes: Iterable[str]) -> dict[str, str]:
        """
        Of the mall *codes* the mappings name, those with no loaded plugin, with why. A plugin left out on
        purpose (``ECSYNC_DISABLE_PLUGINS``) is not among them; one that failed to load or is not installed is,
        since that mall's stock would otherwise silently stop following FBA.
        """
        missing = sorted(set(codes) - set(self.host.malls) - self.host.disabled)
        return {
            code: (
                f"its plugin failed to load ({self.host.broken[code]})"
                if code in self.host.broken
                else "no plugin for this mall is installed"
            )
            + f"; install it, or add {code} to disable_plugins in the config to leave its mappings aside"
            for code in missing
        }


def build_app(
    config: str | Path | None = None,
    *,
    extra_plugins: tuple[ModuleType, ...] = (),
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    environ: Mapping[str, str] | None = None,
) -> App:
    """Read the config, find the plugins, load the secrets (and teach the redactor them)."""
    settings = load_settings(config)
    secrets = load_secrets(settings, environ)
    REDACTOR.add(v for k, v in secrets.items() if _looks_secret(k))
    app = App(settings, get_plugin_host(extra_plugins, settings.disable_plugins), secrets, dict(transports or {}))
    app.check_mall_codes()
    return app


def _looks_secret(name: str) -> bool:
    upper = name.upper()
    # Dates and versions about a secret are not secret; redacted, a date would blank every log timestamp.
    if upper.endswith(("_ISSUED", "_EXPIRES", "_AT", "_VERSION")):
        return False
    return any(w in upper for w in ("SECRET", "TOKEN", "KEY", "PASSWORD", "LICENSE"))
