"""The importable API: what an analyst gets in a notebook."""

from __future__ import annotations

import asyncio
import json
import logging
import logging.handlers

from datetime import datetime
from pathlib import Path

import httpx
import pytest
import structlog

from ecsync_core import api
from ecsync_core.domain import MANUAL_RULE, Counts, RunKind
from ecsync_core.errors import EcsyncError
from ecsync_core.logging import configure as configure_logging
from ecsync_core.services.simulate import QuantityRangeError
from ecsync_core.testing.sandbox import start_sandbox


def test_simulate_quantities_as_records() -> None:
    """simulate() gives rows a DataFrame can be built from, one per quantity, a column per mall."""
    sim = api.simulate(range(8, 12))
    assert [
        {"sku": None, "amazon_qty": 9, "rakuten": 3, "yahoo": 3},
        {"sku": None, "amazon_qty": 10, "rakuten": 2, "yahoo": 2},
    ] == sim.records()[1:3]


def test_simulate_takes_a_range_or_one_quantity_and_refuses_fractions() -> None:
    """ "0-30" and 25 read as `--qty` reads them; 2.5 or a pandas NaN is refused, not rounded into a share."""
    assert [8, 9, 10] == [r["amazon_qty"] for r in api.simulate("8-10").records()]
    assert [{"sku": None, "amazon_qty": 25, "rakuten": 5, "yahoo": 5}] == api.simulate(25).records()
    for fraction in (2.5, float("nan"), [4, 2.5], [4, float("nan")]):
        with pytest.raises(QuantityRangeError, match=r"(2\.5|nan) is not a whole number"):
            api.simulate(fraction)  # type: ignore[arg-type]
    with pytest.raises(QuantityRangeError, match="-3 is below 0"):
        api.simulate([-3])


def test_status_with_a_limit_out_of_range_is_an_ecsync_error() -> None:
    with pytest.raises(EcsyncError, match="limit must be between 1 and"):
        api.status(limit=0)


def test_simulate_records_mark_the_rows_a_proposed_table_changes(tmp_path: Path) -> None:
    """With ``rules=``, each record carries the proposed shares and whether the row changes, as the CLI marks it."""
    proposed = tmp_path / "r.yaml"
    proposed.write_text("rules:\n  default:\n    - {min: 1, ratio: '1/4'}\n")
    records = api.simulate([8, 9], rules=proposed).records()
    assert [(2, False), (2, True)] == [(r["yahoo_proposed"], r["changed"]) for r in records]


def test_simulate_a_report_file(tmp_path: Path) -> None:
    """simulate(file=...) reads an FBA report as downloaded, SKUs kept as text."""
    report_file = tmp_path / "fba.tsv"
    report_file.write_text("sku\tafn-fulfillable-quantity\n0042\t25\n")
    sim = api.simulate(file=report_file)
    assert [("0042", 25, MANUAL_RULE.allocate(25))] == [(r.sku, r.amazon_qty, r.malls["yahoo"]) for r in sim.rows]


def test_dry_run_and_status_on_the_sandbox(tmp_path: Path) -> None:
    """A dry run from Python gives the plan item by item and shows up in status; nothing is sent."""
    with start_sandbox(tmp_path / "sb") as sb:
        api.import_sku(sb.files.master, config=sb.files.config)
        report = api.sync(sb.files.config, dry_run=True)
        assert (142, 138, 15) == (report.counts.found, report.counts.mapped, report.counts.updates)
        assert all(u.target == MANUAL_RULE.allocate(u.amazon_qty) for u in report.plan.updates)
        [run] = api.status(sb.files.config)
        assert (report.run_id, RunKind.DRY_RUN) == (run.id, run.kind)
        assert 15 == len(api.run(run.id, sb.files.config).items)


def test_the_api_works_inside_a_running_event_loop(tmp_path: Path) -> None:
    """A notebook runs its cells inside an event loop, where asyncio.run refuses: the API still answers there."""
    with start_sandbox(tmp_path / "sb") as sb:
        api.import_sku(sb.files.master, config=sb.files.config)

        async def a_notebook_cell() -> tuple[int, int]:
            report = api.sync(sb.files.config, dry_run=True)
            return report.counts.updates, len(api.simulate(config=sb.files.config).rows)

        assert (15, 140) == asyncio.run(a_notebook_cell())  # the 140 active mapped SKUs


def test_a_live_sync_from_the_api_leaves_its_trail_in_the_log_file(tmp_path: Path) -> None:
    """
    The log file is the run's audit trail (run ID on every line) whether cron or a notebook started it; the
    notebook's own logging is left as it was.
    """
    host = logging.handlers.MemoryHandler(capacity=1000, flushLevel=logging.CRITICAL + 1)
    root = logging.getLogger()
    root.addHandler(host)
    level = root.level
    root.setLevel(logging.WARNING)  # a notebook's, whatever an earlier test's CLI set-up left
    mine = [structlog.processors.KeyValueRenderer()]  # the notebook's own structlog set-up
    structlog.configure(processors=mine)
    try:
        with start_sandbox(tmp_path / "sb") as sb:
            api.import_sku(sb.files.master, config=sb.files.config)
            httpx.post(sb.urls["yahoo"] + "/_sandbox/faults", json={"status": 500, "count": 1}).raise_for_status()
            report = api.sync(sb.files.config, dry_run=False)
            logging.getLogger("notebook").warning("my own line")
            lines = [json.loads(line) for line in sb.files.log_file.read_text(encoding="utf-8").splitlines()]
        run_events = {e["event"] for e in lines if e.get("run_id") == report.run_id}
        assert {"sync_started", "stamina.retry_scheduled", "sync_finished"} <= run_events
        assert host in root.handlers
        assert ["my own line"] == [r.getMessage() for r in host.buffer if r.name == "notebook"]
        assert "my own line" not in sb.files.log_file.read_text(encoding="utf-8")
        assert mine == structlog.get_config()["processors"], "the notebook's structlog set-up, untouched"
        chatter = [r.getMessage() for r in host.buffer if r.name.startswith("ecsync") and r.levelno < logging.WARNING]
        assert [] == chatter, "the trail's info lines stay in the file, off the notebook's handlers"
        ours = logging.getLogger("ecsync")
        assert ([], True) == (ours.handlers, ours.propagate), "as it was once the run is over, the file closed"
    finally:
        root.removeHandler(host)
        root.setLevel(level)
        configure_logging()  # the CLI's set-up again (it also clears what the library run put on "ecsync")


def test_a_notebook_that_set_up_no_logging_gets_warnings_on_stderr_and_nothing_on_stdout(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """
    A fresh notebook sets up neither logging nor structlog: structlog's defaults printed every debug line of a dry
    run (each mall call) to stdout, unredacted. ecsync's lines go to the standard library, which shows warnings
    (an alert, here a refusal) on stderr as text, and nothing below them.
    """
    structlog.reset_defaults()
    root = logging.getLogger()
    saved = root.handlers[:]
    for handler in saved:
        root.removeHandler(handler)
    try:
        with start_sandbox(tmp_path / "sb") as sb:
            api.import_sku(sb.files.master, config=sb.files.config)
            capfd.readouterr()
            httpx.post(sb.urls["yahoo"] + "/_sandbox/faults", json={"status": 500, "count": 2}).raise_for_status()
            api.sync(sb.files.config, file=_all_zero_report(tmp_path, sb.files.database))
            out, err = capfd.readouterr()
    finally:
        for handler in saved:
            root.addHandler(handler)
    assert "" == out
    assert "alert subject='REFUSED'" in err
    assert "stamina.retry_scheduled" in err, "stamina's retries too: they went to stdout through structlog's defaults"
    assert "yahoo.call" not in err


def _all_zero_report(tmp_path: Path, database: Path) -> Path:
    from ecsync_core.store import Database, DuckDBMappings

    skus = sorted({m.sku for m in DuckDBMappings(Database(database)).active()})
    report = tmp_path / "zero.tsv"
    report.write_text("sku\tafn-fulfillable-quantity\n" + "".join(f"{s}\t0\n" for s in skus), encoding="utf-8")
    return report


def test_simulate_over_current_stock_shows_what_a_sync_would_send(tmp_path: Path) -> None:
    """Every mapped item's share in simulate is the target a full dry run plans for it, and nothing else is."""
    with start_sandbox(tmp_path / "sb") as sb:
        api.import_sku(sb.files.master, config=sb.files.config)
        sim = api.simulate(config=sb.files.config)
        plan = api.sync(sb.files.config, dry_run=True, full=True).plan
    shown = {(r.sku, m): v for r in sim.rows for m, v in r.malls.items() if v is not None}
    assert {(u.sku, u.mall): u.target for u in plan.updates} == shown


def test_results_shown_in_a_notebook_cell_count_their_rows() -> None:
    """An import's changes and a run's items printed every row in a cell (900 for 300 SKUs): counted now."""
    from ecsync_core.domain import Mapping, Outcome, Run, RunItem
    from ecsync_core.services.runs import RunDetail
    from ecsync_core.store.mappings import MappingChanges

    assert "added=<900>" in repr(MappingChanges(added=[Mapping("A", "shop", "a")] * 900))
    run = Run("abc12345", RunKind.SYNC, Outcome.SUCCESS, datetime(2026, 11, 30), None, Counts())
    assert "items=<900>" in repr(RunDetail(run, [RunItem("abc12345", "A", "shop", "a", 4, 0, 2)] * 900))
