"""
Master sheets for tests: real .xlsx workbooks written by openpyxl, the way an operator's Excel leaves them.

Also a small fake mall plugin (its own code syntax) for testing how the import uses a plugin's checks.
"""

from __future__ import annotations

import re
import types
import zipfile

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import attrs
import openpyxl
import pytest

from ecsync_core import MallPlugin, hookimpl
from ecsync_core.bootstrap import App, build_app
from ecsync_core.cli import main


HEADER = ("amazon_sku", "yahoo_item_code", "rakuten_item_number", "is_active")

MANUAL_ROWS: tuple[tuple[object, ...], ...] = (
    ("AMZ-TEE-001", "ec-tee-001", "tee-001", True),
    ("AMZ-TEE-002", "ec-tee-002", "", True),
    ("AMZ-CAP-003", "", "cap-003:navy-f", True),
    ("AMZ-BAG-004", "ec-bag-004", "bag-004", False),
    ("AMZ-MUG-005", "ec-mug-005:white", "mug-005", False),
)
"""The manual's sample sheet: 5 SKUs, 3 of them on; a blank code where a SKU is not sold on that mall."""


def write_workbook(
    path: Path,
    rows: Iterable[Sequence[object]],
    header: Sequence[object] = HEADER,
    *,
    sheet: str = "master",
    other_sheets: Sequence[str] = (),
    text_columns: Sequence[int] = (),
) -> Path:
    """
    Write a workbook as Excel keeps one: values with their own types (numbers, booleans, dates, formulas).

    Args:
        other_sheets: sheets written before *sheet* (so *sheet* is not the first).
        text_columns: 0-based columns whose cells get the text format ``@``.
    """
    wb = openpyxl.Workbook()
    first = wb.active
    assert first is not None
    for name in other_sheets:
        wb.create_sheet(name).append(["notes"])
    ws = wb.create_sheet(sheet)
    wb.remove(first)
    ws.append(list(header))
    for row in rows:
        ws.append(list(row))
    for col in text_columns:
        for (cell,) in ws.iter_rows(min_row=2, min_col=col + 1, max_col=col + 1):
            cell.number_format = "@"
    wb.save(path)
    return path


def manual_sheet(path: Path) -> Path:
    """The manual's sheet: 5 rows, 3 active, then 4 blank rows as Excel leaves them (styled, spaces)."""
    write_workbook(path, MANUAL_ROWS, text_columns=(0, 1, 2))
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    assert ws is not None
    for r in range(7, 11):  # rows 7-10: formatted but empty, or holding only (full-width) spaces
        for c in range(1, 5):
            cell = ws.cell(r, c)
            cell.number_format = "@"
            cell.value = {8: " ", 9: "\u3000", 10: ""}.get(r)
    wb.save(path)
    return path


def save_values_as_excel_does(path: Path, values: Mapping[str, str]) -> Path:
    """
    Give formula cells the value Excel saves beside each formula (openpyxl itself never computes them).

    Args:
        values: cell reference (``B2``) -> the text Excel computed; ``""`` is saved as Excel saves an empty
            text result (``t="str"`` with an empty value).
    """
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    name = next(n for n in parts if n.startswith("xl/worksheets/sheet"))
    xml = parts[name].decode()
    for ref, value in values.items():
        pattern = re.compile(rf'<c r="{ref}"([^>]*)><f>(.*?)</f><v\s*/>(</c>)')
        xml, n = pattern.subn(rf'<c r="{ref}"\1 t="str"><f>\2</f><v>{value}</v>\3', xml)
        assert n == 1, f"no formula cell {ref} in {name}"
    parts[name] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in parts.items():
            z.writestr(n, data)
    return path


def make_app(tmp_path: Path, *, extra: Sequence[types.ModuleType] = ()) -> App:
    """An app on its own DuckDB file under *tmp_path*, with the installed plugins (and *extra*)."""
    config = tmp_path / "config.yaml"
    config.write_text(f"database: {tmp_path / 'db' / 'ecsync.duckdb'}\n", encoding="utf-8")
    return build_app(config, extra_plugins=tuple(extra))


@attrs.frozen
class FakeMallSettings:
    """``malls.<code>`` of the fake mall."""

    endpoint: str = "http://127.0.0.1:9"


def fake_mall_module(code: str = "fakemall", column: str = "fake_code") -> types.ModuleType:
    """
    A mall plugin module of its own: codes are ``FM-`` and digits, one item in either case.
    """

    def check(key: str) -> str | None:
        return None if re.fullmatch(r"(?i)fm-\d{1,6}", key) else f"fakemall code {key!r} must be FM- and 1-6 digits"

    module = types.ModuleType(f"fake_mall_{code}")

    @hookimpl
    def ecsync_malls() -> list[MallPlugin]:
        return [
            MallPlugin(
                code=code,
                name="Fake Mall",
                role="target",
                sheet_column=column,
                settings_type=FakeMallSettings,
                make_adapter=lambda _context: None,
                check_item_key=check,
                normalize_item_key=str.upper,
            )
        ]

    module.ecsync_malls = ecsync_malls  # type: ignore[attr-defined]
    return module


def sheet_values(path: Path) -> list[tuple[object, ...]]:
    """Every row of a workbook's first sheet, as values (what an operator sees in Excel)."""
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return [tuple(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    finally:
        wb.close()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run ``ecsync ARGS`` in-process the way the console script does: (exit code, stdout, stderr)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), out, err
