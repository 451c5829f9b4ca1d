"""
Yahoo: setStock of 100,000 items and their read-back (getStock) against the emulator at ``--speed 100``.

The emulator is served by uvicorn in its own process on 127.0.0.1, as ``ecsync sandbox`` serves it, behind
the sandbox harness (published limits scaled by the speed, 429 past them), and the real adapter talks HTTP
to it with the settings the sandbox hands out (our pace scaled by the speed).

Each round first reads every item (untimed: the sync always reads before it writes, and that read is where
the adapter learns each item's AllowOverdraft), then times the write and the read-back.

Printed: wall time of the write and of the read-back (median of the repeats); the floor our own pace allows
((calls - burst) / (requests_per_second x speed), per phase); the ratio (goal <= 1.1); the client's CPU per
call and the server's CPU a round; 429s drawn; peak memory (RSS of the client and of the server).

    python benchmarks/bench_yahoo.py [--items 100000] [--speed 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
import resource
import statistics
import sys
import time

from multiprocessing.connection import Connection

import _emulated


def serve(items: int, speed: float, conn: Connection) -> None:
    """The child: the Yahoo emulator seeded with *items* demo codes, served as the sandbox serves it."""
    from ecsync_yahoo.emulator import YahooEmulator
    from ecsync_yahoo.plugin import sample_item_key

    _emulated.serve("yahoo", YahooEmulator({sample_item_key(n): 1 for n in range(items)}), speed, conn)


async def one_round(
    base: str, secrets: dict[str, str], items: int, speed: float, quantity: int
) -> tuple[float, float, int, int, float]:
    """Read all, then write every item to *quantity* and read them back; seconds, matches, calls, client CPU."""
    from ecsync_core.config import make_converter
    from ecsync_core.domain import StockWrite
    from ecsync_core.testing import InMemoryKeyValue
    from ecsync_yahoo.client import YahooShoppingClient
    from ecsync_yahoo.emulator import YahooEmulator
    from ecsync_yahoo.plugin import YahooSettings, sample_item_key

    raw = YahooEmulator({}).sandbox_settings(base, speed)
    settings = make_converter().structure(raw, YahooSettings)
    adapter = YahooShoppingClient(settings, secrets, InMemoryKeyValue())
    keys = [sample_item_key(n) for n in range(items)]
    writes = [StockWrite(k, quantity) for k in keys]
    try:
        await adapter.read(keys)  # the sync's first read: untimed
        await asyncio.sleep(settings.burst / settings.requests_per_second)  # let the bucket refill as between phases
        _day, calls_before = adapter.calls_today()
        cpu = _emulated.cpu_seconds()
        started = time.perf_counter()
        results = await adapter.write(writes)
        written = time.perf_counter()
        reading = await adapter.read(keys)
        read = time.perf_counter()
        cpu = _emulated.cpu_seconds() - cpu
        _day, calls_after = adapter.calls_today()
    finally:
        await adapter.aclose()
    assert all(r.ok for r in results), "a write failed"
    matched = sum(reading.quantities.get(k) == quantity for k in keys)
    return written - started, read - written, matched, calls_after - calls_before, cpu


@dataclasses.dataclass
class Rounds:
    """What the repeats measured."""

    writes: list[float] = dataclasses.field(default_factory=list)
    reads: list[float] = dataclasses.field(default_factory=list)
    matched: list[int] = dataclasses.field(default_factory=list)
    calls: list[int] = dataclasses.field(default_factory=list)
    cpus: list[float] = dataclasses.field(default_factory=list)
    served: list[float] = dataclasses.field(default_factory=list)
    throttled: int = 0


def measure(args: argparse.Namespace) -> tuple[Rounds, str]:
    """Serve the emulator in a child process and run the rounds against it; the figures and its base URL."""
    rounds = Rounds()
    with _emulated.served(serve, args.items, args.speed) as server:
        before = server.throttled()
        for n in range(args.repeats):
            (w, r, m, c, cpu), server_cpu = server.during(
                lambda n=n: asyncio.run(one_round(server.base, server.secrets, args.items, args.speed, 2 + n % 2))
            )
            rounds.served.extend([] if server_cpu is None else [server_cpu])
            rounds.writes.append(w)
            rounds.reads.append(r)
            rounds.matched.append(m)
            rounds.calls.append(c)
            rounds.cpus.append(cpu)
        rounds.throttled = server.throttled() - before
    return rounds, server.base


def report(args: argparse.Namespace, rounds: Rounds, base: str) -> None:
    from ecsync_core.config import make_converter
    from ecsync_yahoo.emulator import YahooEmulator
    from ecsync_yahoo.plugin import MAX_CODES_PER_CALL, YahooSettings

    client_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    server_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    pace = make_converter().structure(YahooEmulator({}).sandbox_settings(base, args.speed), YahooSettings)
    rate, burst = pace.requests_per_second, pace.burst
    per_phase = math.ceil(args.items / MAX_CODES_PER_CALL)
    phase_floor = max(0.0, per_phase - burst) / rate
    total_s = statistics.median(w + r for w, r in zip(rounds.writes, rounds.reads, strict=True))
    rows = [
        ("setStock", statistics.median(rounds.writes), phase_floor, f"{per_phase} calls"),
        ("read-back", statistics.median(rounds.reads), phase_floor, f"{per_phase} calls"),
        ("total", total_s, 2 * phase_floor, "goal <= 1.1"),
    ]
    print(
        f"yahoo: {args.items:,} setStock + read-back at --speed {args.speed:g} (pace {rate:g}/s, burst {burst:g}), "
        f"{args.repeats} repeats"
    )
    for name, took, least, note in rows:
        ratio = f"{took / least:5.2f}" if least else "  n/a"
        print(f"  {name:<10} {took:7.3f} s  floor {least:6.3f} s  ratio {ratio}  ({note})")
    writes = ", ".join(f"{w:.3f}" for w in rounds.writes)
    print(f"  rounds     write {writes}; read {', '.join(f'{r:.3f}' for r in rounds.reads)}")
    cpu = statistics.median(rounds.cpus)
    print(f"  client CPU {cpu:.3f} s for the timed phases ({cpu / max(1, *rounds.calls) * 1000:.1f} ms a call)")
    served = f"{statistics.median(rounds.served):.3f} s" if rounds.served else "n/a"
    print(f"  CPU a round (getrusage, /proc): client {cpu:.3f} s (timed phases), emulator's server {served} (all)")
    print(
        f"  read back as written: {min(rounds.matched):,}/{args.items:,}; calls per round: {max(rounds.calls)}; "
        f"429s: {rounds.throttled}"
    )
    print(f"  peak RSS   client {client_peak_mb:.0f} MiB, server {server_peak_mb:.0f} MiB")
    sys.stdout.flush()


def main() -> None:
    from ecsync_core.logging import configure

    configure(0)  # the console shows warnings only, as the CLI's does without -v
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--speed", type=float, default=100.0)
    parser.add_argument("--repeats", type=int, default=3)
    args, _ = parser.parse_known_args()
    rounds, base = measure(args)
    report(args, rounds, base)


if __name__ == "__main__":
    main()
