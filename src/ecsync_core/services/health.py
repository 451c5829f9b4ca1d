"""
`ecsync health`: the system's state as a list of checks, each OK, WARN or FAIL.

Every check is guarded: whatever it raises becomes that check's FAIL with one line, and the others still run.
A FAIL means a person is needed now (exit 1); a WARN is alerted but exits 0.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ecsync_core.aio import close_all, run_to_end
from ecsync_core.config import env_file_for
from ecsync_core.domain import CredentialStatus, Outcome
from ecsync_core.errors import CredentialError, EcsyncError, MallError, MallWarning
from ecsync_core.logging import get_logger, said
from ecsync_core.store.db import utcnow


if TYPE_CHECKING:
    from ecsync_core.bootstrap import App
    from ecsync_core.config import Settings
    from ecsync_core.mall import MallPlugin
    from ecsync_core.notify import Notifier
    from ecsync_core.ports import MallAdapter


Status = Literal["OK", "WARN", "FAIL"]

DISK_WARN_BYTES = 1024**3
"""Below 1 GiB free beside the database, warn: the ledger of a 100,000-SKU run, its log lines and DuckDB's
write-ahead log and checkpoint take tens of MB a day, so a few weeks of room are left."""
DISK_FAIL_BYTES = 100 * 1024**2
"""Below 100 MiB free, fail: one large run may no longer fit, and a ledger cut short loses the rollback trail."""
DEFAULT_WARN_DAYS = 7
"""Days before a credential's expiry that health warns, when the plugin names no threshold of its own."""
_WORKBOOK_MAGIC = b"PK\x03\x04"  # an .xlsx is a zip archive

_RANK: dict[Status, int] = {"OK": 0, "WARN": 1, "FAIL": 2}
_BAD_OUTCOMES = frozenset({Outcome.FAILED, Outcome.PARTIAL, Outcome.REFUSED, Outcome.INTERRUPTED})

log = get_logger("ecsync.health")


@attrs.frozen
class Check:
    """
    One line of health.

    Attributes:
        name: stable machine name (``db``, ``credentials.yahoo``), the ``name`` of ``--json``.
        status: ``OK``, ``WARN`` or ``FAIL``.
        detail: one line for a person: what was found and, when not OK, what to do.
        label: the name people read (``DB Connection``).
    """

    name: str
    status: Status
    detail: str
    label: str = ""

    @property
    def title(self) -> str:
        return self.label or self.name

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@attrs.frozen
class HealthReport:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """False exactly when some check FAILs."""
        return all(c.status != "FAIL" for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [c.as_dict() for c in self.checks]}


def worst(statuses: Sequence[Status]) -> Status:
    return max(statuses, key=_RANK.__getitem__, default="OK")


def one_line(exc: BaseException) -> str:
    """An error as the one line a health detail shows."""
    text = said(exc)
    lines = text.strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def guarded(name: str, label: str, check: Callable[[], Check]) -> Check:
    """Run *check*; anything it raises becomes its FAIL (the traceback only in the debug log, i.e. with -v)."""
    try:
        return check()
    except Exception as exc:
        log.debug("health_check_raised", check=name, exc_info=True)
        return Check(name, "FAIL", one_line(exc), label)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


# -- checks that need no database --------------------------------------------------------------------------


def config_failed(exc: EcsyncError) -> Check:
    """The config (or the plugin set) could not be loaded: nothing else can be checked."""
    return Check("config", "FAIL", f"{exc.one_line()}; nothing else can be checked until it loads", "Config")


def check_config(app: App) -> Check:
    app.check_mall_settings()  # every installed mall's section, structured now: a bad key raises
    source = str(app.settings.path) if app.settings.path else "no config file, every default applies"
    malls = ", ".join(app.host.malls) or "none"
    if app.host.broken:
        broken = "; ".join(f"plugin {n} failed to load: {why}" for n, why in app.host.broken.items())
        return Check("config", "WARN", f"{source} is valid, but {broken}", "Config")
    return Check("config", "OK", f"{source} is valid; malls: {malls}", "Config")


def check_mapped_malls(app: App) -> Check:
    """Every mall the active mappings name has a loaded plugin: otherwise its stock no longer follows FBA."""
    mapped = Counter(m.mall for m in app.mappings.active())
    unloaded = app.unloaded(mapped)
    if unloaded:
        said = "; ".join(f"{mapped[code]} items on {code}, but {why}" for code, why in unloaded.items())
        return Check("mapped_malls", "FAIL", f"syncs leave these out: {said}", "Mapped malls")
    if not mapped:
        # A sync then plans nothing and says SUCCESS every night while no mall follows FBA.
        return Check(
            "mapped_malls", "WARN", "no active mappings: a sync updates nothing; run import-sku", "Mapped malls"
        )
    shown = ", ".join(f"{code} {n}" for code, n in mapped.items())
    # A mapped code is what the way out of an uninstalled mall names (disable it): not a typo.
    if typos := sorted(app.host.unmatched - mapped.keys()):
        names = ", ".join(map(repr, typos))
        why = f"disable_plugins (or ECSYNC_DISABLE_PLUGINS) names no installed plugin, mall or mapped mall: {names}"
        return Check("mapped_malls", "WARN", f"{shown}; but {why}, so the mall it meant may still sync", "Mapped malls")
    return Check("mapped_malls", "OK", shown, "Mapped malls")


def existing_folder(path: Path) -> Path:
    """*path*'s nearest ancestor that exists (the database's folder may not be created yet)."""
    folder = path.absolute().parent
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_disk(path: Path, warn_bytes: int = DISK_WARN_BYTES, fail_bytes: int = DISK_FAIL_BYTES) -> Check:
    folder = existing_folder(path)
    free = shutil.disk_usage(folder).free
    detail = f"{human_bytes(free)} free at {folder}"
    if free < fail_bytes:
        return Check("disk", "FAIL", f"{detail} (under {human_bytes(fail_bytes)}): free some space", "Disk free")
    if free < warn_bytes:
        return Check("disk", "WARN", f"{detail} (under {human_bytes(warn_bytes)})", "Disk free")
    return Check("disk", "OK", detail, "Disk free")


def check_log_file(settings: Settings) -> Check:
    path = settings.log_file
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass  # opening to append proves it writable and changes nothing
    except OSError as exc:
        return Check("log_file", "FAIL", f"{path}: cannot write: {exc.strerror or exc}", "Log file")
    return Check("log_file", "OK", f"{path} is writable, {human_bytes(path.stat().st_size)}", "Log file")


def check_master_file(settings: Settings) -> Check:
    path = settings.master_file
    if not path.exists():
        # Only `import-sku` reads it, and it can be given another file with -f: not a reason to page anyone.
        return Check("master_file", "WARN", f"{path} not found: `import-sku` needs -f FILE", "Master file")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_WORKBOOK_MAGIC))
    except OSError as exc:
        return Check("master_file", "FAIL", f"{path}: cannot read: {exc.strerror or exc}", "Master file")
    if head != _WORKBOOK_MAGIC:
        return Check("master_file", "FAIL", f"{path} is not an .xlsx workbook", "Master file")
    return Check("master_file", "OK", f"{path} is readable", "Master file")


# -- checks on the database ----------------------------------------------------------------------------------


def check_db(app: App) -> Check:
    path = app.db.path
    if not path.exists() and all(p.is_dir() for p in path.parents if p.exists()):
        # Opening would create an empty one and call it healthy: a config pointing at the wrong place (a
        # relative path from cron's working directory) would pass with none of the mappings or history.
        return Check(
            "db",
            "WARN",
            f"no database yet at {path}: nothing imported (`ecsync import-sku`), or `database:` in config points "
            "at the wrong place (a relative path is taken from the working directory)",
            "DB Connection",
        )
    version = app.db.version()
    return Check("db", "OK", f"schema {version}, {app.db.path}", "DB Connection")


def check_db_writable(app: App) -> Check:
    """
    The database file and its folder can be written: opening only reads, so `db` passed while a sync could
    not write its .wal, its run lock or its ledger, and no run was recorded to tell.
    """
    path = app.db.path
    label = "DB writable"
    if (why := _unwritable(path.parent)) is not None:
        return Check("db_writable", "FAIL", f"its folder {path.parent} cannot be written ({why})", label)
    try:
        with path.open("r+b"):
            return Check("db_writable", "OK", f"{path} and its folder", label)
    except OSError as exc:
        return Check("db_writable", "FAIL", f"{path} cannot be written ({exc.strerror})", label)


def check_db_can_be_made(app: App) -> Check:
    """No database yet: the first import and every run make one, so the nearest folder there must take it."""
    folder = existing_folder(app.db.path)
    if (why := _unwritable(folder)) is not None:
        detail = f"no database yet, and {folder} cannot be written to make one ({why})"
        return Check("db_writable", "FAIL", detail, "DB writable")
    return Check("db_writable", "OK", f"no database yet; {folder} can take one", "DB writable")


def _unwritable(folder: Path) -> str | None:
    """Why no file can be made in *folder* (its OS error), or None when one can."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as exc:
        return str(exc.strerror)


def check_db_size(app: App) -> Check:
    return Check("db_size", "OK", f"{human_bytes(app.db.size_bytes())} at {app.db.path}", "Database size")


def check_rules(app: App) -> Check:
    from ecsync_core.services.governance import rule_status

    status = rule_status(app)
    fingerprint = status.rules.fingerprint
    if status.approved:
        who = f"approved by {status.approved_by}" if status.approved_by else "the manual's table"
        return Check("rules", "OK", f"rule table {fingerprint}, {who}", "Rule table")
    detail = (
        f"rule table {fingerprint} is not approved: live syncs are refused until a manager runs "
        "`ecsync rules approve --by NAME`"
    )
    return Check("rules", "WARN", detail, "Rule table")


def check_last_run(app: App, notifier: Notifier | None) -> Check:
    from ecsync_core.render import local_time
    from ecsync_core.services.runs import reap_interrupted

    reap_interrupted(app, notifier)
    # Dry runs are looked at, not run: one made to look into a failure must not hide it.
    run = app.ledger.last_live()
    if run is None:
        return Check("last_run", "OK", "no live runs yet", "Last run")
    detail = f"{run.status.value}: {run.kind.value} {run.id} at {local_time(run.started_at, app.settings.zone)}"
    if run.message:
        detail += f" ({run.message.strip().splitlines()[0]})"
    if run.status in _BAD_OUTCOMES:
        return Check("last_run", "WARN", f"{detail}; see `ecsync status {run.id}`", "Last run")
    within = app.settings.health.last_run_within_hours
    if within and (age := utcnow() - run.started_at) > timedelta(hours=within):
        hours = int(age.total_seconds() // 3600)
        return Check(
            "last_run",
            "WARN",
            f"{detail}: {hours} hours ago, more than health.last_run_within_hours ({within}): "
            "is the schedule (cron, the systemd timer) still running?",
            "Last run",
        )
    return Check("last_run", "OK", detail, "Last run")


# -- checks on the malls -----------------------------------------------------------------------------------


def credential_status(status: CredentialStatus) -> tuple[Status, str]:
    """One credential's status: FAIL when expired, WARN within its plugin's threshold, OK otherwise."""
    warn_days = DEFAULT_WARN_DAYS if status.warn_days is None else status.warn_days
    if status.days_left is None:
        return "WARN" if status.expires_unknown else "OK", f"{status.name}: {status.action or 'no expiry date'}"
    if status.days_left < 0:
        return "FAIL", f"{status.name}: expired; {status.action}".rstrip("; ")
    if status.days_left == 0:  # its last day: it still works, and must be renewed today
        return "WARN", f"{status.name}: its last day; {status.action}".rstrip("; ")
    if status.days_left <= warn_days:
        return "WARN", f"{status.name}: {status.days_left} days left; {status.action}".rstrip("; ")
    return "OK", f"{status.name}: {status.days_left} days left"


def missing_secrets(plugin: MallPlugin, secrets: Any) -> list[str]:
    return [n for n in plugin.secret_names if not str(secrets.get(n) or "").strip()]


async def _mall_checks(app: App, plugin: MallPlugin, *, online: bool) -> list[Check]:
    label = f"{plugin.name} credentials"
    cred_name, ping_name = f"credentials.{plugin.code}", f"online.{plugin.code}"
    checks: list[Check] = []
    missing = missing_secrets(plugin, app.secrets)
    if missing:
        where = env_file_for(app.settings)
        detail = f"missing in .env: {', '.join(missing)}" + (f" ({where})" if where else " (no .env found)")
        checks.append(Check(cred_name, "FAIL", detail, label))
        if online:
            checks.append(Check(ping_name, "FAIL", "not asked: the credentials are missing", f"{plugin.name} API"))
        return checks
    try:
        adapter: MallAdapter = plugin.make_adapter(app.context(plugin))
    except Exception as exc:
        log.debug("health_adapter_failed", mall=plugin.code, exc_info=True)
        checks.append(Check(cred_name, "FAIL", f"the adapter could not be made: {one_line(exc)}", label))
        if online:
            checks.append(Check(ping_name, "FAIL", "not asked: the adapter could not be made", f"{plugin.name} API"))
        return checks
    within = app.settings.health.mall_answer_within_s
    try:
        checks.append(await _credentials(adapter, cred_name, label, within))
        if online:
            checks.append(await _ping(adapter, ping_name, f"{plugin.name} API", within))
    finally:
        await close_all([adapter])
    return checks


def _no_answer(within: int) -> str:
    return f"no answer within {within} s (health.mall_answer_within_s): the mall is slow or down"


def _statuses(answer: object) -> list[CredentialStatus]:
    """A plugin's credentials() answer, refused as its bug (that mall's line FAILs) unless CredentialStatus."""
    if not isinstance(answer, list | tuple) or not all(isinstance(s, CredentialStatus) for s in answer):
        raise TypeError(f"credentials() answered {answer!r}, not a list of CredentialStatus")
    return list(answer)


async def _credentials(adapter: MallAdapter, name: str, label: str, within: int) -> Check:
    try:
        async with asyncio.timeout(within):
            statuses = _statuses(await adapter.credentials())
    except TimeoutError:
        return Check(name, "WARN", f"could not ask the mall for the days left: {_no_answer(within)}", label)
    except CredentialError as exc:
        return Check(name, "FAIL", exc.message, label)
    except MallError as exc:
        # The mall could not be asked (network, an outage): offline health does not page anyone for that;
        # `--online` judges whether the mall answers.
        return Check(name, "WARN", f"could not ask the mall for the days left: {exc.message}", label)
    except Exception as exc:
        log.debug("health_credentials_raised", check=name, exc_info=True)
        return Check(name, "FAIL", one_line(exc), label)
    if not statuses:
        return Check(name, "OK", "all secrets present", label)
    rated = [credential_status(s) for s in statuses]
    return Check(name, worst([s for s, _ in rated]), "; ".join(d for _, d in rated), label)


async def _ping(adapter: MallAdapter, name: str, label: str, within: int) -> Check:
    try:
        async with asyncio.timeout(within):
            return Check(name, "OK", await adapter.ping(), label)
    except TimeoutError:
        return Check(name, "FAIL", _no_answer(within), label)
    except MallWarning as exc:
        return Check(name, "WARN", exc.message, label)
    except MallError as exc:
        return Check(name, "FAIL", exc.message, label)
    except Exception as exc:
        log.debug("health_ping_raised", check=name, exc_info=True)
        return Check(name, "FAIL", one_line(exc), label)


async def _all_malls(app: App, *, online: bool) -> list[Check]:
    plugins = [m.plugin for m in app.host.malls.values()]
    answers = await asyncio.gather(*(_mall_checks(app, p, online=online) for p in plugins))
    return [c for checks in answers for c in checks]


def check_malls(app: App, *, online: bool) -> list[Check]:
    """Each installed mall's credentials (and with *online* one API call each), the malls in parallel."""
    try:
        return run_to_end(_all_malls(app, online=online))
    except Exception as exc:
        log.debug("health_malls_raised", exc_info=True)
        return [Check("credentials", "FAIL", one_line(exc), "Credentials")]


# -- the one place that runs them -------------------------------------------------------------------------


def run_health(app: App, *, online: bool = False, notifier: Notifier | None = None) -> HealthReport:
    """
    Every check, in the order people read them.

    The checks that read the database are not run when it cannot be opened: the ``db`` FAIL says why once.
    """
    settings = app.settings
    checks = [guarded("config", "Config", lambda: check_config(app))]
    db = guarded("db", "DB Connection", lambda: check_db(app))
    checks.append(db)
    if db.status == "OK":
        checks += [
            guarded("db_writable", "DB writable", lambda: check_db_writable(app)),
            guarded("db_size", "Database size", lambda: check_db_size(app)),
            guarded("last_run", "Last run", lambda: check_last_run(app, notifier)),
            guarded("rules", "Rule table", lambda: check_rules(app)),
            guarded("mapped_malls", "Mapped malls", lambda: check_mapped_malls(app)),
        ]
    else:
        skipped = "not checked: no database to open"
        checks += [
            guarded("db_writable", "DB writable", lambda: check_db_can_be_made(app))
            if not app.db.path.exists()
            else Check("db_writable", "WARN", skipped, "DB writable"),
            Check("db_size", "WARN", skipped, "Database size"),
            Check("last_run", "WARN", skipped, "Last run"),
            Check("rules", "WARN", skipped, "Rule table"),
            Check("mapped_malls", "WARN", skipped, "Mapped malls"),
        ]
    checks += [
        guarded("disk", "Disk free", lambda: check_disk(settings.database)),
        guarded("log_file", "Log file", lambda: check_log_file(settings)),
        guarded("master_file", "Master file", lambda: check_master_file(settings)),
    ]
    checks += check_malls(app, online=online)
    return HealthReport(tuple(checks))


def alert(report: HealthReport, notifier: Notifier) -> None:
    """
    One alert for every check that is not OK (a WARN alone still exits 0 but reaches a person).

    One per health run, not one per check: a database that cannot be opened takes three checks with it.
    """
    problems = [c for c in report.checks if c.status != "OK"]
    if problems:
        subject = worst([c.status for c in problems])
        notifier.notify(subject, "health: " + " | ".join(f"{c.title}: {c.status} ({c.detail})" for c in problems))
