"""
The command line: parse, call a service, render. Errors become exit codes in one place (``main``).
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import attrs
import click

from ecsync_core import __version__
from ecsync_core.aio import Terminated
from ecsync_core.bootstrap import App, build_app
from ecsync_core.domain import Outcome
from ecsync_core.errors import EcsyncError, NotYetAvailableError
from ecsync_core.logging import configure as configure_logging
from ecsync_core.logging import said
from ecsync_core.render import item_json
from ecsync_core.sandbox.demo import MIN_SKUS
from ecsync_core.services.runs import MAX_LISTED


EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
EXIT_CODES = {
    Outcome.SUCCESS: EXIT_OK,
    Outcome.PARTIAL: EXIT_PARTIAL,
    Outcome.FAILED: EXIT_FAILED,
    Outcome.REFUSED: EXIT_FAILED,
    Outcome.INTERRUPTED: EXIT_FAILED,
    Outcome.RUNNING: EXIT_FAILED,
}

F = TypeVar("F", bound=Callable[..., Any])


@attrs.define
class State:
    """What the group's options leave for the commands; the App is built on first use."""

    verbose: int = 0
    config: Path | None = None
    _app: App | None = None

    def app(self) -> App:
        if self._app is None:
            self._app = build_app(self.config)
            self._app.start_logging(self.verbose)
        return self._app


pass_state = click.make_pass_decorator(State)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout, nothing else.")(f)


def emit_json(doc: object) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, default=str))


@contextlib.contextmanager
def terminal_progress(*, enabled: bool) -> Iterator[Callable[[str], None]]:
    """A spinner with the current phase on stderr, only when stderr is a terminal (never in cron mail)."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda _phase: None
        return
    from rich.console import Console

    with Console(stderr=True).status("starting") as status:
        yield status.update


def not_yet(command: str, issue: str) -> NoReturn:
    raise NotYetAvailableError(f"`{command}` is not available yet: it lands with issue {issue}")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", count=True, help="Debug detail on the console; -vv adds HTTP traffic.")
@click.option(
    "-c",
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file (default config/config.yaml, or $ECSYNC_CONFIG).",
)
@click.version_option(__version__, prog_name="ecsync")
@click.pass_context
def cli(ctx: click.Context, verbose: int, config: Path | None) -> None:
    """ecsync: share Amazon FBA stock with the other malls, never selling one unit twice."""
    ctx.obj = State(verbose, config)
    configure_logging(verbose)


# -- simulate ----------------------------------------------------------------------------------------------


@cli.command()
@click.option("--qty", "qty", default=None, help="Quantities to show, e.g. 0-30 or 0-30,50.")
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="An FBA inventory report file instead of the current FBA stock.",
)
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A proposed rule table (YAML) to show beside today's.",
)
@json_option
@pass_state
def simulate(state: State, qty: str | None, file: Path | None, rules_file: Path | None, as_json: bool) -> None:
    """Allocation preview: what each mall would get. Changes nothing anywhere."""
    from ecsync_core.render import render_simulation
    from ecsync_core.services.simulate import parse_quantities, simulate_for

    app = state.app()
    if qty is not None and file is not None:
        raise click.UsageError("--qty and --file are two different previews: give one of them")
    result = simulate_for(app, None if qty is None else parse_quantities(qty), file, rules_file)
    if as_json:
        emit_json(
            {
                "rows": [r.as_dict() for r in result.rows],
                "changed": len(result.changed),
                "rule_fingerprint": result.rule_fingerprint,
                "proposed_fingerprint": result.proposed_fingerprint,
                "edges": result.edges,
                "proposed_edges": result.proposed_edges,
                "overcommitted": result.overcommit.as_dict(),
                "proposed_overcommitted": None
                if result.proposed_overcommit is None
                else result.proposed_overcommit.as_dict(),
                "warnings": list(result.warnings),
            }
        )
    else:
        render_simulation(result)


# -- malls and rules ---------------------------------------------------------------------------------------


@cli.command()
@json_option
@pass_state
def malls(state: State, as_json: bool) -> None:
    """Installed mall plugins: code, role, sheet column, distribution, version."""
    from ecsync_core.render import render_malls

    host = state.app().host
    rows = [
        {
            "code": m.plugin.code,
            "name": m.plugin.name,
            "role": m.plugin.role,
            "sheet_column": m.plugin.sheet_column,
            "distribution": m.distribution,
            "version": m.version,
        }
        for m in host.malls.values()
    ]
    if as_json:
        emit_json({"malls": rows, "broken": host.broken})
    else:
        render_malls(rows, host.broken)


@cli.group()
def rules() -> None:
    """The allocation rule table and its approvals (a changed table needs a manager's approval)."""


@rules.command("show")
@json_option
@pass_state
def rules_show(state: State, as_json: bool) -> None:
    """The rule table in force and whether it is approved."""
    from ecsync_core.render import iso, render_overcommit, render_rules
    from ecsync_core.services.governance import overcommit, rule_status

    app = state.app()
    status, over = rule_status(app), overcommit(app)
    if as_json:
        zone = app.settings.zone
        emit_json({**status.as_dict(), "approved_at": iso(status.approved_at, zone), "overcommitted": over.as_dict()})
    else:
        render_rules(status, app.settings.zone)
        render_overcommit(over)


@rules.command("approve")
@click.option("--by", "by", required=True, help="Who approves (name of the manager).")
@click.option(
    "--fingerprint",
    "seen",
    default=None,
    help="The fingerprint you reviewed (`rules show`): refused if the table changed since.",
)
@json_option
@pass_state
def rules_approve(state: State, by: str, seen: str | None, as_json: bool) -> None:
    """Approve the rule table in config for live syncs."""
    from ecsync_core.render import iso, render_overcommit
    from ecsync_core.services.governance import approve, overcommit

    app = state.app()
    at = approve(app, by, seen)
    if as_json:
        fingerprint = app.settings.rules.fingerprint
        emit_json({"fingerprint": fingerprint, "approved_by": by, "approved_at": iso(at, app.settings.zone)})
    else:
        click.echo(f"approved rule table {app.settings.rules.fingerprint} by {by}")
        render_overcommit(overcommit(app))


@rules.command("history")
@json_option
@pass_state
def rules_history(state: State, as_json: bool) -> None:
    """Every approval, newest first."""
    from ecsync_core.render import iso, local_time

    app = state.app()
    rows = app.ledger.approvals()
    if as_json:
        emit_json(
            {
                "approvals": [
                    {
                        "fingerprint": f,
                        "rules": json.loads(j),
                        "approved_by": b,
                        "approved_at": iso(a, app.settings.zone),
                    }
                    for f, j, b, a in rows
                ]
            }
        )
        return
    if not rows:
        click.echo("no rule table has been approved yet")
    for f, _j, b, a in rows:
        click.echo(f"{local_time(a, app.settings.zone)}  {f}  approved by {b}")


# -- commands whose issues come later --------------------------------------------------------------------


@cli.command()
@click.option("--dry-run", is_flag=True, help="Plan and print; change nothing on any mall.")
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Take Amazon stock from an FBA inventory report file (TSV/CSV).",
)
@click.option("--full", is_flag=True, help="Send every mapped item, whatever the mall holds.")
@click.option("--force", is_flag=True, help="Override the safety refusals (recorded on the run).")
@json_option
@pass_state
def sync(state: State, dry_run: bool, file: Path | None, full: bool, force: bool, as_json: bool) -> None:
    """The sync: Amazon FBA stock -> each mall's share."""
    from ecsync_core.domain import Counts
    from ecsync_core.errors import RefusedError, RunLockedError
    from ecsync_core.notify import LoggingNotifier
    from ecsync_core.render import render_sync
    from ecsync_core.services.sync import SyncFailedError, SyncOptions, run_sync

    app = state.app()
    if not as_json:
        click.echo("[INFO] Starting Dry Run..." if dry_run else "[INFO] Starting Sync...")
    try:
        with terminal_progress(enabled=not as_json) as progress:
            report = run_sync(app, SyncOptions(dry_run, file, full, force), LoggingNotifier(), progress)
    except (SyncFailedError, RefusedError, RunLockedError) as exc:
        if not as_json:
            if isinstance(exc, SyncFailedError) and exc.run_id is not None:
                # The closing line a finished run prints: cron.log (stdout) said only "Starting Sync...".
                click.echo(f"[FAILED] Sync failed: run {exc.run_id}")
            raise
        # SPEC's fields are fixed: a script reading `status` must find it when no plan was made either.
        failed = isinstance(exc, SyncFailedError)
        click.echo(f"error: {said(exc)}", err=True)
        emit_json(
            {
                "run_id": exc.run_id if isinstance(exc, SyncFailedError) else None,
                "status": "FAILED" if failed else "REFUSED",
                "dry_run": dry_run,
                "forced": force,
                "counts": Counts().as_dict(),
                "error": said(exc),
                "exit_code": exc.exit_code,
            }
        )
        sys.exit(exc.exit_code)
    if as_json:
        emit_json(
            {
                "run_id": report.run_id,
                "status": report.status.value,
                "dry_run": report.dry_run,
                "forced": report.forced,
                "counts": report.counts.as_dict(),
                "unmapped": len(report.plan.unmapped),
                "mall_errors": dict(report.mall_errors),
                "message": report.message,
                "warnings": list(report.warnings),
                "failed_items": [item_json(i) for i in report.failed_items],
            }
        )
    else:
        render_sync(report, state.verbose)
    sys.exit(EXIT_CODES[report.status])


@cli.command("import-sku")
@click.option(
    "-f",
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The master sheet (default: master_file from config).",
)
@click.option("--replace", is_flag=True, help="The mappings become exactly the sheet (取扱い注意).")
@click.option("--dry-run", is_flag=True, help="Validate and print the changes; apply nothing.")
@click.option("--sheet", default=None, help="Sheet name (default: the visible sheet with an amazon_sku column).")
@json_option
@pass_state
def import_sku(state: State, file: Path | None, replace: bool, dry_run: bool, sheet: str | None, as_json: bool) -> None:
    """Load the master sheet into the database: all or nothing."""
    from ecsync_core.render import render_import
    from ecsync_core.services.import_sku import import_sku as run_import

    result = run_import(state.app(), file, replace=replace, dry_run=dry_run, sheet=sheet)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        emit_json(result.as_dict(rows=state.verbose > 0))
    else:
        render_import(result, state.verbose > 0)


@cli.command("export-sku")
@click.option(
    "-f",
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the sheet.",
)
@json_option
@pass_state
def export_sku(state: State, file: Path, as_json: bool) -> None:
    """Write the mappings out as a master sheet."""
    from ecsync_core.render import render_export
    from ecsync_core.services.import_sku import export_sku as run_export

    result = run_export(state.app(), file)
    if as_json:
        emit_json(attrs.asdict(result))
    else:
        render_export(result)


@cli.command()
@click.argument("run_id", required=False)
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, MAX_LISTED), help="How many runs.")
@json_option
@pass_state
def status(state: State, run_id: str | None, limit: int, as_json: bool) -> None:
    """Recent runs, newest first (or one run and its items)."""
    from ecsync_core.render import render_run, render_runs, run_json
    from ecsync_core.services.runs import recent_runs, run_detail

    app = state.app()
    zone = app.settings.zone
    if run_id is not None:
        detail = run_detail(app, run_id)
        if as_json:
            emit_json({"run": run_json(detail.run, zone), "items": [item_json(i) for i in detail.items]})
        else:
            render_run(detail.run, detail.items, zone)
        return
    runs = recent_runs(app, limit)
    if as_json:
        emit_json({"runs": [run_json(r, zone) for r in runs]})
    elif not app.settings.database.exists():
        click.echo(
            f"no runs yet: no database at {app.settings.database} (nothing imported, or `database:` points elsewhere)"
        )
    else:
        render_runs(runs, zone)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Show every item it would change; change nothing.")
@click.option("--run", "run_id", default=None, help="The sync to roll back (default: the latest live sync).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_state
def rollback(state: State, dry_run: bool, run_id: str | None, yes: bool, as_json: bool) -> None:
    """Put back what the last sync changed (once, within 24 hours)."""
    from ecsync_core.notify import LoggingNotifier
    from ecsync_core.render import render_rollback, rollback_json
    from ecsync_core.services.rollback import RollbackReport, run_rollback

    app = state.app()

    def confirm(plan: RollbackReport) -> bool:
        if yes:
            return True
        render_rollback(plan, err=True)
        return click.confirm(f"Put back {len(plan.items)} items changed by sync {plan.sync.id}?", err=True)

    report = run_rollback(app, run_id, dry_run=dry_run, notifier=LoggingNotifier(), confirm=confirm)
    if as_json:
        emit_json(rollback_json(report))
    else:
        render_rollback(report)
    if report.run_id is not None:
        sys.exit(EXIT_CODES[report.status or Outcome.FAILED])
    if not report.dry_run and (report.items or report.incomplete):  # declined, or nothing it could put back
        sys.exit(EXIT_FAILED)


@cli.command()
@click.option("--online", is_flag=True, help="Also ask each mall's API once.")
@json_option
@pass_state
def health(state: State, online: bool, as_json: bool) -> None:
    """System state; exit 1 when a check FAILs."""
    from ecsync_core.errors import ConfigError, PluginError
    from ecsync_core.notify import LoggingNotifier
    from ecsync_core.render import render_health
    from ecsync_core.services.health import HealthReport, alert, config_failed, run_health

    notifier = LoggingNotifier()
    try:
        app = state.app()
    except (ConfigError, PluginError) as exc:
        # A config that does not load is health's first finding, not a crash: report it as a FAIL.
        report = HealthReport((config_failed(exc),))
    else:
        report = run_health(app, online=online, notifier=notifier)
    alert(report, notifier)
    if as_json:
        emit_json(report.as_dict())
    else:
        render_health(report)
    sys.exit(EXIT_OK if report.ok else EXIT_FAILED)


@cli.command()
@click.option(
    "--older-than",
    "older_than",
    type=click.IntRange(min=1, max=36_500),
    default=None,
    help="Days to keep (default: logging.retention_days).",
)
@click.option("--dry-run", is_flag=True, help="Say what would go; delete nothing.")
@json_option
@pass_state
def cleanup(state: State, older_than: int | None, dry_run: bool, as_json: bool) -> None:
    """Delete old runs and logs past retention."""
    from ecsync_core.render import iso, local_time
    from ecsync_core.services.cleanup import cleanup as run_cleanup

    app = state.app()
    report = run_cleanup(app, older_than, dry_run=dry_run)
    if as_json:
        emit_json(
            {
                "dry_run": report.dry_run,
                "cutoff": iso(report.cutoff, app.settings.zone),
                "runs": report.runs,
                "log_files": [str(p) for p in report.log_files],
            }
        )
        return
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"{verb} {report.runs} runs and {len(report.log_files)} rotated log files "
        f"from before {local_time(report.cutoff, app.settings.zone)} ({app.settings.zone.key})"
    )
    for path in report.log_files:
        click.echo(f"  {path}")


def _given_dir(_ctx: click.Context, _param: click.Parameter, value: str) -> Path:
    if not value.strip():  # Path("") is the working directory: an app root would be written over
        raise click.BadParameter("give a directory; an empty one would be the working directory")
    return Path(value)


def _finite(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    if not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of times faster")
    return value


@cli.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    callback=_given_dir,
    required=True,
    help="Where to write config.yaml, .env, master.xlsx and sandbox.json.",
)
@click.option(
    "--skus", type=click.IntRange(min=MIN_SKUS), default=None, help="Catalogue size (default: the manual's 142)."
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0.01),
    callback=_finite,
    default=1.0,
    show_default=True,
    help="Scale every rate limit by this factor.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the demo catalogue.")
@pass_state
def sandbox(state: State, directory: Path, skus: int | None, speed: float, seed: int) -> None:
    """Local emulators of every installed mall, seeded with demo data."""
    from ecsync_core.errors import PluginError
    from ecsync_core.plugins import get_plugin_host
    from ecsync_core.sandbox.demo import MANUAL_SKUS
    from ecsync_core.sandbox.launch import prepare, serve

    if state.config is not None:  # said, not silently ignored: the operator may think the sandbox follows it
        click.echo(
            f"note: the sandbox does not read {state.config}; it writes its own {directory}/config.yaml", err=True
        )
    host = get_plugin_host()
    for name, why in host.broken.items():
        click.echo(f"note: plugin {name} could not be loaded ({why}); its mall is not served", err=True)
    try:
        prepared = prepare(host, skus=skus or MANUAL_SKUS, seed=seed, speed=speed)
    except ValueError as exc:
        raise PluginError(f"cannot build the demo catalogue: {exc}") from None
    for code, why in prepared.skipped.items():
        column = host.malls[code].plugin.sheet_column
        blank = f"; its sheet column {column} is left blank" if column else ""
        click.echo(f"note: mall {code} is not served ({why}){blank}", err=True)
    if not prepared.apps:
        raise PluginError("no installed mall plugin has an emulator; nothing to serve")
    serve(prepared, directory, click.echo)


@cli.command("yahoo-token")
@click.option("--paste", is_flag=True, help="Paste the redirected address (or code) instead of catching it.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.IntRange(min=10),
    default=600,
    show_default=True,
    help="Seconds to wait for Yahoo's redirect on 127.0.0.1.",
)
@pass_state
def yahoo_token(state: State, paste: bool, timeout_s: int) -> None:
    """The Yahoo authorization flow (same as scripts/get_yahoo_token.py)."""
    app = state.app()
    app.host.get("yahoo")  # a clear PluginError when the Yahoo plugin is not installed
    from ecsync_yahoo.token_flow import run_for_app

    run_for_app(app, paste=paste, timeout_s=timeout_s, say=click.echo, ask=lambda text: str(click.prompt(text)))


# -- the one place errors become exit codes --------------------------------------------------------------


def main(argv: list[str] | None = None) -> NoReturn:
    """
    Run the CLI; every known error is one line on stderr, a traceback only with -v. With ``--json`` the error
    is also the one JSON document on stdout (``{"error": ..., "exit_code": ...}``), so a script reading stdout
    never finds it empty.
    """
    args = sys.argv[1:] if argv is None else argv
    verbose = any(a in {"-v", "--verbose"} or (a.startswith("-v") and set(a[1:]) == {"v"}) for a in args)

    def fail(message: str, code: int, *, kind: str = "") -> NoReturn:
        click.echo(f"{kind}{message}", err=True)
        if "--json" in args:
            emit_json({"error": message, "exit_code": code})
        sys.exit(code)

    try:
        code = cli.main(args=args, prog_name="ecsync", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:
        # click turns an interrupt inside a command into Abort, as it does a prompt's Ctrl-D
        stopped = exc.__cause__ if isinstance(exc, click.exceptions.Abort) else exc
        if isinstance(stopped, Terminated):
            fail("terminated (SIGTERM)", 128 + signal.SIGTERM)
        if isinstance(stopped, KeyboardInterrupt):
            fail("interrupted", 130)
        fail("aborted", EXIT_FAILED)
    except click.ClickException as exc:
        exc.show()
        usage = isinstance(exc, click.UsageError)
        if "--json" in args:
            emit_json({"error": exc.format_message(), "exit_code": EXIT_USAGE if usage else EXIT_FAILED})
        sys.exit(EXIT_USAGE if usage else EXIT_FAILED)
    except EcsyncError as exc:
        if verbose:
            import traceback

            traceback.print_exc()
        fail(said(exc), exc.exit_code, kind="error: ")
    except Exception as exc:
        if verbose:
            raise
        fail(f"{said(exc)} (run with -v for the traceback)", EXIT_FAILED, kind="internal error: ")
    sys.exit(code if isinstance(code, int) else EXIT_OK)
