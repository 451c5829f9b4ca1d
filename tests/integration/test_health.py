"""Health over the in-process sandbox (every installed mall's emulator) and a real DuckDB file."""

from __future__ import annotations

import asyncio

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import httpx
import pytest

from ecsync_core.bootstrap import App, build_app
from ecsync_core.domain import Counts, CredentialStatus, Outcome, RunKind
from ecsync_core.domain import Mapping as SkuMapping
from ecsync_core.services.health import (
    Check,
    HealthReport,
    alert,
    check_disk,
    credential_status,
    run_health,
)
from ecsync_core.services.import_sku import import_sku
from ecsync_core.testing.sandbox import InProcessSandbox, sandbox_in_process
from tests.fakeworld import RecordingNotifier, make_world, unwritable


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> InProcessSandbox:
    sb = sandbox_in_process(tmp_path_factory.mktemp("sb"))
    import_sku(app_for(sb), sb.files.master)  # imported, as health is asked after the first day
    return sb


def app_for(sb: InProcessSandbox, environ: Mapping[str, str] | None = None, config: Path | None = None) -> App:
    return build_app(config or sb.files.config, transports=sb.transports, environ=dict(environ or {}))


def by_name(report: HealthReport) -> dict[str, tuple[str, str]]:
    return {c.name: (c.status, c.detail) for c in report.checks}


def test_fresh_sandbox_is_green_online_too(sandbox: InProcessSandbox) -> None:
    """On a fresh sandbox every check is OK, offline and with each mall's API asked once."""
    app = app_for(sandbox)
    offline = run_health(app)
    online = run_health(app, online=True)
    assert [] == [c for c in online.checks if c.status != "OK"]
    assert (True, True) == (offline.ok, online.ok)
    assert 6 <= len(offline.checks)
    names = by_name(online)
    assert {"db", "config", "disk", "db_size", "log_file", "master_file", "last_run", "rules", "mapped_malls"} <= set(
        names
    )
    assert {f"online.{code}" for code in sandbox.apps} <= set(names)
    assert "of 50,000 calls used on" in names["online.yahoo"][1]


def test_missing_secret_fails_that_malls_credentials(sandbox: InProcessSandbox) -> None:
    """A required .env name that is empty FAILs that mall's credentials, naming it; other malls stay OK."""
    report = run_health(app_for(sandbox, {"RAKUTEN_LICENSE_KEY": ""}))
    status, detail = by_name(report)["credentials.rakuten"]
    assert ("FAIL", False) == (status, report.ok)
    assert "RAKUTEN_LICENSE_KEY" in detail
    assert "OK" == by_name(report)["credentials.yahoo"][0]


def test_yahoo_consent_25_days_ago_warns_with_days_left(sandbox: InProcessSandbox) -> None:
    """A Yahoo consent 25 days old leaves 3 of 28 days (whole days): a WARN saying so; health stays ok."""
    # An hour short of 25 days, so that the seconds this test takes cannot tip it to 2 whole days left.
    consent = (datetime.now(UTC) - timedelta(days=25, hours=-1)).isoformat(timespec="seconds")
    report = run_health(app_for(sandbox, {"YAHOO_CONSENT_AT": consent}))
    status, detail = by_name(report)["credentials.yahoo"]
    assert ("WARN", True) == (status, report.ok)
    assert "3 days left" in detail
    assert "get_yahoo_token.py" in detail


def test_yahoo_token_of_unknown_age_warns(sandbox: InProcessSandbox) -> None:
    """Without YAHOO_CONSENT_AT the 28 days cannot be counted, so nothing would warn in time: a WARN now."""
    report = run_health(app_for(sandbox, {"YAHOO_CONSENT_AT": ""}))
    status, detail = by_name(report)["credentials.yahoo"]
    assert ("WARN", True) == (status, report.ok)
    assert "YAHOO_CONSENT_AT is not set" in detail


def test_unopenable_database_fails_db_and_the_rest_still_run(sandbox: InProcessSandbox) -> None:
    """A database path under a file FAILs `db` with one line; the checks that need no database still run."""
    config = sandbox.files.config
    lines = [ln for ln in config.read_text().splitlines() if not ln.startswith("database:")]
    bad = config.with_name("bad.yaml")
    bad.write_text(f"database: {sandbox.files.master / 'x.duckdb'}\n" + "\n".join(lines) + "\n")
    report = run_health(app_for(sandbox, config=bad))
    status, detail = by_name(report)["db"]
    assert ("FAIL", False) == (status, report.ok)
    assert "cannot" in detail
    assert "\n" not in detail
    assert ("OK", "OK") == (by_name(report)["log_file"][0], by_name(report)["credentials.yahoo"][0])


def test_a_disabled_name_matching_no_plugin_or_mapping_warns(sandbox: InProcessSandbox) -> None:
    """
    A typo in disable_plugins left the mall it meant enabled while health said OK: now a WARN naming it. A mapped
    mall's code (the way out when its plugin is uninstalled) is no typo.
    """
    config = sandbox.files.config
    typo = config.with_name("typo.yaml")
    lines = [ln for ln in config.read_text().splitlines() if not ln.startswith("database:")]
    own_db = f"database: {config.parent / 'typo.duckdb'}"  # its qmall mapping stays out of the shared sandbox
    typo.write_text("\n".join([own_db, *lines, "disable_plugins: [rakutn, qmall]"]) + "\n")
    app = app_for(sandbox, config=typo)
    app.mappings.apply([SkuMapping("FBA-00001", "qmall", "q-1")], replace=False)
    status, detail = by_name(run_health(app))["mapped_malls"]
    assert ("WARN", True) == (status, "names no installed plugin, mall or mapped mall: 'rakutn'," in detail)
    assert "qmall" not in detail.split("but ")[1]


def test_a_database_whose_folder_cannot_be_written_fails(sandbox: InProcessSandbox) -> None:
    """
    Opening only reads, so health said OK; a sync then failed on its .wal with no run recorded. The folder is made
    unwritable the way that holds for root too (chattr +i) or, for another user, by its mode.
    """
    folder = sandbox.files.database.parent
    with unwritable(folder):
        checks = by_name(run_health(app_for(sandbox)))
    assert ("OK", "FAIL") == (checks["db"][0], checks["db_writable"][0]), "it opens; it cannot be written"
    assert f"its folder {folder} cannot be written" in checks["db_writable"][1]
    assert "OK" == checks["mapped_malls"][0], "the checks that only read still run"


def test_a_database_that_is_not_there_warns_and_is_not_made(sandbox: InProcessSandbox) -> None:
    """A config pointing where no database is (cron's working directory, say) is not passed as a new empty one."""
    config = sandbox.files.config
    lines = [ln for ln in config.read_text().splitlines() if not ln.startswith("database:")]
    elsewhere = config.with_name("elsewhere.yaml")
    missing = config.parent / "nowhere" / "ecsync.duckdb"
    elsewhere.write_text(f"database: {missing}\n" + "\n".join(lines) + "\n")
    report = run_health(app_for(sandbox, config=elsewhere))
    status, detail = by_name(report)["db"]
    assert ("WARN", True) == (status, detail.startswith("no database yet at"))
    assert "WARN" == by_name(report)["last_run"][0]
    assert not missing.parent.exists(), "nothing made"
    assert "OK" == by_name(report)["db_writable"][0], "its folder can take one"
    with unwritable(config.parent):  # a read-only mount: the first import and every run would fail
        checks = by_name(run_health(app_for(sandbox, config=elsewhere)))
    assert ("FAIL", f"no database yet, and {config.parent} cannot be written") == (
        checks["db_writable"][0],
        checks["db_writable"][1].split(" to make one")[0],
    )


def test_mappings_on_a_mall_whose_plugin_did_not_load_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken plugin whose mall holds mappings is FAIL (syncs leave that mall out), naming the count and why."""
    world = make_world(tmp_path, monkeypatch)
    assert "OK" == by_name(run_health(world.app))["mapped_malls"][0]
    world.app.mappings.apply([SkuMapping("A", "qmall", "q-1"), SkuMapping("B", "qmall", "q-2")], replace=False)
    world.app.host = attrs.evolve(world.app.host, broken={"qmall": "ImportError: qmall_x"})
    report = run_health(world.app)
    status, detail = by_name(report)["mapped_malls"]
    assert ("FAIL", False) == (status, report.ok)
    assert "2 items on qmall, but its plugin failed to load (ImportError: qmall_x)" in detail


def test_a_last_run_older_than_the_schedule_allows_warns(tmp_path: Path) -> None:
    """A good last run 30 hours old: the daily schedule may have stopped, and health says so (0 turns it off)."""
    sb = sandbox_in_process(tmp_path / "sb")
    app = app_for(sb)
    run = app.ledger.start(RunKind.SYNC)
    app.ledger.finish(run.id, Outcome.SUCCESS, Counts(5, 5, 0))
    assert "OK" == by_name(run_health(app))["last_run"][0]
    with app.db.connect() as con:
        con.execute("UPDATE runs SET started_at = started_at - INTERVAL 30 HOUR WHERE id = ?", [run.id])
    status, detail = by_name(run_health(app))["last_run"]
    assert ("WARN", True) == (status, "30 hours ago, more than health.last_run_within_hours (26)" in detail)
    sb.files.config.write_text(sb.files.config.read_text() + "health:\n  last_run_within_hours: 0\n")
    assert "OK" == by_name(run_health(app_for(sb)))["last_run"][0]


def test_partial_last_run_warns(tmp_path: Path) -> None:
    """
    A newest live run that ended PARTIAL is a WARN naming it; health still exits 0. A dry run made afterwards
    to look into it does not hide it.
    """
    sb = sandbox_in_process(tmp_path / "sb")
    app = app_for(sb)
    run = app.ledger.start(RunKind.SYNC)
    app.ledger.finish(run.id, Outcome.PARTIAL, Counts(5, 5, 5, 3, 2), "2 items failed")
    look = app.ledger.start(RunKind.DRY_RUN, status=Outcome.SUCCESS)
    app.ledger.finish(look.id, Outcome.SUCCESS, Counts(5, 5, 2))
    report = run_health(app)
    status, detail = by_name(report)["last_run"]
    assert ("WARN", True) == (status, report.ok)
    assert f"PARTIAL: sync {run.id}" in detail


def test_a_dead_running_run_is_marked_interrupted_and_alerted(tmp_path: Path) -> None:
    """A RUNNING run nobody holds the lock for becomes INTERRUPTED: alerted, and the last run WARNs."""
    sb = sandbox_in_process(tmp_path / "sb")
    app = app_for(sb)
    run = app.ledger.start(RunKind.SYNC)
    notifier = RecordingNotifier()
    report = run_health(app, notifier=notifier)
    assert Outcome.INTERRUPTED == app.ledger.get(run.id).status
    assert "WARN" == by_name(report)["last_run"][0]
    assert ["INTERRUPTED"] == [s for s, _ in notifier.sent]


def test_alert_sends_one_alert_naming_every_problem() -> None:
    """WARN and FAIL checks reach a person in one alert whose subject is the worst status; all OK sends none."""
    notifier = RecordingNotifier()
    alert(HealthReport((Check("db", "OK", "fine"),)), notifier)
    assert [] == notifier.sent
    alert(HealthReport((Check("a", "WARN", "soon", "A"), Check("b", "FAIL", "broken", "B"))), notifier)
    [(subject, body)] = notifier.sent
    assert "FAIL" == subject
    assert "A: WARN (soon)" in body
    assert "B: FAIL (broken)" in body


@pytest.mark.parametrize(
    ("days_left", "warn_days", "expected"),
    [
        (None, None, "OK"),
        (30, 14, "OK"),
        (14, 14, "WARN"),
        (7, None, "WARN"),
        (8, None, "OK"),
        (0, 7, "WARN"),
        (-1, 7, "FAIL"),
    ],
)
def test_credential_status_thresholds(days_left: int | None, warn_days: int | None, expected: str) -> None:
    """Expired is FAIL; the last day (0) and at or under the threshold (default 7 days) WARN; otherwise OK."""
    assert expected == credential_status(CredentialStatus("key", days_left, "renew it", warn_days))[0]
    unknown = CredentialStatus("key", None, "date missing", warn_days, expires_unknown=True)
    assert "WARN" == credential_status(unknown)[0], "an expiry that cannot be counted warns"


def test_disk_thresholds(tmp_path: Path) -> None:
    """Free space under the FAIL threshold FAILs, under the WARN threshold WARNs."""
    assert "FAIL" == check_disk(tmp_path / "db.duckdb", warn_bytes=2**62, fail_bytes=2**62).status
    assert "WARN" == check_disk(tmp_path / "db.duckdb", warn_bytes=2**62, fail_bytes=0).status


def test_a_mall_answering_with_something_to_fix_warns_online(sandbox: InProcessSandbox) -> None:
    """
    A ping that raises MallWarning (Yahoo answering, but not accepting the public key's signature) is a WARN with
    the mall's words: not OK, which hid it, and not FAIL, as the calls themselves work.
    """
    from ecsync_yahoo.emulator import demo_public_pem

    app = app_for(sandbox, environ={"YAHOO_PUBLIC_KEY": demo_public_pem(), "YAHOO_PUBLIC_KEY_VERSION": "9"})
    report = run_health(app, online=True)
    status, detail = by_name(report)["online.yahoo"]
    assert ("WARN", True, True) == (status, "did not accept the public-key signature" in detail, report.ok)


def test_unreachable_mall_warns_offline_and_fails_online(sandbox: InProcessSandbox) -> None:
    """Rakuten not answering: offline health only WARNs that it could not ask; --online FAILs its API check."""
    transports = {code: t for code, t in sandbox.transports.items() if code != "rakuten"}  # -> the discard port
    app = build_app(sandbox.files.config, transports=transports, environ={})
    offline = by_name(run_health(app))
    online = run_health(app, online=True)
    assert "WARN" == offline["credentials.rakuten"][0]
    assert "could not ask" in offline["credentials.rakuten"][1]
    assert ("FAIL", False) == (by_name(online)["online.rakuten"][0], online.ok)


class Hanging(httpx.AsyncBaseTransport):
    """A mall that takes every request and never answers in time (each attempt times out, then is retried)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(20)
        raise httpx.ReadTimeout("no answer", request=request)


def test_a_hanging_mall_is_given_up_on_after_its_answer_time(sandbox: InProcessSandbox, tmp_path: Path) -> None:
    """
    Rakuten hanging kept health waiting 5-10 minutes (a minute's timeout a call, retried): each of its questions
    is given up after health.mall_answer_within_s, the days left as a WARN, the API as a FAIL.
    """
    config = tmp_path / "config.yaml"
    config.write_text(sandbox.files.config.read_text(encoding="utf-8") + "health:\n  mall_answer_within_s: 1\n")
    (tmp_path / ".env").write_bytes((sandbox.files.config.parent / ".env").read_bytes())
    app = build_app(config, transports={**sandbox.transports, "rakuten": Hanging()}, environ={})
    names = by_name(run_health(app, online=True))
    said = "no answer within 1 s (health.mall_answer_within_s)"
    assert ("WARN", True) == (names["credentials.rakuten"][0], said in names["credentials.rakuten"][1])
    assert ("FAIL", True) == (names["online.rakuten"][0], said in names["online.rakuten"][1])
    assert "OK" == names["online.yahoo"][0]


def test_a_mall_whose_adapter_cannot_be_made_fails_both_of_its_lines(sandbox: InProcessSandbox, tmp_path: Path) -> None:
    """A bad plugin setting: credentials FAIL saying the adapter could not be made; --online says it was not asked."""
    import yaml

    raw = yaml.safe_load(sandbox.files.config.read_text(encoding="utf-8"))
    raw["malls"]["rakuten"]["upsert_batch"] = 999
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    (tmp_path / ".env").write_bytes((sandbox.files.config.parent / ".env").read_bytes())
    names = by_name(run_health(app_for(sandbox, config=config), online=True))
    assert names["credentials.rakuten"][0] == "FAIL"
    assert names["credentials.rakuten"][1].startswith("the adapter could not be made: ")
    assert ("FAIL", "not asked: the adapter could not be made") == names["online.rakuten"]


class _OddCredentials:
    """A plugin whose credentials() answers tuples, not CredentialStatus."""

    async def credentials(self) -> object:
        return [("TOYMALL_API_KEY", 3)]


def test_credentials_answered_in_the_wrong_shape_fail_that_mall_only() -> None:
    """It raised out of the check (every mall's credentials and online lines gone): now that mall's line FAILs."""
    from ecsync_core.services.health import _credentials

    check = asyncio.run(_credentials(_OddCredentials(), "credentials.toymall", "Credentials", 5))  # type: ignore[arg-type]
    assert ("FAIL", True) == (check.status, check.detail.startswith("TypeError: credentials() answered [("))
