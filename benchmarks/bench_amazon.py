"""
Amazon: a full FBA listing of 100,000 SKUs (getInventorySummaries, 50 a page) from the emulator at ``--speed 100``.

The emulator is served by uvicorn in its own process on 127.0.0.1, behind the sandbox harness, as ``ecsync
sandbox`` serves it; the real adapter lists it over HTTP with the settings the sandbox hands out (its rate
scaled by the speed).

Printed: wall time of the listing (median of the repeats), the floor (pages / scaled published rate, i.e.
pages / (2 x speed)), the ratio (goal <= 1.1), 429s drawn (goal 0), peak memory (RSS of the client and of the
server process; the Python heap peak of one listing under tracemalloc, in an extra untimed round).

    python benchmarks/bench_amazon.py [--skus 100000] [--speed 100] [--repeats 3] [--canned]

``--canned`` measures only the client's CPU per 100,000 SKUs against canned pages in process (httpx.MockTransport,
no socket, no pacing, no server): a steadier figure on a shared machine for changes to the adapter's own code,
since the socket stack's share is the same before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import resource
import statistics
import time
import tracemalloc

from multiprocessing.connection import Connection

import _emulated
import httpx


def serve(skus: int, speed: float, conn: Connection) -> None:
    """The child: the Amazon emulator with *skus* demo SKUs, served as the sandbox serves it."""
    from ecsync_amazon.emulator import AmazonEmulator
    from ecsync_amazon.plugin import sample_sku

    _emulated.serve("amazon", AmazonEmulator({sample_sku(n): n % 50 for n in range(skus)}), speed, conn)


async def one_listing(base: str, speed: float) -> tuple[float, float, int, int]:
    """One snapshot with a fresh adapter: wall seconds, client CPU seconds, SKUs listed, 429s the adapter saw."""
    from ecsync_amazon.client import build_client
    from ecsync_amazon.emulator import AmazonEmulator
    from ecsync_amazon.plugin import AmazonSettings
    from ecsync_core.config import make_converter
    from ecsync_core.mall import MallContext
    from ecsync_core.testing import InMemoryKeyValue

    probe = AmazonEmulator({})
    settings = make_converter().structure(probe.sandbox_settings(base, speed), AmazonSettings)
    context = MallContext("amazon", settings, probe.sandbox_secrets(), InMemoryKeyValue())
    adapter = build_client(context)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        stock = await adapter.snapshot()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await adapter.aclose()
    return wall, cpu, len(stock), adapter.stats.throttled


async def one_canned_listing(bodies: list[bytes]) -> float:
    """One snapshot of canned pages (page n's nextToken ends in n + 1): client CPU seconds."""
    import json

    import attrs

    from ecsync_amazon.auth import LwaAuth
    from ecsync_amazon.client import FbaInventoryClient
    from ecsync_amazon.emulator import AmazonEmulator
    from ecsync_amazon.plugin import AmazonSettings

    grant = json.dumps({"access_token": "Atza|canned", "token_type": "bearer", "expires_in": 3600}).encode()
    headers = {"content-type": "application/json", "x-amzn-requestid": "canned"}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(200, content=grant, headers=headers)
        token = request.url.params.get("nextToken")
        return httpx.Response(200, content=bodies[int(token.rsplit("-", 1)[1]) if token else 0], headers=headers)

    host = "http://127.0.0.1:9"
    settings = attrs.evolve(AmazonSettings(), endpoint=host, token_url=f"{host}/auth/o2/token", rate=1e9, burst=1e9)
    http = httpx.AsyncClient(transport=httpx.MockTransport(answer), timeout=settings.timeout_s)
    client = FbaInventoryClient(http, LwaAuth(http, settings.token_url, AmazonEmulator({}).sandbox_secrets()), settings)
    try:
        cpu = time.process_time()
        stock = await client.snapshot()
        cpu = time.process_time() - cpu
    finally:
        await client.aclose()
    assert len(stock) == 50 * len(bodies), len(stock)
    return cpu


def canned(skus: int, repeats: int) -> None:
    """``--canned``: the client's CPU alone, per 100,000 SKUs, median of *repeats*."""
    from ecsync_amazon._emulated_pages import Row, page_json
    from ecsync_amazon.emulator import MARKETPLACE

    pages = math.ceil(skus / 50)
    token = "canned-next-token-" + "Q" * 120  # real nextTokens are long base64 text
    bodies = [
        page_json(
            [
                Row(
                    f"SKU-{p * 50 + i:07d}",
                    f"B{p:05d}{i:04d}",
                    f"X{p:05d}{i:04d}",
                    "A product",
                    "2024-01-01T00:00:00Z",
                    i,
                    1,
                    2,
                )
                for i in range(50)
            ],
            True,
            f"{token}-{p + 1}" if p + 1 < pages else None,
            MARKETPLACE,
        ).encode()
        for p in range(pages)
    ]
    cpus = [asyncio.run(one_canned_listing(bodies)) for _ in range(repeats)]
    per = statistics.median(cpus) * 100_000 / (50 * pages)
    print(f"amazon listing, canned pages: {50 * pages:,} SKUs, {pages:,} pages, {repeats} repeats")
    print(f"  client CPU per 100,000 SKUs (median)  {per:.2f} s   (rounds: {', '.join(f'{c:.2f}' for c in cpus)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--speed", type=float, default=100.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--canned", action="store_true")
    args, _ = parser.parse_known_args()

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # the adapter's INFO lines off
    if args.canned:
        canned(args.skus, max(args.repeats, 5))
        return

    with _emulated.served(serve, args.skus, args.speed) as server:
        before = _emulated.requests_log(server.base)
        rounds = [asyncio.run(one_listing(server.base, args.speed)) for _ in range(args.repeats)]
        after = _emulated.requests_log(server.base)
        tracemalloc.start()
        asyncio.run(one_listing(server.base, args.speed))
        heap_peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    client_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    server_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    from ecsync_amazon.plugin import PUBLISHED_RATE

    pages = math.ceil(args.skus / 50)
    floor = pages / (PUBLISHED_RATE * args.speed)
    walls = [r[0] for r in rounds]
    wall = statistics.median(walls)
    listed = {r[2] for r in rounds}
    throttled = after["throttled"] - before["throttled"]
    print(f"amazon listing: {args.skus:,} SKUs, {pages:,} pages, --speed {args.speed:g}, {args.repeats} repeats")
    print(f"  SKUs listed each round     {', '.join(f'{n:,}' for n in sorted(listed))}")
    print(f"  wall time (median)         {wall:.2f} s   (rounds: {', '.join(f'{w:.2f}' for w in walls)})")
    print(f"  floor (pages / {PUBLISHED_RATE * args.speed:g}/s)      {floor:.2f} s")
    print(f"  ratio                      {wall / floor:.3f}   (goal <= 1.1)")
    print(f"  client CPU (median)        {statistics.median(r[1] for r in rounds):.2f} s")
    print(f"  throttled (429) requests   {throttled}   (adapter saw {sum(r[3] for r in rounds)}; goal 0)")
    print(f"  API calls seen by server   {after['count'] - before['count']:,}")
    print(f"  peak RSS client / server   {client_rss_mb:.0f} MB / {server_rss_mb:.0f} MB")
    print(f"  peak Python heap, listing  {heap_peak_mb:.1f} MB (tracemalloc, untimed round)")


if __name__ == "__main__":
    main()
