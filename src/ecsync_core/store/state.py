"""
Plugin state: a few keys per mall that must outlive a run (a resolved variant, today's call count).
"""

from __future__ import annotations

from ecsync_core.store.db import Database, utcnow


class DuckDBKeyValue:
    """A ``KeyValueStore`` over the ``plugin_state`` table, namespaced by mall code."""

    def __init__(self, db: Database, mall: str) -> None:
        self.db = db
        self.mall = mall

    def get(self, key: str) -> str | None:
        with self.db.connect() as con:
            row = con.execute("SELECT value FROM plugin_state WHERE mall = ? AND key = ?", [self.mall, key]).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, value: str) -> None:
        with self.db.connect() as con:
            con.execute("INSERT OR REPLACE INTO plugin_state VALUES (?, ?, ?, ?)", [self.mall, key, value, utcnow()])
