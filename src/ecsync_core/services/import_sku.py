"""
`import-sku` and `export-sku`: the master sheet in and out of the mappings table.

An import is all or nothing: the whole sheet is read and checked first (every problem at once), and only
a sheet without problems is written, in one transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ecsync_core.domain import Mapping
from ecsync_core.errors import InputError, InputProblem, PluginError
from ecsync_core.logging import get_logger
from ecsync_core.master_sheet import (
    SKU_COLUMN,
    CodeColumn,
    MasterSheet,
    SheetError,
    SheetRow,
    lost_by_writing_over,
    read_sheet,
    write_sheet,
)
from ecsync_core.planning import look_alike
from ecsync_core.services.runs import IMPORT_HOLDER
from ecsync_core.store.mappings import MappingChanges, diff


if TYPE_CHECKING:
    from ecsync_core.bootstrap import App
    from ecsync_core.mall import MallPlugin


log = get_logger("ecsync.import_sku")


@attrs.frozen
class ImportResult:
    """
    What an import did (or, with *dry_run*, would do).

    Attributes:
        skus: SKU rows in the sheet (blank rows not counted); *active* of them switched on.
        codes: mall codes in the sheet, by mall code.
        changes: by (SKU, mall): the counts are of mappings, one per SKU and mall.
        warnings: problems that did not refuse the import (numeric code cells).
    """

    file: str
    dry_run: bool
    replace: bool
    skus: int
    active: int
    codes: dict[str, int]
    changes: MappingChanges
    warnings: list[InputProblem]

    def as_dict(self, *, rows: bool = False) -> dict[str, Any]:
        """The `--json` document; *rows* adds every change."""
        c = self.changes
        doc: dict[str, Any] = {
            "file": self.file,
            "dry_run": self.dry_run,
            "replace": self.replace,
            "added": len(c.added),
            "changed": len(c.changed),
            "deactivated": len(c.deactivated),
            "removed": len(c.removed),
            "skus": self.skus,
            "active": self.active,
            "codes": self.codes,
            "warnings": [_problem_dict(w) for w in self.warnings],
        }
        if rows:
            doc["rows"] = {
                "added": [_mapping_dict(m) for m in c.added],
                "changed": [{**_mapping_dict(new), "was": _mapping_dict(old)} for old, new in c.changed],
                "deactivated": [_mapping_dict(m) for m in c.deactivated],
                "removed": [_mapping_dict(m) for m in c.removed],
            }
        return doc


@attrs.frozen
class ExportResult:
    """
    What an export wrote.

    Attributes:
        left_out: mappings of malls with no installed plugin (no column to write them in), by mall code.
    """

    file: str
    skus: int
    mappings: int
    columns: tuple[str, ...]
    left_out: dict[str, int]


def _problem_dict(p: InputProblem) -> dict[str, Any]:
    return {"file": p.file, "row": p.row, "column": p.column, "value": p.value, "problem": p.problem}


def _mapping_dict(m: Mapping) -> dict[str, Any]:
    return {"sku": m.sku, "mall": m.mall, "item": m.item, "active": m.active}


def _claimed_by_kept(
    current: Sequence[Mapping],
    read: MasterSheet,
    named: Collection[str],
    malls: dict[str, str],
    path: Path,
    keys: dict[str, Callable[[str], str]],
) -> list[InputProblem]:
    """
    Codes the sheet gives one SKU while a mapping the merge keeps (its SKU not in the sheet) gives them to
    another: one mall item would then get the stock of two SKUs. Active or not, as within the sheet.

    Args:
        read: the rows to check; *named*: every SKU the sheet names (rows with problems too: a merge takes
            their mappings from the sheet, once fixed, so it does not keep them).
        malls: sheet column -> mall code.
        keys: mall code -> its plugin's ``normalize_item_key`` (two spellings of one item are one item).
    """

    def key(m: Mapping) -> tuple[str, str]:
        return m.mall, keys[m.mall](m.item) if m.mall in keys else m.item  # a mall not loaded: as stored

    columns_of = set(malls.values())  # a mall whose column the sheet lacks keeps its mappings
    kept = {key(m): m.sku for m in current if m.sku not in named or m.mall not in columns_of}
    if not kept:  # the sheet names every SKU the database maps: nothing kept to clash with
        return []
    wanted, _ = sheet_mappings(read, malls)
    rows = {r.sku: line for r, line in zip(read.rows, read.lines, strict=True)}
    columns = {mall: read.labels.get(name, name) for name, mall in malls.items()}
    return [
        InputProblem(
            str(path),
            f"amazon_sku {w.sku!r}: this code is already mapped to amazon_sku {kept[key(w)]!r}, which the "
            "sheet does not name, so a merge keeps it: give one of them another code, or import with --replace",
            row=rows.get(w.sku),
            column=columns[w.mall],
            value=w.item,
        )
        for w in wanted
        if kept.get(key(w), w.sku) != w.sku
    ]


def _read_checked(
    path: Path,
    columns: list[CodeColumn],
    sheet: str | None,
    sku: CodeColumn,
    clashes: Callable[[MasterSheet, Collection[str]], list[InputProblem]],
) -> MasterSheet:
    """
    The sheet, its rows also checked against the database (*clashes*, given the rows that passed and every SKU
    the sheet names): every problem at once, or none.
    """
    try:
        read = read_sheet(path, columns, sheet=sheet, sku=sku)
    except SheetError as exc:
        more = [] if exc.passed is None else clashes(exc.passed, exc.named)
        if not more:
            raise
        raise SheetError(sorted(exc.problems + more, key=lambda p: p.row or 0), exc.warnings) from None
    if found := clashes(read, {r.sku for r in read.rows}):
        raise InputError(found)
    return read


def _targets(app: App) -> list[MallPlugin]:
    targets = app.host.targets()
    if not targets:
        # Without a target mall every row maps to nothing, and --replace would empty the table.
        raise PluginError("no target mall plugin is installed: the master sheet has nothing to map")
    return targets


def _sku_rules(app: App) -> CodeColumn:
    try:
        source = app.host.source()
    except PluginError:
        return CodeColumn(SKU_COLUMN, doubt=look_alike)
    return CodeColumn(SKU_COLUMN, source.check_item_key, source.normalize_item_key, look_alike)


def sheet_mappings(sheet: MasterSheet, malls: dict[str, str]) -> tuple[list[Mapping], list[tuple[str, str]]]:
    """
    The sheet in long form: a mapping per (SKU, mall) with a code, and the (SKU, mall) pairs left blank.

    Args:
        malls: sheet column -> mall code.
    """
    wanted: list[Mapping] = []
    absent: list[tuple[str, str]] = []
    for row in sheet.rows:
        for column, mall in malls.items():
            item = row.codes.get(column)
            if item:
                wanted.append(Mapping(row.sku, mall, item, row.active))
            else:
                absent.append((row.sku, mall))
    return wanted, absent


def import_sku(
    app: App,
    file: Path | None = None,
    *,
    replace: bool = False,
    dry_run: bool = False,
    sheet: str | None = None,
) -> ImportResult:
    """
    Load the master sheet into the mappings: merged (the SKUs it names take its codes) or, with *replace*,
    exactly the sheet.

    Args:
        file: the sheet (default: ``master_file`` from config).
        dry_run: check and compute the changes; change nothing.
        sheet: the sheet's name in the workbook (default: the first).

    Raises:
        InputError: with every problem of the sheet; nothing is changed.
    """
    targets = _targets(app)
    current = app.mappings.all()  # where no database is, none: a dry run makes none (a sync would find it empty)
    if replace and (unloaded := sorted({m.mall for m in current} - {p.code for p in targets})):
        # Its column would go unread, and the replace would remove every mapping of that mall.
        broken = f" (failed to load: {', '.join(app.host.broken)})" if app.host.broken else ""
        raise PluginError(
            f"the database maps items on {', '.join(unloaded)}, whose plugin is not loaded{broken}: "
            "`import-sku --replace` would remove them all; load it first"
        )
    path = file if file is not None else app.settings.master_file
    malls = {str(p.sheet_column): p.code for p in targets}
    columns = [CodeColumn(str(p.sheet_column), p.check_item_key, p.normalize_item_key) for p in targets]
    keys = {p.code: p.normalize_item_key for p in targets}

    def clashes(read: MasterSheet, named: Collection[str]) -> list[InputProblem]:
        return [] if replace else _claimed_by_kept(current, read, named, malls, path, keys)

    try:
        read = _read_checked(path, columns, sheet, _sku_rules(app), clashes)
    except InputError as exc:
        log.info("import_sku_refused", file=str(path), problems=len(exc.problems), first=str(exc.problems[0]))
        raise
    if replace and not read.rows and current:
        # A header-only sheet, or the wrong one: replacing with it would leave every mall unsynced, in silence.
        raise InputError(
            [
                InputProblem(
                    str(path),
                    f"the sheet holds no SKU rows: --replace would remove all {len(current)} mappings; check the file "
                    "(or --sheet). To stop syncing SKUs, import them with is_active 0",
                )
            ]
        )
    wanted, absent = sheet_mappings(read, malls)
    if dry_run:
        changes = diff(current, wanted, replace=replace, absent=absent)
    else:
        # Under the run lock: a sync has read the mappings it pushes, and must not push ones changed under it.
        with app.lock.held(IMPORT_HOLDER):
            changes = app.mappings.apply(wanted, replace=replace, absent=absent)
    codes = dict.fromkeys(malls.values(), 0)
    for m in wanted:
        codes[m.mall] += 1
    result = ImportResult(
        file=str(path),
        dry_run=dry_run,
        replace=replace,
        skus=len(read.rows),
        active=sum(r.active for r in read.rows),
        codes=codes,
        changes=changes,
        warnings=[*read.warnings, *_open_warning(path)],
    )
    log.info(
        "import_sku",
        file=str(path),
        dry_run=dry_run,
        replace=replace,
        skus=result.skus,
        added=len(changes.added),
        changed=len(changes.changed),
        deactivated=len(changes.deactivated),
        removed=len(changes.removed),
        warnings=len(read.warnings),
    )
    return result


def sheet_rows(mappings: Sequence[Mapping], columns: dict[str, str]) -> tuple[list[SheetRow], dict[str, int]]:
    """
    The mappings as sheet rows, one per SKU in SKU order, and the count of those no column can hold.

    A SKU's row is active when its mappings are (an import gives every mapping of a row the row's flag).

    Args:
        columns: mall code -> sheet column.
    """
    codes: dict[str, dict[str, str]] = defaultdict(dict)
    active: dict[str, bool] = {}
    left_out: dict[str, int] = defaultdict(int)
    for m in mappings:
        column = columns.get(m.mall)
        if column is None:
            left_out[m.mall] += 1
            continue
        codes[m.sku][column] = m.item
        active[m.sku] = active.get(m.sku, True) and m.active
    return [SheetRow(sku, codes[sku], active[sku]) for sku in sorted(codes)], dict(left_out)


def lock_file(path: Path) -> Path | None:
    """
    The lock file a spreadsheet program keeps beside a workbook it has open: Excel's ``~$NAME``, LibreOffice's
    ``.~lock.NAME#``. Not Word's ``~$`` over a long name's first two letters: ``01_master.xlsx`` open would then
    block ``02_master.xlsx``.
    """
    for name in (f"~${path.name}", f".~lock.{path.name}#"):
        if (path.parent / name).is_file():
            return path.parent / name
    return None


def _open_warning(path: Path) -> list[InputProblem]:
    lock = lock_file(path)
    if lock is None:
        return []
    said = f"is open in a spreadsheet program ({lock.name} beside it): edits not saved yet are not imported"
    return [InputProblem(str(path), said)]


def export_sku(app: App, file: Path) -> ExportResult:
    """
    Write the mappings as a master sheet with the columns an import reads; codes as text cells.

    An export followed by an import changes nothing. A missing database, or an empty one over an existing file, is
    refused: exported from the wrong place, it would replace the team's sheet with an empty one. So is a file with
    sheets or columns the export does not write (a team's master with its own notes and prices).
    """
    if file.suffix.lower() != ".xlsx":
        raise InputError([InputProblem(str(file), "export-sku writes an Excel workbook: name the file .xlsx")])
    targets = _targets(app)
    app.require_database()  # exported from an empty one made here, the sheet would be emptied
    database = app.settings.database
    columns = {p.code: str(p.sheet_column) for p in targets}
    mappings = app.mappings.all()
    if not mappings and file.exists():
        raise InputError(
            [InputProblem(str(file), f"{database} holds no mappings: the sheet is left as it is, not emptied")]
        )
    if lock := lock_file(file):
        raise InputError(
            [
                InputProblem(
                    str(file),
                    f"is open in a spreadsheet program ({lock.name} beside it): close it first (saving it there later "
                    "would undo the export), or export to another file; a lock file left by a crash can be deleted",
                )
            ]
        )
    if file.exists():
        try:
            lost = lost_by_writing_over(file, list(columns.values()))
            said = f"holds what export-sku does not write ({', '.join(lost)})" if lost else ""
        except InputError as exc:  # the import's words ("save it as .xlsx") would not say that the file stays
            said = f"exists and cannot be read as a workbook ({exc.problems[0].problem})"
        if said:
            raise InputError([InputProblem(str(file), f"{said}: it is left as it is; export to another file")])
    rows, left_out = sheet_rows(mappings, columns)
    write_sheet(file, rows, list(columns.values()))
    result = ExportResult(
        str(file), len(rows), len(mappings) - sum(left_out.values()), tuple(columns.values()), left_out
    )
    log.info("export_sku", file=str(file), skus=result.skus, mappings=result.mappings, left_out=left_out)
    return result
