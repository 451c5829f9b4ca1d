"""`ecsync health` as an operator runs it, against the real sandbox on loopback."""

from __future__ import annotations

import json
import os
import subprocess

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ecsync_core.domain import Counts, Outcome, RunKind
from ecsync_core.store import Database, DuckDBLedger
from ecsync_core.testing.sandbox import RunningSandbox, start_sandbox


pytestmark = pytest.mark.e2e

ECSYNC = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "ecsync")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    with start_sandbox(tmp_path_factory.mktemp("health") / "sb") as sb:
        # As the manual's first day goes: the sheet imported, or health warns that a sync would update nothing.
        subprocess.run([ECSYNC, "-c", str(sb.config), "import-sku", "-f", str(sb.files.master)], check=True)
        yield sb


def health(config: Path, *args: str, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    p = subprocess.run(
        [ECSYNC, "-c", str(config), "health", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
    return p.returncode, p.stdout, p.stderr


def line(stdout: str, prefix: str) -> str:
    [found] = [ln for ln in stdout.splitlines() if ln.startswith(prefix)]
    return found


def variant(sb: RunningSandbox, name: str, database: Path) -> Path:
    """The sandbox's config with another database, beside it (so it reads the same .env)."""
    lines = [ln for ln in sb.config.read_text().splitlines() if not ln.startswith("database:")]
    path = sb.config.with_name(name)
    path.write_text(f"database: {database}\n" + "\n".join(lines) + "\n")
    return path


def test_before_the_first_import_health_warns_that_a_sync_would_update_nothing(tmp_path: Path) -> None:
    """No active mappings: a sync plans nothing and says SUCCESS every night; health says so (WARN, exit 0)."""
    with start_sandbox(tmp_path / "sb") as sb:
        rc, out, _ = health(sb.config)
    said = "Mapped malls: WARN (no active mappings: a sync updates nothing; run import-sku)"
    assert (0, said) == (rc, line(out, said))


def test_fresh_sandbox_is_green_with_the_manuals_db_line(sandbox: RunningSandbox) -> None:
    """Exit 0, a `DB Connection: OK` line; --json and --online --json are ok with at least 6 checks."""
    rc, out, _ = health(sandbox.config)
    assert 0 == rc
    assert line(out, "DB Connection: OK")
    rc, out, _ = health(sandbox.config, "--online", "--json")
    doc = json.loads(out)
    assert (0, True) == (rc, doc["ok"])
    assert 6 <= len({c["name"] for c in doc["checks"]})
    assert {"OK"} == {c["status"] for c in doc["checks"]}
    assert {"online.amazon", "online.yahoo", "online.rakuten"} <= {c["name"] for c in doc["checks"]}


def test_missing_secret_fails_that_mall_and_exits_1(sandbox: RunningSandbox) -> None:
    """An empty RAKUTEN_LICENSE_KEY FAILs Rakuten's credentials, naming the key, and exits 1."""
    rc, out, _ = health(sandbox.config, env={"RAKUTEN_LICENSE_KEY": ""})
    assert 1 == rc
    assert "RAKUTEN_LICENSE_KEY" in line(out, "楽天市場 credentials: FAIL")


def test_yahoo_consent_25_days_ago_warns_and_exits_0(sandbox: RunningSandbox) -> None:
    """A Yahoo consent 25 days old is a WARN with 3 days left, an alert on stderr, and exit 0."""
    consent = (datetime.now(UTC) - timedelta(days=25, hours=-1)).isoformat(timespec="seconds")
    rc, out, err = health(sandbox.config, env={"YAHOO_CONSENT_AT": consent})
    assert 0 == rc
    assert "3 days left" in line(out, "Yahoo!ショッピング credentials: WARN")
    assert "alert" in err


def test_unopenable_database_is_one_fail_line_without_traceback(sandbox: RunningSandbox) -> None:
    """A database path under a file: exit 1, one `DB Connection: FAIL` line, no traceback anywhere."""
    bad = variant(sandbox, "bad.yaml", sandbox.files.master / "x.duckdb")
    rc, out, err = health(bad)
    assert 1 == rc
    assert "cannot" in line(out, "DB Connection: FAIL")
    assert "Traceback" not in out + err


def test_partial_last_run_warns_and_exits_0(sandbox: RunningSandbox, tmp_path: Path) -> None:
    """A newest run that ended PARTIAL shows as a WARN naming the run; health exits 0."""
    database = tmp_path / "partial.duckdb"
    ledger = DuckDBLedger(Database(database))
    run = ledger.start(RunKind.SYNC)
    ledger.finish(run.id, Outcome.PARTIAL, Counts(5, 5, 5, 3, 2), "2 items failed")
    rc, out, _ = health(variant(sandbox, "partial.yaml", database))
    assert 0 == rc
    assert f"PARTIAL: sync {run.id}" in line(out, "Last run: WARN")


def test_config_that_does_not_load_is_a_config_fail(tmp_path: Path) -> None:
    """An unknown config key: health still answers, `config` FAILs naming the key, exit 1."""
    config = tmp_path / "config.yaml"
    config.write_text("bogus: 1\n")
    rc, out, err = health(config, "--json")
    doc = json.loads(out)
    assert (1, False) == (rc, doc["ok"])
    [check] = doc["checks"]
    assert ("config", "FAIL") == (check["name"], check["status"])
    assert "bogus" in check["detail"]
    assert "Traceback" not in err
