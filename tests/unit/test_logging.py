"""Logging: JSON lines in the log file, readable console lines, secrets redacted in both."""

from __future__ import annotations

import json
import logging
import logging.handlers

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import stamina.instrumentation
import structlog

from stamina.instrumentation import RetryDetails

import ecsync_core.pacing  # noqa: F401  (sets stamina's retry hook)

from ecsync_core.logging import REDACTOR, configure, get_logger


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.contextvars.clear_contextvars()
    configure(0)


def test_json_lines_with_run_id_and_no_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each event is one JSON line with the bound run id; a known secret and secret-named keys never appear."""
    log_file = tmp_path / "logs" / "inventory_sync.log"
    configure(0, log_file)
    REDACTOR.add(["s3cr3t-refresh-token-value"])
    structlog.contextvars.bind_contextvars(run_id="ab12cd34")
    log = get_logger("ecsync.test")
    log.info("token_refreshed", url="https://x/token?refresh_token=s3cr3t-refresh-token-value", client_secret="zzz")
    log.warning("mall_down", mall="yahoo")
    logging.getLogger("httpx").warning("POST https://x body=s3cr3t-refresh-token-value")
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert ["token_refreshed", "mall_down"] == [e["event"] for e in lines[:2]]
    assert {"ab12cd34"} == {e.get("run_id") for e in lines[:2]}
    text = log_file.read_text() + capsys.readouterr().err
    assert "s3cr3t-refresh-token-value" not in text
    assert "zzz" not in text
    assert "mall_down" in capsys.readouterr().err or "mall_down" in text


def test_console_quiet_by_default_verbose_with_v(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Info events stay off the console unless -v; warnings always show."""
    configure(0, tmp_path / "a.log")
    get_logger().info("routine_detail")
    get_logger().warning("needs_attention")
    err = capsys.readouterr().err
    assert "needs_attention" in err
    assert "routine_detail" not in err
    configure(1, tmp_path / "a.log")
    get_logger().debug("debug_detail")
    assert "debug_detail" in capsys.readouterr().err


def test_retry_warnings_stay_in_the_file_off_the_console_unless_v(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """stamina's warning for each retry flooded cron mail; the file keeps it, and -v shows it."""
    log_file = tmp_path / "a.log"
    configure(0, log_file)
    [hook] = stamina.instrumentation.get_on_retry_hooks()  # as stamina calls it, after a failed call
    hook(RetryDetails("getStock", (), {}, retry_num=1, wait_for=0.5, waited_so_far=0.0, caused_by=OSError("503")))
    assert "retry_scheduled" not in capsys.readouterr().err
    assert "retry_scheduled" in log_file.read_text()
    configure(1, log_file)
    hook(RetryDetails("getStock", (), {}, retry_num=2, wait_for=1.0, waited_so_far=0.5, caused_by=OSError("503")))
    assert "retry_scheduled" in capsys.readouterr().err


def test_console_times_are_in_the_configured_zone_the_file_keeps_utc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SPEC: times are shown in the configured zone; the console said UTC beside JST messages. The file: UTC ISO."""
    log_file = tmp_path / "a.log"
    configure(0, log_file, zone=ZoneInfo("Asia/Tokyo"))
    get_logger().warning("needs_attention")
    stamp = json.loads(log_file.read_text().splitlines()[-1])["timestamp"]
    utc = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    shown = utc.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M:%S")
    assert stamp.endswith("Z")
    assert capsys.readouterr().err.startswith(shown)


def test_the_log_file_keeps_events_from_the_configured_level_up(tmp_path: Path) -> None:
    """logging.level: WARNING keeps routine INFO events out of the file; -v still writes everything."""
    log_file = tmp_path / "x.log"
    configure(0, log_file, file_level="WARNING")
    get_logger().info("routine_detail")
    get_logger().warning("needs_attention")
    assert ["needs_attention"] == [json.loads(line)["event"] for line in log_file.read_text().splitlines()]
    configure(1, log_file, file_level="WARNING")
    get_logger().debug("debug_detail")
    assert "debug_detail" in log_file.read_text()


def test_a_date_about_a_secret_is_not_redacted_from_every_log_line(tmp_path: Path) -> None:
    """The client secret's issue date is not a secret: taught to the redactor, it blanked every timestamp."""
    from ecsync_core.bootstrap import build_app

    config = tmp_path / "c.yaml"
    config.write_text(f"database: {tmp_path / 'e.duckdb'}\n", encoding="utf-8")
    issued = "2031-01-02"
    build_app(config, environ={"AMAZON_LWA_CLIENT_SECRET_ISSUED": issued, "AMAZON_LWA_CLIENT_SECRET": "s3cr3t-v4lue"})
    said = REDACTOR.scrub(f"{issued}T04:00:00Z with s3cr3t-v4lue")
    assert said.startswith(issued)
    assert "s3cr3t-v4lue" not in said


def _crash(secrets: dict[str, str]) -> None:
    raise KeyError(f"qty for {len(secrets)} names, and s3cr3t-in-an-error-message")


def test_a_traceback_shows_no_local_variables_and_no_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """
    A plugin's crash is logged with its traceback (the file always, the console with -v): its frames' local
    variables held App.secrets, which went into the file in plain text. They are left out, and a known secret in
    the exception's own message is redacted.
    """
    log_file = tmp_path / "a.log"
    configure(1, log_file)
    REDACTOR.add(["s3cr3t-in-an-error-message"])
    secrets = {"AMAZON_LWA_REFRESH_TOKEN": "Atzr|" + "-".join(("a", "refresh", "token", "no", "redactor", "knows"))}
    try:
        _crash(secrets)
    except KeyError as exc:
        get_logger("ecsync.test").info("mall_read_crashed_traceback", exc_info=exc)
    text = log_file.read_text(encoding="utf-8") + capsys.readouterr().err
    assert "_crash" in text, "the traceback is there, frame by frame"
    assert "a-refresh-token-no-redactor-knows" not in text
    assert "s3cr3t-in-an-error-message" not in text


def test_a_secret_in_an_exception_reaches_no_handler_and_no_mall_error(tmp_path: Path) -> None:
    """
    A plugin's exception carrying a secret: the host program's own handler printed it (the event's text makes the
    exception's repr only there), and so did the CLI's [WARN] line, the ledger and the alert (the mall's error).
    """
    from ecsync_core.services.push import crashed

    REDACTOR.add(["s3cr3t-in-a-plugins-exception"])
    host = logging.handlers.MemoryHandler(capacity=100, flushLevel=logging.CRITICAL + 1)
    logging.getLogger("ecsync.test.host").addHandler(host)
    try:
        get_logger("ecsync.test.host").warning(
            "mall_read_crashed", exc_info=RuntimeError("s3cr3t-in-a-plugins-exception")
        )
    finally:
        logging.getLogger("ecsync.test.host").removeHandler(host)
    [record] = host.buffer
    assert "mall_read_crashed" in record.getMessage()
    assert "s3cr3t" not in record.getMessage()
    said = crashed("read", "shop", RuntimeError("boom with s3cr3t-in-a-plugins-exception"))
    assert "the mall plugin failed (RuntimeError: boom with ***)" == said
