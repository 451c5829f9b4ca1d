"""import-sku and export-sku through the CLI: all or nothing, merge and replace, the round trip."""

from __future__ import annotations

import json

from pathlib import Path

import openpyxl
import pytest

from ecsync_core.domain import Mapping
from ecsync_core.errors import InputError, PluginError, RunLockedError
from ecsync_core.services.import_sku import export_sku, import_sku
from ecsync_core.store import Database, DuckDBMappings
from tests.sheets import (
    HEADER,
    fake_mall_module,
    make_app,
    manual_sheet,
    run_cli,
    sheet_values,
    write_workbook,
)


Capsys = pytest.CaptureFixture[str]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config with only the database and the master file, as SPEC allows for import-sku."""
    path = tmp_path / "config.yaml"
    path.write_text(f"database: {tmp_path / 'db.duckdb'}\nmaster_file: {tmp_path / 'master.xlsx'}\n", encoding="utf-8")
    return path


def mappings(tmp_path: Path) -> list[Mapping]:
    return DuckDBMappings(Database(tmp_path / "db.duckdb")).all()


def test_manual_sheet_imports_as_spec_says(tmp_path: Path, config: Path, capsys: Capsys) -> None:
    """The manual's sheet (5 rows, 3 active, 4 blank rows after) becomes 8 mappings; the counts are printed."""
    manual_sheet(tmp_path / "master.xlsx")
    code, out, err = run_cli(capsys, "-c", config, "import-sku")
    assert (0, "") == (code, err)
    assert "5 SKUs (3 active), mall codes: rakuten 4, yahoo 4" in out
    assert "added 8, changed 0, deactivated 0, removed 0 mappings" in out
    got = {(m.sku, m.mall): (m.item, m.active) for m in mappings(tmp_path)}
    assert {
        ("AMZ-TEE-001", "yahoo"): ("ec-tee-001", True),
        ("AMZ-TEE-001", "rakuten"): ("tee-001", True),
        ("AMZ-TEE-002", "yahoo"): ("ec-tee-002", True),
        ("AMZ-CAP-003", "rakuten"): ("cap-003:navy-f", True),
        ("AMZ-BAG-004", "yahoo"): ("ec-bag-004", False),
        ("AMZ-BAG-004", "rakuten"): ("bag-004", False),
        ("AMZ-MUG-005", "yahoo"): ("ec-mug-005:white", False),
        ("AMZ-MUG-005", "rakuten"): ("mug-005", False),
    } == got


def test_refused_import_changes_nothing_and_names_every_problem(tmp_path: Path, config: Path, capsys: Capsys) -> None:
    """A sheet with problems exits 1 with one line per problem, and the mappings stay exactly as they were."""
    run_cli(capsys, "-c", config, "import-sku", "-f", manual_sheet(tmp_path / "m.xlsx"))
    assert 0 == run_cli(capsys, "-c", config, "export-sku", "-f", tmp_path / "before.xlsx")[0]
    rows = [("AMZ-TEE-001", "ec-new", "", True), ("AMZ-TEE-001", "ec-x", "", "yes"), ("NEW-1", "ec-bad code", "", 1)]
    bad = write_workbook(tmp_path / "bad.xlsx", rows)

    code, out, err = run_cli(capsys, "-c", config, "import-sku", "--replace", "-f", bad)

    assert (1, "") == (code, out)
    lines = err.strip().splitlines()
    assert "error: 3 problems, nothing imported:" == lines[0]
    assert lines[1].startswith(f"{bad}, row 3, column amazon_sku (A): duplicate amazon_sku: already on row 2")
    assert lines[2] == f"{bad}, row 3, column is_active (D): is_active must be TRUE, FALSE, 1 or 0 (value 'yes')"
    assert lines[3].startswith(f"{bad}, row 4, column yahoo_item_code (B): ")
    assert lines[3].endswith("(value 'ec-bad code')")
    assert 0 == run_cli(capsys, "-c", config, "export-sku", "-f", tmp_path / "after.xlsx")[0]
    assert sheet_values(tmp_path / "before.xlsx") == sheet_values(tmp_path / "after.xlsx")


def test_installed_plugins_check_their_codes(tmp_path: Path, config: Path, capsys: Capsys) -> None:
    """
    Yahoo and Rakuten check their own code syntax. Rakuten's codes are stored as the sheet spells them (what
    `status` and `rollback --json` show), while one manageNumber in two cases on two SKUs is one item claimed twice.
    """
    rows = [
        ("SKU-1", "ec:too:many", "Tee-1:Red", True),
        ("SKU-2", "x" * 100, "tee 2", True),
        ("SKU-3", "ec-3:sub-1", "TEE-3:Blue", True),
    ]
    code, _out, err = run_cli(capsys, "-c", config, "import-sku", "-f", write_workbook(tmp_path / "s.xlsx", rows))
    assert 1 == code
    assert [
        "row 2, column yahoo_item_code (B)",
        "row 3, column yahoo_item_code (B)",
        "row 3, column rakuten_item_number (C)",
    ] == [line.split(", ", 1)[1].split(": ", 1)[0] for line in err.strip().splitlines()[1:]]
    ok = write_workbook(tmp_path / "ok.xlsx", [("SKU-1", "ec-1", "Tee-1:Red", True), rows[2]])
    assert 0 == run_cli(capsys, "-c", config, "import-sku", "-f", ok)[0]
    assert ["Tee-1:Red", "TEE-3:Blue"] == [m.item for m in mappings(tmp_path) if m.mall == "rakuten"]
    twice = write_workbook(tmp_path / "t.xlsx", [("SKU-4", "", "tee-3:Blue", True)])
    code, _out, err = run_cli(capsys, "-c", config, "import-sku", "-f", twice)
    assert 1 == code
    assert "this code is already mapped to amazon_sku 'SKU-3'" in err


def test_fake_mall_plugin_checks_and_normalizes_its_column(tmp_path: Path) -> None:
    """
    A third-party mall's column is required, its check refuses bad codes, and its normalizer tells one item in
    two spellings on two SKUs; the codes are stored as the sheet spells them.
    """
    app = make_app(tmp_path, extra=[fake_mall_module()])
    header = (*HEADER, "fake_code")
    missing = write_workbook(tmp_path / "m.xlsx", [("SKU-1", "ec-1", "", True)])
    with pytest.raises(InputError) as refused:
        import_sku(app, missing)
    assert [f"{missing}, row 1: missing column 'fake_code'"] == [str(p) for p in refused.value.problems]
    bad = write_workbook(
        tmp_path / "b.xlsx", [("SKU-1", "", "", True, "fm-12"), ("SKU-2", "", "", True, "FX-1")], header
    )
    with pytest.raises(InputError) as refused:
        import_sku(app, bad)
    assert [f"{bad}, row 3, column fake_code (E): fakemall code 'FX-1' must be FM- and 1-6 digits (value 'FX-1')"] == [
        str(p) for p in refused.value.problems
    ]
    twice = write_workbook(
        tmp_path / "t.xlsx", [("SKU-1", "", "", True, "fm-12"), ("SKU-2", "", "", True, "FM-12")], header
    )
    with pytest.raises(InputError) as refused:
        import_sku(app, twice)
    assert ["row 3, column fake_code (E): also claimed by amazon_sku 'SKU-1' on row 2 (value 'FM-12')"] == [
        str(p).split(", ", 1)[1] for p in refused.value.problems
    ]
    import_sku(app, write_workbook(tmp_path / "g.xlsx", [("SKU-1", "", "", True, "fm-12")], header))
    assert [Mapping("SKU-1", "fakemall", "fm-12", True)] == app.mappings.all()


def test_merge_replace_and_the_counts(tmp_path: Path, config: Path, capsys: Capsys) -> None:
    """Merge adds, changes, deactivates and removes a blanked code but keeps SKUs not in the sheet; replace
    removes them."""
    first = [("SKU-1", "ec-1", "tee-1", True), ("SKU-2", "ec-2", "tee-2", True), ("SKU-3", "ec-3", "", True)]
    run_cli(capsys, "-c", config, "import-sku", "-f", write_workbook(tmp_path / "a.xlsx", first))
    second = [("SKU-1", "ec-1b", "", True), ("SKU-2", "ec-2", "tee-2", False), ("SKU-4", "ec-4", "", True)]
    sheet = write_workbook(tmp_path / "b.xlsx", second)

    code, out, _ = run_cli(capsys, "-c", config, "-v", "import-sku", "-f", sheet)
    assert 0 == code
    assert "added 1, changed 1, deactivated 2, removed 1 mappings" in out
    assert "changed      SKU-1  yahoo    ec-1 -> ec-1b" in out
    assert "removed      SKU-1  rakuten  tee-1" in out
    assert {"SKU-1", "SKU-2", "SKU-3", "SKU-4"} == {m.sku for m in mappings(tmp_path)}

    code, out, _ = run_cli(capsys, "-c", config, "import-sku", "--replace", "-f", sheet)
    assert "added 0, changed 0, deactivated 0, removed 1 mappings (--replace)" in out
    assert {"SKU-1", "SKU-2", "SKU-4"} == {m.sku for m in mappings(tmp_path)}


def test_a_sheet_wrong_on_every_row_lists_the_first_hundred(tmp_path: Path, config: Path, capsys: Capsys) -> None:
    """150 rows with 'yes' for is_active: the first 100 problems show the pattern, a line counts the rest."""
    bad = write_workbook(tmp_path / "bad.xlsx", [(f"SKU-{n}", f"ec-{n}", "", "yes") for n in range(150)])
    code, _, err = run_cli(capsys, "-c", config, "import-sku", "-f", bad)
    lines = err.strip().splitlines()
    assert (1, 102) == (code, len(lines))
    assert "error: 150 problems, nothing imported:" == lines[0]
    assert lines[100].startswith(f"{bad}, row 101, column is_active (D): is_active must be")
    assert "... and 50 more problems not shown: fix these, and check again" == lines[101]


def test_replace_with_a_sheet_of_no_rows_is_refused(tmp_path: Path, config: Path, capsys: Capsys) -> None:
    """
    A header-only sheet (or the wrong one) with --replace removed every mapping, and each sync after was a quiet
    SUCCESS sending nothing while the malls kept selling their last numbers. Refused, dry run too; merged, it is
    harmless (nothing changes).
    """
    first = [("SKU-1", "ec-1", "tee-1", True), ("SKU-2", "ec-2", "tee-2", True)]
    run_cli(capsys, "-c", config, "import-sku", "-f", write_workbook(tmp_path / "a.xlsx", first))
    before = mappings(tmp_path)
    empty = write_workbook(tmp_path / "empty.xlsx", [])
    for dry in ((), ("--dry-run",)):
        code, _, err = run_cli(capsys, "-c", config, "import-sku", "--replace", *dry, "-f", empty)
        assert (1, f"error: {empty}: the sheet holds no SKU rows: --replace would remove all 4 mappings") == (
            code,
            err.strip().split("; ")[0],
        )
    assert before == mappings(tmp_path)
    assert (0, before) == (run_cli(capsys, "-c", config, "import-sku", "-f", empty)[0], mappings(tmp_path))


def test_a_merge_refuses_a_code_a_kept_mapping_already_holds(tmp_path: Path, config: Path, capsys: Capsys) -> None:
    """SKU-1 keeps ec-1 (not in the second sheet), so SKU-9 may not take ec-1: one item, two SKUs' stock."""
    first = [("SKU-1", "ec-1", "tee-1", True), ("SKU-2", "ec-2", "tee-2", True)]
    run_cli(capsys, "-c", config, "import-sku", "-f", write_workbook(tmp_path / "a.xlsx", first))
    before = mappings(tmp_path)
    second = write_workbook(tmp_path / "b.xlsx", [("SKU-9", "ec-1", "", True), ("SKU-2", "ec-2", "tee-1", True)])
    code, _, err = run_cli(capsys, "-c", config, "import-sku", "-f", second)
    assert 1 == code
    assert "2 problems, nothing imported:" in err
    assert (
        "row 2, column yahoo_item_code (B): amazon_sku 'SKU-9': this code is already mapped to amazon_sku 'SKU-1'"
        in err
    )
    assert "row 3, column rakuten_item_number (C): amazon_sku 'SKU-2': this code is already mapped to amazon_sku" in err
    assert before == mappings(tmp_path)
    assert 0 == run_cli(capsys, "-c", config, "import-sku", "--replace", "-f", second)[0], "the sheet alone is sound"


def test_a_merge_clash_comes_with_the_sheets_own_problems(tmp_path: Path, config: Path, capsys: Capsys) -> None:
    """Every problem at once: a row's own mistake does not hide another row's clash with the database."""
    run_cli(
        capsys, "-c", config, "import-sku", "-f", write_workbook(tmp_path / "a.xlsx", [("SKU-1", "ec-1", "", True)])
    )
    second = write_workbook(tmp_path / "b.xlsx", [("SKU-8", "ec-8", "", "yes"), ("SKU-9", "ec-1", "", True)])
    code, _, err = run_cli(capsys, "-c", config, "import-sku", "-f", second)
    assert 1 == code
    assert [
        "row 2, column is_active (D): is_active must be TRUE, FALSE, 1 or 0",
        "row 3, column yahoo_item_code (B): amazon_sku 'SKU-9': this code is already mapped to amazon_sku 'SKU-1'",
    ] == [line.split(", ", 1)[1].split(" (value", 1)[0].split(", which", 1)[0] for line in err.strip().splitlines()[1:]]
    # SKU-1 named on a row with a mistake is not kept by the merge: its code is free for SKU-9, no clash said.
    third = write_workbook(tmp_path / "c.xlsx", [("SKU-1", "ec-2", "bad code", True), ("SKU-9", "ec-1", "", True)])
    code, _, err = run_cli(capsys, "-c", config, "import-sku", "-f", third)
    assert (1, ["row 2, column rakuten_item_number (C)"]) == (
        code,
        [line.split(", ", 1)[1].split(": ", 1)[0] for line in err.strip().splitlines()],
    )


def test_dry_run_prints_the_changes_and_changes_nothing(tmp_path: Path, config: Path, capsys: Capsys) -> None:
    """--dry-run validates and prints what would change; the database is untouched."""
    manual_sheet(tmp_path / "master.xlsx")
    code, out, _ = run_cli(capsys, "-c", config, "import-sku", "--dry-run", "--json")
    assert 0 == code
    doc = json.loads(out)
    assert (True, 8, 0, 0, 0, []) == (
        doc["dry_run"],
        doc["added"],
        doc["changed"],
        doc["deactivated"],
        doc["removed"],
        doc["warnings"],
    )
    assert [] == mappings(tmp_path)
    code, out, _ = run_cli(capsys, "-c", config, "import-sku", "--dry-run")
    assert "[DRY-RUN] would add 8, change 0, deactivate 0, remove 0 mappings" in out
    code, out, _ = run_cli(capsys, "-c", config, "-v", "import-sku", "--dry-run", "--json")
    added = json.loads(out)["rows"]["added"]
    assert {"sku": "AMZ-CAP-003", "mall": "rakuten", "item": "cap-003:navy-f", "active": True} in added
    assert 8 == len(added)
    assert [] == mappings(tmp_path)


def test_numeric_code_warns_on_stderr_and_imports(tmp_path: Path, config: Path, capsys: Capsys) -> None:
    """A numeric code cell is imported as text, with a warning on stderr and in --json."""
    sheet = write_workbook(tmp_path / "n.xlsx", [("SKU-1", 1234, "", True)])
    code, out, err = run_cli(capsys, "-c", config, "import-sku", "-f", sheet, "--json")
    assert 0 == code
    assert "warning: " in err
    assert "row 2, column yahoo_item_code (B): a numeric cell: Excel may have dropped leading zeros" in err
    (warning,) = json.loads(out)["warnings"]
    assert (2, "yahoo_item_code (B)", 1234) == (warning["row"], warning["column"], warning["value"])
    assert ["1234"] == [m.item for m in mappings(tmp_path)]


@pytest.mark.parametrize("lock", ["~$m.xlsx", ".~lock.m.xlsx#"])
def test_a_sheet_open_in_a_spreadsheet_program_warns_on_import_and_is_not_exported_over(
    tmp_path: Path, config: Path, capsys: Capsys, lock: str
) -> None:
    """
    Open in Excel (or LibreOffice), the file lacks the edits not saved yet, and saving it there after an export
    undoes the export: the import says so, the export refuses. Both went ahead in silence.
    """
    sheet = write_workbook(tmp_path / "m.xlsx", [("SKU-1", "ec-1", "", True)])
    (tmp_path / lock).write_bytes(b"owner")
    code, _, err = run_cli(capsys, "-c", config, "import-sku", "-f", sheet)
    assert (0, True) == (code, f"{sheet}: is open in a spreadsheet program ({lock} beside it)" in err)
    code, _, err = run_cli(capsys, "-c", config, "export-sku", "-f", sheet)
    assert (1, True) == (code, "close it first" in err)
    (tmp_path / lock).unlink()
    assert 0 == run_cli(capsys, "-c", config, "export-sku", "-f", sheet)[0]
    (tmp_path / "~$_m.xlsx").write_bytes(b"owner")  # 01_m.xlsx open, had Word named its lock: not 02_m.xlsx's
    assert 0 == run_cli(capsys, "-c", config, "export-sku", "-f", tmp_path / "02_m.xlsx")[0]


def test_a_sku_typed_with_look_alikes_imports_with_a_warning(tmp_path: Path, config: Path, capsys: Capsys) -> None:
    """A minus sign or the IME's kana-mode dash in amazon_sku is said at import, before a sync finds it missing."""
    sheet = write_workbook(tmp_path / "s.xlsx", [("FBA\u221200023", "ec-1", "", True), ("FBA-00024", "ec-2", "", True)])
    code, _out, err = run_cli(capsys, "-c", config, "import-sku", "-f", sheet)
    assert 0 == code
    assert (
        f"{sheet}, row 2, column amazon_sku (A): holds characters FBA SKUs seldom do (full-width or half-width "
        "forms, a look-alike dash, quotes): plainly typed it is 'FBA-00023'; check it in Seller Central"
    ) in err
    assert "row 3" not in err


def test_export_keeps_leading_zeros_and_round_trips(tmp_path: Path, config: Path, capsys: Capsys) -> None:
    """export-sku writes code cells and columns as text (leading zeros kept); its sheet imports back unchanged."""
    rows = [("00123", "00456", "007", True), ("SKU-2", "ec-2", "", False), ("SKU-3", "", "Tee-3", True)]
    sheet = write_workbook(tmp_path / "s.xlsx", rows, text_columns=(0, 1, 2))
    run_cli(capsys, "-c", config, "import-sku", "-f", sheet)
    code, out, _ = run_cli(capsys, "-c", config, "export-sku", "-f", tmp_path / "out" / "export.xlsx")
    assert (0, f"wrote 3 SKUs (4 mappings) to {tmp_path / 'out' / 'export.xlsx'}\n") == (code, out)

    wb = openpyxl.load_workbook(tmp_path / "out" / "export.xlsx")
    ws = wb.worksheets[0]
    assert [*HEADER[:1], "rakuten_item_number", "yahoo_item_code", "is_active"] == [c.value for c in ws[1]]
    assert ["00123", "007", "00456", True] == [c.value for c in ws[2]]
    assert {"@"} == {c.number_format for c in ws[2][:3]}
    assert {"@"} == {ws.column_dimensions[c].number_format for c in "ABC"}  # blank cells and new rows too
    wb.close()
    for replace in ([], ["--replace"]):
        code, out, _ = run_cli(capsys, "-c", config, "import-sku", "-f", tmp_path / "out" / "export.xlsx", *replace)
        assert "added 0, changed 0, deactivated 0, removed 0 mappings" in out


def test_export_leaves_a_sheet_with_more_in_it_alone(tmp_path: Path, config: Path, capsys: Capsys) -> None:
    """The team's master with its own columns and a price sheet: written over, both were gone without a word."""
    sheet = write_workbook(tmp_path / "s.xlsx", [("SKU-1", "ec-1", "", True, "Tシャツ")], header=[*HEADER, "商品名"])
    wb = openpyxl.load_workbook(sheet)
    wb.create_sheet("価格表").append(["price"])
    wb.save(sheet)
    run_cli(capsys, "-c", config, "import-sku", "-f", sheet)
    before = sheet.read_bytes()
    code, out, err = run_cli(capsys, "-c", config, "export-sku", "-f", sheet)
    assert (1, "") == (code, out)
    assert f"error: {sheet}: holds what export-sku does not write (column '商品名', sheet '価格表'): it is left" in err
    assert before == sheet.read_bytes()
    export = tmp_path / "export.xlsx"
    assert 0 == run_cli(capsys, "-c", config, "export-sku", "-f", export)[0]
    assert 0 == run_cli(capsys, "-c", config, "export-sku", "-f", export)[0], "its own export it writes over"
    # A memo column with no header, and a sheet whose table starts lower down, are lost all the same.
    wb = openpyxl.load_workbook(export)
    wb["master"]["F2"] = "仕入先A メモ"
    wb.create_sheet("価格表")["B3"] = "price"
    wb.save(export)
    code, _, err = run_cli(capsys, "-c", config, "export-sku", "-f", export)
    assert (1, True) == (code, "(cells in columns without a header, sheet '価格表')" in err)
    export.write_text("sku,code\n")  # a CSV saved under the name
    code, _, err = run_cli(capsys, "-c", config, "export-sku", "-f", export)
    assert (1, True) == (code, f"error: {export}: exists and cannot be read as a workbook (" in err)
    assert "it is left as it is; export to another file" in err
    assert "sku,code\n" == export.read_text()


def test_export_needs_a_writable_place(tmp_path: Path, config: Path, capsys: Capsys) -> None:
    """An export into a path that cannot be a folder fails in one line, and leaves no file."""
    (tmp_path / "file").write_text("x")
    Database(tmp_path / "db.duckdb").version()
    code, out, err = run_cli(capsys, "-c", config, "export-sku", "-f", tmp_path / "file" / "export.xlsx")
    assert (1, "") == (code, out)
    assert err.startswith(f"error: {tmp_path / 'file' / 'export.xlsx'}: cannot write the sheet")


def test_no_target_mall_installed_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no target mall plugin, an import would map nothing (and --replace would empty the table): refused."""
    monkeypatch.setenv("ECSYNC_DISABLE_PLUGINS", "yahoo,rakuten")
    app = make_app(tmp_path)
    with pytest.raises(PluginError, match="no target mall plugin is installed"):
        import_sku(app, manual_sheet(tmp_path / "m.xlsx"), replace=True)
    with pytest.raises(PluginError):
        export_sku(app, tmp_path / "e.xlsx")


def test_replace_waits_for_a_mall_whose_plugin_is_not_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disabled or broken plugin's column goes unread, and --replace would remove all its mappings: refused."""
    sheet = manual_sheet(tmp_path / "m.xlsx")
    import_sku(make_app(tmp_path), sheet)
    monkeypatch.setenv("ECSYNC_DISABLE_PLUGINS", "rakuten")
    app = make_app(tmp_path)
    with pytest.raises(PluginError, match="maps items on rakuten, whose plugin is not loaded"):
        import_sku(app, sheet, replace=True)
    assert 4 == sum(m.mall == "rakuten" for m in app.mappings.all())
    assert 0 == len(import_sku(app, sheet).changes.removed), "a merge removes nothing of it: it goes on"


def test_sheet_option_picks_the_sheet(tmp_path: Path, config: Path, capsys: Capsys) -> None:
    """--sheet NAME imports that sheet of the workbook; without it, the sheet with an amazon_sku column."""
    book = write_workbook(tmp_path / "b.xlsx", [("SKU-1", "ec-1", "", True)], sheet="SKU", other_sheets=["readme"])
    code, _out, err = run_cli(capsys, "-c", config, "import-sku", "-f", book, "--sheet", "readme")
    assert 1 == code
    assert f"{book}, row 1: missing column 'amazon_sku'" in err
    code, out, err = run_cli(capsys, "-c", config, "import-sku", "-f", book)
    assert (0, ["SKU-1"]) == (code, [m.sku for m in mappings(tmp_path)])
    assert "added 1, changed 0, deactivated 0, removed 0 mappings" in out
    assert "read sheet 'SKU'; passed over before it: 'readme' (no amazon_sku column)" in err


def test_an_import_waits_for_a_running_sync(tmp_path: Path) -> None:
    """A sync pushes the mappings it read: an import may not change them under it (a dry run may look)."""
    app = make_app(tmp_path)
    sheet = manual_sheet(tmp_path / "m.xlsx")
    app.lock.acquire("abc12345", "2026-11-29T04:00:00Z")
    try:
        with pytest.raises(RunLockedError, match=r"another run \(abc12345\)"):
            import_sku(app, sheet)
        assert 8 == len(import_sku(app, sheet, dry_run=True).changes.added)
    finally:
        app.lock.release()
    assert 8 == len(import_sku(app, sheet).changes.added)
