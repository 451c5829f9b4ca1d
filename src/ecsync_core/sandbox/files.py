"""
The files a sandbox leaves in its directory: ``config.yaml``, ``.env``, ``master.xlsx``, ``sandbox.json``.

Together they point the tool at the emulators, so ``ecsync -c DIR/config.yaml ...`` runs with no real
credentials.
"""

from __future__ import annotations

import fcntl
import json
import os

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import attrs
import yaml

from ecsync_core.errors import RefusedError
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


HEADER = "# Written by `ecsync sandbox`: points ecsync at the local emulators. Rewritten on every start.\n"
LOCK = ".sandbox.lock"


def claim(directory: Path) -> IO[str]:
    """
    Take *directory* for one sandbox, for as long as the returned file stays open (an flock on ``.sandbox.lock``).

    Refused while another sandbox serves it (the second start would rewrite the first one's ports and
    credentials), and where it holds a config, ``.env``, master sheet or database that no sandbox wrote: an app
    root or a production config folder would have its real files overwritten, or its database filled with demo
    mappings.

    Raises:
        RefusedError: with the directory and what stands in the way.
    """
    files = SandboxFiles(directory.expanduser().resolve())
    # A sandbox claims before it writes anything: its lock file marks the directory as its own even when a start
    # was stopped half-way; a config with the sandbox's header marks one written before the lock file existed.
    ours = (files.directory / LOCK).exists() or (
        files.config.is_file() and files.config.read_text(encoding="utf-8", errors="replace").startswith(HEADER)
    )
    found = [p.name for p in (files.config, files.env, files.master, files.database) if p.exists()]
    if found and not ours:
        raise RefusedError(
            f"sandbox: {files.directory} holds {', '.join(found)}, which no sandbox wrote; they would be overwritten "
            "(or the database filled with demo mappings): give --dir a new or empty directory"
        )
    try:
        files.directory.mkdir(parents=True, exist_ok=True)
        held = (files.directory / LOCK).open("a", encoding="utf-8")
    except OSError as exc:
        raise RefusedError(f"sandbox: cannot use {files.directory}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        held.close()
        raise RefusedError(
            f"sandbox: another sandbox is serving {files.directory}; stop it first, or give this one another --dir"
        ) from None
    return held


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
    files.config.write_text(HEADER + yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
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
