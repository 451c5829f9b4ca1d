"""The sheet in long form and back, and what a merge or a replace changes: pure functions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ecsync_core.domain import Mapping
from ecsync_core.master_sheet import MasterSheet, SheetRow
from ecsync_core.services.import_sku import sheet_mappings, sheet_rows
from ecsync_core.store.mappings import MappingChanges, diff


COLUMNS = {"yahoo_item_code": "yahoo", "rakuten_item_number": "rakuten"}
SKUS = st.sampled_from([f"SKU-{i}" for i in range(8)])
ITEMS = st.sampled_from(["", "a-1", "a-2", "b-1"])


@st.composite
def sheets(draw: st.DrawFn) -> list[SheetRow]:
    skus = draw(st.lists(SKUS, unique=True, max_size=6))
    return [SheetRow(sku, {c: code for c in COLUMNS if (code := draw(ITEMS))}, draw(st.booleans())) for sku in skus]


def applied(current: list[Mapping], changes: MappingChanges) -> set[Mapping]:
    result = {(m.sku, m.mall): m for m in current}
    for m in changes.removed:
        del result[m.sku, m.mall]
    for m in [*changes.added, *(new for _old, new in changes.changed), *changes.deactivated]:
        result[m.sku, m.mall] = m
    return set(result.values())


def long_form(rows: list[SheetRow]) -> tuple[list[Mapping], list[tuple[str, str]]]:
    return sheet_mappings(MasterSheet("s.xlsx", rows, list(range(2, len(rows) + 2)), tuple(COLUMNS)), COLUMNS)


@given(sheets())
def test_sheet_to_mappings_and_back(rows: list[SheetRow]) -> None:
    """Exporting what a sheet imports gives the sheet back (rows without any code hold nothing to export)."""
    wanted, _absent = long_form(rows)
    back, left_out = sheet_rows(wanted, {mall: column for column, mall in COLUMNS.items()})
    assert sorted((r for r in rows if r.codes), key=lambda r: r.sku) == back
    assert {} == left_out


@given(sheets(), sheets(), st.booleans())
def test_merge_and_replace_reach_the_sheet(before: list[SheetRow], after: list[SheetRow], replace: bool) -> None:
    """After an import the SKUs of the sheet hold exactly its codes; a merge keeps the other SKUs, a replace not."""
    current, _ = long_form(before)
    wanted, absent = long_form(after)
    changes = diff(current, wanted, replace=replace, absent=absent)
    named = {r.sku for r in after}
    kept = set() if replace else {m for m in current if m.sku not in named}
    assert set(wanted) | kept == applied(current, changes)
    assert diff(sorted(applied(current, changes), key=repr), wanted, replace=replace, absent=absent).empty


def test_blanked_code_is_removed_by_a_merge() -> None:
    """A code blanked in the sheet ("not on that mall") removes that mapping, and only that one."""
    current = [Mapping("S", "yahoo", "a-1"), Mapping("S", "rakuten", "b-1"), Mapping("T", "yahoo", "a-2")]
    changes = diff(current, [Mapping("S", "yahoo", "a-1")], replace=False, absent=[("S", "rakuten")])
    assert ([], [], [], [Mapping("S", "rakuten", "b-1")]) == (
        changes.added,
        changes.changed,
        changes.deactivated,
        changes.removed,
    )


def test_rows_of_one_sku_export_on_only_when_all_are_on() -> None:
    """A SKU's row is active only when every mapping of it is, and a mall with no column is counted apart."""
    rows, left_out = sheet_rows(
        [Mapping("S", "yahoo", "a-1", True), Mapping("S", "rakuten", "b-1", False), Mapping("S", "gone", "x")],
        {"yahoo": "yahoo_item_code", "rakuten": "rakuten_item_number"},
    )
    assert [SheetRow("S", {"yahoo_item_code": "a-1", "rakuten_item_number": "b-1"}, False)] == rows
    assert {"gone": 1} == left_out
