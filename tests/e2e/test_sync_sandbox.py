"""The sync end to end: the CLI as an operator runs it, against the real sandbox on loopback."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from ecsync_core.domain import MANUAL_RULE
from ecsync_core.testing.sandbox import RunningSandbox, start_sandbox


pytestmark = pytest.mark.e2e

ECSYNC = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "ecsync")
TARGETS = {"yahoo": "yahoo_item_code", "rakuten": "rakuten_item_number"}
WRITES = ("setStock", "bulk-upsert")
DRY_RUN_LINES = [
    r"\[INFO\] Starting Dry Run\.\.\.",
    r"Amazon Inventory: (\d+) items found",
    r"Mapped SKUs: (\d+) items",
    r"Updates to be sent: (\d+) items",
    r"\[DRY-RUN\] No changes made to API\.",
]


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    with start_sandbox(tmp_path / "sb") as sb:
        assert 0 == cli(sb, "import-sku", "-f", str(sb.files.master)).returncode
        yield sb


def cli(sb: RunningSandbox, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ECSYNC, "-c", str(sb.files.config), *args], capture_output=True, text=True, timeout=300, check=False
    )


def call(sb: RunningSandbox, mall: str, method: str, path: str, body: object = None) -> Any:
    r = httpx.request(method, sb.urls[mall] + path, json=body, timeout=30)
    r.raise_for_status()
    return r.json() if r.content else None


def stock(sb: RunningSandbox, mall: str) -> dict[str, int]:
    return dict(call(sb, mall, "GET", "/_sandbox/stock"))


def writes(sb: RunningSandbox, mall: str) -> int:
    by_path = call(sb, mall, "GET", "/_sandbox/requests")["by_path"]
    return sum(n for path, n in by_path.items() if any(w in path for w in WRITES))


def wanted(sb: RunningSandbox) -> dict[str, dict[str, int]]:
    """What each mall must hold after a live sync, from the sandbox's own sheet and FBA stock."""
    amazon = call(sb, "amazon", "GET", "/_sandbox/stock")
    wb = openpyxl.load_workbook(sb.files.master, read_only=True)
    try:
        rows = list(wb.worksheets[0].iter_rows(values_only=True))
    finally:
        wb.close()
    head = [str(h) for h in rows[0]]
    want: dict[str, dict[str, int]] = {m: {} for m in TARGETS}
    for values in rows[1:]:
        row = dict(zip(head, values, strict=False))
        if row.get("is_active") is not True:
            continue
        q = amazon.get(str(row["amazon_sku"]), 0)
        for mall, column in TARGETS.items():
            if row.get(column):
                want[mall][str(row[column])] = MANUAL_RULE.allocate(q)
    return want


def off(sb: RunningSandbox, want: dict[str, dict[str, int]], mall: str) -> dict[str, tuple[int | None, int]]:
    have = stock(sb, mall)
    return {k: (have.get(k), v) for k, v in want[mall].items() if have.get(k) != v}


def test_dry_run_then_live_then_nothing_left(sandbox: RunningSandbox) -> None:
    """The manual's five lines with 142 / 138 / 15 and no write; then a live sync sets every item; a rerun plans 0."""
    before = {m: stock(sandbox, m) for m in TARGETS}
    p = subprocess.run(
        [ECSYNC, "-c", str(sandbox.files.config), "sync", "--dry-run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=False,
    )
    assert 0 == p.returncode, p.stdout
    lines, at, numbers = [line.strip() for line in p.stdout.splitlines()], 0, []
    for pattern in DRY_RUN_LINES:
        while not re.fullmatch(pattern, lines[at]):
            at += 1
        numbers += re.fullmatch(pattern, lines[at]).groups()  # type: ignore[union-attr]
    assert ["142", "138", "15"] == numbers
    assert (0, 0) == (writes(sandbox, "yahoo"), writes(sandbox, "rakuten"))
    assert before == {m: stock(sandbox, m) for m in TARGETS}

    want = wanted(sandbox)
    live = cli(sandbox, "sync", "--json")
    doc = json.loads(live.stdout)
    assert (0, "SUCCESS") == (live.returncode, doc["status"])
    assert {"updates": 15, "succeeded": 15, "failed": 0}.items() <= doc["counts"].items()
    assert ({}, {}) == (off(sandbox, want, "yahoo"), off(sandbox, want, "rakuten"))
    assert 0 == json.loads(cli(sandbox, "sync", "--dry-run", "--json").stdout)["counts"]["updates"]


def running_sync(sb: RunningSandbox) -> subprocess.Popen[str]:
    """A live sync held up by a 30 s delay on Yahoo, once status shows it running."""
    call(sb, "yahoo", "POST", "/_sandbox/faults", {"delay_s": 30, "count": 1})
    proc = subprocess.Popen(
        [ECSYNC, "-c", str(sb.files.config), "sync"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = json.loads(cli(sb, "status", "--json").stdout)["runs"]
        if any(r["kind"] == "sync" and r["finished_at"] is None for r in runs):
            return proc
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    pytest.fail("the live sync never showed as running in status")


def test_killed_sync_is_interrupted_and_the_next_completes(sandbox: RunningSandbox) -> None:
    """kill -9 during a live sync: status then shows it INTERRUPTED, and the next sync completes."""
    proc = running_sync(sandbox)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    call(sandbox, "yahoo", "DELETE", "/_sandbox/faults")
    runs = json.loads(cli(sandbox, "status", "--json").stdout)["runs"]
    assert "INTERRUPTED" == runs[0]["status"]
    assert runs[0]["finished_at"] is not None
    # When it died is not known (only when it was found dead): no duration is made up for it.
    [row] = [line for line in cli(sandbox, "status").stdout.splitlines() if line.startswith(runs[0]["id"])]
    assert row.split()[-1] == "-"
    again = cli(sandbox, "sync", "--json")
    assert (0, "SUCCESS") == (again.returncode, json.loads(again.stdout)["status"])


@pytest.mark.parametrize(
    ("sig", "code", "said", "why"),
    [
        (signal.SIGTERM, 143, "terminated (SIGTERM)", "stopped by SIGTERM"),
        (signal.SIGINT, 130, "interrupted", "stopped by the operator (Ctrl-C)"),
    ],
)
def test_stopped_sync_records_itself_interrupted(
    sandbox: RunningSandbox, sig: signal.Signals, code: int, said: str, why: str
) -> None:
    """
    SIGTERM (systemctl stop, a shutdown, cron's `timeout`) or Ctrl-C: the sync records itself INTERRUPTED, says
    why, alerts and exits 128 + the signal at once; nothing waits for the next command to find it dead.
    """
    proc = running_sync(sandbox)
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    call(sandbox, "yahoo", "DELETE", "/_sandbox/faults")
    assert (code, said) == (proc.returncode, err.strip().splitlines()[-1])
    assert "subject=INTERRUPTED" in err  # the alert, from the process that was stopped
    [run] = json.loads(cli(sandbox, "status", "--limit", "1", "--json").stdout)["runs"]
    assert ("INTERRUPTED", True) == (run["status"], why in run["message"])
    again = cli(sandbox, "sync", "--json")
    assert (0, "SUCCESS") == (again.returncode, json.loads(again.stdout)["status"])


def test_mall_down_for_the_whole_run_is_partial(sandbox: RunningSandbox) -> None:
    """Rakuten answering 500 throughout: PARTIAL, exit 3, Yahoo updated; the next run catches Rakuten up."""
    want = wanted(sandbox)
    call(sandbox, "rakuten", "POST", "/_sandbox/faults", {"status": 500, "count": 10_000})
    p = cli(sandbox, "sync")
    assert 3 == p.returncode
    left = len(want["rakuten"])  # every active Rakuten mapping, not "Failed: 0" alone
    assert f"Not synced: {left} items" in p.stdout
    assert f"PARTIAL ({left} not synced)" in cli(sandbox, "status").stdout
    assert {} == off(sandbox, want, "yahoo")
    assert off(sandbox, want, "rakuten")
    call(sandbox, "rakuten", "DELETE", "/_sandbox/faults")
    again = cli(sandbox, "sync", "--json")
    assert (0, "SUCCESS") == (again.returncode, json.loads(again.stdout)["status"])
    assert {} == off(sandbox, want, "rakuten")


def test_fba_down_is_failed_and_json_keeps_spec_fields(sandbox: RunningSandbox) -> None:
    """
    FBA answering 500 throughout: FAILED, exit 1, nothing written; `--json` still gives SPEC's fixed fields (a
    script reading `status` found only an error document), with the run that `status` shows FAILED.
    """
    call(sandbox, "amazon", "POST", "/_sandbox/faults", {"status": 500, "count": 10_000})
    p = cli(sandbox, "sync", "--json")
    doc = json.loads(p.stdout)
    assert (1, "FAILED", False) == (p.returncode, doc["status"], doc["dry_run"])
    assert {"found", "mapped", "updates", "succeeded", "failed"} <= set(doc["counts"])
    assert "the source could not be read in full" in doc["error"]
    runs = json.loads(cli(sandbox, "status", "--json").stdout)["runs"]
    assert (doc["run_id"], "FAILED") == (runs[0]["id"], runs[0]["status"])
    assert (0, 0) == (writes(sandbox, "yahoo"), writes(sandbox, "rakuten"))
    plain = cli(sandbox, "sync")  # as cron runs it: its stdout (cron.log) closes with the outcome and the run
    again = json.loads(cli(sandbox, "status", "--json").stdout)["runs"][0]["id"]
    assert (1, f"[FAILED] Sync failed: run {again}") == (plain.returncode, plain.stdout.strip().splitlines()[-1])
    assert "the source could not be read in full" in plain.stderr


def test_all_fba_at_zero_is_refused(sandbox: RunningSandbox) -> None:
    """Every FBA quantity at 0 at once: REFUSED, exit 1, nothing written to any mall."""
    skus = call(sandbox, "amazon", "GET", "/_sandbox/stock")
    call(sandbox, "amazon", "PUT", "/_sandbox/stock", dict.fromkeys(skus, 0))
    p = cli(sandbox, "sync")
    assert 1 == p.returncode
    assert "[REFUSED]" in p.stdout
    assert (0, 0) == (writes(sandbox, "yahoo"), writes(sandbox, "rakuten"))
    runs = json.loads(cli(sandbox, "status", "--json").stdout)["runs"]
    assert ("sync", "REFUSED") == (runs[0]["kind"], runs[0]["status"])


def test_simulate_current_stock_and_a_report_file(sandbox: RunningSandbox, tmp_path: Path) -> None:
    """
    simulate shows each mapped SKU's share from the live listing or a report file (the SKUs it leaves out asked of
    FBA by name), on the malls it is mapped on (a SKU FBA does not hold gets 0, as the sync sets it), and writes
    nothing.
    """
    amazon = call(sandbox, "amazon", "GET", "/_sandbox/stock")
    rows = json.loads(cli(sandbox, "simulate", "--json").stdout)["rows"]
    shares = {r["sku"]: r["malls"]["yahoo"] for r in rows if r["malls"]["yahoo"] is not None}
    assert {sku: MANUAL_RULE.allocate(amazon.get(sku, 0)) for sku in shares} == shares
    assert set(amazon) - {r["sku"] for r in rows}, "the demo's unmapped FBA SKUs are not rows"
    assert {0} == {r["amazon_qty"] for r in rows if r["sku"] not in amazon}, "mapped, not at FBA: 0"
    report = tmp_path / "fba.tsv"
    first, second = sorted(shares)[:2]
    report.write_text(f"sku\tafn-fulfillable-quantity\n{first}\t25\n{second}\t9\n", encoding="cp932")
    proposed = tmp_path / "rules.yaml"
    proposed.write_text("rules:\n  default:\n    - {min: 1, ratio: '1/4'}\n")
    doc = json.loads(cli(sandbox, "simulate", "--file", str(report), "--rules", str(proposed), "--json").stdout)
    by_sku = {
        r["sku"]: (r["amazon_qty"], r["malls"]["yahoo"], r["proposed"]["yahoo"], r["changed"]) for r in doc["rows"]
    }
    assert ((25, 5, 6, True), (9, 3, 2, True)) == (by_sku[first], by_sku[second])
    rest = {sku: q for sku, (q, *_others) in by_sku.items() if sku not in (first, second)}
    assert {sku: amazon.get(sku, 0) for sku in rest} == rest, "the rest asked of FBA by name, as sync --file asks"
    assert (0, 0) == (writes(sandbox, "yahoo"), writes(sandbox, "rakuten"))


def test_sync_from_a_report_file(sandbox: RunningSandbox, tmp_path: Path) -> None:
    """`sync --file` takes FBA stock from a downloaded report (cp932); a bad file is one located line, exit 1."""
    amazon = call(sandbox, "amazon", "GET", "/_sandbox/stock")
    report = tmp_path / "fba.txt"
    lines = ["sku\tfnsku\tafn-fulfillable-quantity"] + [f"{sku}\tX00\t{q}" for sku, q in amazon.items()]
    report.write_text("\n".join(lines) + "\n", encoding="cp932")
    doc = json.loads(cli(sandbox, "sync", "--dry-run", "--file", str(report), "--json").stdout)
    assert {"found": 142, "mapped": 138, "updates": 15}.items() <= doc["counts"].items()
    # The two active mapped SKUs FBA does not hold are asked for by name (a token, one lookup); nothing else.
    asked = call(sandbox, "amazon", "GET", "/_sandbox/requests")["by_path"]
    assert 1 == asked.get("/fba/inventory/v1/summaries"), asked
    bad = tmp_path / "bad.txt"
    bad.write_text("sku\tafn-fulfillable-quantity\nA-1\t3\nA-2\tmany\n", encoding="utf-8")
    p = cli(sandbox, "sync", "--dry-run", "--file", str(bad))
    assert 1 == p.returncode
    [line] = p.stderr.strip().splitlines()
    assert str(bad) in line
    assert "row 3" in line
    assert "afn-fulfillable-quantity" in line
    live = cli(sandbox, "sync", "--file", str(bad), "--json")  # recorded FAILED: --json gives its id, as status does
    doc = json.loads(live.stdout)
    runs = json.loads(cli(sandbox, "status", "--json").stdout)["runs"]
    assert (1, "FAILED", runs[0]["id"]) == (live.returncode, doc["status"], doc["run_id"])
    assert "row 3" in doc["error"]


def test_rollback_after_an_order(sandbox: RunningSandbox) -> None:
    """rollback --dry-run shows both numbers for an item sold since the sync; --yes puts back; once only."""
    before = {m: stock(sandbox, m) for m in TARGETS}
    assert 0 == cli(sandbox, "sync").returncode
    after = {m: stock(sandbox, m) for m in TARGETS}
    sold = next(k for k in sorted(after["yahoo"]) if after["yahoo"][k] > 0 and after["yahoo"][k] != before["yahoo"][k])
    call(sandbox, "yahoo", "PUT", "/_sandbox/stock", {sold: after["yahoo"][sold] - 1})
    plan = json.loads(cli(sandbox, "rollback", "--dry-run", "--json").stdout)
    assert plan["run_id"] is None
    row = next(i for i in plan["items"] if i["mall"] == "yahoo" and i["item"] == sold)
    change = after["yahoo"][sold] - before["yahoo"][sold]
    assert (after["yahoo"][sold] - 1, max(0, after["yahoo"][sold] - 1 - change)) == (row["now"], row["restore"])
    # SPEC: each item as the master sheet names it, the key /_sandbox/stock uses (Rakuten's EC00003 as well).
    for mall in TARGETS:
        assert {i["item"] for i in plan["items"] if i["mall"] == mall} <= after[mall].keys()
    assert any(i["item"].startswith("EC") for i in plan["items"] if i["mall"] == "rakuten")
    p = cli(sandbox, "rollback", "--yes", "--json")
    assert (0, "SUCCESS") == (p.returncode, json.loads(p.stdout)["status"])
    assert row["restore"] == stock(sandbox, "yahoo")[sold]
    unsold = {k: v for k, v in before["rakuten"].items() if after["rakuten"][k] != v}
    assert unsold == {k: stock(sandbox, "rakuten")[k] for k in unsold}
    again = cli(sandbox, "rollback", "--yes")
    assert 1 == again.returncode
    assert "already rolled back" in again.stderr
    rolled, sync = json.loads(cli(sandbox, "status", "--json").stdout)["runs"][:2]
    assert ("rollback", "sync") == (rolled["kind"], sync["kind"])
    assert (sync["id"], rolled["id"]) == (rolled["rollback_of"], sync["rolled_back_by"])
    assert f"rolled back by run {rolled['id']}" in cli(sandbox, "status", sync["id"]).stdout
