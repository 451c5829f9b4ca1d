"""
The sync end to end: N SKUs (default 100,000) on the real sandbox at ``--speed 100``, as an operator runs it.

Starts ``ecsync sandbox --skus N --speed X``, imports its master sheet (timed apart), then times one live
``ecsync sync`` in its own process and reads that process's CPU time and peak RSS.

Printed: wall time against the floor the limits allow, the ratio (goal <= 1.2), the local overhead (all but
waiting on the APIs; goal <= 5 s per 100,000 SKUs), peak memory (goal <= 500 MB). Two floors, because ecsync
paces Yahoo under Yahoo's unconfirmed published limit:

- published: each API at its published limit (Amazon 2/s, Yahoo ~10/s per API, Rakuten 5/s read, 1/s write);
- paced: Yahoo at our configured pace (0.5/s, one budget for every call), the others as published.

Floor = the listing or the slowest mall's read, whichever is longer (they run at once), + the slowest mall's
write and read-back (writing waits for the plan), with burst ignored. The push reads each slice back while it
writes the next, and reads it once before writing it (what a rollback puts back): reads under their own limit
(Rakuten's, Yahoo's published per-API one) hide inside the writes; under one shared budget (Yahoo paced) they
add their calls. Calls are counted from the plan: pages of 50 SKUs, 1,000 codes per Yahoo call, 1,000 per
Rakuten read, 400 per Rakuten write.

Local overhead is given two ways: wall minus the floor (the time the run spent not waiting on the APIs, at
most; the async run overlaps its own work with the waits, so this is what the operator waits for) and the
sync process's CPU time (all of its own work, overlapped or not: the stricter figure).

The last line projects a real run (``--speed 1``): the paced floor at the real limits, stretched by the largest
pacing margin (Amazon's, 1.9 calls/s under the published 2), plus the whole CPU time of the sync as if none of it
overlapped a wait. That bounds what an operator waits for; at --speed 100 the same CPU is squeezed into a
hundredth of the time and stands in for the waits instead.

Each of ``--repeats`` rounds puts the malls' demo stock back first, so every round plans the same updates;
wall and CPU are the medians.

    python benchmarks/bench_sync.py [--skus 100000] [--speed 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from pathlib import Path

import httpx

from ecsync_core.testing.sandbox import start_sandbox


ECSYNC = str(Path(sys.executable).with_name("ecsync"))
AMAZON_PAGE, AMAZON_RATE = 50, 2.0
YAHOO_BATCH, YAHOO_PUBLISHED, YAHOO_PACE = 1000, 10.0, 0.5
RAKUTEN_READ, RAKUTEN_READ_RATE, RAKUTEN_WRITE, RAKUTEN_WRITE_RATE = 1000, 5.0, 400, 1.0


def timed(*args: str) -> tuple[float, float, int, subprocess.CompletedProcess[str]]:
    """Run ecsync; wall seconds, CPU seconds of the child, its peak RSS in bytes, and the result."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run([ECSYNC, *args], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss * 1024, p


def floor(
    found: int, items: dict[str, int], updates: dict[str, int], speed: float, yahoo_rate: float, yahoo_shared: bool
) -> float:
    listing = math.ceil(found / AMAZON_PAGE) / (AMAZON_RATE * speed)
    yahoo_read = math.ceil(items["yahoo"] / YAHOO_BATCH) / (yahoo_rate * speed)
    rakuten_read = math.ceil(items["rakuten"] / RAKUTEN_READ) / (RAKUTEN_READ_RATE * speed)
    yahoo_write = (1 + 2 * yahoo_shared) * math.ceil(updates["yahoo"] / YAHOO_BATCH) / (yahoo_rate * speed)
    rakuten_write = math.ceil(updates["rakuten"] / RAKUTEN_WRITE) / (RAKUTEN_WRITE_RATE * speed)
    return max(listing, yahoo_read, rakuten_read) + max(yahoo_write, rakuten_write)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--speed", type=float, default=100.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    with start_sandbox(directory / "sb", "--skus", str(args.skus), "--speed", str(args.speed), ready_s=300) as sb:
        cfg = ["-c", str(sb.files.config)]
        imp_wall, imp_cpu, imp_rss, p = timed(*cfg, "import-sku", "-f", str(sb.files.master))
        if p.returncode:
            sys.exit(f"import-sku failed: {p.stderr}")
        targets = {mall: url for mall, url in sb.urls.items() if mall != "amazon"}
        # Each round starts from the demo stock, so every round plans and writes the same updates.
        demo = {mall: httpx.get(url + "/_sandbox/stock", timeout=60).json() for mall, url in targets.items()}
        rounds = []
        for _ in range(args.repeats):
            for mall, url in targets.items():
                httpx.put(url + "/_sandbox/stock", json=demo[mall], timeout=120).raise_for_status()
            wall, cpu, rss, p = timed(*cfg, "sync", "--json")
            if p.returncode not in (0, 3):
                sys.exit(f"sync exited {p.returncode}: {p.stdout[-500:]} {p.stderr[-500:]}")
            rounds.append((wall, cpu))
        doc = json.loads(p.stdout)
        run = json.loads(
            subprocess.run(
                [ECSYNC, *cfg, "status", doc["run_id"], "--json"], capture_output=True, text=True, check=True
            ).stdout
        )
        throttled = {
            mall: httpx.get(url + "/_sandbox/requests", timeout=60).json().get("throttled")
            for mall, url in sb.urls.items()
        }
    items = dict.fromkeys(("yahoo", "rakuten"), 0)
    updates = dict(items)
    from ecsync_amazon.plugin import AmazonSettings
    from ecsync_core.store import Database, DuckDBMappings

    for m in DuckDBMappings(Database(sb.files.database)).active():
        items[m.mall] = items.get(m.mall, 0) + 1
    for i in run["items"]:
        updates[i["mall"]] = updates.get(i["mall"], 0) + 1
    counts = doc["counts"]
    published = floor(counts["found"], items, updates, args.speed, YAHOO_PUBLISHED, yahoo_shared=False)
    paced = floor(counts["found"], items, updates, args.speed, YAHOO_PACE, yahoo_shared=True)
    scale = 100_000 / max(args.skus, 1)
    wall = statistics.median(w for w, _ in rounds)
    cpu = statistics.median(c for _, c in rounds)
    print(f"sync of {args.skus:,} SKUs at --speed {args.speed:g} ({os.cpu_count()} cores): status {doc['status']}")
    print(f"  counts: {counts}; mall items {items}; updates by mall {updates}; throttled (all rounds) {throttled}")
    print(f"  rounds (wall s, CPU s): {'; '.join(f'{w:.2f}, {c:.2f}' for w, c in rounds)}")
    print(
        f"  wall {wall:.2f} s (median); floor {published:.2f} s published / {paced:.2f} s paced; "
        f"ratio {wall / published:.2f} / {wall / paced:.2f} (goal <= 1.2)"
    )
    print(
        f"  local overhead per 100,000 SKUs (goal <= 5): wall - floor {(wall - published) * scale:.2f} s; "
        f"CPU of the sync process {cpu * scale:.2f} s ({cpu:.2f} s in all)"
    )
    real_floor = paced * args.speed
    projected = real_floor * AMAZON_RATE / AmazonSettings().rate + cpu
    print(
        f"  at --speed 1 (paced floor {real_floor:.0f} s): at most {projected:.0f} s, "
        f"ratio <= {projected / real_floor:.2f} (floor x the largest pacing margin + all CPU)"
    )
    print(f"  peak RSS of a sync process {rss / 2**20:.0f} MiB (goal <= 500; the largest child so far)")
    print(f"  import-sku before it: {imp_wall:.2f} s wall, {imp_cpu:.2f} s CPU, {imp_rss / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
