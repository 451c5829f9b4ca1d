"""
Rakuten: 100,000 absolute upserts and their read-back against the emulator at ``--speed 100``.

The emulator is served by uvicorn in its own process on 127.0.0.1, as ``ecsync sandbox`` serves it, and the
real adapter talks HTTP to it with the settings the sandbox hands out (rates scaled by the speed).

Printed: wall time of the write and of the read-back (median of the repeats), the floor the published limits
allow (calls spaced 1/rate, no burst: (upserts - 1) / (1 x speed) + (bulk-gets - 1) / (5 x speed)), the
ratio (goal <= 1.1), 429s drawn, CPU seconds a round of the client and of the server process, and peak memory
(RSS of the client and of the server process).

    python benchmarks/bench_rakuten.py [--items 100000] [--speed 100] [--repeats 3] [--fine-timer]

``--fine-timer`` runs the client on a select() event loop: asyncio's default epoll loop rounds every sleep
up to a whole millisecond, which at --speed 100 (10 ms between upserts) costs up to 10% that a real run
(1 s between upserts) does not pay.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import resource
import statistics
import sys
import time

from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import _emulated


def serve(items: int, speed: float, conn: Connection) -> None:
    """The child: the Rakuten emulator seeded with *items* demo SKUs, served as the sandbox serves it."""
    from ecsync_rakuten.emulator import RakutenEmulator
    from ecsync_rakuten.identity import sample_item_key

    _emulated.serve("rakuten", RakutenEmulator({sample_item_key(n): 1 for n in range(items)}), speed, conn)


def _throttled(base: str) -> int:
    return int(_emulated.requests_log(base)["throttled"])


async def one_round(base: str, items: int, speed: float, quantity: int) -> tuple[float, float, float, int]:
    """
    Write every SKU to *quantity*, read them all back: the seconds each took, the client's CPU seconds, and
    the SKUs that read back as written.
    """
    from ecsync_core.config import make_converter
    from ecsync_core.domain import StockWrite
    from ecsync_core.testing import InMemoryKeyValue
    from ecsync_rakuten.client import RakutenRmsClient
    from ecsync_rakuten.emulator import RakutenEmulator
    from ecsync_rakuten.identity import sample_item_key
    from ecsync_rakuten.plugin import RakutenSettings

    probe = RakutenEmulator({})
    settings = make_converter().structure(probe.sandbox_settings(base, speed), RakutenSettings)
    adapter = RakutenRmsClient(settings, probe.sandbox_secrets(), InMemoryKeyValue())
    keys = [sample_item_key(n) for n in range(items)]
    writes = [StockWrite(k, quantity) for k in keys]
    try:
        started, cpu = time.perf_counter(), _emulated.cpu_seconds()
        results = await adapter.write(writes)
        written = time.perf_counter()
        reading = await adapter.read(keys)
        read, cpu = time.perf_counter(), _emulated.cpu_seconds() - cpu
    finally:
        await adapter.aclose()
    assert all(r.ok for r in results), "a write failed"
    matched = sum(reading.quantities.get(k) == quantity for k in keys)
    return written - started, read - written, cpu, matched


def _served(pid: int | None, round_fn: Callable[[], Any]) -> tuple[Any, float | None]:
    """What *round_fn* returns, and the CPU seconds the server process spent meanwhile (``None``: unknown)."""
    before = _emulated.server_cpu_seconds(pid)
    result = round_fn()
    after = _emulated.server_cpu_seconds(pid)
    return result, None if before is None or after is None else after - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--speed", type=float, default=100.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fine-timer", action="store_true")
    args, _ = parser.parse_known_args()

    spawn = multiprocessing.get_context("spawn")
    parent, child = spawn.Pipe()
    server = spawn.Process(target=serve, args=(args.items, args.speed, child), daemon=True)
    server.start()
    try:
        base, _secrets = parent.recv()
        _emulated.wait_ready(base)
        writes, reads, cpus, matched, served = [], [], [], [], []
        throttled_before = _throttled(base)
        for n in range(args.repeats):
            (w, r, c, m), server_cpu = _served(
                server.pid,
                lambda n=n: _emulated.run_round(
                    lambda: one_round(base, args.items, args.speed, 2 + n), args.fine_timer
                ),
            )
            served.extend([] if server_cpu is None else [server_cpu])
            writes.append(w)
            reads.append(r)
            cpus.append(c)
            matched.append(m)
        throttled_after = _throttled(base)
    finally:
        server.terminate()
        server.join(10)
    client_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    server_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    from ecsync_rakuten.plugin import RakutenSettings

    margin = RakutenSettings().pacing_margin
    upserts, gets = math.ceil(args.items / 400), math.ceil(args.items / 1000)
    write_floor = (upserts - 1) / (1.0 * args.speed)
    read_floor = (gets - 1) / (5.0 * args.speed)
    write_s, read_s = statistics.median(writes), statistics.median(reads)
    total_s = statistics.median(w + r for w, r in zip(writes, reads, strict=True))
    floor = write_floor + read_floor
    throttled = (
        "n/a" if throttled_before is None or throttled_after is None else str(throttled_after - throttled_before)
    )
    loop = "select()" if args.fine_timer else "default (epoll)"
    rows = [
        ("write", write_s, write_floor, f"{upserts} calls"),
        ("read-back", read_s, read_floor, f"{gets} calls"),
        ("total", total_s, floor, "goal <= 1.1"),
    ]
    print(f"rakuten: {args.items:,} upserts + read-back at --speed {args.speed:g}, {args.repeats} repeats, loop {loop}")
    for name, took, least, note in rows:
        print(f"  {name:<10} {took:7.3f} s  floor {least:6.3f} s  ratio {took / least:5.2f}  ({note})")
    print(f"  rounds     write {', '.join(f'{w:.3f}' for w in writes)}; read {', '.join(f'{r:.3f}' for r in reads)}")
    print(f"  read back as written: {min(matched):,}/{args.items:,}; 429s drawn: {throttled}")
    print(f"  peak RSS   client {client_peak_mb:.0f} MiB, server {server_peak_mb:.0f} MiB")
    # At --speed 1 every call's CPU (a few ms) hides inside the pacing wait (1 s, 200 ms); only the margin and
    # the work before the first call add up. The client's CPU for the whole round bounds that work.
    cpu = statistics.median(cpus)
    real_floor = floor * args.speed
    projected = real_floor * (1 + margin) + cpu
    print(
        f"  CPU a round (getrusage, /proc): client {cpu:.3f} s, emulator's server "
        + (f"{statistics.median(served):.3f} s" if served else "n/a")
    )
    print(
        f"  client CPU {cpu:.3f} s a round; at --speed 1 (floor {real_floor:.0f} s) at most "
        f"{projected:.0f} s, ratio <= {projected / real_floor:.3f}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
