"""`ecsync sandbox` as an operator runs it: a real process on loopback, driven over HTTP as SPEC says."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time

from collections.abc import Sequence
from pathlib import Path

import httpx
import openpyxl
import pytest

from ecsync_core.config import load_settings
from ecsync_core.plugins import EXTRA_ENV
from ecsync_core.testing.fake_mall import COLUMN, SOURCE, TARGET
from ecsync_core.testing.sandbox import RunningSandbox, sandbox_command, start_sandbox


pytest_plugins = ["ecsync_core.testing.pytest_plugin"]
pytestmark = pytest.mark.e2e

FAKES = {EXTRA_ENV: "ecsync_core.testing.fake_mall"}
PROBE = "/_ecsync_probe"
"""A path no emulator serves: faults and the request log act on it before the emulator's 404."""


@pytest.fixture
def ecsync_sandbox_args() -> list[str]:
    return ["--speed", "100"]


@pytest.fixture
def ecsync_sandbox_env() -> dict[str, str]:
    return FAKES


def test_it_prints_ready_after_the_urls_within_10_s_and_writes_the_four_files(tmp_path: Path) -> None:
    """`ready` comes within 10 s on its own line after every URL; config.yaml, .env, master.xlsx, sandbox.json."""
    t0 = time.monotonic()
    with start_sandbox(tmp_path / "sb", env=FAKES, ready_s=10) as sb:
        took = time.monotonic() - t0
        lines = [line.strip() for line in sb.text().splitlines()]
        for name in ("config.yaml", ".env", "master.xlsx", "sandbox.json"):
            assert (sb.directory / name).is_file()
        settings = load_settings(sb.config)
    assert took < 10
    ready_at = lines.index("ready")
    for url in sb.urls.values():
        assert any(url in line for line in lines[:ready_at])
    assert {SOURCE, TARGET} <= set(sb.urls)
    assert {SOURCE, TARGET} <= set(settings.malls)
    assert all(url.startswith("http://127.0.0.1:") for url in sb.urls.values())


def test_stock_put_changes_only_the_listed_item_on_every_emulator(ecsync_sandbox: RunningSandbox) -> None:
    """On each emulator, PUT /_sandbox/stock of one item changes that item and no other."""
    assert ecsync_sandbox.urls
    for code, url in ecsync_sandbox.urls.items():
        before = httpx.get(f"{url}/_sandbox/stock").json()
        assert before, f"{code} holds no demo stock"
        item = sorted(before)[0]
        answer = httpx.put(f"{url}/_sandbox/stock", json={item: before[item] + 7})
        assert 200 == answer.status_code, code
        assert {**before, item: before[item] + 7} == httpx.get(f"{url}/_sandbox/stock").json(), code


def test_a_fault_fires_exactly_count_times_on_every_emulator(ecsync_sandbox: RunningSandbox) -> None:
    """{status: 503, count: 3} fails exactly the next 3 API calls; each is counted in /_sandbox/requests."""
    for code, url in ecsync_sandbox.urls.items():
        httpx.delete(f"{url}/_sandbox/requests")
        assert 200 == httpx.post(f"{url}/_sandbox/faults", json={"status": 503, "count": 3}).status_code
        codes = [httpx.get(url + PROBE).status_code for _ in range(5)]
        assert [503, 503, 503] == codes[:3], code
        assert 503 not in codes[3:], code
        log = httpx.get(f"{url}/_sandbox/requests").json()
        assert (5, {PROBE: 5}) == (log["count"], log["by_path"]), code


def test_delete_clears_a_pending_fault_on_every_emulator(ecsync_sandbox: RunningSandbox) -> None:
    """After DELETE /_sandbox/faults the rest of a pending fault never fires."""
    for code, url in ecsync_sandbox.urls.items():
        httpx.post(f"{url}/_sandbox/faults", json={"status": 500, "count": 5})
        first = httpx.get(url + PROBE).status_code
        assert 200 == httpx.delete(f"{url}/_sandbox/faults").status_code
        after = [httpx.get(url + PROBE).status_code for _ in range(3)]
        assert 500 == first, code
        assert 500 not in after, code
        assert {"fault": None} == httpx.get(f"{url}/_sandbox/faults").json(), code


def test_a_drop_fault_cuts_the_connection_for_real(ecsync_sandbox: RunningSandbox) -> None:
    """{drop: true} closes the socket without an answer: the client sees a transport error, then normal calls."""
    url = ecsync_sandbox.urls[TARGET]
    httpx.post(f"{url}/_sandbox/faults", json={"drop": True, "count": 1})
    with pytest.raises(httpx.TransportError):
        httpx.get(url + PROBE)
    assert 404 == httpx.get(url + PROBE).status_code
    assert "Traceback" not in ecsync_sandbox.text()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_cleanly_with_nothing_left_behind(ecsync_sandbox: RunningSandbox, sig: int) -> None:
    """SIGTERM or SIGINT: the sandbox exits 0, its ports close, and no process of its group is left."""
    process = ecsync_sandbox.process
    url = next(iter(ecsync_sandbox.urls.values()))
    process.send_signal(sig)
    assert 0 == process.wait(10)
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/_sandbox/stock")
    assert "Traceback" not in ecsync_sandbox.text()


def test_ctrl_c_stops_it_within_seconds_while_a_delay_fault_holds_a_request(ecsync_sandbox: RunningSandbox) -> None:
    """A request held by {delay_s: 600} kept the process alive, through a second Ctrl-C and SIGTERM, for the delay."""
    url = ecsync_sandbox.urls[TARGET]
    httpx.post(f"{url}/_sandbox/faults", json={"delay_s": 600, "count": 1})
    held = threading.Thread(target=_get, args=(url + PROBE,), daemon=True)
    held.start()
    time.sleep(0.5)  # the request is in, and waiting
    ecsync_sandbox.process.send_signal(signal.SIGINT)
    assert 0 == ecsync_sandbox.process.wait(15)
    assert "Traceback" not in ecsync_sandbox.text(), "the held request is cut, not logged as the app's error"


def _get(url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(url, timeout=60)


def test_skus_and_seed_scale_the_catalogue(tmp_path: Path) -> None:
    """--skus 300 serves 300 FBA SKUs; every mall item the sheet names exists on the mall's emulator."""
    with start_sandbox(tmp_path / "sb", "--skus", "300", "--seed", "5", "--speed", "100", env=FAKES) as sb:
        listed = httpx.get(sb.urls[SOURCE] + "/_sandbox/stock").json()
        held = httpx.get(sb.urls[TARGET] + "/_sandbox/stock").json()
        wb = openpyxl.load_workbook(sb.files.master, read_only=True)
        rows = list(wb.worksheets[0].iter_rows(values_only=True))
        wb.close()
    assert 300 == len(listed)
    column = rows[0].index(COLUMN)
    named = {r[column] for r in rows[1:] if r[column]}
    assert len(named) > 290
    assert named <= set(held)


def test_too_few_skus_is_a_usage_error_naming_the_option(tmp_path: Path) -> None:
    """--skus 2 cannot hold the demo's mix: exit 2 and one line naming --skus, no traceback."""
    done = sandbox_once(tmp_path / "sb", "--skus", "2")
    assert 2 == done.returncode
    assert "--skus" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "sb" / "sandbox.json").exists()


def sandbox_once(directory: Path, *args: str, options: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    """
    `ecsync sandbox` expected to refuse at once (a test that hangs here found it serving instead); *options* go
    before the command (``-c PATH``).
    """
    python, module, package, *rest = sandbox_command(directory, *args)
    return subprocess.run(
        [python, module, package, *options, *rest],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **FAKES},
        check=False,
    )


def test_a_directory_with_files_no_sandbox_wrote_is_refused_and_left_alone(tmp_path: Path) -> None:
    """
    `--dir` pointed at an app root or a production config folder overwrote its config.yaml and .env (the real
    tokens gone) and filled its database with demo mappings. Refused in one line; every file as it was.
    """
    (tmp_path / "config.yaml").write_text("malls:\n  yahoo:\n    seller_id: myshop\n")
    (tmp_path / ".env").write_text("YAHOO_REFRESH_TOKEN=REAL-PRODUCTION-TOKEN\n")
    done = sandbox_once(tmp_path)
    assert (1, 1) == (done.returncode, len(done.stderr.strip().splitlines())), done.stderr
    assert "holds config.yaml, .env, which no sandbox wrote" in done.stderr
    assert "REAL-PRODUCTION-TOKEN" in (tmp_path / ".env").read_text()
    assert not (tmp_path / "sandbox.json").exists()
    (tmp_path / "config.yaml").unlink()
    (tmp_path / "sandbox.json").write_text("{}")  # a stray marker does not make the real .env the sandbox's
    real = (tmp_path / ".env").read_text()
    assert (1, real) == (sandbox_once(tmp_path).returncode, (tmp_path / ".env").read_text())


def test_a_config_given_to_the_sandbox_is_said_to_be_unused(tmp_path: Path) -> None:
    """`ecsync -c prod.yaml sandbox` serves from its own config: said in a note, not silently ignored."""
    (tmp_path / "config.yaml").write_text("malls: {}\n")  # not the sandbox's: refused at once, after the note
    done = sandbox_once(tmp_path, options=("-c", str(tmp_path / "prod.yaml")))
    assert 1 == done.returncode
    assert f"note: the sandbox does not read {tmp_path / 'prod.yaml'}" in done.stderr.splitlines()[0]


def test_a_start_stopped_half_way_leaves_a_directory_the_next_start_takes(tmp_path: Path) -> None:
    """Stopped after config.yaml and .env but before sandbox.json: its own files, not refused as someone else's."""
    with start_sandbox(tmp_path / "sb", "--speed", "100", env=FAKES) as sb:
        directory = sb.directory
    (directory / "sandbox.json").unlink()
    (directory / "master.xlsx").unlink()
    with start_sandbox(directory, "--speed", "100", env=FAKES) as again:
        assert (again.directory / "sandbox.json").is_file()


def test_a_second_sandbox_on_a_served_directory_is_refused_and_the_first_serves_on(tmp_path: Path) -> None:
    """A second start rewrote the first one's ports and credentials, and the first could no longer be used."""
    with start_sandbox(tmp_path / "sb", "--speed", "100", env=FAKES) as first:
        before = (first.directory / "sandbox.json").read_text()
        done = sandbox_once(first.directory)
        assert (1, True) == (done.returncode, "another sandbox is serving" in done.stderr), done.stderr
        assert before == (first.directory / "sandbox.json").read_text()
        assert 200 == httpx.get(next(iter(first.urls.values())) + "/_sandbox/stock").status_code
    with start_sandbox(tmp_path / "sb", "--speed", "100", env=FAKES):  # its own directory, once it has stopped
        pass


@pytest.mark.parametrize(("args", "said"), [(["--speed", "nan"], "--speed"), (["--speed", "inf"], "--speed")])
def test_a_speed_that_is_not_a_number_is_a_usage_error(tmp_path: Path, args: list[str], said: str) -> None:
    done = sandbox_once(tmp_path / "sb", *args)
    assert (2, True) == (done.returncode, said in done.stderr)
    assert not (tmp_path / "sb").exists()
