"""
What the per-mall benchmarks share: one emulator served in a child process as ``ecsync sandbox`` serves it,
readiness, the harness's request log, CPU clocks of both processes, and our pacer's gap on this machine's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import os
import resource
import statistics
import time

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx


def serve(code: str, emulator: Any, speed: float, conn: Connection) -> None:
    """
    In the child: *emulator* behind the sandbox harness at *speed*, on loopback, until SIGTERM.

    Sends (base URL, the emulator's sandbox secrets) through *conn* once listening; the sockets are the
    sandbox's own (no Nagle stall).
    """
    from ecsync_core.sandbox.harness import build_app
    from ecsync_core.sandbox.serve import Servers, stop_on_signals

    servers = Servers.bind({code: build_app(emulator, speed=speed)})
    conn.send((servers.urls[code], emulator.sandbox_secrets()))

    async def run() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        await servers.serve(stop, lambda: None)

    asyncio.run(run())


@dataclass(frozen=True)
class Served:
    """The emulator's child process: its base URL, its sandbox secrets, its pid."""

    base: str
    secrets: dict[str, str]
    pid: int | None

    def during(self, work: Callable[[], Any]) -> tuple[Any, float | None]:
        """What *work* returns, and the CPU seconds this process spent meanwhile (``None``: unknown)."""
        before = server_cpu_seconds(self.pid)
        result = work()
        after = server_cpu_seconds(self.pid)
        return result, None if before is None or after is None else after - before

    def throttled(self) -> int:
        """The 429s the harness has answered so far."""
        return int(requests_log(self.base)["throttled"])


@contextlib.contextmanager
def served(target: Callable[..., None], *args: object) -> Iterator[Served]:
    """
    ``target(*args, conn)`` (a bench's module-level ``serve``) in a spawned child, ready, until the block ends.
    """
    spawn = multiprocessing.get_context("spawn")
    parent, child = spawn.Pipe()
    process = spawn.Process(target=target, args=(*args, child), daemon=True)
    process.start()
    try:
        base, secrets = parent.recv()
        wait_ready(base)
        yield Served(base, secrets, process.pid)
    finally:
        process.terminate()
        process.join(10)


def wait_ready(base: str, deadline_s: float = 120.0) -> None:
    until = time.monotonic() + deadline_s
    while True:
        try:
            httpx.get(f"{base}/_sandbox/requests", timeout=2.0)
            return
        except httpx.TransportError:
            if time.monotonic() > until:
                raise
            time.sleep(0.1)


def requests_log(base: str) -> dict[str, Any]:
    """The harness's request log: ``count``, ``by_path``, ``throttled``."""
    answer: dict[str, Any] = httpx.get(f"{base}/_sandbox/requests", timeout=10.0).json()
    return answer


def cpu_seconds() -> float:
    """This process's CPU time, user and system (``resource.getrusage``)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_cpu_seconds(pid: int | None) -> float | None:
    """The server process's CPU time so far, from ``/proc`` (Linux); ``None`` where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def paced_gap(rate: float, calls: int = 100) -> float:
    """
    The median seconds between calls that our pacer (a depth-1 ``TokenBucket`` at *rate*) lets through on this
    machine's event loop, with nothing else to do: the published interval, the margin, and whatever lateness on
    each wake-up the pacer does not make up for (--speed 100 does not scale it down).
    """
    from ecsync_core.pacing import TokenBucket

    async def gaps() -> float:
        bucket, times = TokenBucket(rate, 1), []
        for _ in range(calls):
            await bucket.acquire()
            times.append(time.perf_counter())
        return statistics.median(b - a for a, b in itertools.pairwise(times))

    return float(asyncio.run(gaps()))
