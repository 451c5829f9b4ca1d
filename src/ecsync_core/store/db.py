"""
The DuckDB file: short connections only, so `status` and `health` answer while a sync runs.
"""

from __future__ import annotations

import contextlib
import tempfile
import time

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from ecsync_core.errors import EcsyncError
from ecsync_core.store.migrations import MIGRATIONS


CURRENT_VERSION = MIGRATIONS[-1][0]
_BUSY_WAIT_S = 30.0


class DatabaseError(EcsyncError):
    """Raised when the database file cannot be opened or is newer than this code."""


def utcnow() -> datetime:
    """Now in UTC, naive, as the database stores it."""
    return datetime.now(UTC).replace(tzinfo=None)


class Database:
    """
    One DuckDB file. Every use opens a connection, does its work and closes it.

    DuckDB lets one process hold a file at a time; a second process waits here (up to 30 s) instead of
    failing, which is what keeps `status` answering while a sync writes its ledger.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._migrated = False

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._open()
        try:
            if not self._migrated:
                migrate(con)
                self._migrated = True
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.connect() as con:
            con.begin()
            try:
                yield con
            except BaseException:
                con.rollback()
                raise
            con.commit()

    def _open(self) -> duckdb.DuckDBPyConnection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(f"database {self.path}: cannot create its folder: {exc.strerror}") from None
        deadline = time.monotonic() + _BUSY_WAIT_S
        while True:
            try:
                return duckdb.connect(str(self.path))
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise DatabaseError(f"database {self.path}: cannot open: {_first_line(exc)}") from None
                time.sleep(0.05)
            except duckdb.Error as exc:
                raise DatabaseError(f"database {self.path}: cannot open: {_first_line(exc)}") from None

    def version(self) -> int:
        with self.connect() as con:
            return schema_version(con)

    def size_bytes(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TIMESTAMP)")
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(con: duckdb.DuckDBPyConnection, upto: int = CURRENT_VERSION) -> int:
    """Apply every step above the file's version, each in its own transaction; return the new version."""
    have = schema_version(con)
    if have > CURRENT_VERSION:
        msg = f"the database is at schema {have}, newer than this ecsync knows ({CURRENT_VERSION}): upgrade ecsync"
        raise DatabaseError(msg)
    for version, _title, sql in MIGRATIONS:
        if have < version <= upto:
            con.begin()
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?, ?)", [version, utcnow()])
            con.commit()
            have = version
    return have


def bulk_insert(
    con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str], rows: Iterable[Sequence[Any]]
) -> int:
    """
    Insert many rows through a temporary CSV file that DuckDB reads in one statement.

    Row-by-row inserts take minutes for 100,000 rows; this takes well under a second. Every text is quoted and
    a NULL is a bare ``\\N``, with quoted NULLs off, so any text goes in as it is: a ``\\N``, a comma, a
    quote, a line break (a sheet cell typed with Alt+Enter, a mall's error message).

    Args:
        columns: column name -> DuckDB type, in the order of each row's values.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="", encoding="utf-8", delete=False) as fh:
        write = fh.write
        count = 0
        for row in rows:
            write(",".join(map(_csv_cell, row)))
            write("\n")
            count += 1
        name = fh.name
    try:
        if count:
            spec = "{" + ", ".join(f"'{c}': '{t}'" for c, t in columns.items()) + "}"
            names = ", ".join(columns)
            con.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM read_csv(?, header=false, columns={spec}, "
                "delim=',', quote='\"', escape='\"', nullstr='\\N', allow_quoted_nulls=false, new_line='\\n', "
                "auto_detect=false)",
                [name],
            )
    finally:
        Path(name).unlink(missing_ok=True)
    return count


def _csv_cell(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"'
    return str(value)
