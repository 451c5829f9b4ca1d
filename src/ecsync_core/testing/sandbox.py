"""
The whole sandbox for tests: in-process (every emulator behind ``httpx.ASGITransport``) or as the real
``ecsync sandbox`` process on loopback.

In-process, for fast tests of the services against every installed mall::

    sb = sandbox_in_process(tmp_path, extra_plugins=[fake_mall])
    app = bootstrap.build_app(sb.files.config, extra_plugins=(fake_mall,), transports=sb.transports)

On loopback, for end-to-end tests of the CLI (the pytest fixture ``ecsync_sandbox`` wraps this)::

    with start_sandbox(tmp_path / "sb", "--speed", "10") as sb:
        httpx.get(sb.urls["fakemall"] + "/_sandbox/stock")
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType

import attrs
import httpx

from ecsync_core.plugins import PluginHost, get_plugin_host
from ecsync_core.sandbox.demo import MANUAL_SKUS
from ecsync_core.sandbox.files import SandboxFiles
from ecsync_core.sandbox.harness import SandboxApp
from ecsync_core.sandbox.launch import Prepared, prepare


IN_PROCESS_URL = "http://127.0.0.1:9"
"""
The endpoint an in-process sandbox writes into its config: loopback (so the config check passes) on the
discard port, where nothing answers. The transports route every call before it would leave the process.
"""

READY = "ready"


@attrs.frozen
class InProcessSandbox:
    """
    A sandbox's files and emulators, served through transports instead of sockets.

    Attributes:
        transports: mall code -> transport into its emulator; pass to ``bootstrap.build_app(transports=...)``.
    """

    files: SandboxFiles
    prepared: Prepared
    transports: dict[str, httpx.ASGITransport]

    @property
    def apps(self) -> dict[str, SandboxApp]:
        return self.prepared.apps


def sandbox_in_process(
    directory: Path,
    host: PluginHost | None = None,
    *,
    extra_plugins: Iterable[ModuleType] = (),
    skus: int = MANUAL_SKUS,
    seed: int = 0,
    speed: float = 1.0,
) -> InProcessSandbox:
    """
    Build what ``ecsync sandbox --dir DIR`` serves, and write the same files, without a server.

    Args:
        host: the installed malls; default: the entry points plus *extra_plugins*.
    """
    host = host or get_plugin_host(extra_plugins)
    prepared = prepare(host, skus=skus, seed=seed, speed=speed)
    files = prepared.write(directory, dict.fromkeys(prepared.apps, IN_PROCESS_URL))
    transports = {code: httpx.ASGITransport(app=app) for code, app in prepared.apps.items()}
    return InProcessSandbox(files, prepared, transports)


class SandboxStartError(RuntimeError):
    """Raised when ``ecsync sandbox`` exits or stays silent instead of printing ``ready``."""


@attrs.frozen
class RunningSandbox:
    """
    An ``ecsync sandbox`` process on loopback.

    Attributes:
        urls: mall code -> base URL, as ``sandbox.json`` has them.
        output: the file its stdout and stderr go to.
    """

    files: SandboxFiles
    urls: dict[str, str]
    process: subprocess.Popen[bytes]
    output: Path

    @property
    def directory(self) -> Path:
        return self.files.directory

    @property
    def config(self) -> Path:
        return self.files.config

    def text(self) -> str:
        """What it printed so far."""
        return self.output.read_text(encoding="utf-8", errors="replace")


def sandbox_command(directory: Path, *args: str, python: str | os.PathLike[str] | None = None) -> list[str]:
    """The command line of ``ecsync sandbox --dir DIR ARGS``, under *python* (default: this interpreter)."""
    return [str(python or sys.executable), "-m", "ecsync_core", "sandbox", "--dir", str(directory), *args]


@contextlib.contextmanager
def start_sandbox(
    directory: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    python: str | os.PathLike[str] | None = None,
    ready_s: float = 20.0,
) -> Iterator[RunningSandbox]:
    """
    Start ``ecsync sandbox --dir DIR ARGS``, wait for its ``ready`` line, yield it, stop it with SIGTERM.

    Args:
        env: variables over this process's environment (``ECSYNC_EXTRA_PLUGINS``, say).
        python: the interpreter whose ``ecsync_core`` to run (another venv's).

    Raises:
        SandboxStartError: when it exits early or prints no ``ready`` within *ready_s*, with its output.
    """
    directory = directory.expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    output = directory / "sandbox.out"
    with output.open("wb") as out:
        process = subprocess.Popen(
            sandbox_command(directory, *args, python=python),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    try:
        _wait_ready(process, output, ready_s)
        urls = json.loads((directory / "sandbox.json").read_text(encoding="utf-8"))
        yield RunningSandbox(SandboxFiles(directory), urls, process, output)
    finally:
        stop_sandbox(process)


def _wait_ready(process: subprocess.Popen[bytes], output: Path, ready_s: float) -> None:
    deadline = time.monotonic() + ready_s
    while True:
        text = output.read_text(encoding="utf-8", errors="replace")
        if any(line.strip() == READY for line in text.splitlines()):
            return
        if process.poll() is not None:
            raise SandboxStartError(f"ecsync sandbox exited with {process.returncode} before `ready`: {text[-800:]}")
        if time.monotonic() > deadline:
            raise SandboxStartError(f"ecsync sandbox printed no `ready` within {ready_s:g} s: {text[-800:]}")
        time.sleep(0.05)


def stop_sandbox(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> int:
    """SIGTERM the sandbox, wait for it (SIGKILL its process group past *timeout_s*); returns its exit code."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode
