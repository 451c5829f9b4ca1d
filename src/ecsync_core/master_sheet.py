"""
The master sheet (SKU master): one row per Amazon SKU, one code column per target mall, ``is_active``.

Issue 02 adds the reader and its validation; the writer is shared with the sandbox's demo sheet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import attrs


SKU_COLUMN = "amazon_sku"
ACTIVE_COLUMN = "is_active"


@attrs.frozen
class SheetRow:
    """
    One row: the SKU, its code on each mall (column -> code; a missing column means "not on that mall").
    """

    sku: str
    codes: Mapping[str, str]
    active: bool = True


def write_sheet(path: Path, rows: Iterable[SheetRow], mall_columns: Sequence[str]) -> int:
    """
    Write *rows* as a master sheet; code cells are text (format ``@``) so Excel keeps leading zeros.

    Returns the number of rows written.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("master")
    ws.append([SKU_COLUMN, *mall_columns, ACTIVE_COLUMN])

    def text(value: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(ws, value=value or None)
        cell.number_format = "@"
        return cell

    count = 0
    for row in rows:
        ws.append([text(row.sku), *(text(row.codes.get(c, "")) for c in mall_columns), row.active])
        count += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return count
