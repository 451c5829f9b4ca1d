"""
Running a service's coroutine to its end from plain code (the CLI, a script, or a notebook), and closing the
adapters it opened.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import signal
import threading

from collections.abc import Coroutine, Iterable, Sequence
from typing import Any, TypeVar

from ecsync_core.logging import get_logger
from ecsync_core.ports import MallAdapter, StockSource


T = TypeVar("T")

log = get_logger("ecsync")  # under the ecsync logger, where a library run keeps its trail

TERMINATING = threading.Event()
"""
Set once SIGTERM has cancelled the run under way (``ended_early`` tells it from Ctrl-C by it): a cancellation's
own message is lost where ``gather`` passes it on.
"""


class Terminated(KeyboardInterrupt):
    """SIGTERM ended the run as Ctrl-C would: a service stopped, the machine shutting down, cron's ``timeout``."""


def run_to_end(coro: Coroutine[Any, Any, T]) -> T:
    """
    ``asyncio.run(coro)``, with SIGTERM ending it as Ctrl-C does (see ``_run_here``); from inside a running event
    loop (Jupyter runs one) on a thread with its own loop, where ``asyncio.run`` would refuse to start.

    On the thread, an interrupt while waiting (Ctrl-C in a notebook) cancels the coroutine and waits for it
    to wind down before it is raised: a live run is then recorded as stopped, and whatever lock the caller
    holds is released only once nothing of the run is still writing.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_here(coro)
    started: concurrent.futures.Future[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]]
    started = concurrent.futures.Future()

    async def main() -> T:
        task = asyncio.current_task()
        assert task is not None
        started.set_result((asyncio.get_running_loop(), task))
        return await coro

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ecsync") as pool:
        done = pool.submit(asyncio.run, main())
        try:
            return done.result()
        except BaseException:
            if not done.done():
                loop, task = started.result()
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: the run has ended
                    loop.call_soon_threadsafe(task.cancel)
                _wait_out(done)
            raise


def _run_here(coro: Coroutine[Any, Any, T]) -> T:
    """
    ``asyncio.run(coro)``, where a SIGTERM cancels *coro* as asyncio's own handling of Ctrl-C does, and is raised as
    ``Terminated`` once it has wound down. A live run then records itself INTERRUPTED and alerts at once: killed
    by the default action, it stayed RUNNING (and silent) until the next command, often the next night.

    Only on the main thread, and only where SIGTERM has no handler yet: a host program's own is left alone.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        return asyncio.run(coro)

    async def main() -> T:
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        assert task is not None

        def stop() -> None:
            if not TERMINATING.is_set():  # one is enough; a second must not cut short the run recording its end
                TERMINATING.set()
                task.cancel()

        loop.add_signal_handler(signal.SIGTERM, stop)
        try:
            return await coro
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        if TERMINATING.is_set():
            raise Terminated("SIGTERM") from None
        raise
    finally:
        TERMINATING.clear()  # not to outlive the run: a later one's cancellation, however it runs, is not a SIGTERM


def _wait_out(done: concurrent.futures.Future[Any]) -> None:
    """Wait for *done* to finish, through further interrupts: the run is recording that it stopped."""
    while True:
        try:
            concurrent.futures.wait([done])
            return
        except KeyboardInterrupt:
            continue


async def close_all(adapters: Iterable[MallAdapter]) -> None:
    """
    Close every adapter. One that fails to close is logged, not raised: by then the run's outcome is decided,
    and a plugin's clean-up bug must not turn a finished sync into an internal error.
    """
    adapters = list(adapters)
    results = await asyncio.gather(*(a.aclose() for a in adapters), return_exceptions=True)
    for adapter, result in zip(adapters, results, strict=True):
        if isinstance(result, Exception):
            error = f"{type(result).__name__}: {result}"
            log.warning("adapter_close_failed", adapter=type(adapter).__name__, error=error)
        elif isinstance(result, BaseException):
            raise result


async def lookup_once(source: StockSource, skus: Sequence[str]) -> dict[str, int]:
    """*skus* asked of *source* by name, and the source closed after (raises what the lookup raises)."""
    try:
        return await source.lookup(skus)
    finally:
        await close_all([source])
