"""
Rakuten: 100,000 absolute upserts and their read-back against the emulator at ``--speed 100``.

The emulator is served by uvicorn in its own process on 127.0.0.1, as ``ecsync sandbox`` serves it, and the
real adapter talks HTTP to it with the settings the sandbox hands out (rates scaled by the speed). The round
is the sync's own push (``ecsync_core.services.push``): slices of the plugin's ``write_slice`` (800) written in
order, each read back while the next is written.

Printed: wall time of a round (median of the repeats), the floor the published limits allow, the ratio
(goal <= 1.1), what our pacer alone takes on this machine's loop, 429s drawn, CPU seconds a round of the client
and of the server process, and peak memory (RSS of the client and of the server process). The floor: upserts
spaced 1/rate with no burst, (upserts - 1) / (1 x speed); bulk-gets have their own limit (5/s), so the
read-back can hide inside the upserts' pacing and adds nothing to the least time (the sequential figure, write
then read, is printed beside it).

The pacer alone: the median gap of 100 depth-1 waits with nothing else to do, times the 249 gaps between the
upserts: the least a round can take on this machine before any work of ours. --speed 100 shrinks the interval
a hundredfold but not a timer's lateness; the pacer wakes early to make up for it (``pacing.TIMER_SLACK_S``).

    python benchmarks/bench_rakuten.py [--items 100000] [--speed 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import resource
import statistics
import sys
import time

from multiprocessing.connection import Connection

import _emulated


def serve(items: int, speed: float, conn: Connection) -> None:
    """The child: the Rakuten emulator seeded with *items* demo SKUs, served as the sandbox serves it."""
    from ecsync_rakuten.emulator import RakutenEmulator
    from ecsync_rakuten.identity import sample_item_key

    _emulated.serve("rakuten", RakutenEmulator({sample_item_key(n): 1 for n in range(items)}), speed, conn)


async def one_round(base: str, items: int, speed: float, quantity: int) -> tuple[float, float, int]:
    """
    Push every SKU to *quantity* as the sync does (write, read back, judge): the seconds it took, the client's
    CPU seconds, and the SKUs that read back as written.
    """
    from ecsync_core import heap
    from ecsync_core.config import make_converter
    from ecsync_core.domain import PlannedUpdate
    from ecsync_core.services.push import push
    from ecsync_core.testing import InMemoryKeyValue
    from ecsync_rakuten.client import RakutenRmsClient
    from ecsync_rakuten.emulator import RakutenEmulator
    from ecsync_rakuten.identity import sample_item_key
    from ecsync_rakuten.plugin import RakutenSettings, ecsync_malls

    (plugin,) = ecsync_malls()
    probe = RakutenEmulator({})
    settings = make_converter().structure(probe.sandbox_settings(base, speed), RakutenSettings)
    adapter = RakutenRmsClient(settings, probe.sandbox_secrets(), InMemoryKeyValue())
    updates = [PlannedUpdate(f"SKU-{n}", "rakuten", sample_item_key(n), 0, None, quantity) for n in range(items)]
    try:
        with heap.run_scope():  # as the sync pushes: in its run scope, its plan set aside
            heap.settle()
            started, cpu = time.perf_counter(), _emulated.cpu_seconds()
            # The mall's side alone: no ledger to record the outcomes in.
            pushed = await push(
                "bench", adapter, updates, plugin.name, slice_size=plugin.write_slice, record=lambda _items: None
            )
            took, cpu = time.perf_counter() - started, _emulated.cpu_seconds() - cpu
    finally:
        await adapter.aclose()
    assert pushed.mall_error is None, pushed.mall_error
    return took, cpu, sum(i.outcome == "ok" and i.after == quantity for i in pushed.items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--speed", type=float, default=100.0)
    parser.add_argument("--repeats", type=int, default=3)
    args, _ = parser.parse_known_args()

    rounds, cpus, matched, served = [], [], [], []
    with _emulated.served(serve, args.items, args.speed) as server:
        throttled_before = server.throttled()
        for n in range(args.repeats):
            (t, c, m), server_cpu = server.during(
                lambda n=n: asyncio.run(one_round(server.base, args.items, args.speed, 2 + n))
            )
            served.extend([] if server_cpu is None else [server_cpu])
            rounds.append(t)
            cpus.append(c)
            matched.append(m)
        throttled = server.throttled() - throttled_before
    client_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    server_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    from ecsync_rakuten.plugin import WRITE_SLICE, RakutenSettings

    margin = RakutenSettings().pacing_margin
    upserts, least_gets = math.ceil(args.items / 400), math.ceil(args.items / 1000)
    gets = sum(math.ceil(min(WRITE_SLICE, args.items - start) / 1000) for start in range(0, args.items, WRITE_SLICE))
    floor = (upserts - 1) / (1.0 * args.speed)
    sequential = floor + (least_gets - 1) / (5.0 * args.speed)
    took = statistics.median(rounds)
    print(f"rakuten: {args.items:,} upserts + read-back at --speed {args.speed:g}, {args.repeats} repeats")
    print(f"  {upserts} bulk-upserts, {gets} bulk-gets; rounds {', '.join(f'{r:.3f}' for r in rounds)} s")
    print(f"  wall {took:.3f} s (median); floor {floor:.3f} s; ratio {took / floor:.3f} (goal <= 1.1)")
    print(f"  (against write-then-read, floor {sequential:.3f} s: ratio {took / sequential:.3f})")
    gap = _emulated.paced_gap(args.speed / (1 + margin))
    timer_floor = (upserts - 1) * gap
    print(
        f"  this loop's pacing alone: an upsert every {gap * 1000:.2f} ms (published {1000 / args.speed:.2f}, "
        f"+{margin:.0%} margin), {timer_floor:.3f} s for the upserts, ratio {timer_floor / floor:.3f}, before any "
        "work of ours"
    )
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
