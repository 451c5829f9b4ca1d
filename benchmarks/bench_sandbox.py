"""
The sandbox (issue 03): how fast it is ready, what the harness costs per call, how the catalogue scales.

Printed (medians over the repeats):

- ``ecsync sandbox`` from start to its ``ready`` line, with every installed mall, at --skus 142 and 10,000,
  and the process's peak memory (VmHWM);
- API calls a second to one emulator (the fake mall) bare, behind the harness in-process, and behind the
  harness served by uvicorn on loopback; the ratios say what the harness and the socket cost;
- the demo catalogue's build time at 142, 10,000 and 100,000 SKUs.

    python benchmarks/bench_sandbox.py [--repeats 3] [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from starlette.applications import Starlette

from ecsync_core.plugins import EXTRA_ENV, get_plugin_host
from ecsync_core.sandbox.demo import DemoMall, demo_catalogue
from ecsync_core.sandbox.harness import build_app
from ecsync_core.sandbox.serve import Servers
from ecsync_core.testing.fake_mall import STOCK_PATH, TOKEN_PATH, FakeMallEmulator
from ecsync_core.testing.sandbox import start_sandbox


def median_of(repeats: int, run: Callable[[], float]) -> float:
    return statistics.median(run() for _ in range(repeats))


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ready_time(skus: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with start_sandbox(Path(tmp), "--skus", str(skus), env={EXTRA_ENV: "ecsync_core.testing.fake_mall"}) as sb:
            took = time.perf_counter() - t0
            rss = peak_rss_mib(sb.process.pid)
    return took, rss


async def calls_per_second(client: httpx.AsyncClient, calls: int) -> float:
    form = {"grant_type": "client_credentials", "client_id": "sandbox-fakemall-client"}
    form["client_secret"] = "sandbox-fakemall-secret-0000"
    token = (await client.post(TOKEN_PATH, data=form)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    params = [("item", f"FM{n:06d}") for n in range(1, 21)]
    t0 = time.perf_counter()
    for _ in range(calls):
        r = await client.get(STOCK_PATH, headers=headers, params=params)
        assert r.status_code == 200, r.status_code
    return calls / (time.perf_counter() - t0)


def seed() -> dict[str, int]:
    return {f"FM{n:06d}": n % 30 for n in range(1, 1001)}


async def bare(calls: int) -> float:
    emulator = FakeMallEmulator(seed())
    app = Starlette(routes=emulator.routes())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e.test") as client:
        return await calls_per_second(client, calls)


async def harness_in_process(calls: int) -> float:
    app = build_app(FakeMallEmulator(seed()), speed=1e6)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e.test") as client:
        return await calls_per_second(client, calls)


async def harness_loopback(calls: int) -> float:
    servers = Servers.bind({"fakemall": build_app(FakeMallEmulator(seed()), speed=1e6)})
    stop, ready = asyncio.Event(), asyncio.Event()
    serving = asyncio.create_task(servers.serve(stop, ready.set))
    await ready.wait()
    try:
        async with httpx.AsyncClient(base_url=servers.urls["fakemall"]) as client:
            return await calls_per_second(client, calls)
    finally:
        stop.set()
        await serving


def rate(repeats: int, calls: int, way: Callable[[int], Awaitable[float]]) -> float:
    return statistics.median(asyncio.run(way(calls)) for _ in range(repeats))  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()

    print("== bench_sandbox: issue 03 ==")
    installed = ", ".join(get_plugin_host().malls) or "none"
    print(f"installed malls: {installed} (+ the fake malls)")
    for skus in (142, 10_000):
        runs = [ready_time(skus) for _ in range(args.repeats)]
        took = statistics.median(t for t, _ in runs)
        rss = max(r for _, r in runs)
        print(f"ecsync sandbox --skus {skus:>6}: ready in {took:5.2f} s (goal < 10 s), peak RSS {rss:6.1f} MiB")

    bare_rate = rate(args.repeats, args.calls, bare)
    in_process = rate(args.repeats, args.calls, harness_in_process)
    loopback = rate(args.repeats, args.calls, harness_loopback)
    print(f"calls/s, bare emulator in-process:   {bare_rate:8.0f}")
    print(f"calls/s, harness in-process:         {in_process:8.0f}  ({in_process / bare_rate:.2f} x bare)")
    print(f"calls/s, harness on loopback:        {loopback:8.0f}  ({loopback / bare_rate:.2f} x bare)")

    targets = [DemoMall("rakuten", "r", lambda n: f"r{n}"), DemoMall("yahoo", "y", lambda n: f"y{n}")]
    for skus in (142, 10_000, 100_000):
        took = median_of(args.repeats, lambda s=skus: _timed(lambda: demo_catalogue(targets, skus=s)))  # type: ignore[misc]
        print(f"demo_catalogue({skus:>7} SKUs, 2 malls): {took * 1000:8.1f} ms")


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
