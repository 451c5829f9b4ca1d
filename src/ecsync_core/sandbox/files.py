"""
The files a sandbox leaves in its directory: ``config.yaml``, ``.env``, ``master.xlsx``, ``sandbox.json``.

Together they point the tool at the emulators, so ``ecsync -c DIR/config.yaml ...`` runs with no real
credentials.
"""

from __future__ import annotations

import json
import os

from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs
import yaml

from ecsync_core.master_sheet import SheetRow, write_sheet
from ecsync_core.store.db import Database


@attrs.frozen
class SandboxFiles:
    """Where a sandbox wrote its files; every path absolute."""

    directory: Path

    @property
    def config(self) -> Path:
        return self.directory / "config.yaml"

    @property
    def env(self) -> Path:
        return self.directory / ".env"

    @property
    def master(self) -> Path:
        return self.directory / "master.xlsx"

    @property
    def urls(self) -> Path:
        return self.directory / "sandbox.json"

    @property
    def database(self) -> Path:
        return self.directory / "ecsync.duckdb"

    @property
    def log_file(self) -> Path:
        return self.directory / "logs" / "inventory_sync.log"


def write_files(
    directory: Path,
    *,
    malls: Mapping[str, Mapping[str, object]],
    secrets: Mapping[str, str],
    urls: Mapping[str, str],
    rows: Sequence[SheetRow],
    columns: Sequence[str],
    unserved: Sequence[str] = (),
) -> SandboxFiles:
    """
    Write the four files into *directory* (made if missing); an existing database there is kept.

    Args:
        malls: mall code -> its ``malls.<code>`` config section.
        secrets: the ``.env`` names and values.
        urls: mall code -> base URL, for ``sandbox.json``.
        rows: the master sheet's rows; *columns* its mall columns.
        unserved: installed malls with no emulator here: disabled in the config, since with no section of
            their own their adapters would call the real API (with whatever secrets the environment holds).
    """
    files = SandboxFiles(directory.expanduser().resolve())
    files.directory.mkdir(parents=True, exist_ok=True)
    files.log_file.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "database": str(files.database),
        "log_file": str(files.log_file),
        "master_file": str(files.master),
        "malls": {code: dict(section) for code, section in malls.items()},
    }
    if unserved:
        config["disable_plugins"] = list(unserved)
    header = "# Written by `ecsync sandbox`: points ecsync at the local emulators. Rewritten on every start.\n"
    files.config.write_text(header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    _write_env(files.env, secrets)
    write_sheet(files.master, rows, columns)
    files.urls.write_text(json.dumps(dict(urls), indent=2) + "\n", encoding="utf-8")
    Database(files.database).version()  # made (and migrated) now: health on a fresh sandbox finds it
    return files


def _write_env(path: Path, secrets: Mapping[str, str]) -> None:
    lines = ["# Sandbox credentials: the emulators accept these and nothing else. Not real secrets."]
    lines += [f"{name}={_quoted(value)}" for name, value in sorted(secrets.items())]
    # Created private from the start: a real .env beside it would be, and tools warn about open ones.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


def _quoted(value: str) -> str:
    """A value python-dotenv reads back unchanged: single quotes keep everything but a single quote."""
    if "'" not in value and "\n" not in value:
        return f"'{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
