"""
The master sheet (SKU master): one row per Amazon SKU, one code column per target mall, ``is_active``.

Operators edit the sheet in Excel, where codes lose leading zeros, rows get duplicated and cells hold
formulas; the reader is where such mistakes are caught, every one of them at once, before they reach a mall.
The writer is shared by `export-sku` and the sandbox's demo sheet.
"""

from __future__ import annotations

import contextlib
import math
import operator
import os
import re
import unicodedata
import warnings
import zipfile

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import attrs

from ecsync_core.domain.text import INVISIBLE, INVISIBLE_CLASS
from ecsync_core.errors import EcsyncError, InputError, InputProblem


SKU_COLUMN = "amazon_sku"
ACTIVE_COLUMN = "is_active"

# What Excel shows in a cell whose formula failed; as a code or a flag it is always a mistake.
EXCEL_ERRORS = frozenset(
    {"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NULL!", "#NUM!", "#SPILL!", "#CALC!", "#GETTING_DATA"}
)
# Excel keeps 15 significant digits: a longer number typed into a cell has already lost its tail.
_EXACT_DIGITS = 10**15
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


class SheetError(InputError):
    """
    Raised when a master sheet has problems: all of them, and the warnings beside them.

    The warnings often explain a problem: two codes that collide after Excel dropped their leading zeros.

    Attributes:
        passed: the rows that broke no rule, when the sheet itself could be read (its header found): what an
            import checks against the database too, so that every problem comes at once.
        named: every SKU the sheet names, on rows with problems too (a merge would not keep their mappings).
    """

    def __init__(
        self,
        problems: list[InputProblem],
        warnings: list[InputProblem],
        passed: MasterSheet | None = None,
        named: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(problems)
        self.warnings = warnings
        self.passed = passed
        self.named = named

    def one_line(self) -> str:
        return "\n".join([super().one_line(), *(f"warning: {w}" for w in self.warnings)])


class SheetWriteError(EcsyncError):
    """Raised when the master sheet cannot be written (folder missing or not writable, file locked)."""


@attrs.frozen
class SheetRow:
    """
    One row: the SKU, its code on each mall (column -> code; a missing column means "not on that mall").
    """

    sku: str
    codes: Mapping[str, str]
    active: bool = True


@attrs.frozen
class CodeColumn:
    """
    A column of codes and the rules its owner (a mall plugin) sets for them.

    Attributes:
        name: the header, as the plugin names it (``yahoo_item_code``).
        check: what is wrong with a code, or ``None``.
        normalize: the key that tells two spellings of one item apart from two items (Rakuten folds the case of
            a manageNumber): two codes keyed alike on two SKUs are one item claimed twice. The sheet's own
            spelling is what is read and stored.
        doubt: what looks wrong with a valid code (a warning), or ``None``.
    """

    name: str
    check: Callable[[str], str | None] = attrs.field(default=lambda _code: None)
    normalize: Callable[[str], str] = attrs.field(default=lambda code: code)
    doubt: Callable[[str], str | None] = attrs.field(default=lambda _code: None)


@attrs.frozen
class MasterSheet:
    """
    A sheet that passed every check.

    Attributes:
        rows: the SKU rows, in sheet order, blank rows left out; codes trimmed, spelled as in the sheet.
        lines: the sheet row number of each of *rows*.
        columns: the mall code columns read, in the order they were asked for.
        warnings: problems that do not refuse the import (a numeric code cell).
        labels: column -> how a problem names it, with its letter (``yahoo_code (C)``).
    """

    file: str
    rows: list[SheetRow]
    lines: list[int]
    columns: tuple[str, ...]
    warnings: list[InputProblem] = attrs.field(factory=list)
    labels: Mapping[str, str] = attrs.field(factory=dict)


# -- cells -------------------------------------------------------------------------------------------------


@attrs.frozen
class Cell:
    """What one cell holds once read: text (possibly blank), or why it cannot be read, and a warning."""

    text: str = ""
    problem: str | None = None
    warning: str | None = None


@attrs.frozen
class UncachedFormula:
    """A formula cell the file keeps no computed value for (written by a program, never opened in Excel)."""

    formula: str


@attrs.frozen
class PaddedNumber:
    """A whole number in a cell whose number format pads it with zeros (``00000``): Excel shows *shown*."""

    value: int
    shown: str


def trim(text: str) -> str:
    """Strip surrounding whitespace, full-width (U+3000) and invisible characters included."""
    text = text.strip()
    while text and (text[0] in INVISIBLE or text[-1] in INVISIBLE):
        text = text.strip(INVISIBLE).strip()
    return text


def header_key(value: object) -> str:
    """How headers are matched: trimmed, width-folded (NFKC) and case-insensitive."""
    return "" if value is None else trim(unicodedata.normalize("NFKC", str(value))).casefold()


def code_cell(value: object) -> Cell:
    """
    Read a code cell as text: a number ``1234`` is ``"1234"`` (with a warning), never ``"1234.0"``.
    """
    return Cell(*_read_code(value))


# Plain tuples, not Cells: this runs for every code cell of a 100,000-row sheet.
def _read_code(value: object) -> tuple[str, str | None, str | None]:
    """(text, problem, warning) of a code cell."""
    if value.__class__ is str:
        text = trim(value)
        return (
            ("", f"the cell shows the Excel error {text}", None)
            if text in EXCEL_ERRORS
            else (text, _text_problem(text), None)
        )
    if value is None:
        return "", None, None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _numeric_code(value)
    if isinstance(value, PaddedNumber):
        return (
            value.shown,
            None,
            f"a number shown as {value.shown} by its cell format: read as shown; format the column as text",
        )
    return "", _not_a_code(value), None


def _text_problem(text: str) -> str | None:
    if _CONTROL.search(text):
        return "a line break or another control character inside a code (Alt+Enter?)"
    if _INVISIBLE_INSIDE.search(text):
        return "an invisible character (zero-width space, BOM) inside a code: retype it"
    return None


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_INVISIBLE_INSIDE = re.compile(f"[{INVISIBLE_CLASS}]")

_LEADING_ZEROS = "a numeric cell: Excel may have dropped leading zeros; format the column as text"


def _numeric_code(value: float) -> tuple[str, str | None, str | None]:
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        return "", "a number with a fractional part is not a code: format the column as text", None
    # A file may store a whole number without a decimal point (read as int): Excel kept 15 digits of it all the same.
    if abs(value) >= _EXACT_DIGITS:
        return "", "a number longer than Excel keeps exactly (15 digits): format as text and retype it", None
    return str(int(value)), None, _LEADING_ZEROS


def _not_a_code(value: object) -> str:
    if isinstance(value, UncachedFormula):
        return _uncached(value)
    if isinstance(value, bool):
        return "TRUE/FALSE is not a code"
    if isinstance(value, date | time | timedelta):
        return "Excel turned this code into a date or time: format the column as text and retype it"
    return f"unreadable cell content ({type(value).__name__})"


def active_cell(value: object) -> bool | str:
    """
    Read ``is_active``: Excel booleans, 1 and 0, and TRUE/FALSE/1/0 as text in any case or width.

    Returns the flag, or what is wrong.
    """
    if value is True or value is False:
        return value
    if isinstance(value, int | float) and value in {0, 1}:
        return bool(value)
    text = trim(unicodedata.normalize("NFKC", value)).casefold() if isinstance(value, str) else None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    return _not_a_flag(value, text)


def _not_a_flag(value: object, text: str | None) -> str:
    if isinstance(value, UncachedFormula):
        return _uncached(value)
    if value is None or text == "":
        return "is_active is blank: write TRUE or FALSE"
    if isinstance(value, str) and trim(value) in EXCEL_ERRORS:
        return f"the cell shows the Excel error {trim(value)}: is_active must be TRUE, FALSE, 1 or 0"
    return "is_active must be TRUE, FALSE, 1 or 0"


def _uncached(value: UncachedFormula) -> str:
    return (
        f"the formula {value.formula} has no saved value (the file was written by a program): "
        "open and save it in Excel, or paste the values"
    )


# -- reading -----------------------------------------------------------------------------------------------


@attrs.frozen
class _Column:
    name: str
    index: int  # 0-based position in the sheet

    @property
    def label(self) -> str:
        from openpyxl.utils import get_column_letter

        return f"{self.name} ({get_column_letter(self.index + 1)})"


@attrs.define
class _RawSheet:
    """The cells of the wanted columns, before any rule: (sheet row number, values in *columns* order)."""

    columns: list[_Column | None]
    rows: list[tuple[int, tuple[Any, ...]]]
    problems: list[InputProblem]
    warnings: list[InputProblem] = attrs.field(factory=list)


def read_sheet(
    path: Path,
    columns: Sequence[CodeColumn],
    *,
    sheet: str | None = None,
    sku: CodeColumn | None = None,
    file: str | None = None,
) -> MasterSheet:
    """
    Read and check a master sheet: all of it, every problem at once.

    Args:
        columns: the mall code columns; each must be in the sheet.
        sheet: the sheet's name (default: the visible sheet with an ``amazon_sku`` column; see ``_worksheet``).
        sku: rules for ``amazon_sku`` (the source plugin's); the header is always ``amazon_sku``.
        file: how problems name the file (default: *path* as given).

    Raises:
        SheetError: with every problem of the sheet (file, row, column, value and what is wrong) and the
            warnings; a file that cannot be read at all raises its ``InputError`` alone.
    """
    name = str(path) if file is None else file
    sku = attrs.evolve(sku, name=SKU_COLUMN) if sku else CodeColumn(SKU_COLUMN)
    wanted = [sku, *columns, CodeColumn(ACTIVE_COLUMN)]
    raw = _read_raw(path, name, [c.name for c in wanted], sheet)
    sheet_rows, lines, problems, warnings, named = _check_rows(name, wanted, raw)
    labels = {c.name: c.label for c in raw.columns if c is not None}
    read = MasterSheet(name, sheet_rows, lines, tuple(c.name for c in columns), raw.warnings + warnings, labels)
    if raw.problems or problems:
        raise SheetError(raw.problems + problems, read.warnings, None if raw.problems else read, frozenset(named))
    return read


def _read_raw(path: Path, file: str, names: list[str], sheet: str | None) -> _RawSheet:
    """
    Read the wanted columns' values with openpyxl in read-only mode (defusedxml guards the XML).

    The file is read with formulas as written, so a formula cell is known as one; only when there are
    formulas is it read a second time for the values Excel saved with them.
    """
    with _workbook(path, file, data_only=False) as wb:
        ws, warnings = _worksheet(wb, file, sheet)
        # The <dimension> a program wrote may be wrong (some write "A1"); trusting it would drop rows silently.
        ws.reset_dimensions()
        index = wb.worksheets.index(ws)
        with _guard(file), contextlib.closing(ws._get_source()) as fh:
            xml = fh.read()  # for what read-only mode does not parse: merges, hidden rows
        with _guard(file), contextlib.closing(ws.iter_rows(values_only=True)) as it:
            header = next(it, None) or ()
            columns, problems = _match_header(file, header, names)
            problems += _merged(xml, file, columns)
            pick = _picker(columns)
            rows: list[tuple[int, tuple[Any, ...]]] = []
            # Row number -> positions in the row tuple of the cells to look at again: formulas, for the value Excel
            # saved with them; numbers in code columns (not is_active, the last), when some format pads zeros.
            again: dict[int, list[int]] = {}
            codes = len(columns) - 1 if _pads_zeros(path) else 0
            blank = (None,) * len(columns)
            for line, values in enumerate(it, start=2):
                picked = pick(values)
                if picked == blank:
                    continue
                for n, v in enumerate(picked):
                    kind = v.__class__
                    # Read with formulas, a formula cell is its text ("=A1&B1") or an ArrayFormula object.
                    if (v[:1] == "=") if kind is str else (kind not in _PLAIN or (n < codes and kind in _NUMBERS)):
                        again.setdefault(line, []).append(n)
                rows.append((line, picked))
    if again:
        rows = _as_shown(path, file, index, columns, rows, again)
    warnings += _hidden(xml, file, {line for line, _ in rows})
    return _RawSheet(columns, rows, problems, warnings)


_MERGE_REF = re.compile(rb"<(?:\w+:)?mergeCell\s[^>]*?ref=\"([A-Z]+[0-9]+:[A-Z]+[0-9]+)\"")


def _merged(xml: bytes, file: str, columns: list[_Column | None]) -> list[InputProblem]:
    """
    A problem for each merged range over a column the import reads.

    A merged range holds its value in its first cell only: the other rows (or the other mall's column) read
    blank, which means "not sold there" and removes that mapping. Read-only mode does not parse merges, so
    the sheet's XML is scanned for them; they come after the cells, and the text of a cell cannot look like one.
    """
    from openpyxl.utils import range_boundaries

    start = xml.find(b"mergeCell")
    found = []
    for ref in [] if start < 0 else _MERGE_REF.findall(xml, start):
        first_col, first_row, last_col, _last_row = range_boundaries(ref.decode())
        touched = [c for c in columns if c is not None and first_col <= c.index + 1 <= last_col]
        if touched:
            why = (
                f"cells {ref.decode()} are merged: only the first holds the value, the others read blank; unmerge them"
            )
            found.append(InputProblem(file, why, row=first_row, column=touched[0].label))
    return sorted(found, key=lambda p: (p.row or 0, p.column or ""))


_ROW_TAG = re.compile(rb"<(?:\w+:)?row\s[^>]*?\br=\"([0-9]+)\"")


def _hidden(xml: bytes, file: str, read: set[int]) -> list[InputProblem]:
    """
    A warning naming the rows hidden in Excel (a filter, or Hide) that hold SKUs: they are imported like any
    other, where an operator may take hiding a row for taking the product out. Read-only mode does not parse
    rows' attributes, so the XML is scanned for the (few) hidden marks, each back to the tag it is in.
    """
    rows = []
    at = xml.find(b'hidden="')  # a plain search: a regex took 47 ms over a 100,000-row sheet, this a few
    while at >= 0:
        if xml[at + 8 : at + 10] in (b'1"', b"tr"):
            tag = _ROW_TAG.match(xml, xml.rfind(b"<", 0, at))  # a hidden column's <col> is not a row
            if tag is not None and int(tag[1]) in read:
                rows.append(int(tag[1]))
        at = xml.find(b'hidden="', at + 8)
    if not rows:
        return []
    shown = "row " + ", ".join(map(str, rows[:5])) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")
    return [
        InputProblem(
            file,
            f"{len(rows)} {'rows are' if len(rows) > 1 else 'row is'} hidden in Excel (a filter, or Hide): "
            f"{shown}; imported like any other row: to stop syncing an item, set its {ACTIVE_COLUMN} to 0",
            row=rows[0],
        )
    ]


_PLAIN = frozenset({type(None), int, float, bool, datetime, date, time, timedelta})
_NUMBERS = frozenset({int, float})
_ZERO_PADDING = re.compile(r"0+")


def _picker(columns: list[_Column | None]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """The wanted cells of a row, in *columns* order (``None`` for a missing column or a short row)."""
    where = [c.index if c is not None else -1 for c in columns]
    need = max(where, default=-1) + 1
    fast = operator.itemgetter(*where) if len(where) > 1 and -1 not in where else None

    def pick(values: tuple[Any, ...]) -> tuple[Any, ...]:
        if fast is not None and len(values) >= need:
            return fast(values)  # type: ignore[no-any-return]
        return tuple(values[i] if 0 <= i < len(values) else None for i in where)

    return pick


def _as_shown(
    path: Path,
    file: str,
    index: int,
    columns: list[_Column | None],
    rows: list[tuple[int, tuple[Any, ...]]],
    again: dict[int, list[int]],
) -> list[tuple[int, tuple[Any, ...]]]:
    """
    Put in place of each formula the value Excel saved with it, or an ``UncachedFormula``; and of a whole number
    whose format pads zeros (``00000``: Excel shows 1234 as 01234), a ``PaddedNumber``. Read as stored, such a
    code names another item, which may exist, and then reads back as written.
    """
    saved: dict[tuple[int, int], object] = {}
    codes = len(columns) - 1  # is_active, the last column, is no code
    with _workbook(path, file, data_only=True) as wb:
        ws = wb.worksheets[index]
        ws.reset_dimensions()
        first, last = min(again), max(again)
        with _guard(file), contextlib.closing(ws.iter_rows(min_row=first, max_row=last)) as it:
            for line, cells in enumerate(it, start=first):
                for n in again.get(line, ()):
                    column = columns[n]
                    assert column is not None  # only read columns hold values
                    cell = cells[column.index] if column.index < len(cells) else None
                    value = None if cell is None else cell.value
                    # An empty text result is saved as t="str" with no value; no saved value at all reads as
                    # a blank number cell.
                    if value is None and getattr(cell, "data_type", "n") == "str":
                        value = ""
                    saved[line, n] = _padded(value, getattr(cell, "number_format", None)) if n < codes else value
    patched = []
    for line, values in rows:
        cells = list(values)
        for n in again.get(line, ()):
            value = saved.get((line, n))
            cells[n] = UncachedFormula(str(values[n])) if value is None else value
        patched.append((line, tuple(cells)))
    return patched


_FORMAT_CODE = re.compile(rb'formatCode="([^"]*)"')


def _pads_zeros(path: Path) -> bool:
    """Whether the workbook defines a number format that pads numbers with zeros (read from its styles part)."""
    try:
        with zipfile.ZipFile(path) as archive:
            styles = archive.read("xl/styles.xml")
    except (OSError, KeyError, zipfile.BadZipFile):
        return True  # cannot tell: look at the numbers' formats
    return any(_zero_padding(code.decode("utf-8", "replace")) for code in _FORMAT_CODE.findall(styles))


def _zero_padding(number_format: str) -> int:
    """How many digits a format pads whole numbers to (``00000``, ``00000;@``, ``00000_)``), else 0."""
    positive = re.sub(r"_.", "", number_format.split(";", 1)[0])
    return len(positive) if len(positive) > 1 and _ZERO_PADDING.fullmatch(positive) else 0


def _padded(value: object, number_format: str | None) -> object:
    """*value*, or the ``PaddedNumber`` Excel shows where the format puts zeros before a whole number."""
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and number_format
        and (width := _zero_padding(number_format))
        and math.isfinite(value)
        and float(value).is_integer()
        and 0 <= value < _EXACT_DIGITS
    ):
        digits = str(int(value))
        if width > len(digits):
            return PaddedNumber(int(value), digits.zfill(width))
    return value


@contextlib.contextmanager
def _workbook(path: Path, file: str, *, data_only: bool) -> Iterator[Any]:
    import openpyxl

    if not path.is_file():
        raise InputError([InputProblem(file, "no such file" if not path.exists() else "not a file")])
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InputError([InputProblem(file, f"cannot open: {exc.strerror or exc}")]) from None
    # openpyxl leaves a file it opened itself open when it fails; this one is always closed here.
    with fh:
        if (kind := _not_xlsx(fh.read(8))) is not None:
            raise InputError([InputProblem(file, kind)])
        fh.seek(0)
        try:
            with warnings.catch_warnings():  # openpyxl's own words on what it drops reach no operator as a traceback
                warnings.simplefilter("ignore", UserWarning)
                wb = openpyxl.load_workbook(fh, read_only=True, data_only=data_only)
        # Whatever fails to open (not a zip, the old .xls, a part missing) is a bad input file, in one line.
        except Exception as exc:
            raise InputError([InputProblem(file, _unreadable(exc))]) from None
        try:
            if not wb.worksheets and _strict(fh):
                why = "is saved as Strict Open XML, which cannot be read: save it as Excel Workbook (.xlsx)"
                raise InputError([InputProblem(file, why)])
            yield wb
        finally:
            wb.close()


def _strict(fh: BinaryIO) -> bool:
    """Whether the workbook is in Strict Open XML (Excel's "Strict Open XML Spreadsheet"), read as empty."""
    try:
        with zipfile.ZipFile(fh) as archive:
            return b"purl.oclc.org/ooxml/spreadsheetml/main" in archive.read("xl/workbook.xml")[:4096]
    except (OSError, KeyError, zipfile.BadZipFile):
        return False


_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the container of the old .xls, and of any password-protected workbook


def _not_xlsx(head: bytes) -> str | None:
    """What the file is instead of an .xlsx (a zip archive), when its first bytes tell; None when they do not."""
    if head.startswith(b"PK"):
        return None
    if head == _OLE2:
        return (
            "is an old .xls workbook or a password-protected one, not an .xlsx: "
            "save it as Excel Workbook (.xlsx) without a password"
        )
    if head and all(32 <= b < 127 or b in b"\t\r\n" or b >= 128 for b in head):
        return "is text (a CSV?), not an .xlsx workbook: open it in Excel and save it as Excel Workbook (.xlsx)"
    return None


@contextlib.contextmanager
def _guard(file: str) -> Iterator[None]:
    """A sheet whose XML is broken or hostile (entity expansion) is a bad input, not a crash."""
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException

    try:
        yield
    except DefusedXmlException as exc:
        raise InputError([InputProblem(file, _unreadable(exc))]) from None
    except (ParseError, KeyError, ValueError) as exc:
        raise InputError([InputProblem(file, f"cannot read the sheet: {_why(exc)}")]) from None


def _unreadable(exc: BaseException) -> str:
    from defusedxml import DefusedXmlException

    cause: BaseException | None = exc
    while cause is not None:  # openpyxl wraps what the XML parser raised
        if isinstance(cause, DefusedXmlException):
            return f"refused: the workbook's XML is unsafe ({_why(cause)})"
        cause = cause.__cause__ or cause.__context__
    return f"cannot read as an Excel .xlsx workbook: {_why(exc)}"


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _worksheet(wb: Any, file: str, sheet: str | None) -> tuple[Any, list[InputProblem]]:
    """
    The sheet to read, and a warning naming the sheets passed over before it: by default the visible sheet with
    an ``amazon_sku`` column (the one the operator sees and edits; a hidden sheet is often an old copy kept out of
    the way, a first sheet often notes), else the first visible one. Two visible sheets with the column (a copy
    kept as a backup) are refused: reading either one silently could undo the other's edits.
    """
    if sheet is not None:
        if sheet not in wb.sheetnames:
            have = ", ".join(repr(s) for s in wb.sheetnames)
            raise InputError([InputProblem(file, f"no sheet named {sheet!r} (sheets: {have})")])
        return wb[sheet], []
    visible = [ws for ws in wb.worksheets if ws.sheet_state == "visible"]
    if not visible:
        raise InputError([InputProblem(file, "the workbook has no visible worksheet: name one with --sheet")])
    holding = [ws for ws in visible if _has_sku_column(ws, file)]
    if len(holding) > 1:
        names = ", ".join(repr(ws.title) for ws in holding)
        why = f"sheets {names} each have an {SKU_COLUMN} column: name the one to import with --sheet"
        raise InputError([InputProblem(file, why)])
    chosen = (holding or visible)[0]
    if not holding and (
        hidden := [ws.title for ws in wb.worksheets if ws not in visible and _has_sku_column(ws, file)]
    ):
        names = ", ".join(map(repr, hidden))
        return chosen, [
            InputProblem(file, f"only hidden sheets have an {SKU_COLUMN} column ({names}): name one with --sheet")
        ]
    passed = [
        f"{ws.title!r} ({'hidden' if ws.sheet_state != 'visible' else f'no {SKU_COLUMN} column'})"
        for ws in wb.worksheets[: wb.worksheets.index(chosen)]
    ]
    if not passed:
        return chosen, []
    why = f"read sheet {chosen.title!r}; passed over before it: {', '.join(passed)} (use --sheet to choose)"
    return chosen, [InputProblem(file, why)]


def _has_sku_column(ws: Any, file: str) -> bool:
    """Whether the sheet's row 1 names an ``amazon_sku`` column."""
    ws.reset_dimensions()
    with _guard(file), contextlib.closing(ws.iter_rows(max_row=1, values_only=True)) as it:
        return SKU_COLUMN in map(header_key, next(it, ()))


def lost_by_writing_over(path: Path, mall_columns: Sequence[str]) -> list[str]:
    """
    What a master sheet written over the workbook at *path* would lose: every sheet holding anything but the first
    with an ``amazon_sku`` column, and that sheet's columns an import does not read (named by their header, or
    holding cells under none).

    Raises:
        InputError: *path* is no workbook this can read (then it cannot say, and it is not written over).
    """
    keep = {SKU_COLUMN, ACTIVE_COLUMN, *map(header_key, mall_columns)}
    lost: list[str] = []
    master_seen = False
    with _workbook(path, str(path), data_only=True) as wb:
        for ws in wb.worksheets:
            declared = (ws.max_row, ws.max_column)  # the sheet's <dimension>, which some programs write wrong
            ws.reset_dimensions()
            with _guard(str(path)), contextlib.closing(ws.iter_rows(values_only=True)) as rows:
                header = next(rows, ())
                keys = [header_key(v) for v in header]
                if not master_seen and SKU_COLUMN in keys:
                    master_seen = True
                    lost += [f"column {v!r}" for v, key in zip(header, keys, strict=True) if key and key not in keep]
                    read = len(keys)  # cells past the header's last column have no header
                    unheaded = {n for n, key in enumerate(keys) if not key}
                    # A dimension of many rows within the header's columns is believed (Excel writes it right):
                    # reading 100,000 rows to be sure took 7 s.
                    believed = (declared[0] or 0) > 1 and (declared[1] or 0) <= read and not unheaded
                    if not believed and any(
                        header_key(v) for row in rows for n, v in enumerate(row) if n >= read or n in unheaded
                    ):
                        lost.append("cells in columns without a header")
                elif any(keys) or any(header_key(v) for row in rows for v in row):
                    lost.append(f"sheet {ws.title!r}")
    return lost


def _match_header(
    file: str, header: Sequence[object], names: list[str]
) -> tuple[list[_Column | None], list[InputProblem]]:
    where: dict[str, list[int]] = {}
    for i, value in enumerate(header):
        where.setdefault(header_key(value), []).append(i)
    columns: list[_Column | None] = []
    problems = []
    for name in names:
        found = where.get(name.casefold(), [])
        if not found:
            problems.append(InputProblem(file, f"missing column {name!r}", row=1))
            columns.append(None)
            continue
        if len(found) > 1:
            from openpyxl.utils import get_column_letter

            letters = " and ".join(get_column_letter(i + 1) for i in found)
            problems.append(InputProblem(file, f"column {name!r} appears twice ({letters})", row=1))
        columns.append(_Column(name, found[0]))
    return columns, problems


# -- checking ----------------------------------------------------------------------------------------------


def _check_rows(
    file: str, wanted: list[CodeColumn], raw: _RawSheet
) -> tuple[list[SheetRow], list[int], list[InputProblem], list[InputProblem], set[str]]:
    """
    Every rule on every row, then the rules on the whole sheet (duplicates); problems in sheet order. Last, every
    valid SKU the rows name, theirs with problems too.
    """
    checker = _Checker(file, wanted, raw.columns)
    for line, values in raw.rows:
        # Blank also when the cells hold only spaces, or formulas whose saved value is empty text.
        if not all(v is None or (isinstance(v, str) and not trim(v)) for v in values):
            checker.row(line, values)
    checker.found.sort(key=lambda f: (f[0], f[1]))
    return checker.rows, checker.lines, [p for _, _, p in checker.found], checker.warnings, checker.named


@attrs.define
class _Checker:
    """The rules, row by row; what it has seen so far catches duplicates across the sheet."""

    file: str
    wanted: list[CodeColumn]
    columns: list[_Column | None]
    found: list[tuple[int, int, InputProblem]] = attrs.Factory(list)  # (row, column position, problem)
    warnings: list[InputProblem] = attrs.Factory(list)
    rows: list[SheetRow] = attrs.Factory(list)
    lines: list[int] = attrs.Factory(list)
    first_sku: dict[str, int] = attrs.Factory(dict)
    named: set[str] = attrs.Factory(set)  # every valid SKU, its row's other cells right or not
    claimed: dict[str, dict[str, tuple[int, str]]] = attrs.Factory(dict)  # column -> code's key -> (row, SKU)

    def bad(self, line: int, column: _Column, problem: str, value: object) -> None:
        self.found.append(
            (line, column.index, InputProblem(self.file, problem, row=line, column=column.label, value=value))
        )

    def row(self, line: int, values: tuple[Any, ...]) -> None:
        before = len(self.found)
        sku_col, active_col = self.columns[0], self.columns[-1]
        sku = self.code(line, self.wanted[0], sku_col, values[0])
        codes = {}
        for n in range(1, len(self.columns) - 1):
            rule, column = self.wanted[n], self.columns[n]
            code = self.code(line, rule, column, values[n])
            if code and column is not None:
                codes[rule.name] = code
                if sku:
                    self.unique_code(line, rule, column, code, sku)
        if sku and sku_col is not None:
            self.unique_sku(line, sku_col, self.wanted[0].normalize(sku), sku)
        active = self.active(line, active_col, values[-1])
        if len(self.found) == before and sku is not None:
            self.rows.append(SheetRow(sku, codes, active))
            self.lines.append(line)

    def code(self, line: int, rule: CodeColumn, column: _Column | None, value: object) -> str | None:
        """The cell's code ("" when blank), or ``None`` when it is wrong."""
        if column is None:
            return ""
        text, problem, warning = _read_code(value)
        if warning:
            self.warnings.append(InputProblem(self.file, warning, row=line, column=column.label, value=_shown(value)))
        if text and not problem:
            problem = rule.check(text)
        if problem:
            self.bad(line, column, problem, text or _shown(value))
            return None
        if not text and rule.name == SKU_COLUMN:
            self.bad(line, column, "amazon_sku is blank", None)
            return None
        if text and (doubt := rule.doubt(text)):
            self.warnings.append(InputProblem(self.file, doubt, row=line, column=column.label, value=text))
        return text

    def active(self, line: int, column: _Column | None, value: object) -> bool:
        if column is None:
            return True
        flag = active_cell(value)
        if isinstance(flag, str):
            self.bad(line, column, flag, _shown(value))
            return True
        return flag

    def unique_sku(self, line: int, column: _Column, key: str, sku: str) -> None:
        self.named.add(sku)
        first = self.first_sku.setdefault(key, line)
        if first != line:
            self.bad(line, column, f"duplicate amazon_sku: already on row {first}", sku)

    def unique_code(self, line: int, rule: CodeColumn, column: _Column, code: str, sku: str) -> None:
        other = self.claimed.setdefault(rule.name, {}).setdefault(rule.normalize(code), (line, sku))
        if other[1] != sku:
            self.bad(line, column, f"also claimed by amazon_sku {other[1]!r} on row {other[0]}", code)


def _shown(value: object) -> object:
    """A cell's value as a problem line shows it (a date as Excel shows it, not as a Python repr)."""
    if isinstance(value, UncachedFormula):
        return value.formula
    if isinstance(value, PaddedNumber):
        return value.value
    if isinstance(value, date | time):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return value


# -- writing -----------------------------------------------------------------------------------------------


def write_sheet(path: Path, rows: Iterable[SheetRow], mall_columns: Sequence[str]) -> int:
    """
    Write *rows* as a master sheet; code cells are text (format ``@``) so Excel keeps leading zeros.

    The code columns are text as a whole too, so a code typed later into a blank cell or a new row stays
    text. The file is written beside *path* and then moved over it, so a failure never leaves half a sheet.

    Returns the number of rows written.

    Raises:
        SheetWriteError: when the folder cannot be created or the file cannot be written.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SheetWriteError(f"{path}: cannot write the sheet: {exc.strerror or exc}") from None
    # Not mkstemp: its file is private (0600), and an exported sheet is for the team to open.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        # Opened before openpyxl starts streaming rows: a place that cannot be written fails here, before a
        # half-run row writer is left for the collector to complain about on stderr.
        with tmp.open("wb") as out:
            rows = list(rows)
            wb = Workbook(write_only=True)
            ws = wb.create_sheet("master")
            # openpyxl's streaming writer leaves out <dimension>; a read-only reader then parses the whole
            # sheet once more just to size it (a 100,000-row sheet: seconds). Its writer asks this hook.
            last = f"{get_column_letter(len(mall_columns) + 2)}{len(rows) + 1}"
            ws.calculate_dimension = lambda: f"A1:{last}"
            for n in range(1, len(mall_columns) + 2):
                ws.column_dimensions[get_column_letter(n)].number_format = "@"
                ws.column_dimensions[get_column_letter(n)].width = 24
            ws.append([SKU_COLUMN, *mall_columns, ACTIVE_COLUMN])

            def text(value: str) -> WriteOnlyCell | None:
                if not value:
                    return None  # the column's text format covers it
                cell = WriteOnlyCell(ws, value=value)
                if value.startswith("="):
                    cell.data_type = "s"  # text, not a formula: openpyxl takes any "=..." for one
                cell.number_format = "@"
                return cell

            count = 0
            for row in rows:
                ws.append([text(row.sku), *(text(row.codes.get(c, "")) for c in mall_columns), row.active])
                count += 1
            wb.save(out)
        os.replace(tmp, path)
    except OSError as exc:
        raise SheetWriteError(f"{path}: cannot write the sheet: {exc.strerror or exc}") from None
    finally:
        # On a read-only mount even removing a file that is not there fails (EROFS), which hid the one line.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return count
