"""
The master sheet's mappings in long form: one row per (SKU, mall).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import attrs

from ecsync_core.domain import Mapping, counted
from ecsync_core.store.db import Database, bulk_insert, utcnow


_COLUMNS = {
    "sku": "VARCHAR",
    "mall": "VARCHAR",
    "item": "VARCHAR",
    "active": "BOOLEAN",
    "updated_at": "TIMESTAMP",
}


@attrs.frozen
class MappingChanges:
    """What an import did (or would do), by (SKU, mall)."""

    added: list[Mapping] = attrs.field(factory=list, repr=counted)
    changed: list[tuple[Mapping, Mapping]] = attrs.field(factory=list, repr=counted)
    deactivated: list[Mapping] = attrs.field(factory=list, repr=counted)
    removed: list[Mapping] = attrs.field(factory=list, repr=counted)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.deactivated or self.removed)


def diff(
    current: Sequence[Mapping],
    wanted: Sequence[Mapping],
    *,
    replace: bool,
    absent: Collection[tuple[str, str]] = (),
) -> MappingChanges:
    """
    What turns *current* into *wanted*: pure, so `import-sku --dry-run` shows exactly what a real import does.

    A merge keeps the mappings the sheet does not name; a replace removes them. *absent* holds the
    (SKU, mall) pairs the sheet names with a blank code ("not on that mall"): a merge removes those too.
    """
    have = {(m.sku, m.mall): m for m in current}
    want = {(m.sku, m.mall): m for m in wanted}
    changes = MappingChanges()
    for key, new in want.items():
        old = have.get(key)
        if old is None:
            changes.added.append(new)
        elif old.item != new.item:
            changes.changed.append((old, new))
        elif old.active and not new.active:
            changes.deactivated.append(new)
        elif old.active != new.active:
            changes.changed.append((old, new))
    if replace:
        changes.removed.extend(m for k, m in have.items() if k not in want)
    else:
        changes.removed.extend(have[k] for k in absent if k in have and k not in want)
    return changes


class DuckDBMappings:
    """The mappings table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def all(self) -> list[Mapping]:
        """Every mapping; none where no database is (a look makes none, as ``DuckDBLedger.approvals``)."""
        if not self.db.path.exists():
            return []
        with self.db.connect() as con:
            rows = con.execute("SELECT sku, mall, item, active FROM mappings ORDER BY sku, mall").fetchall()
        return [Mapping(*r) for r in rows]

    def active(self) -> list[Mapping]:
        return [m for m in self.all() if m.active]

    def apply(
        self, wanted: Sequence[Mapping], *, replace: bool, absent: Collection[tuple[str, str]] = ()
    ) -> MappingChanges:
        """Make the table hold *wanted* (merged, or exactly with *replace*) in one transaction; see `diff`."""
        with self.db.transaction() as con:
            rows = con.execute("SELECT sku, mall, item, active FROM mappings").fetchall()
            changes = diff([Mapping(*r) for r in rows], wanted, replace=replace, absent=absent)
            if changes.empty:
                return changes
            now = utcnow()
            if replace:
                con.execute("DELETE FROM mappings")
                keep: list[Mapping] = list(wanted)
            else:
                touched = {(m.sku, m.mall) for m in (*wanted, *changes.removed)}
                con.execute("CREATE TEMP TABLE incoming (sku VARCHAR, mall VARCHAR)")
                bulk_insert(con, "incoming", {"sku": "VARCHAR", "mall": "VARCHAR"}, touched)
                con.execute(
                    "DELETE FROM mappings USING incoming WHERE mappings.sku = incoming.sku "
                    "AND mappings.mall = incoming.mall"
                )
                con.execute("DROP TABLE incoming")
                keep = list(wanted)
            bulk_insert(con, "mappings", _COLUMNS, ((m.sku, m.mall, m.item, m.active, now) for m in keep))
        return changes
