"""
The FBA inventory report (``GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA``, Seller Central "Manage FBA Inventory")
read into SKU -> fulfillable quantity. Used by ``sync --file`` and by the Reports API source alike.

Columns are found by header name, never by position; codes stay text (leading zeros kept). The first problem
stops the read with one line naming the file, row and column: a stock file is all or nothing.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib

from pathlib import Path

from ecsync_core.domain import MAX_QUANTITY
from ecsync_core.errors import InputError, InputProblem


SKU = "sku"
FULFILLABLE = "afn-fulfillable-quantity"

# Header spellings accepted for each column, after folding case, "_" and " " to "-". Amazon documents only
# the hyphenated English keys; JP sellers have reported localized header rows for some report types, but
# which words the MYI report would use is UNCERTAIN (amazon.md §3.3), so none are guessed here: add them
# to this table when a real file shows them.
ALIASES: dict[str, tuple[str, ...]] = {
    SKU: ("sku", "seller-sku", "msku", "merchant-sku"),
    FULFILLABLE: ("afn-fulfillable-quantity",),
}

# Content-Type charsets seen on JP report downloads, as Python codecs.
_CODECS = {"windows-31j": "cp932", "shift_jis": "cp932", "shift-jis": "cp932", "x-sjis": "cp932", "sjis": "cp932"}

_QUANTITY = re.compile(r"[0-9]+")


def read_report_file(path: Path) -> dict[str, int]:
    """The report file at *path*, as downloaded (TSV or CSV, UTF-8 or cp932, gzipped or not)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError([InputProblem(str(path), f"cannot read the FBA inventory report: {exc.strerror}")]) from None
    return parse_report(data, source=str(path))


def parse_report(data: bytes, *, source: str, charset: str | None = None) -> dict[str, int]:
    """
    SKU -> ``afn-fulfillable-quantity`` from a report's bytes.

    Args:
        source: what to call the report in problems (a file name, a report id).
        charset: the charset the download declared, tried first.

    Raises:
        InputError: with exactly one problem, located.
    """
    text = _decode(_gunzip(data, source), source, charset)
    lines = io.StringIO(text, newline="")
    first = lines.readline()
    lines.seek(0)
    tsv = "\t" in first
    # Amazon's TSV does not quote: a product name may hold a lone '"', which must stay a character.
    reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE) if tsv else csv.reader(lines)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise _problem(source, f"the header cannot be read: {exc}", row=1) from None
    if not header or not any(cell.strip() for cell in header):
        raise _problem(source, "is empty: no header row (expected columns sku and afn-fulfillable-quantity)")
    columns = _columns(header, source)
    width = max(columns.values()) + 1
    stock: dict[str, int] = {}
    first_row: dict[str, int] = {}
    try:
        for cells in reader:
            row = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) < width:
                short = next(name for name, i in columns.items() if i >= len(cells))
                raise _problem(source, f"has {len(cells)} cells, the header has {len(header)}", row=row, column=short)
            if len(cells) > len(header):
                # Amazon's TSV does not quote: a tab in a product name (or a bare comma in a hand-saved CSV)
                # shifts every later cell right, and the warehouse count would be read as the fulfillable one.
                raise _problem(
                    source,
                    f"has {len(cells)} cells, the header has {len(header)}: a tab or comma inside a value "
                    "(a product name?) shifts the columns; remove it and try again",
                    row=row,
                )
            sku = cells[columns[SKU]].strip()
            if not sku:
                raise _problem(source, "the SKU is empty", row=row, column=SKU)
            raw = cells[columns[FULFILLABLE]].strip()
            if not _QUANTITY.fullmatch(raw):
                raise _problem(source, "is not a whole number >= 0", row=row, column=FULFILLABLE, value=raw)
            quantity = int(raw)
            if quantity > MAX_QUANTITY:
                raise _problem(
                    source, f"is more than any item holds ({MAX_QUANTITY:,})", row=row, column=FULFILLABLE, value=raw
                )
            if sku in stock and stock[sku] != quantity:
                raise _problem(
                    source,
                    f"SKU {sku!r} is listed again with another quantity (row {first_row[sku]} says {stock[sku]})",
                    row=row,
                    column=FULFILLABLE,
                    value=raw,
                )
            stock[sku] = quantity
            first_row.setdefault(sku, row)
    except csv.Error as exc:
        raise _problem(source, f"cannot be read as {'TSV' if tsv else 'CSV'}: {exc}", row=reader.line_num) from None
    return stock


def _problem(
    source: str, problem: str, *, row: int | None = None, column: str | None = None, value: object = None
) -> InputError:
    return InputError([InputProblem(file=source, problem=problem, row=row, column=column, value=value)])


def _gunzip(data: bytes, source: str) -> bytes:
    if not data.startswith(b"\x1f\x8b"):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise _problem(source, f"is a damaged gzip file: {exc}") from None


def codec(charset: str) -> str:
    """The Python codec for a declared charset (``windows-31j`` is Java's name for cp932)."""
    return _CODECS.get(charset.strip().lower(), charset.strip())


def _decode(data: bytes, source: str, charset: str | None) -> str:
    if charset:
        try:
            return data.decode(codec(charset))
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong or unknown declaration: read the bytes themselves, as for a file
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932")
    except UnicodeDecodeError as exc:
        row = data.count(b"\n", 0, exc.start) + 1
        raise _problem(source, "is neither UTF-8 nor Shift_JIS (cp932) text", row=row) from None


def _fold(name: str) -> str:
    return name.strip().strip("\ufeff").lower().replace("_", "-").replace(" ", "-")


def _columns(header: list[str], source: str) -> dict[str, int]:
    folded = [_fold(name) for name in header]
    columns: dict[str, int] = {}
    for column, names in ALIASES.items():
        found = next((folded.index(name) for name in names if name in folded), None)
        if found is None:
            shown = ", ".join(h for h in header[:8] if h.strip()) + (", ..." if len(header) > 8 else "")
            raise _problem(source, f"no {column!r} column in the header (found: {shown})", row=1, column=column)
        columns[column] = found
    return columns
