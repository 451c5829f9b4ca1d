"""The master sheet reader: every rule on a real .xlsx written by openpyxl, every problem named at once."""

from __future__ import annotations

import zipfile

from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecsync_core.domain.text import INVISIBLE
from ecsync_core.errors import InputError
from ecsync_core.master_sheet import (
    EXCEL_ERRORS,
    CodeColumn,
    MasterSheet,
    SheetError,
    SheetRow,
    read_sheet,
    trim,
    write_sheet,
)
from tests.sheets import HEADER, MANUAL_ROWS, manual_sheet, save_values_as_excel_does, write_workbook


COLUMNS = [CodeColumn("yahoo_item_code"), CodeColumn("rakuten_item_number")]


def read(path: Path, **kwargs: object) -> MasterSheet:
    return read_sheet(path, COLUMNS, **kwargs)  # type: ignore[arg-type]


def problems(path: Path, columns: list[CodeColumn] = COLUMNS, **kwargs: object) -> list[str]:
    with pytest.raises(InputError) as refused:
        read_sheet(path, columns, **kwargs)  # type: ignore[arg-type]
    return [str(p) for p in refused.value.problems]


def test_manual_sheet_rows_and_blank_rows(tmp_path: Path) -> None:
    """The manual's sheet gives its 5 SKUs (3 on) and skips the 4 blank rows after them."""
    sheet = read(manual_sheet(tmp_path / "m.xlsx"))
    assert [r[0] for r in MANUAL_ROWS] == [r.sku for r in sheet.rows]
    assert [True, True, True, False, False] == [r.active for r in sheet.rows]
    assert [2, 3, 4, 5, 6] == sheet.lines
    assert {"yahoo_item_code": "ec-tee-002"} == sheet.rows[1].codes
    assert [] == sheet.warnings


def test_columns_by_header_in_any_order(tmp_path: Path) -> None:
    """Headers match trimmed and in any case, in any order; extra columns are ignored."""
    path = write_workbook(
        tmp_path / "s.xlsx",
        [("note", True, "tee-1", "ec-1", "SKU-1")],
        header=("memo", " IS_ACTIVE", "Rakuten_Item_Number", "yahoo_item_code\u3000", "amazon_sku"),
    )
    (row,) = read(path).rows
    assert ("SKU-1", {"yahoo_item_code": "ec-1", "rakuten_item_number": "tee-1"}, True) == (
        row.sku,
        dict(row.codes),
        row.active,
    )


def test_missing_and_doubled_columns_are_named(tmp_path: Path) -> None:
    """A column an installed mall needs is named when missing; a column given twice is ambiguous."""
    path = write_workbook(tmp_path / "s.xlsx", [("SKU-1", "ec-1", True)], header=(*HEADER[:2], "is_active"))
    assert [f"{path}, row 1: missing column 'rakuten_item_number'"] == problems(path)
    path = write_workbook(
        tmp_path / "d.xlsx", [("SKU-1", "ec-1", "t-1", True, "ec-2")], header=(*HEADER, "Yahoo_Item_Code")
    )
    assert [f"{path}, row 1: column 'yahoo_item_code' appears twice (B and E)"] == problems(path)


def test_a_strict_open_xml_workbook_says_so(tmp_path: Path) -> None:
    """Saved as "Strict Open XML Spreadsheet", openpyxl sees no sheet: that was "no visible worksheet"."""
    plain = write_workbook(tmp_path / "plain.xlsx", [("SKU-1", "ec-1", "", True)])
    strict = tmp_path / "strict.xlsx"
    namespaces = {
        b"http://schemas.openxmlformats.org/spreadsheetml/2006/main": b"http://purl.oclc.org/ooxml/spreadsheetml/main",
        b"http://schemas.openxmlformats.org/officeDocument/2006/relationships": (
            b"http://purl.oclc.org/ooxml/officeDocument/relationships"
        ),
    }
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(strict, "w") as target:
        for part in source.infolist():
            data = source.read(part.filename)
            for transitional, strict_ns in namespaces.items():
                data = data.replace(transitional, strict_ns)
            target.writestr(part, data)
    assert [
        f"{strict}: is saved as Strict Open XML, which cannot be read: save it as Excel Workbook (.xlsx)"
    ] == problems(strict)


def test_sheet_by_name_or_the_one_with_an_amazon_sku_column(tmp_path: Path) -> None:
    """
    --sheet picks a sheet by name (an unknown name lists the sheets); without it, the sheet with an amazon_sku
    column is read, past a notes sheet, with a warning naming what it passed over.
    """
    path = write_workbook(tmp_path / "s.xlsx", [("SKU-1", "ec-1", "", True)], sheet="SKU", other_sheets=["readme"])
    assert ["SKU-1"] == [r.sku for r in read(path, sheet="SKU").rows]
    sheet = read(path)
    assert ["SKU-1"] == [r.sku for r in sheet.rows]
    assert [
        f"{path}: read sheet 'SKU'; passed over before it: 'readme' (no amazon_sku column) (use --sheet to choose)"
    ] == [str(w) for w in sheet.warnings]
    assert [f"{path}: no sheet named 'skus' (sheets: 'readme', 'SKU')"] == problems(path, sheet="skus")


def test_a_hidden_master_behind_a_notes_sheet_is_named(tmp_path: Path) -> None:
    """Four "missing column" lines named no sheet: the hidden one holding the column is named, with --sheet."""
    path = write_workbook(tmp_path / "s.xlsx", [("SKU-1", "ec-1", "", True)], other_sheets=["notes"])
    wb = openpyxl.load_workbook(path)
    wb["master"].sheet_state = "hidden"
    wb.save(path)
    with pytest.raises(InputError) as refused:
        read(path)
    assert f"{path}: only hidden sheets have an amazon_sku column ('master'): name one with --sheet" in [
        str(w)
        for w in refused.value.warnings  # type: ignore[attr-defined]
    ]


def test_two_sheets_with_an_amazon_sku_column_are_refused_without_sheet(tmp_path: Path) -> None:
    """A backup copy before the edited sheet: reading it silently would undo the edits (an is_active set to 0)."""
    path = write_workbook(tmp_path / "s.xlsx", [("SKU-1", "ec-1", "", False)], sheet="master")
    wb = openpyxl.load_workbook(path)
    backup = wb.copy_worksheet(wb["master"])
    backup.title = "master (2)"
    wb.move_sheet(backup, offset=-1)
    wb.save(path)
    assert [
        f"{path}: sheets 'master (2)', 'master' each have an amazon_sku column: name the one to import with --sheet"
    ] == problems(path)
    assert [False] == [r.active for r in read(path, sheet="master").rows]


def test_a_hidden_first_sheet_is_passed_over_and_said(tmp_path: Path) -> None:
    """
    A hidden first sheet (an old copy kept out of the way) is not what the operator edits: the first visible
    sheet is read, with a warning naming the hidden one; asked for by name, the hidden sheet is read.
    """
    path = write_workbook(tmp_path / "s.xlsx", [("SKU-1", "ec-new", "", True)], other_sheets=["old"])
    import openpyxl

    wb = openpyxl.load_workbook(path)
    wb["old"].sheet_state = "hidden"
    wb["old"].delete_rows(1)
    wb["old"].append(["amazon_sku", "yahoo_item_code", "rakuten_item_number", "is_active"])
    wb["old"].append(["SKU-1", "ec-OLD", "", True])
    wb.save(path)
    sheet = read(path)
    assert [{"yahoo_item_code": "ec-new"}] == [r.codes for r in sheet.rows]
    assert ["read sheet 'master'; passed over before it: 'old' (hidden)"] == [
        str(w).removeprefix(f"{path}: ").split(" (use")[0] for w in sheet.warnings
    ]
    assert [{"yahoo_item_code": "ec-OLD"}] == [r.codes for r in read(path, sheet="old").rows]


def test_merged_cells_over_read_columns_are_refused(tmp_path: Path) -> None:
    """
    A merged range reads blank past its first cell: down a code column it hid a second claim of one code; across
    two malls' columns it removed a mapping. Each merge touching a read column is a located problem.
    """
    import openpyxl

    path = write_workbook(
        tmp_path / "s.xlsx", [("SKU-4", "ec-4", "", True), ("SKU-5", None, "", True), ("SKU-6", "ec-6", "ec6", True)]
    )
    wb = openpyxl.load_workbook(path)
    ws = wb["master"]
    ws.merge_cells("B2:B3")
    ws.merge_cells("B4:C4")
    ws["F1"] = "memo"
    ws.merge_cells("F2:G3")  # beside the read columns: no matter
    wb.save(path)
    assert [
        f"{path}, row 2, column yahoo_item_code (B): cells B2:B3 are merged: only the first holds the value, "
        "the others read blank; unmerge them",
        f"{path}, row 4, column yahoo_item_code (B): cells B4:C4 are merged: only the first holds the value, "
        "the others read blank; unmerge them",
    ] == problems(path)


def test_an_invisible_character_inside_a_code_is_a_row_error(tmp_path: Path) -> None:
    """A zero-width space pasted inside a SKU looks right and matches nothing at FBA: refused, not zeroed."""
    path = write_workbook(tmp_path / "s.xlsx", [("SKU-\u200b001", "ec-1", "", True)])
    [line] = problems(path)
    assert line.startswith(f"{path}, row 2, column amazon_sku (A): an invisible character")


def test_numeric_code_cells_are_text_with_a_warning(tmp_path: Path) -> None:
    """A numeric cell 1234 reads "1234", never "1234.0", and warns that Excel may have dropped leading zeros."""
    path = write_workbook(tmp_path / "s.xlsx", [(1001, 1234, 5678.0, True)])
    sheet = read(path)
    assert ("1001", {"yahoo_item_code": "1234", "rakuten_item_number": "5678"}) == (
        sheet.rows[0].sku,
        dict(sheet.rows[0].codes),
    )
    assert ["amazon_sku (A)", "yahoo_item_code (B)", "rakuten_item_number (C)"] == [w.column for w in sheet.warnings]
    assert "leading zeros" in sheet.warnings[1].problem
    assert (2, 1234) == (sheet.warnings[1].row, sheet.warnings[1].value)


def test_a_number_padded_by_its_format_reads_as_excel_shows_it(tmp_path: Path) -> None:
    """
    1234 in a cell formatted 00000 shows as 01234: that is the code the operator typed and sees. Read as 1234 it
    names another item, which may exist and then reads back as written.
    """
    path = write_workbook(tmp_path / "s.xlsx", [("SKU-1", 1234, 56, True), ("SKU-2", 1234, 78, True)])
    wb = openpyxl.load_workbook(path)
    ws = wb["master"]
    ws["B2"].number_format = "00000"
    ws["C3"].number_format = "0000000000000;@"  # a JAN code kept as a number, text shown as typed
    ws["C2"].number_format = ws["D2"].number_format = "0"  # zeros that add nothing; is_active 1 stays a flag
    ws["D2"] = 1
    wb.save(path)
    sheet = read(path)
    assert [
        {"yahoo_item_code": "01234", "rakuten_item_number": "56"},
        {"yahoo_item_code": "1234", "rakuten_item_number": "0000000000078"},
    ] == [dict(r.codes) for r in sheet.rows]
    padded = next(w for w in sheet.warnings if (w.row, w.column) == (2, "yahoo_item_code (B)"))
    assert ("a number shown as 01234 by its cell format: read as shown; format the column as text", 1234) == (
        padded.problem,
        padded.value,
    )


def test_fractional_or_too_long_number_is_a_row_error(tmp_path: Path) -> None:
    """A number with a fractional part, or longer than Excel keeps exactly, is refused where it is."""
    path = write_workbook(
        tmp_path / "s.xlsx",
        [("SKU-1", 12.5, "", True), ("SKU-2", "", 4.901234567890123e17, True), (1234567890123456, "", "", True)],
    )
    found = problems(path)
    assert 3 == len(found)
    assert found[0].startswith(f"{path}, row 2, column yahoo_item_code (B): a number with a fractional part")
    assert found[0].endswith("(value 12.5)")
    assert found[1].startswith(f"{path}, row 3, column rakuten_item_number (C): a number longer than Excel keeps")
    assert found[2].startswith(f"{path}, row 4, column amazon_sku (A): a number longer than Excel keeps"), "an int too"


def test_whitespace_full_width_too_is_trimmed(tmp_path: Path) -> None:
    """Surrounding spaces, tabs and full-width spaces around a code are not part of it."""
    path = write_workbook(tmp_path / "s.xlsx", [("\u3000SKU-1 ", " ec-1\t", "\u3000tee-1\u3000", " TRUE ")])
    (row,) = read(path).rows
    assert ("SKU-1", {"yahoo_item_code": "ec-1", "rakuten_item_number": "tee-1"}) == (row.sku, dict(row.codes))


@pytest.mark.parametrize(
    ("cell", "active"),
    [
        *[(True, True), (False, False), (1, True), (0, False), ("TRUE", True), ("false", False)],
        *[("True", True), ("1", True), ("0", False), ("ＴＲＵＥ", True), ("０", False)],
    ],
)
def test_is_active_accepted_forms(tmp_path: Path, cell: object, active: bool) -> None:
    """is_active takes Excel booleans, 1/0, and TRUE/FALSE/1/0 as text in any case (full-width too)."""
    (row,) = read(write_workbook(tmp_path / "s.xlsx", [("SKU-1", "ec-1", "", cell)])).rows
    assert active == row.active


@pytest.mark.parametrize("cell", ["yes", "on", 2, 0.5, None, "#N/A", "  "])
def test_is_active_anything_else_is_a_row_error(tmp_path: Path, cell: object) -> None:
    """Anything else in is_active (blank included) is refused with its row and column."""
    path = write_workbook(tmp_path / "s.xlsx", [("SKU-1", "ec-1", "", cell)])
    (found,) = problems(path)
    assert found.startswith(f"{path}, row 2, column is_active (D): ")


def test_date_bool_and_excel_error_in_a_code_cell(tmp_path: Path) -> None:
    """A code Excel turned into a date, a TRUE/FALSE, or an error value (#N/A) is refused."""
    rows = [("SKU-1", datetime(2024, 2, 1), "", True), ("SKU-2", True, "", True), ("SKU-3", "#N/A", "", True)]
    found = problems(write_workbook(tmp_path / "s.xlsx", rows))
    assert 3 == len(found)
    assert "into a date" in found[0]
    assert "(value '2024-02-01 00:00:00')" in found[0]
    assert "TRUE/FALSE is not a code" in found[1]
    assert "Excel error #N/A" in found[2]


def test_formula_uses_the_value_excel_saved(tmp_path: Path) -> None:
    """A formula cell reads as the value Excel saved with it; an empty text result is a blank code."""
    path = write_workbook(tmp_path / "s.xlsx", [("SKU-1", '="ec-"&"1"', '=IF(FALSE,"x","")', True)])
    save_values_as_excel_does(path, {"B2": "ec-1", "C2": ""})
    (row,) = read(path).rows
    assert {"yahoo_item_code": "ec-1"} == dict(row.codes)


def test_formula_without_saved_value_is_a_row_error(tmp_path: Path) -> None:
    """A formula the file keeps no value for (written by a program) is refused, naming the formula."""
    path = write_workbook(tmp_path / "s.xlsx", [("SKU-1", "ec-1", "", True), ("SKU-2", '="ec-"&"2"', "", "=TRUE()")])
    found = problems(path)
    assert 2 == len(found)
    assert found[0].startswith(f'{path}, row 3, column yahoo_item_code (B): the formula ="ec-"&"2" has no saved')
    assert found[1].startswith(f"{path}, row 3, column is_active (D): the formula =TRUE() has no saved value")


def test_blank_mall_code_means_not_on_that_mall(tmp_path: Path) -> None:
    """A row with a blank code is valid; that mall is left out for it."""
    path = write_workbook(tmp_path / "s.xlsx", [("SKU-1", "", "tee-1", True), ("SKU-2", None, None, False)])
    sheet = read(path)
    assert [{"rakuten_item_number": "tee-1"}, {}] == [dict(r.codes) for r in sheet.rows]


def test_blank_sku_with_other_cells_is_a_row_error(tmp_path: Path) -> None:
    """A row with codes but no amazon_sku is refused (a blank row is not)."""
    path = write_workbook(tmp_path / "s.xlsx", [(None, "ec-1", "", True), (None, None, None, None)])
    assert [f"{path}, row 2, column amazon_sku (A): amazon_sku is blank"] == problems(path)


def test_duplicate_sku_and_code_claimed_by_two_skus(tmp_path: Path) -> None:
    """A SKU on two rows, and one mall code on two SKUs (inactive rows too, normalized), are refused."""
    rakuten = CodeColumn("rakuten_item_number", normalize=str.lower)
    rows = [
        ("SKU-1", "ec-1", "tee-1", True),
        ("SKU-1", "ec-9", "", True),
        ("SKU-2", "ec-1", "", False),
        ("SKU-3", "", "TEE-1", False),
    ]
    found = problems(write_workbook(tmp_path / "s.xlsx", rows), [COLUMNS[0], rakuten])
    assert [
        "row 3, column amazon_sku (A): duplicate amazon_sku: already on row 2 (value 'SKU-1')",
        "row 4, column yahoo_item_code (B): also claimed by amazon_sku 'SKU-1' on row 2 (value 'ec-1')",
        "row 5, column rakuten_item_number (C): also claimed by amazon_sku 'SKU-1' on row 2 (value 'TEE-1')",
    ] == [f.split(", ", 1)[1] for f in found]


def test_plugin_check_and_normalize(tmp_path: Path) -> None:
    """Each column's owner checks its codes' syntax; a valid code is read as the sheet spells it."""
    column = CodeColumn("yahoo_item_code", lambda c: None if c.isalnum() else f"{c!r} is not alphanumeric", str.upper)
    path = write_workbook(tmp_path / "s.xlsx", [("SKU-1", "ab1", "", True), ("SKU-2", "a b", "", True)])
    assert [f"{path}, row 3, column yahoo_item_code (B): 'a b' is not alphanumeric (value 'a b')"] == problems(
        path, [column, COLUMNS[1]]
    )
    path = write_workbook(tmp_path / "ok.xlsx", [("SKU-1", "ab1", "", True)])
    assert {"yahoo_item_code": "ab1"} == dict(read_sheet(path, [column, COLUMNS[1]]).rows[0].codes)


def test_every_problem_at_once_in_sheet_order(tmp_path: Path) -> None:
    """Problems of many rows and kinds come together, ordered by row then column."""
    rows = [("SKU-1", 1.5, "", "yes"), ("SKU-1", "ec-2", "", True), (None, "ec-3", "", "maybe")]
    found = problems(write_workbook(tmp_path / "s.xlsx", rows))
    where = [f.split(": ", 1)[0].split(", ", 1)[1] for f in found]
    assert [
        "row 2, column yahoo_item_code (B)",
        "row 2, column is_active (D)",
        "row 3, column amazon_sku (A)",
        "row 4, column amazon_sku (A)",
        "row 4, column is_active (D)",
    ] == where


def test_wrong_dimension_does_not_drop_rows(tmp_path: Path) -> None:
    """A sheet whose stored size says "A1" (some programs write that) is still read in full."""
    path = write_workbook(tmp_path / "s.xlsx", [("SKU-1", "ec-1", "", True), ("SKU-2", "ec-2", "", True)])
    _rewrite_sheet_xml(path, lambda xml: xml.replace('<dimension ref="A1:D3"', '<dimension ref="A1"'))
    assert ["SKU-1", "SKU-2"] == [r.sku for r in read(path).rows]


def test_hostile_xml_is_refused_not_expanded(tmp_path: Path) -> None:
    """A workbook with XML entity declarations (a "billion laughs") is refused in one line."""
    path = write_workbook(tmp_path / "s.xlsx", [("SKU-1", "ec-1", "", True)])
    bomb = '<!DOCTYPE w [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    _rewrite_sheet_xml(path, lambda xml: xml.replace("<worksheet", bomb + "<worksheet", 1))
    (found,) = problems(path)
    assert found.startswith(f"{path}: refused: the workbook's XML is unsafe")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no such file"),
        (b"amazon_sku,is_active\n", "is text (a CSV?), not an .xlsx workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "is an old .xls workbook or a password-protected one"),
        (b"PK\x03\x04broken", "cannot read as an Excel .xlsx workbook"),
        (b"\x00\x01\x02", "cannot read as an Excel .xlsx workbook"),
    ],
)
def test_missing_or_unreadable_file(tmp_path: Path, content: bytes | None, problem: str) -> None:
    """A missing file, or one that is no .xlsx workbook, is one line naming the file."""
    path = tmp_path / "master.xlsx"
    if content is not None:
        path.write_bytes(content)
    (found,) = problems(path)
    assert found.startswith(f"{path}: {problem}")


def _rewrite_sheet_xml(path: Path, change: object) -> None:
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    name = next(n for n in parts if n.startswith("xl/worksheets/sheet"))
    parts[name] = change(parts[name].decode()).encode()  # type: ignore[operator]
    with zipfile.ZipFile(path, "w") as z:
        for n, data in parts.items():
            z.writestr(n, data)


def test_written_sheet_states_its_size(tmp_path: Path) -> None:
    """write_sheet records the sheet's size, so a read-only reader (the contract's too) sees every row."""
    import openpyxl

    rows = [SheetRow(f"SKU-{i}", {"yahoo_item_code": f"ec-{i}"}, i % 2 == 0) for i in range(7)]
    assert 7 == write_sheet(tmp_path / "w.xlsx", rows, ["yahoo_item_code", "rakuten_item_number"])
    wb = openpyxl.load_workbook(tmp_path / "w.xlsx", read_only=True)
    ws = wb.worksheets[0]
    assert ("A1:D8", 8) == (ws.calculate_dimension(), len(list(ws.iter_rows(values_only=True))))
    wb.close()


def test_warnings_come_with_the_problems_they_explain(tmp_path: Path) -> None:
    """Codes that collide because Excel made them numbers are refused, and the numeric cells are shown too."""
    path = write_workbook(tmp_path / "s.xlsx", [("SKU-1", "123", "", True), ("SKU-2", 123, "", True)])
    with pytest.raises(SheetError) as refused:
        read(path)
    lines = refused.value.one_line().splitlines()
    assert f"{path}, row 3, column yahoo_item_code (B): also claimed by amazon_sku 'SKU-1' on row 2" in lines[0]
    assert lines[1].startswith(f"warning: {path}, row 3, column yahoo_item_code (B): a numeric cell")


# Not the characters the reader refuses inside a code (INVISIBLE: variation selectors are Mn, not Cf).
CODE_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cf", "Cs", "Zs", "Zl", "Zp"), exclude_characters=INVISIBLE),
    max_size=12,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(CODE_TEXT.filter(bool), CODE_TEXT, CODE_TEXT, st.booleans()),
        unique_by=lambda r: r[0],
        max_size=8,
    )
)
def test_what_the_writer_writes_the_reader_reads(tmp_path: Path, rows: list[tuple[str, str, str, bool]]) -> None:
    """Any text codes (leading zeros, "1234", full-width letters) written as a sheet read back exactly."""
    written = [
        SheetRow(sku, {k: v for k, v in (("yahoo_item_code", y), ("rakuten_item_number", r)) if trim(v)}, on)
        for sku, y, r, on in rows
        if trim(sku) == sku and trim(y) == y and trim(r) == r and sku not in EXCEL_ERRORS and not {y, r} & EXCEL_ERRORS
    ]
    codes = [c for row in written for c in row.codes.values()]
    if len(codes) != len(set(codes)):
        return
    write_sheet(tmp_path / "w.xlsx", written, ["yahoo_item_code", "rakuten_item_number"])
    assert written == read(tmp_path / "w.xlsx").rows


def test_rows_hidden_in_excel_are_imported_and_named(tmp_path: Path) -> None:
    """
    Rows hidden by a filter or by Hide are imported like any other (the sheet is the truth), but a shop that hid
    its discontinued products took them out: said, with the rows. A hidden column, or a hidden blank row, is not.
    """
    path = write_workbook(tmp_path / "m.xlsx", [*MANUAL_ROWS, ("", "", "", "")])
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    assert ws is not None
    ws.auto_filter.ref = "A1:D7"
    for row in (3, 5, 7):
        ws.row_dimensions[row].hidden = True
    ws.column_dimensions["C"].hidden = True
    wb.save(path)
    sheet = read(path)
    assert [r[0] for r in MANUAL_ROWS] == [r.sku for r in sheet.rows], "imported all the same"
    assert [
        f"{path}, row 3: 2 rows are hidden in Excel (a filter, or Hide): row 3, 5; imported like any other row: "
        "to stop syncing an item, set its is_active to 0"
    ] == [str(w) for w in sheet.warnings]
