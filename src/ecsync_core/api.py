"""
The importable API, for notebooks and scripts: the same services the CLI calls, returning data.

    from ecsync_core import api

    sim = api.simulate(range(0, 31))
    pandas.DataFrame(sim.records())

    report = api.sync(config="config/config.yaml", dry_run=True)
    [(u.sku, u.mall, u.before, u.target) for u in report.plan.updates]

What to expect of it:

- Every error is an ``ecsync_core.errors.EcsyncError`` (``one_line()`` says it as the CLI does). A sync refused
  before it runs (an unapproved rule table, another run in progress, no database) raises one; a sync its safety
  checks refuse returns a report with status REFUSED.
- Times (``Run.started_at``, ...) are naive UTC, as the database keeps them: ``t.replace(tzinfo=UTC)`` first.
- Each call runs to its end before it returns, on its own event loop (on a thread where the caller has one
  running, as Jupyter does): a live sync blocks the cell for its length.
- ecsync logs through the standard library's ``ecsync`` logger and leaves the program's logging set-up alone. It
  does set stamina's retry hooks (process-wide) to log its retries that way: a program with hooks of its own sets
  them after its first call into ecsync.
"""

from __future__ import annotations

import operator

from collections.abc import Iterable
from pathlib import Path

from ecsync_core.bootstrap import App, build_app
from ecsync_core.domain import Run
from ecsync_core.notify import LoggingNotifier
from ecsync_core.services.import_sku import ImportResult
from ecsync_core.services.import_sku import import_sku as _import_sku
from ecsync_core.services.runs import RunDetail, recent_runs, run_detail
from ecsync_core.services.simulate import (
    MAX_QTY_ROWS,
    QuantityRangeError,
    Simulation,
    parse_quantities,
    simulate_for,
)
from ecsync_core.services.sync import SyncOptions, SyncReport, run_sync


__all__ = ["import_sku", "open_app", "run", "simulate", "status", "sync"]

PathLike = str | Path


def open_app(config: PathLike | None = None) -> App:
    """The composition root for one config (``None``: ``config/config.yaml`` or every default)."""
    return build_app(config)


def simulate(
    quantities: Iterable[int] | str | int | None = None,
    *,
    config: PathLike | None = None,
    file: PathLike | None = None,
    rules: PathLike | None = None,
) -> Simulation:
    """
    What each mall would get; changes nothing anywhere.

    Args:
        quantities: Amazon quantities to tabulate (whole numbers, one, or a range as `--qty` takes it: "0-30");
            ``None`` takes the current FBA stock (or *file*): the mapped SKUs, each on the malls it is mapped on
            (every SKU and mall before the first import).
        file: an FBA inventory report file instead of the live listing.
        rules: a proposed rule table (YAML) shown beside today's.
    """
    asked = None if quantities is None else _whole_numbers(quantities)
    return simulate_for(
        open_app(config), asked, None if file is None else Path(file), None if rules is None else Path(rules)
    )


def _whole_numbers(quantities: Iterable[int] | str | int) -> list[int]:
    """The quantities as `--qty` would take them; a fraction (2.5, a pandas NaN) is refused, not rounded."""
    if isinstance(quantities, str):
        return parse_quantities(quantities)
    asked = list(quantities) if isinstance(quantities, Iterable) else [quantities]
    if len(asked) > MAX_QTY_ROWS:
        raise QuantityRangeError(f"quantities: more than {MAX_QTY_ROWS} asked for")
    whole = []
    for q in asked:
        try:
            n = operator.index(q)  # an int, a numpy integer; not a float, however round
        except TypeError:
            raise QuantityRangeError(f"quantities: {q!r} is not a whole number") from None
        if n < 0:
            raise QuantityRangeError(f"quantities: {n} is below 0 (FBA holds no negative stock)")
        whole.append(n)
    return whole


def import_sku(
    file: PathLike | None = None, *, config: PathLike | None = None, replace: bool = False, dry_run: bool = False
) -> ImportResult:
    """Load the master sheet (default: ``master_file``), all or nothing; raises InputError with every problem."""
    return _import_sku(open_app(config), None if file is None else Path(file), replace=replace, dry_run=dry_run)


def sync(
    config: PathLike | None = None,
    *,
    dry_run: bool = True,
    file: PathLike | None = None,
    full: bool = False,
    force: bool = False,
) -> SyncReport:
    """
    A sync, a dry run unless *dry_run* is false. ecsync logs through the standard library's ``ecsync`` logger:
    its warnings (the alerts among them) reach the program's handlers, or stderr where it has none. A live run
    also writes the log file, its audit trail, for the length of the run; the program's own logging and
    structlog set-up are left alone.
    """
    options = SyncOptions(dry_run, None if file is None else Path(file), full, force)
    app = open_app(config)
    if dry_run:
        return run_sync(app, options, LoggingNotifier())
    with app.library_trail():
        return run_sync(app, options, LoggingNotifier())


def status(config: PathLike | None = None, limit: int = 10) -> list[Run]:
    """The latest runs, newest first."""
    return recent_runs(open_app(config), limit)


def run(run_id: str, config: PathLike | None = None) -> RunDetail:
    """One run and its items, failed ones first."""
    return run_detail(open_app(config), run_id)
