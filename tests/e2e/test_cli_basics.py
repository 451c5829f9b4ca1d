"""The CLI as an operator runs it: three spellings, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

from pathlib import Path

import pytest

from ecsync_core.store import Database
from tests.sheets import manual_sheet


ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv" / "bin"


def ecsync(*args: str, cwd: Path | None = None, spelling: str = "script") -> subprocess.CompletedProcess[str]:
    cmd = {
        "script": [str(VENV / "ecsync")],
        "module": [sys.executable, "-m", "ecsync_core"],
        "main": [sys.executable, str(ROOT / "main.py")],
    }[spelling]
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("spelling", ["script", "module", "main"])
def test_simulate_prints_the_manual_table(spelling: str) -> None:
    """`simulate --qty 0-30` prints the manual's numbers under every spelling of the command."""
    p = ecsync("simulate", "--qty", "0-30", spelling=spelling)
    assert p.returncode == 0, p.stderr
    rows = {int(line.split()[0]): line.split()[1:] for line in p.stdout.splitlines() if line.split()[0].isdigit()}
    assert {q: rows[q] for q in (25, 16, 9, 4, 10)} == {
        25: ["5", "5"],
        16: ["4", "4"],
        9: ["3", "3"],
        4: ["2", "2"],
        10: ["2", "2"],
    }
    assert "9 -> 3 but 10 -> 2" in p.stdout


def test_simulate_json_shape() -> None:
    """`--json` is one document with a row per quantity and every target mall's number."""
    p = ecsync("simulate", "--qty", "0-30", "--json")
    doc = json.loads(p.stdout)
    assert list(range(31)) == [r["amazon_qty"] for r in doc["rows"]]
    assert doc["rows"][25] == {"amazon_qty": 25, "malls": {"rakuten": 5, "yahoo": 5}}


def test_the_tier_edge_note_keeps_to_the_asked_range() -> None:
    """9 -> 3 but 10 -> 2 is named for 8-12, and not for 24-26, where neither quantity is shown."""
    assert "9 -> 3 but 10 -> 2" in ecsync("simulate", "--qty", "8-12").stdout
    assert "less for more" not in ecsync("simulate", "--qty", "24-26").stdout


def test_simulate_proposed_rules(tmp_path: Path) -> None:
    """`--rules FILE` shows the proposed numbers beside today's and marks the rows that change."""
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  default:\n    - {min: 1, ratio: '1/4'}\n")
    doc = json.loads(ecsync("simulate", "--qty", "8-9", "--rules", str(rules), "--json").stdout)
    assert [r["proposed"] for r in doc["rows"]] == [{"rakuten": 2, "yahoo": 2}, {"rakuten": 2, "yahoo": 2}]
    assert [r["changed"] for r in doc["rows"]] == [False, True]


def test_a_misspelt_mall_in_a_proposed_table_is_refused(tmp_path: Path) -> None:
    """`rakutn` in a proposed table would leave Rakuten unchanged in the preview: refused with the key and file."""
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  malls:\n    rakutn:\n      - {min: 1, ratio: '1/10'}\n")
    p = ecsync("simulate", "--qty", "18-21", "--rules", str(rules))
    assert (1, f"{rules}: rules.malls.rakutn: no installed mall plugin has this code") == (
        p.returncode,
        p.stderr.split("config error: ")[-1].split(" (installed")[0],
    )


def test_a_proposed_table_with_a_band_given_twice_is_refused(tmp_path: Path) -> None:
    """Two `yahoo:` lists would preview only the second; the file and line are named instead."""
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "rules:\n  malls:\n    yahoo:\n      - {min: 1, ratio: '1/2'}\n    yahoo:\n      - {min: 1, ratio: '1'}\n"
    )
    p = ecsync("simulate", "--qty", "4", "--rules", str(rules))
    assert (1, f"{rules} is not valid YAML (line 5): key 'yahoo' is given twice; keep one") == (
        p.returncode,
        p.stderr.strip().split("--rules: ")[-1],
    )


def test_a_table_that_offers_more_than_fba_holds_is_pointed_out(tmp_path: Path) -> None:
    """Yahoo on a share of 1 leaves Rakuten's half on top: simulate names the quantities, in text and JSON."""
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  malls:\n    yahoo:\n      - {min: 1, ratio: '1'}\n")
    p = ecsync("simulate", "--qty", "1-3", "--rules", str(rules))
    assert (
        "note: under the proposed rules the malls together get more units than FBA holds at q = 2 (3 units)" in p.stdout
    )
    doc = json.loads(ecsync("simulate", "--qty", "1-3", "--rules", str(rules), "--json").stdout)
    assert ([], [2, 3]) == (doc["overcommitted"]["at"], doc["proposed_overcommitted"]["at"][0])


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("colour: blue\n", "colour"),
        ("safety:\n  max_zero_ratio: 2\n", "safety.max_zero_ratio"),
        ("rules:\n  default:\n    - {min: 1, max: 10, ratio: '1/2'}\n    - {min: 5, ratio: '1/5'}\n", "rules.default"),
    ],
)
def test_bad_config_is_one_line_exit_1(tmp_path: Path, text: str, key: str) -> None:
    """A bad config exits 1 with one line naming the key, and no traceback."""
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    p = ecsync("-c", str(cfg), "simulate", "--qty", "1")
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert key in lines[0]
    assert "Traceback" not in p.stderr


def test_usage_error_exits_2() -> None:
    """A misspelt option is a usage error: exit 2."""
    assert ecsync("simulate", "--qtty", "1").returncode == 2


def test_bad_quantity_range_is_one_line() -> None:
    """A range that runs backwards, or no number at all, is a usage error (exit 2) in one line."""
    p = ecsync("simulate", "--qty", "30-0")
    assert (p.returncode, len(p.stderr.strip().splitlines())) == (2, 1)
    assert "backwards" in p.stderr
    assert 2 == ecsync("simulate", "--qty", "abc").returncode


def test_malls_lists_installed_plugins() -> None:
    """`malls --json` lists each mall with role, sheet column, distribution and version."""
    doc = json.loads(ecsync("malls", "--json").stdout)
    by_code = {m["code"]: m for m in doc["malls"]}
    assert {"role": "target", "sheet_column": "yahoo_item_code", "distribution": "ecsync-yahoo"}.items() <= by_code[
        "yahoo"
    ].items()
    assert by_code["amazon"]["role"] == "source"


def test_rules_approval_is_recorded(tmp_path: Path) -> None:
    """A changed table is shown as not approved until `rules approve --by`, which history then lists."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database: {tmp_path / 'x.duckdb'}\nrules:\n  default:\n    - {{min: 1, ratio: '1/3'}}\n")
    before = json.loads(ecsync("-c", str(cfg), "rules", "show", "--json").stdout)
    assert before["approved"] is False
    approved = json.loads(ecsync("-c", str(cfg), "rules", "approve", "--by", "Tanaka", "--json").stdout)
    after = json.loads(ecsync("-c", str(cfg), "rules", "show", "--json").stdout)
    assert (after["approved"], after["approved_by"]) == (True, "Tanaka")
    history = json.loads(ecsync("-c", str(cfg), "rules", "history", "--json").stdout)
    assert [before["fingerprint"]] == [a["fingerprint"] for a in history["approvals"]]
    # Shown in the configured zone (Asia/Tokyo), the same instant everywhere, as status shows its times.
    at = approved["approved_at"]
    assert (at[-6:], at) == ("+09:00", after["approved_at"])
    assert at == history["approvals"][0]["approved_at"]
    assert f"approved by Tanaka at {at[:10]} {at[11:19]} (Asia/Tokyo)" in ecsync("-c", str(cfg), "rules", "show").stdout
    # Edited after the approval: the table in force is nobody's, and --json does not name Tanaka as its approver.
    cfg.write_text(cfg.read_text().replace("1/3", "1/4"))
    edited = json.loads(ecsync("-c", str(cfg), "rules", "show", "--json").stdout)
    assert (False, None, None) == (edited["approved"], edited["approved_by"], edited["approved_at"])


def test_a_live_sync_under_an_unapproved_table_gives_spec_json(tmp_path: Path) -> None:
    """Refused before any plan, `sync --json` still carries SPEC's fields: status REFUSED, no run, zero counts."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database: {tmp_path / 'x.duckdb'}\nrules:\n  default:\n    - {{min: 1, ratio: '1/3'}}\n")
    with Database(tmp_path / "x.duckdb").connect():
        pass
    p = ecsync("-c", str(cfg), "sync", "--json")
    doc = json.loads(p.stdout)
    assert (1, "REFUSED", None, 0) == (p.returncode, doc["status"], doc["run_id"], doc["counts"]["updates"])
    assert "is not approved" in doc["error"]


def test_an_approval_of_a_table_edited_since_it_was_reviewed_is_refused(tmp_path: Path) -> None:
    """`--fingerprint` names what the manager reviewed: a table edited in between is not approved unseen."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database: {tmp_path / 'x.duckdb'}\nrules:\n  default:\n    - {{min: 1, ratio: '1/3'}}\n")
    reviewed = json.loads(ecsync("-c", str(cfg), "rules", "show", "--json").stdout)["fingerprint"]
    cfg.write_text(cfg.read_text().replace("1/3", "1/2"))
    p = ecsync("-c", str(cfg), "rules", "approve", "--by", "Tanaka", "--fingerprint", reviewed)
    assert (1, True) == (p.returncode, f"not the {reviewed} you reviewed" in p.stderr)
    assert False is json.loads(ecsync("-c", str(cfg), "rules", "show", "--json").stdout)["approved"]
    now = json.loads(ecsync("-c", str(cfg), "rules", "show", "--json").stdout)["fingerprint"]
    assert 0 == ecsync("-c", str(cfg), "rules", "approve", "--by", "Tanaka", "--fingerprint", now).returncode


def test_export_sku_json(tmp_path: Path) -> None:
    """`export-sku --json` says what it wrote, one document on stdout."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database: {tmp_path / 'x.duckdb'}\n")
    Database(tmp_path / "x.duckdb").version()  # a database with nothing imported yet
    p = ecsync("-c", str(cfg), "export-sku", "-f", str(tmp_path / "out.xlsx"), "--json")
    doc = json.loads(p.stdout)
    assert (0, 0) == (doc["skus"], doc["mappings"])
    assert {"yahoo_item_code", "rakuten_item_number"} == set(doc["columns"])
    assert (tmp_path / "out.xlsx").is_file()


def test_an_export_from_the_wrong_place_leaves_the_sheet_alone(tmp_path: Path) -> None:
    """
    Run from the wrong folder (a relative `database:` finds nothing), export-sku wrote an empty sheet over the team's
    master and said so with exit 0. No database, or an empty one over an existing file: refused, the file as it was.
    """
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database: {tmp_path / 'typo' / 'x.duckdb'}\n")
    sheet = tmp_path / "master.xlsx"
    sheet.write_bytes(b"the team's sheet")
    p = ecsync("-c", str(cfg), "export-sku", "-f", str(sheet))
    assert (1, True) == (p.returncode, "no database here" in p.stderr)
    assert not (tmp_path / "typo").exists()
    Database(tmp_path / "typo" / "x.duckdb").version()
    p = ecsync("-c", str(cfg), "export-sku", "-f", str(sheet))
    assert (1, True) == (p.returncode, "holds no mappings: the sheet is left as it is" in p.stderr)
    assert b"the team's sheet" == sheet.read_bytes()


def test_status_on_a_database_that_is_not_there_says_so_and_makes_none(tmp_path: Path) -> None:
    """A `database:` path with a typo: status says where it looked, and a look creates no empty database."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database: {tmp_path / 'typo' / 'x.duckdb'}\n")
    p = ecsync("-c", str(cfg), "status")
    assert (0, f"no runs yet: no database at {tmp_path / 'typo' / 'x.duckdb'}") == (
        p.returncode,
        p.stdout.split(" (")[0],
    )
    assert '{"runs": []}' == ecsync("-c", str(cfg), "status", "--json").stdout.strip()
    assert 1 == ecsync("-c", str(cfg), "status", "abc").returncode
    # Nor do the other looks: an empty database there would pass health's wrong-path check from then on.
    for look in (["rules", "show"], ["rules", "history"], ["cleanup", "--dry-run"], ["cleanup"]):
        assert 0 == ecsync("-c", str(cfg), *look).returncode, look
    assert not (tmp_path / "typo").exists()


def test_status_limit_and_export_name_are_checked(tmp_path: Path) -> None:
    """A --limit past any history is a usage error (it crashed in the database); a .csv export is refused."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database: {tmp_path / 'x.duckdb'}\n")
    assert 2 == ecsync("-c", str(cfg), "status", "--limit", "99999999999999999999").returncode
    p = ecsync("-c", str(cfg), "export-sku", "-f", str(tmp_path / "out.csv"))
    assert (1, "name the file .xlsx") == (p.returncode, p.stderr.strip()[-len("name the file .xlsx") :])
    assert not (tmp_path / "out.csv").exists()


def test_an_export_to_an_unwritable_place_is_one_line(tmp_path: Path) -> None:
    """No traceback after the error line (openpyxl's half-run row writer complained on stderr at exit)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database: {tmp_path / 'e.duckdb'}\n", encoding="utf-8")
    Database(tmp_path / "e.duckdb").version()
    p = ecsync("-c", str(cfg), "export-sku", "-f", "/proc/m.xlsx")
    assert (1, 1) == (p.returncode, len(p.stderr.strip().splitlines())), p.stderr
    assert "cannot write the sheet" in p.stderr


def test_with_json_an_error_is_a_json_document_too(tmp_path: Path) -> None:
    """A script reading stdout finds one JSON document even when the command fails, and the line on stderr."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database: {tmp_path / 'e.duckdb'}\n", encoding="utf-8")
    Database(tmp_path / "e.duckdb").version()  # an empty history: the run is not in it
    p = ecsync("-c", str(cfg), "status", "nosuch", "--json")
    assert ({"error": "no run with ID 'nosuch' (see `ecsync status`)", "exit_code": 1}, 1) == (
        json.loads(p.stdout),
        p.returncode,
    )
    assert p.stderr.startswith("error: no run with ID")
    usage = ecsync("simulate", "--qty", "abc", "--json")
    assert (2, 2) == (json.loads(usage.stdout)["exit_code"], usage.returncode)


def test_the_yahoo_token_script_runs_under_any_python() -> None:
    """
    Every Yahoo credential message says `python scripts/get_yahoo_token.py`: under a python outside .venv it died
    with ModuleNotFoundError. It moves into .venv, as main.py does.
    """
    bare = Path(sys.base_prefix) / "bin" / "python3"
    p = subprocess.run(
        [str(bare), str(ROOT / "scripts" / "get_yahoo_token.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (0, True) == (p.returncode, "--paste" in p.stdout), p.stderr


@pytest.mark.parametrize("dry", [True, False])
def test_a_sync_where_no_database_is_makes_none_and_says_why(tmp_path: Path, dry: bool) -> None:
    """
    Run from another folder (relative paths are the working directory's), a sync made an empty database there,
    found nothing mapped and said SUCCESS, exit 0. It is refused, and nothing is made.
    """
    p = ecsync("sync", *(["--dry-run"] if dry else []), cwd=tmp_path)
    assert 1 == p.returncode
    assert "data/ecsync.duckdb: no database here: nothing imported yet (`ecsync import-sku` first)" in p.stderr
    rollback = ecsync("rollback", *(["--dry-run"] if dry else ["--yes"]), cwd=tmp_path)
    assert (1, True) == (rollback.returncode, "no database here" in rollback.stderr)
    if dry:  # the manual's check of a sheet: it made the empty database a sync then found
        sheet = manual_sheet(tmp_path / "master.xlsx")
        assert 0 == ecsync("import-sku", "--dry-run", "-f", str(sheet), cwd=tmp_path).returncode
    assert not (tmp_path / "data").exists(), "no database, nor its folder"
